"""GCN and boundary-refinement blocks: shapes, hand-computed outputs, receptive fields."""

from __future__ import annotations

import pytest
import torch

from sonomtl.models.blocks import BoundaryRefinement, GlobalConvBlock


def _ones_gcn(kernel_size: int) -> GlobalConvBlock:
    block = GlobalConvBlock(1, 1, kernel_size=kernel_size)
    with torch.no_grad():
        for conv in [*block.left, *block.right]:
            conv.weight.fill_(1.0)
            conv.bias.zero_()
    return block


def _gradient_extent(module: torch.nn.Module, size: int, channels: int) -> torch.Tensor:
    """|d out[centre] / d input| summed over channels: where the centre pixel looks."""
    x = torch.randn(1, channels, size, size, dtype=torch.float64, requires_grad=True)
    out = module(x)
    out[0, :, size // 2, size // 2].sum().backward()
    return x.grad[0].abs().sum(dim=0)


def _bounding_box(mask: torch.Tensor) -> tuple[int, int]:
    rows = torch.nonzero(mask.any(dim=1)).flatten()
    cols = torch.nonzero(mask.any(dim=0)).flatten()
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


def test_gcn_keeps_spatial_size_and_maps_channels():
    block = GlobalConvBlock(5, 3, kernel_size=7)
    assert block(torch.randn(2, 5, 17, 13)).shape == (2, 3, 17, 13)


def test_gcn_with_unit_weights_counts_the_valid_pixels_of_both_branches():
    # Each branch is a k x 1 sum then a 1 x k sum: on an all-ones image with zero padding
    # it gives (valid rows) * (valid cols); the two branches add up.
    k = 5
    out = _ones_gcn(k)(torch.ones(1, 1, 9, 9))[0, 0]
    assert out[4, 4].item() == 2 * k * k  # interior: 50
    assert out[0, 0].item() == 2 * 3 * 3  # corner: rows 0..2, cols 0..2
    assert out[0, 4].item() == 2 * 3 * 5  # top edge
    assert out[1, 8].item() == 2 * 4 * 3


def test_gcn_rejects_even_or_non_positive_kernels():
    with pytest.raises(ValueError, match="kernel_size"):
        GlobalConvBlock(4, 4, kernel_size=14)
    with pytest.raises(ValueError, match="kernel_size"):
        GlobalConvBlock(4, 4, kernel_size=0)


def test_boundary_refinement_adds_the_residual_branch():
    block = BoundaryRefinement(1)
    with torch.no_grad():
        for conv, centre in ((block.conv1, 1.0), (block.conv2, 2.0)):
            conv.weight.zero_()
            conv.weight[0, 0, 1, 1] = centre
            conv.bias.zero_()
    x = torch.tensor([[[[-1.0, 2.0], [0.5, -3.0]]]])
    # x + 2 * relu(x)
    expected = torch.tensor([[[[-1.0, 6.0], [1.5, -3.0]]]])
    torch.testing.assert_close(block(x), expected)
    assert BoundaryRefinement(6)(torch.randn(2, 6, 11, 7)).shape == (2, 6, 11, 7)


@pytest.mark.parametrize("k", [3, 7, 15])
def test_gcn_receptive_field_is_dense_k_by_k(k):
    torch.manual_seed(0)
    block = GlobalConvBlock(3, 4, kernel_size=k).double()
    extent = _gradient_extent(block, size=2 * k + 9, channels=3) > 0
    assert _bounding_box(extent) == (k, k)
    assert int(extent.sum()) == k * k  # dense, not a cross


@pytest.mark.parametrize("k", [7, 15])
def test_gcn_then_boundary_refinement_sees_k_plus_4_squared(k):
    torch.manual_seed(0)
    gcn = GlobalConvBlock(3, 4, kernel_size=k)
    refine = BoundaryRefinement(4)
    with torch.no_grad():
        refine.conv1.bias.fill_(1e3)  # keep every ReLU open: the extent is structural, not luck
    stack = torch.nn.Sequential(gcn, refine).double()
    extent = _gradient_extent(stack, size=2 * k + 13, channels=3) > 0
    # k x k from the GCN, + 2 pixels per side from the two 3x3 convolutions
    assert _bounding_box(extent) == (k + 4, k + 4)
    assert int(extent.sum()) == (k + 4) ** 2
