"""Heads of the abdominal network: the multi-level view classifier and the landmark decoder.

* :class:`MultiLevelViewHead`: global average pooling on several feature levels,
  concatenated, then two fully connected layers.
* :class:`LandmarkDecoder`: one FCN-style decoder shared by all landmarks; every
  skip level maps its features to ``N_L`` channels (GCN + boundary refinement, or
  a 1x1 score convolution), coarse scores are upsampled bilinearly and added,
  and the finest sum is upsampled bilinearly to the requested output size.

The design choices are explained in :mod:`sonomtl.models.abdominal`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from sonomtl.models.blocks import BoundaryRefinement, GlobalConvBlock

__all__ = ["LandmarkDecoder", "MultiLevelViewHead"]


class MultiLevelViewHead(nn.Module):
    """GAP on each feature level, concatenation, then ``Linear -> ReLU -> Dropout -> Linear``.

    Parameters
    ----------
    in_channels:
        Channels of each pooled level, in the order ``forward`` receives them.
    num_classes:
        Number of views.
    hidden:
        Width of the first fully connected layer.
    dropout:
        Dropout probability before the last layer (``0`` for none).
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        num_classes: int,
        *,
        hidden: int = 256,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {dropout!r}")
        self.in_channels = tuple(in_channels)
        self.fc1 = nn.Linear(sum(self.in_channels), hidden)
        self.relu = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(hidden, num_classes)

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        pooled = torch.cat([f.mean(dim=(2, 3)) for f in features], dim=1)
        return self.fc2(self.dropout(self.relu(self.fc1(pooled))))


class LandmarkDecoder(nn.Module):
    """One FCN decoder for all landmarks: per-level ``N_L``-channel scores, fused top-down.

    Parameters
    ----------
    in_channels:
        Channels of the encoder levels, finest first (``layer1 .. layer4``).
    num_landmarks:
        Output heat maps ``N_L``; every level outputs this many channels.
    skip:
        ``"gcn"``: GCN block then boundary refinement on every skip (MGCN);
        ``"fcn"``: a 1x1 score convolution per level (FCN-8s style; MFCN, SFCN).
    gcn_kernel:
        The GCN's large kernel ``k`` (odd); unused with ``skip="fcn"``.
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        num_landmarks: int,
        *,
        skip: str = "gcn",
        gcn_kernel: int = 15,
    ) -> None:
        super().__init__()
        if num_landmarks < 1:
            raise ValueError(f"num_landmarks must be a positive integer, got {num_landmarks!r}")
        if skip not in ("gcn", "fcn"):
            raise ValueError(f"skip must be 'gcn' or 'fcn', got {skip!r}")
        self.skip = skip
        levels: list[nn.Module] = []
        for channels in in_channels:
            if skip == "gcn":
                levels.append(
                    nn.Sequential(
                        GlobalConvBlock(channels, num_landmarks, kernel_size=gcn_kernel),
                        BoundaryRefinement(num_landmarks),
                    )
                )
            else:
                levels.append(nn.Conv2d(channels, num_landmarks, kernel_size=1))
        self.levels = nn.ModuleList(levels)

    def forward(
        self, features: Sequence[torch.Tensor], *, output_hw: Sequence[int]
    ) -> torch.Tensor:
        """Heat maps ``(B, N_L, *output_hw)`` from encoder levels ordered finest first."""
        if len(features) != len(self.levels):
            raise ValueError(f"expected {len(self.levels)} feature levels, got {len(features)}")
        score = self.levels[-1](features[-1])
        for level, feature in zip(self.levels[-2::-1], features[-2::-1]):
            skip_score = level(feature)
            score = _resize(score, skip_score.shape[-2:]) + skip_score
        return _resize(score, output_hw)


def _resize(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)
