"""Small reusable layers: the conv-BN-ReLU unit and the N(0, std) initialiser.

The unit is an ``nn.Sequential`` (``0`` conv, ``1`` batch norm, ``2`` ReLU,
``3`` optional dropout), so that state-dict keys are the same with and
without dropout and pretrained weights load into either.
"""

from __future__ import annotations

import torch.nn as nn

__all__ = ["ConvBNReLU", "init_normal_"]


class ConvBNReLU(nn.Sequential):
    """Convolution (no bias), batch normalisation, ReLU, then optional dropout.

    Parameters
    ----------
    in_chans, out_chans:
        Input and output channels.
    kernel_size:
        Square kernel; padding keeps the spatial size ("same").
    bn_eps:
        Batch-norm epsilon (SonoNet/Lasagne: ``1e-4``).
    dropout:
        Element-wise dropout probability after the ReLU; ``0`` adds no layer.
    relu:
        ``False`` leaves out the ReLU (SonoNet's last adaptation layer).
    """

    def __init__(
        self,
        in_chans: int,
        out_chans: int,
        *,
        kernel_size: int = 3,
        bn_eps: float = 1e-4,
        dropout: float = 0.0,
        relu: bool = True,
    ) -> None:
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        layers: list[nn.Module] = [
            nn.Conv2d(in_chans, out_chans, kernel_size, padding=kernel_size // 2, bias=False),
            nn.BatchNorm2d(out_chans, eps=bn_eps),
        ]
        if relu:
            layers.append(nn.ReLU(inplace=True))
        if dropout > 0.0:
            layers.append(nn.Dropout(dropout))
        super().__init__(*layers)


def init_normal_(module: nn.Module, *, std: float = 0.01) -> nn.Module:
    """Initialise every conv/linear weight of ``module`` from N(0, std), biases to 0.

    Batch-norm layers keep PyTorch's defaults (weight 1, bias 0). Returns
    ``module`` for chaining.
    """
    if std <= 0:
        raise ValueError(f"std must be positive, got {std!r}")
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            nn.init.normal_(layer.weight, mean=0.0, std=std)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
    return module
