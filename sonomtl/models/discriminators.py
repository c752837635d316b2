"""Discriminators: M-SEN's attention discriminator and the pix2pix PatchGAN.

:class:`AttentionDiscriminator` (paper 000): the frame concatenated with an
attention map (2 channels) -> three 3x3 conv layers of 64, 128 and 256 kernels,
each followed by leaky ReLU and 2x2 max pooling (the two commute: leaky ReLU is
monotonic), then three fully connected layers with tanh, tanh and sigmoid. The
paper does not give the FC widths; we use 100, 2 and 1 units, the widths of the
SalGAN discriminator (Pan et al. 2017) that the paper cites for its adversarial
saliency training.

:class:`PatchGAN` (pix2pix 70x70, Isola et al. 2017; used by paper 004):
C64-C128-C256-C512 4x4 convolutions (stride 2, 2, 2, 1; no norm on C64; batch
norm after the others; LeakyReLU 0.2) and a final 4x4 conv to one channel:
one logit per 70x70 input patch.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn

__all__ = ["AttentionDiscriminator", "PatchGAN", "attention_discriminator", "patchgan"]


class AttentionDiscriminator(nn.Module):
    """D(I, A): probability that ``attention`` is a real gaze map for ``frame``.

    Parameters
    ----------
    in_chans:
        Channels of ``cat(frame, attention)`` (2 for grey frames).
    input_hw:
        Input size (rows, cols); fixes the first FC layer's inputs.
    conv_chans:
        Kernels of the three conv layers.
    fc_features:
        Units of the first two FC layers (the third has one unit).
    negative_slope:
        Leaky ReLU slope.
    """

    def __init__(
        self,
        *,
        in_chans: int = 2,
        input_hw: tuple[int, int] = (240, 240),
        conv_chans: Sequence[int] = (64, 128, 256),
        fc_features: Sequence[int] = (100, 2),
        negative_slope: float = 0.2,
    ) -> None:
        super().__init__()
        if len(conv_chans) != 3 or len(fc_features) != 2:
            raise ValueError(f"conv_chans needs 3 and fc_features 2 entries, got {conv_chans!r} "
                             f"and {fc_features!r}")
        rows, cols = input_hw
        if rows < 8 or cols < 8:
            raise ValueError(
                f"input_hw must be at least (8, 8) for three poolings, got {input_hw!r}")
        layers: list[nn.Module] = []
        chans = in_chans
        for out in conv_chans:
            layers += [nn.Conv2d(chans, out, 3, padding=1), nn.LeakyReLU(negative_slope),
                       nn.MaxPool2d(2)]
            chans = out
        self.features = nn.Sequential(*layers)
        flat = chans * (rows // 8) * (cols // 8)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(flat, fc_features[0]), nn.Tanh(),
            nn.Linear(fc_features[0], fc_features[1]), nn.Tanh(),
            nn.Linear(fc_features[1], 1),
        )
        self.input_hw = (rows, cols)
        self.default_cfg = {"kind": "discriminator", "architecture": "attention_discriminator",
                            "input_hw": (rows, cols), "in_chans": in_chans,
                            "inputs": ["frame", "attention"]}

    def forward_logits(self, frame: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
        """Logits ``(N,)`` (before the final sigmoid); use these with the BCE losses."""
        x = torch.cat([frame, attention], dim=1)
        if tuple(x.shape[-2:]) != self.input_hw:
            raise ValueError(f"inputs must be {self.input_hw} (rows, cols), got "
                             f"{tuple(x.shape[-2:])}")
        return self.classifier(self.features(x)).squeeze(1)

    def forward(self, frame: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
        """Probability ``(N,)`` that ``attention`` is the real map of ``frame``."""
        return torch.sigmoid(self.forward_logits(frame, attention))


class PatchGAN(nn.Module):
    """pix2pix PatchGAN: ``(N, in_chans, H, W)`` -> patch logits ``(N, 1, h, w)``.

    With ``num_layers=3`` each output sees a 70x70 input patch. ``forward``
    returns logits; ``sigmoid`` gives the per-patch probability.
    """

    def __init__(self, *, in_chans: int, base_chans: int = 64, num_layers: int = 3,
                 negative_slope: float = 0.2) -> None:
        super().__init__()
        if in_chans < 1 or base_chans < 1 or num_layers < 1:
            raise ValueError(f"in_chans, base_chans and num_layers must be positive, got "
                             f"{in_chans}, {base_chans}, {num_layers}")
        layers: list[nn.Module] = [
            nn.Conv2d(in_chans, base_chans, 4, stride=2, padding=1),
            nn.LeakyReLU(negative_slope),
        ]
        chans = base_chans
        for index in range(1, num_layers + 1):
            out = base_chans * min(2 ** index, 8)
            stride = 2 if index < num_layers else 1
            layers += [nn.Conv2d(chans, out, 4, stride=stride, padding=1, bias=False),
                       nn.BatchNorm2d(out), nn.LeakyReLU(negative_slope)]
            chans = out
        layers.append(nn.Conv2d(chans, 1, 4, stride=1, padding=1))
        self.model = nn.Sequential(*layers)
        self.default_cfg = {"kind": "discriminator", "architecture": "patchgan",
                            "in_chans": in_chans}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Patch logits ``(N, 1, h, w)``."""
        return self.model(x)


def attention_discriminator(
    *, in_chans: int = 2, input_hw: tuple[int, int] = (240, 240)
) -> AttentionDiscriminator:
    """M-SEN's attention discriminator for ``input_hw`` frames + maps."""
    return AttentionDiscriminator(in_chans=in_chans, input_hw=input_hw)


def patchgan(*, in_chans: int, base_chans: int = 64, num_layers: int = 3) -> PatchGAN:
    """The 70x70 PatchGAN (C64-C128-C256-C512) for ``in_chans`` input channels."""
    return PatchGAN(in_chans=in_chans, base_chans=base_chans, num_layers=num_layers)
