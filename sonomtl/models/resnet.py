"""ResNet-50 (He et al., 2016) written in the project, with a configurable input stem.

The layout and the state-dict keys follow the reference implementation
(``torchvision.models.resnet50``: ``conv1``, ``bn1``, ``layer1.0.conv1``, ...,
``layerN.0.downsample.{0,1}``, ``fc``), so ImageNet weights saved from it load
with ``load_state_dict`` once ``conv1.weight`` is summed over its RGB axis for a
single-channel stem. The stride sits on the 3x3 convolution of each stage's
first bottleneck ("ResNet v1.5"), as in that implementation.

:func:`make_stage` is public so that multi-task networks can build extra
copies of late stages (``sonomtl.models.abdominal``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn

__all__ = ["Bottleneck", "ResNet", "make_stage", "resnet50", "RESNET50_LAYERS", "STAGE_CHANNELS"]

#: Bottleneck blocks per stage of ResNet-50.
RESNET50_LAYERS: tuple[int, int, int, int] = (3, 4, 6, 3)
#: Output channels of ``layer1 .. layer4`` (bottleneck width x 4).
STAGE_CHANNELS: tuple[int, int, int, int] = (256, 512, 1024, 2048)
_STAGE_WIDTHS: tuple[int, int, int, int] = (64, 128, 256, 512)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (strided), 1x1 expand (x4), each with BN; identity or projection shortcut.

    Parameters
    ----------
    in_channels:
        Channels of the input.
    width:
        Channels of the inner 1x1/3x3 convolutions; the output has ``4 * width``.
    stride:
        Stride of the 3x3 convolution (and of the projection shortcut).
    """

    expansion = 4

    def __init__(self, in_channels: int, width: int, *, stride: int = 1) -> None:
        super().__init__()
        out_channels = width * self.expansion
        self.conv1 = nn.Conv2d(in_channels, width, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_channels, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


def make_stage(in_channels: int, width: int, *, blocks: int, stride: int) -> nn.Sequential:
    """One residual stage: ``blocks`` bottlenecks, the first one strided and projecting.

    Returns an ``nn.Sequential`` with ``4 * width`` output channels, initialised
    like :class:`ResNet` (He normal convolutions, unit batch-norm scale).
    """
    if blocks < 1:
        raise ValueError(f"blocks must be a positive integer, got {blocks!r}")
    layers = [Bottleneck(in_channels, width, stride=stride)]
    layers += [Bottleneck(width * Bottleneck.expansion, width) for _ in range(blocks - 1)]
    stage = nn.Sequential(*layers)
    _init_weights(stage)
    return stage


def _init_weights(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class ResNet(nn.Module):
    """Bottleneck ResNet: 7x7/2 stem, 3x3/2 max pool, four stages, optional GAP + linear head.

    Parameters
    ----------
    layers:
        Bottleneck blocks per stage, ``(3, 4, 6, 3)`` for ResNet-50.
    in_chans:
        Channels of the input image (1 for B-mode ultrasound).
    num_classes:
        Outputs of the linear head on the pooled ``layer4`` features; ``0`` builds
        no head (``fc`` is ``None``), the network is then a feature extractor.
    """

    def __init__(
        self,
        *,
        layers: Sequence[int] = RESNET50_LAYERS,
        in_chans: int = 1,
        num_classes: int = 0,
    ) -> None:
        super().__init__()
        if len(layers) != 4:
            raise ValueError(f"layers must give 4 stage depths, got {tuple(layers)!r}")
        if in_chans < 1:
            raise ValueError(f"in_chans must be a positive integer, got {in_chans!r}")
        if num_classes < 0:
            raise ValueError(f"num_classes must be >= 0, got {num_classes!r}")
        self.in_chans = in_chans
        self.num_classes = num_classes
        self.conv1 = nn.Conv2d(in_chans, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        in_channels = 64
        for index, (width, blocks) in enumerate(zip(_STAGE_WIDTHS, layers)):
            stage = make_stage(in_channels, width, blocks=blocks, stride=1 if index == 0 else 2)
            self.add_module(f"layer{index + 1}", stage)
            in_channels = width * Bottleneck.expansion
        self.num_features = in_channels
        self.fc = nn.Linear(in_channels, num_classes) if num_classes else None
        _init_weights(self)

    def stages(self) -> list[nn.Module]:
        """``[layer1, layer2, layer3, layer4]``."""
        return [self.layer1, self.layer2, self.layer3, self.layer4]

    def forward_stem(self, x: torch.Tensor) -> torch.Tensor:
        """conv1, bn1, ReLU, max pool: ``(N, 64, H/4, W/4)``."""
        return self.maxpool(self.relu(self.bn1(self.conv1(x))))

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Outputs of ``layer1 .. layer4`` (strides 4, 8, 16, 32; channels 256 .. 2048)."""
        features = []
        x = self.forward_stem(x)
        for stage in self.stages():
            x = stage(x)
            features.append(x)
        return features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, num_classes)``, or pooled ``layer4`` features ``(N, 2048)`` if no head."""
        pooled = self.forward_features(x)[-1].mean(dim=(2, 3))
        return pooled if self.fc is None else self.fc(pooled)


def resnet50(*, in_chans: int = 1, num_classes: int = 0) -> ResNet:
    """ResNet-50 (bottlenecks 3-4-6-3) with an ``in_chans``-channel stem."""
    return ResNet(layers=RESNET50_LAYERS, in_chans=in_chans, num_classes=num_classes)
