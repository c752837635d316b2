"""Selective L2 heat-map loss (eq. 2) and coordinate loss (eq. 3) of paper 004."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import ndimage

from sonomtl.losses.landmarks import COORDINATE_THRESHOLD, coordinate_loss, selective_l2_loss


def _mask(rows: list[list[bool]]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.bool)


# -- selective L2 (eq. 2) ------------------------------------------------------------------------
def test_selective_l2_is_normalised_by_pixels_times_selected_channels():
    pred = torch.zeros(2, 3, 2, 2)
    target = torch.zeros(2, 3, 2, 2)
    target[0, 0] = 1.0  # selected: 4 pixels x 1^2 = 4
    target[0, 1] = 7.0  # not selected on image 0
    target[0, 2] = 2.0  # selected: 4 x 2^2 = 16
    target[1, 1] = 3.0  # selected: 4 x 3^2 = 36
    mask = _mask([[True, False, True], [False, True, False]])
    per_image = selective_l2_loss(pred, target, landmark_mask=mask, reduction="none")
    # image 0: (4 + 16) / (N_I=4 * N_L'=2) = 2.5; image 1: 36 / (4 * 1) = 9
    torch.testing.assert_close(per_image, torch.tensor([2.5, 9.0]))
    torch.testing.assert_close(
        selective_l2_loss(pred, target, landmark_mask=mask), torch.tensor(5.75)
    )


def test_landmark_absent_from_the_view_gets_exactly_zero_gradient():
    torch.manual_seed(0)
    pred = torch.randn(2, 4, 8, 8, requires_grad=True)
    target = torch.rand(2, 4, 8, 8)
    target[0, 1] = float("nan")  # absent landmarks may carry NaN maps
    target[1, 3] = float("nan")
    mask = _mask([[True, False, True, True], [True, True, True, False]])
    selective_l2_loss(pred, target, landmark_mask=mask).backward()
    grad = pred.grad
    assert torch.isfinite(grad).all()
    assert torch.count_nonzero(grad[0, 1]) == 0 and torch.count_nonzero(grad[1, 3]) == 0
    # selected channels: d/dpred of mean over 2 images of sum / (64 * 3) = 2 (p - t) / (2 * 192)
    expected = 2 * (pred - target).detach() / (2 * 64 * 3)
    torch.testing.assert_close(grad[0, 0], expected[0, 0])
    torch.testing.assert_close(grad[1, 2], expected[1, 2])


def test_images_without_landmarks_are_left_out_of_the_mean():
    pred = torch.zeros(3, 2, 2, 2, requires_grad=True)
    target = torch.ones(3, 2, 2, 2)
    mask = _mask([[True, False], [False, False], [True, True]])  # image 1: e.g. "others"
    loss = selective_l2_loss(pred, target, landmark_mask=mask)
    assert loss.item() == pytest.approx(1.0)  # (1 + 1) / 2 images, not / 3
    nothing = selective_l2_loss(pred, target, landmark_mask=torch.zeros(3, 2, dtype=torch.bool))
    assert nothing.item() == 0.0
    nothing.backward()  # a batch with no landmarks still back-propagates (zero gradient)
    assert torch.count_nonzero(pred.grad) == 0


def test_selective_l2_rejects_bad_arguments():
    pred = torch.zeros(2, 3, 4, 4)
    with pytest.raises(TypeError, match="landmark_mask"):
        selective_l2_loss(pred, pred, landmark_mask=torch.ones(2, 3))
    with pytest.raises(ValueError, match=r"landmark_mask must have shape \(B, L\) = \(2, 3\)"):
        selective_l2_loss(pred, pred, landmark_mask=torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="target"):
        selective_l2_loss(pred, pred[:, :2], landmark_mask=torch.ones(2, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="reduction"):
        selective_l2_loss(
            pred, pred, landmark_mask=torch.ones(2, 3, dtype=torch.bool), reduction="sum"
        )


# -- coordinate loss (eq. 3) ---------------------------------------------------------------------
def _hand_case() -> torch.Tensor:
    maps = torch.zeros(1, 2, 5, 6)
    maps[0, 0, 1, 1] = 1.0  # (x=1, y=1)
    maps[0, 0, 1, 3] = 0.8  # (x=3, y=1)
    maps[0, 0, 3, 3] = 0.5  # below k = 0.75: ignored
    maps[0, 1, 4, 5] = 0.9  # one pixel above k at (x=5, y=4)
    return maps


def test_coordinate_loss_matches_a_hand_computed_case():
    maps = _hand_case()
    # channel 0: x = (1*1 + 0.8*3) / 1.8 = 17/9, y = 1; truth (1, 4)
    # distance = sqrt((8/9)^2 + 3^2); channel 1: (5, 4) vs truth (2, 0): distance 5
    target = torch.tensor([[[1.0, 4.0], [2.0, 0.0]]])
    expected = (math.hypot(8 / 9, 3.0) + 5.0) / 2
    loss = coordinate_loss(maps, target, landmark_mask=_mask([[True, True]]))
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    only_first = coordinate_loss(maps, target, landmark_mask=_mask([[True, False]]))
    assert only_first.item() == pytest.approx(math.hypot(8 / 9, 3.0), rel=1e-6)


def test_coordinate_loss_gradient_flows_only_through_pixels_above_the_threshold():
    maps = _hand_case().requires_grad_(True)
    target = torch.tensor([[[1.0, 4.0], [float("nan"), float("nan")]]])
    coordinate_loss(maps, target, landmark_mask=_mask([[True, False]])).backward()
    grad = maps.grad[0, 0]
    # d loss / d H_i = (p_hat - p) / |p_hat - p| . (S_i - p_hat) / sum_O H
    x_hat, y_hat = 17 / 9, 1.0
    dx, dy = x_hat - 1.0, y_hat - 4.0
    norm = math.hypot(dx, dy)
    for row, col in ((1, 1), (1, 3)):
        value = (dx * (col - x_hat) + dy * (row - y_hat)) / (norm * 1.8)
        assert grad[row, col].item() == pytest.approx(value, rel=1e-5)
    assert torch.count_nonzero(grad).item() == 2  # not the 0.5 pixel, nor the zeros
    assert torch.count_nonzero(maps.grad[0, 1]).item() == 0  # unselected, NaN target


def test_coordinates_agree_with_scipy_centre_of_mass_over_the_thresholded_map():
    rng = np.random.default_rng(3)
    maps = rng.random((2, 3, 9, 11)).astype(np.float64)
    origin = torch.zeros(2, 3, 2, dtype=torch.float64)
    per_image = coordinate_loss(
        torch.from_numpy(maps),
        origin,
        landmark_mask=torch.ones(2, 3, dtype=torch.bool),
        reduction="none",
    )
    expected = []
    for image in maps:
        distances = []
        for heatmap in image:
            row, col = ndimage.center_of_mass(np.where(heatmap > COORDINATE_THRESHOLD, heatmap, 0))
            distances.append(math.hypot(col, row))  # distance to the origin (x=0, y=0)
        expected.append(np.mean(distances))
    np.testing.assert_allclose(per_image.numpy(), expected, rtol=1e-10)


def test_map_without_pixels_above_threshold_falls_back_to_its_argmax_without_gradient():
    maps = torch.full((1, 1, 4, 5), 0.1)
    maps[0, 0, 2, 3] = 0.6  # the peak, below k
    maps.requires_grad_(True)
    target = torch.tensor([[[0.0, 2.0]]])
    loss = coordinate_loss(maps, target, landmark_mask=_mask([[True]]))
    assert loss.item() == pytest.approx(3.0)  # argmax (x=3, y=2) vs (0, 2)
    loss.backward()
    assert torch.count_nonzero(maps.grad).item() == 0


def test_perfect_prediction_gives_zero_loss_and_a_finite_gradient():
    maps = torch.zeros(1, 1, 5, 5)
    maps[0, 0, 2, 2] = 1.0
    maps.requires_grad_(True)
    loss = coordinate_loss(maps, torch.tensor([[[2.0, 2.0]]]), landmark_mask=_mask([[True]]))
    loss.backward()
    assert loss.item() == 0.0 and torch.isfinite(maps.grad).all()


def test_coordinate_loss_rejects_mismatched_targets():
    maps = torch.zeros(2, 3, 4, 4)
    mask = torch.ones(2, 3, dtype=torch.bool)
    with pytest.raises(ValueError, match="target_points"):
        coordinate_loss(maps, torch.zeros(2, 3), landmark_mask=mask)
    with pytest.raises(ValueError, match="heatmaps"):
        coordinate_loss(maps[0], torch.zeros(2, 3, 2), landmark_mask=mask)


def test_interchangeable_pairs_follow_the_prediction_per_image():
    from sonomtl.losses.landmarks import match_interchangeable_pairs

    def peak(y, x):
        out = torch.zeros(6, 6)
        out[y, x] = 1.0
        return out

    # image 0 predicts the pair (0, 1) in the rule's order, image 1 swapped; channel 2 alone
    target = torch.stack([torch.stack([peak(1, 1), peak(4, 4), peak(0, 5)])] * 2)
    points = torch.tensor([[[1.0, 1.0], [4.0, 4.0], [5.0, 0.0]]] * 2)
    mask = torch.tensor([[True, False, True], [True, False, True]])
    pred = target.clone()
    pred[1, 0], pred[1, 1] = peak(4, 4), peak(1, 1)
    maps, matched, matched_mask = match_interchangeable_pairs(pred, target, points, mask, [(0, 1)])
    assert torch.equal(maps[0], target[0]) and torch.equal(matched[0], points[0])
    assert torch.equal(maps[1, 0], target[1, 1]) and torch.equal(maps[1, 1], target[1, 0])
    assert matched[1].tolist() == [[4.0, 4.0], [1.0, 1.0], [5.0, 0.0]]
    assert matched_mask.tolist() == [[True, False, True], [False, True, True]]  # mask moves too
    assert torch.equal(target[1, 0], peak(1, 1)) and mask[1].tolist() == [True, False, True]
    # a tie (the prediction fits both orders equally) keeps the rule's order
    _, tie, _ = match_interchangeable_pairs(torch.zeros_like(pred), target, points, mask, [(0, 1)])
    assert torch.equal(tie, points)
