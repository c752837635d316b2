"""Heat maps: Gaussian encoding, argmax and thresholded weighted-mean decoding, soft coordinates."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sonomtl.data.heatmaps import (
    decode_argmax,
    decode_weighted_mean,
    landmarks_to_heatmaps,
    merge_mirrored,
    mirrored_channels,
    sigma_px_from_mm,
)
from sonomtl.losses.landmarks import soft_coordinates


def test_heatmap_is_a_unit_peak_gaussian_by_hand() -> None:
    maps = landmarks_to_heatmaps(np.array([[3.0, 2.0]]), hw=(5, 7), sigma_px=2.0)
    assert maps.shape == (1, 5, 7) and maps.dtype == np.float32
    assert maps[0, 2, 3] == pytest.approx(1.0)
    # one pixel right and one down: exp(-(1 + 1) / (2 * 4)) = exp(-0.25)
    assert maps[0, 3, 4] == pytest.approx(np.exp(-0.25), rel=1e-6)
    assert maps[0, 0, 0] == pytest.approx(np.exp(-(9 + 4) / 8), rel=1e-6)


def test_anisotropic_sigma_from_mm() -> None:
    sigma = sigma_px_from_mm(1.0, (0.5, 0.25))  # 2 px along x, 4 px along y
    assert sigma == (2.0, 4.0)
    maps = landmarks_to_heatmaps(np.array([[10.0, 10.0]]), hw=(21, 21), sigma_px=sigma)
    assert maps[0, 10, 12] == pytest.approx(np.exp(-0.5), rel=1e-6)  # 1 sigma along x
    assert maps[0, 14, 10] == pytest.approx(np.exp(-0.5), rel=1e-6)  # 1 sigma along y
    assert sigma_px_from_mm(3.0, 0.5) == 6.0
    with pytest.raises(ValueError, match="spacing_mm"):
        sigma_px_from_mm(1.0, 0.0)


def test_absent_landmarks_give_zero_maps_and_nan_decodes() -> None:
    points = np.array([[4.0, 4.0], [np.nan, np.nan], [6.0, 2.0]])
    maps = landmarks_to_heatmaps(points, hw=(9, 9), sigma_px=1.5, mask=[True, True, False])
    assert maps[0].max() == pytest.approx(1.0)
    assert not maps[1].any() and not maps[2].any()
    decoded = decode_argmax(maps)
    np.testing.assert_array_equal(decoded[0], [4.0, 4.0])
    assert np.isnan(decoded[1:]).all()
    assert np.isnan(decode_weighted_mean(maps)[1:]).all()


@settings(max_examples=60, deadline=None)
@given(x=st.floats(20, 59), y=st.floats(20, 43), sigma=st.floats(1.0, 6.0))
def test_encode_then_decode_round_trips_within_a_tenth_of_a_pixel(
    x: float, y: float, sigma: float
) -> None:
    maps = landmarks_to_heatmaps(np.array([[x, y]]), hw=(64, 80), sigma_px=sigma)
    # over (nearly) the whole Gaussian (3 sigma, inside the map) the weighted mean is unbiased
    decoded = decode_weighted_mean(maps, threshold=0.01)[0]
    assert np.linalg.norm(decoded - [x, y]) < 0.1
    # argmax is the nearest pixel centre
    np.testing.assert_array_equal(decode_argmax(maps)[0], [round(x), round(y)])
    # paper 2's threshold k = 0.75 keeps only the tip: a few pixels, so a sub-pixel bias
    # (measured <= 0.43 px at sigma = 1 px, <= 0.25 px at sigma >= 3 px)
    paper = decode_weighted_mean(maps, threshold=0.75)[0]
    assert np.linalg.norm(paper - [x, y]) < 0.5


def test_weighted_mean_by_hand_and_fallback_to_the_peak() -> None:
    maps = np.zeros((2, 3, 4))
    maps[0, 1, 1], maps[0, 1, 2], maps[0, 2, 2] = 1.0, 0.8, 0.7  # 0.7 is below 0.75
    maps[1, 0, 3] = 0.5  # nothing above the threshold: the brightest pixel
    decoded = decode_weighted_mean(maps, threshold=0.75)
    np.testing.assert_allclose(decoded[0], [(1 * 1 + 0.8 * 2) / 1.8, 1.0])
    np.testing.assert_array_equal(decoded[1], [3.0, 0.0])


def test_decoders_keep_leading_batch_dimensions() -> None:
    points = np.array([[[3.0, 4.0], [10.0, 1.0]], [[7.0, 7.0], [0.0, 0.0]]])
    maps = np.stack([landmarks_to_heatmaps(p, hw=(12, 14), sigma_px=1.0) for p in points])
    assert decode_argmax(maps).shape == (2, 2, 2)
    np.testing.assert_allclose(decode_argmax(maps), points)
    np.testing.assert_allclose(decode_weighted_mean(maps), points, atol=1e-9)


def test_soft_coordinates_match_the_numpy_decoder() -> None:
    rng = np.random.default_rng(0)
    points = rng.uniform(5, 25, (3, 4, 2))
    maps = np.stack([landmarks_to_heatmaps(p, hw=(32, 30), sigma_px=2.5) for p in points])
    soft = soft_coordinates(torch.from_numpy(maps), threshold=0.75)
    assert soft.shape == (3, 4, 2)
    np.testing.assert_allclose(soft.numpy(), decode_weighted_mean(maps), atol=1e-5)
    np.testing.assert_allclose(soft.numpy(), points, atol=0.5)  # k = 0.75 tip bias
    soft_all = soft_coordinates(torch.from_numpy(maps), threshold=0.01)
    np.testing.assert_allclose(soft_all.numpy(), points, atol=0.1)


def test_soft_coordinates_gradient_is_the_analytic_one() -> None:
    # x = sum_O H_i S_i / sum_O H_i  =>  dx/dH_i = (S_i - x) / sum_O H_i on O, 0 elsewhere
    maps = torch.zeros(1, 1, 3, 4, dtype=torch.float64)
    maps[0, 0, 1, 1], maps[0, 0, 1, 2], maps[0, 0, 2, 2], maps[0, 0, 0, 0] = 1.0, 0.8, 0.9, 0.3
    maps.requires_grad_(True)
    coords = soft_coordinates(maps, threshold=0.75)
    total = 2.7
    x = (1 * 1 + 0.8 * 2 + 0.9 * 2) / total
    y = (1 * 1 + 0.8 * 1 + 0.9 * 2) / total
    np.testing.assert_allclose(coords.detach().numpy()[0, 0], [x, y])
    (grad_x,) = torch.autograd.grad(coords[0, 0, 0], maps, retain_graph=True)
    expected = np.zeros((3, 4))
    for r, c in [(1, 1), (1, 2), (2, 2)]:
        expected[r, c] = (c - x) / total
    np.testing.assert_allclose(grad_x[0, 0].numpy(), expected, atol=1e-12)
    (grad_y,) = torch.autograd.grad(coords[0, 0, 1], maps)
    assert grad_y[0, 0, 0, 0] == 0  # below the threshold: no gradient


def test_soft_coordinates_passes_gradcheck() -> None:
    rng = np.random.default_rng(1)
    base = landmarks_to_heatmaps(rng.uniform(3, 9, (2, 2)), hw=(12, 12), sigma_px=2.0)
    # keep every pixel away from the threshold so the selected set is stable under perturbation
    maps = np.where(np.abs(base - 0.5) < 0.05, base + 0.1, base)
    tensor = torch.tensor(maps[None], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda h: soft_coordinates(h, threshold=0.5), (tensor,))


def test_soft_coordinates_without_pixels_above_threshold_fall_back_to_argmax() -> None:
    maps = torch.full((2, 1, 5, 6), -0.2, dtype=torch.float32)
    maps[0, 0, 3, 4] = 0.4  # below 0.75: argmax, constant
    maps.requires_grad_(True)
    coords = soft_coordinates(maps, threshold=0.75)
    assert torch.isfinite(coords).all()
    np.testing.assert_array_equal(coords[0, 0].detach().numpy(), [4.0, 3.0])
    np.testing.assert_array_equal(coords[1, 0].detach().numpy(), [0.0, 0.0])  # flat: first pixel
    coords.sum().backward()
    assert maps.grad is not None and not maps.grad.any()


def test_bad_arguments_name_the_argument() -> None:
    with pytest.raises(ValueError, match="points_xy"):
        landmarks_to_heatmaps(np.zeros((3,)), hw=(4, 4), sigma_px=1)
    with pytest.raises(ValueError, match="sigma_px"):
        landmarks_to_heatmaps(np.zeros((1, 2)), hw=(4, 4), sigma_px=0)
    with pytest.raises(ValueError, match="mask"):
        landmarks_to_heatmaps(np.zeros((2, 2)), hw=(4, 4), sigma_px=1, mask=[True])
    with pytest.raises(ValueError, match="heatmaps"):
        soft_coordinates(torch.zeros(3, 4, 5), threshold=0.5)
    with pytest.raises(ValueError, match="heatmaps"):
        decode_argmax(np.zeros((4, 4)))


# ---- flip testing ----------------------------------------------------------------------------

def test_a_mirrored_frames_maps_put_each_landmark_back_where_the_frame_has_it() -> None:
    # landmarks left (2, 1), right (8, 3) and tip (5, 0) on a 4 x 10 frame; mirrored, x -> 9 - x
    # and the left/right channels swap
    points = np.array([[2.0, 1.0], [8.0, 3.0], [5.0, 0.0]])
    order = mirrored_channels([("left", "right")], ["left", "right", "tip"])
    assert order == [1, 0, 2]
    mirrored_points = np.array([[9.0 - x, y] for x, y in points])[order]
    own = landmarks_to_heatmaps(points, hw=(4, 10), sigma_px=1.0)[None]
    mirrored = landmarks_to_heatmaps(mirrored_points, hw=(4, 10), sigma_px=1.0)[None]
    merged = merge_mirrored(own, mirrored, order)
    np.testing.assert_array_equal(merged, own)  # an exactly flip-equivariant "model"
    np.testing.assert_allclose(decode_argmax(merged)[0], points)
    # a model that is not equivariant: the mean of both answers, channel by channel
    shifted = landmarks_to_heatmaps(mirrored_points + [1.0, 0.0], hw=(4, 10), sigma_px=1.0)[None]
    merged = merge_mirrored(own, shifted, order)
    assert merged[0, 0, 1, 1] == pytest.approx(0.5 * (own[0, 0, 1, 1] + shifted[0, 1, 1, 8]))
    # the two peaks, at x = 2 and x = 1, average to x = 1.5
    assert decode_weighted_mean(merged, threshold=0.1)[0, 0, 0] == pytest.approx(1.5)


def test_flip_testing_refuses_a_one_sided_network_and_mismatched_maps() -> None:
    with pytest.raises(ValueError, match=r"partners of \['left'\]"):
        mirrored_channels([("left", "right")], ["left", "tip"])
    maps = np.zeros((1, 2, 3, 3))
    with pytest.raises(ValueError, match="reorder the 2 channels"):
        merge_mirrored(maps, maps, [0, 0])
    with pytest.raises(ValueError, match="equal"):
        merge_mirrored(maps, maps[:, :1], [0, 1])
