"""Two tiny networks for the engine's example task, tests and benchmarks (not for ultrasound).

``tiny_generator``: frame -> attention map (sigmoid) gating conv features ->
class logits, the shape of M-SEN's generator in a few thousand parameters;
``tiny_discriminator``: frame + map -> probability that the map is the real one.
"""

from __future__ import annotations

import torch
import torch.nn as nn

__all__ = ["TinyGenerator", "TinyDiscriminator", "tiny_generator", "tiny_discriminator"]


class TinyGenerator(nn.Module):
    """Conv features -> attention map (sigmoid) that gates the features -> 2-class logits."""

    def __init__(
        self, *, in_chans: int = 1, num_classes: int = 2, width: int = 8, dropout: float = 0.1
    ) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_chans, width, 3, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.Dropout(dropout),
        )
        self.saliency = nn.Conv2d(width, 1, 1)
        self.classifier = nn.Sequential(
            nn.Conv2d(width, width, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(width, num_classes),
        )
        self.default_cfg = {"kind": "msen", "architecture": "tiny_generator",
                            "in_chans": in_chans, "num_classes": num_classes,
                            "inputs": ["frame"], "outputs": ["attention", "logits"]}

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.features(image)
        attention = torch.sigmoid(self.saliency(features))
        return {"attention": attention, "logits": self.classifier(features * attention)}


class TinyDiscriminator(nn.Module):
    """Frame + map -> probability that the map is the real one."""

    def __init__(self, *, in_chans: int = 2, width: int = 8) -> None:
        super().__init__()
        self.default_cfg = {"kind": "discriminator", "architecture": "tiny_discriminator",
                            "in_chans": in_chans}
        self.body = nn.Sequential(
            nn.Conv2d(in_chans, width, 3, stride=2, padding=1),
            nn.LeakyReLU(0.2),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(width, 1),
            nn.Sigmoid(),
        )

    def forward(self, pair: torch.Tensor) -> torch.Tensor:
        return self.body(pair).squeeze(1)


def tiny_generator(
    *, in_chans: int = 1, num_classes: int = 2, width: int = 8, dropout: float = 0.1
) -> nn.Module:
    """Factory of :class:`TinyGenerator` (registry name ``tiny_generator``)."""
    return TinyGenerator(in_chans=in_chans, num_classes=num_classes, width=width, dropout=dropout)


def tiny_discriminator(*, in_chans: int = 2, width: int = 8) -> nn.Module:
    """Factory of :class:`TinyDiscriminator`."""
    return TinyDiscriminator(in_chans=in_chans, width=width)
