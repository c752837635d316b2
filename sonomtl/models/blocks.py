"""Decoder building blocks of "Large Kernel Matters" (Peng et al., CVPR 2017).

* :class:`GlobalConvBlock` (GCN): the sum of a ``k x 1`` then ``1 x k`` branch and
  a ``1 x k`` then ``k x 1`` branch, a dense ``k x k`` receptive field for
  ``O(k)`` instead of ``O(k^2)`` weights. No batch norm or ReLU, as in the paper.
* :class:`BoundaryRefinement` (BR): ``x + conv3x3(ReLU(conv3x3(x)))``.

Both keep the spatial size (zero "same" padding). Output receptive field of
a GCN followed by a BR: ``(k + 4) x (k + 4)`` input pixels.
"""

from __future__ import annotations

import torch
import torch.nn as nn

__all__ = ["GlobalConvBlock", "BoundaryRefinement"]


class GlobalConvBlock(nn.Module):
    """Global Convolutional Network block: ``(k x 1 -> 1 x k) + (1 x k -> k x 1)``.

    Parameters
    ----------
    in_channels, out_channels:
        Channels of input and output; the intermediate maps have ``out_channels``.
    kernel_size:
        The large kernel ``k``; odd, so that the output keeps the input's size.
    """

    def __init__(self, in_channels: int, out_channels: int, *, kernel_size: int = 15) -> None:
        super().__init__()
        if not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be an odd positive integer, got {kernel_size!r}")
        if in_channels < 1 or out_channels < 1:
            raise ValueError(
                "in_channels and out_channels must be positive, "
                f"got in_channels={in_channels!r}, out_channels={out_channels!r}"
            )
        self.kernel_size = kernel_size
        pad = kernel_size // 2
        self.left = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, (kernel_size, 1), padding=(pad, 0)),
            nn.Conv2d(out_channels, out_channels, (1, kernel_size), padding=(0, pad)),
        )
        self.right = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, (1, kernel_size), padding=(0, pad)),
            nn.Conv2d(out_channels, out_channels, (kernel_size, 1), padding=(pad, 0)),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.left(x) + self.right(x)


class BoundaryRefinement(nn.Module):
    """Residual boundary refinement ``x + conv3x3(ReLU(conv3x3(x)))`` on ``channels`` maps."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        if channels < 1:
            raise ValueError(f"channels must be a positive integer, got {channels!r}")
        self.conv1 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)
        self.relu = nn.ReLU(inplace=False)
        self.conv2 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.relu(self.conv1(x)))
