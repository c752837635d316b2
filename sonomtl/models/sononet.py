"""SonoNet-16/32/64 (Baumgartner et al., IEEE TMI 2017), exactly as published.

Thirteen 3x3 conv + batch-norm + ReLU layers in five blocks of widths
``f, f | 2f, 2f | 4f x3 | 8f x3 | 8f x3`` separated by 2x2 max pooling, then
two 1x1 adaptation layers (``8f -> 4f`` + BN + ReLU, ``4f -> num_classes`` + BN,
no ReLU), global average pooling and softmax. Convolutions have no bias; batch
norm uses Lasagne's ``eps = 1e-4``, so the official weights load exactly
(:mod:`sonomtl.models.weights`).

``forward`` returns the class *logits* (the pooled adaptation output);
``softmax(logits)`` are the published class probabilities. The five blocks
are ``model.blocks[0..4]`` so that M-SEN can reuse the first three.
"""

from __future__ import annotations

import os
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from sonomtl.models.layers import ConvBNReLU

__all__ = [
    "SONONET_CLASS_NAMES",
    "SONONET_CROP",
    "SONONET_INPUT_HW",
    "SonoNet",
    "run_blocks",
    "sononet_blocks",
    "sononet16",
    "sononet32",
    "sononet64",
]

#: Label order of the 14 outputs of the published SonoNet weights.
SONONET_CLASS_NAMES: tuple[str, ...] = (
    "3VV", "4CH", "Abdominal", "Background", "Brain (Cb.)", "Brain (Tv.)", "Femur",
    "Kidneys", "Lips", "LVOT", "Profile", "RVOT", "Spine (cor.)", "Spine (sag.)",
)
#: The authors' crop of their 975x735 screen captures: rows 115:734, columns 81:874 (half-open).
SONONET_CROP: tuple[int, int, int, int] = (115, 734, 81, 874)
#: Network input size (rows, cols) used by the authors.
SONONET_INPUT_HW: tuple[int, int] = (224, 288)

BN_EPS = 1e-4
_BLOCK_LAYERS = (2, 2, 3, 3, 3)
_BLOCK_WIDTH_FACTORS = (1, 2, 4, 8, 8)


def sononet_blocks(
    *, width: int, in_chans: int = 1, num_blocks: int = 5, dropout: float = 0.0
) -> nn.ModuleList:
    """The first ``num_blocks`` SonoNet conv blocks (no pooling inside a block).

    Block ``i`` is an ``nn.Sequential`` of :class:`ConvBNReLU` units; the
    caller applies 2x2 max pooling between blocks.
    """
    if width < 1:
        raise ValueError(f"width must be a positive integer, got {width!r}")
    if not 1 <= num_blocks <= 5:
        raise ValueError(f"num_blocks must be in 1..5, got {num_blocks!r}")
    blocks = nn.ModuleList()
    chans = in_chans
    for layers, factor in zip(_BLOCK_LAYERS[:num_blocks], _BLOCK_WIDTH_FACTORS[:num_blocks]):
        out = width * factor
        units = []
        for _ in range(layers):
            units.append(ConvBNReLU(chans, out, bn_eps=BN_EPS, dropout=dropout))
            chans = out
        blocks.append(nn.Sequential(*units))
    return blocks


def run_blocks(blocks: nn.ModuleList, x: torch.Tensor) -> torch.Tensor:
    """Run SonoNet conv blocks in order with 2x2 max pooling between them."""
    for index, block in enumerate(blocks):
        if index:
            x = F.max_pool2d(x, 2)
        x = block(x)
    return x


class SonoNet(nn.Module):
    """SonoNet with base width ``width`` (16, 32 or 64 in the paper).

    Parameters
    ----------
    width:
        Channels of the first block ``f``.
    num_classes:
        Outputs of the last adaptation layer.
    in_chans:
        Input channels (1: grey frames).
    class_names:
        Optional label names stored in ``default_cfg``.
    """

    def __init__(
        self,
        *,
        width: int = 16,
        num_classes: int = 14,
        in_chans: int = 1,
        class_names: tuple[str, ...] | None = None,
    ) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
        if class_names is not None and len(class_names) != num_classes:
            raise ValueError(
                f"class_names must have num_classes={num_classes} entries, got {len(class_names)}"
            )
        self.width = width
        self.num_classes = num_classes
        self.blocks = sononet_blocks(width=width, in_chans=in_chans)
        self.adaptation = nn.Sequential(
            ConvBNReLU(8 * width, 4 * width, kernel_size=1, bn_eps=BN_EPS),
            ConvBNReLU(4 * width, num_classes, kernel_size=1, bn_eps=BN_EPS, relu=False),
        )
        self.default_cfg: dict[str, Any] = {
            "kind": "classifier",
            "architecture": f"sononet{width}",
            "input_hw": SONONET_INPUT_HW,
            "in_chans": in_chans,
            "crop": SONONET_CROP,
            "normalisation": "sononet",
            "class_names": list(class_names) if class_names is not None else None,
            "num_classes": num_classes,
        }

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Output of block 5, ``(N, 8f, H/16, W/16)``."""
        return run_blocks(self.blocks, x)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """Adaptation layers then global average pooling: logits ``(N, num_classes)``."""
        return self.adaptation(features).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits ``(N, num_classes)`` of frames ``(N, in_chans, H, W)``."""
        return self.forward_head(self.forward_features(x))


def _build(width: int, num_classes: int, in_chans: int,
           pretrained: str | os.PathLike[str] | None):
    names = SONONET_CLASS_NAMES if num_classes == len(SONONET_CLASS_NAMES) else None
    model = SonoNet(width=width, num_classes=num_classes, in_chans=in_chans, class_names=names)
    if pretrained is not None:
        from sonomtl.models.weights import load_weights

        load_weights(model, pretrained)
    return model


def sononet16(
    *, num_classes: int = 14, in_chans: int = 1, pretrained: str | os.PathLike[str] | None = None
) -> SonoNet:
    """SonoNet-16; ``pretrained``: the store name ``sononet16``, the official ``SonoNet16.npz``
    or a ``.safetensors`` file (the same argument name as every other network's)."""
    return _build(16, num_classes, in_chans, pretrained)


def sononet32(
    *, num_classes: int = 14, in_chans: int = 1, pretrained: str | os.PathLike[str] | None = None
) -> SonoNet:
    """SonoNet-32 (base width 32); ``pretrained`` as for :func:`sononet16`."""
    return _build(32, num_classes, in_chans, pretrained)


def sononet64(
    *, num_classes: int = 14, in_chans: int = 1, pretrained: str | os.PathLike[str] | None = None
) -> SonoNet:
    """SonoNet-64 (base width 64); ``pretrained`` as for :func:`sononet16`."""
    return _build(64, num_classes, in_chans, pretrained)
