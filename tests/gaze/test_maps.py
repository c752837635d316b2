"""Attention maps: exactly scipy's Gaussian blur of the binary fixation map; frame timing."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from sonomtl.gaze import Fixations
from sonomtl.gaze.maps import attention_map, fixations_per_frame, screen_to_frame, sigma_px_for
from tests.gaze.gaze_synthetic import PAPER_GEOMETRY


@pytest.mark.parametrize("sigma", [30.0, 3.3, (5.0, 12.0)])
def test_map_equals_scipy_gaussian_filter_of_the_binary_map(sigma):
    points = np.array([[10.2, 200.7], [120.0, 120.0], [239.0, 0.0], [119.6, 120.4], [-3, 5]])
    binary = np.zeros((240, 240))
    binary[201, 10] = binary[120, 120] = binary[0, 239] = 1.0  # (119.6, 120.4) is pixel (120, 120)
    sigma_rc = sigma[::-1] if isinstance(sigma, tuple) else sigma
    expected = gaussian_filter(binary, sigma_rc, mode="constant", truncate=4.0)
    raw = attention_map(points, output_hw=(240, 240), sigma_px=sigma, normalise="none")
    np.testing.assert_allclose(raw, expected, rtol=1e-5, atol=1e-9)
    peak = attention_map(points, output_hw=(240, 240), sigma_px=sigma, normalise="max")
    assert peak.max() == pytest.approx(1.0)
    np.testing.assert_allclose(peak, expected / expected.max(), rtol=1e-5, atol=1e-9)
    total = attention_map(points, output_hw=(240, 240), sigma_px=sigma, normalise="sum")
    assert float(total.sum(dtype=np.float64)) == pytest.approx(1.0, abs=1e-5)


def test_duration_weights_add_up_on_the_same_pixel():
    points = np.array([[5.0, 5.0], [5.2, 4.9], [15.0, 5.0]])
    weighted = attention_map(points, output_hw=(11, 21), sigma_px=1.0, normalise="none",
                             weights=np.array([100.0, 200.0, 300.0]))
    binary = np.zeros((11, 21))
    binary[5, 5] = 300.0
    binary[5, 15] = 300.0
    np.testing.assert_allclose(weighted, gaussian_filter(binary, 1.0, mode="constant"), atol=1e-5)


def test_a_map_without_points_is_zero_for_every_normalisation():
    for normalise in ("max", "sum", "none"):
        empty = attention_map(np.zeros((0, 2)), output_hw=(8, 8), sigma_px=2, normalise=normalise)
        assert empty.dtype == np.float32 and not empty.any()


def test_paper_setting_gives_sigma_30_px():
    # 1.5 deg at 50 cm on a 33.2 cm wide 1920 px screen = 50 * 1920 / 33.2 * tan(1.5 deg) px.
    screen_px = 50 * 1920 / 33.2 * np.tan(np.radians(1.5))
    assert screen_px == pytest.approx(75.72, abs=0.01)
    scale = 30.0 / screen_px  # the frame's on-screen scale that the paper's 30 px implies
    sigma_x, _ = sigma_px_for(geometry=PAPER_GEOMETRY, sigma_deg=1.5,
                              model_px_per_screen_px=(scale, scale))
    assert sigma_x == pytest.approx(30.0, rel=1e-12)


def test_screen_to_frame_maps_the_rectangle_corners_to_the_frame_corners():
    rect = (300, 100, 800, 600)  # x0, y0, width, height on screen; the frame is 300x400
    corners = np.array([[300.0, 100.0], [1099.0, 699.0], [699.5, 399.5]])
    # Pixel centres: first screen pixel -> -0.25 (a frame pixel spans two screen pixels).
    out = screen_to_frame(corners, image_rect_px=rect, frame_hw=(300, 400))
    np.testing.assert_allclose(out, [[-0.25, -0.25], [399.25, 299.25], [199.5, 149.5]])


def test_frames_get_the_fixations_on_screen_while_they_are_shown():
    fixations = Fixations(onset_ms=np.array([0.0, 120, 260, 700]),
                          offset_ms=np.array([99.0, 190, 330, 900]),
                          x_px=np.zeros(4), y_px=np.zeros(4))
    frames = np.array([0.0, 100, 200, 300, 400])  # each frame stays until the next one
    got = fixations_per_frame(frames, fixations, end_ms=1000)
    assert [g.tolist() for g in got] == [[0], [1], [2], [2], [3]]  # the last frame lasts to 1000
    windowed = fixations_per_frame(frames, fixations, end_ms=1000, window_ms=50)
    assert [g.tolist() for g in windowed] == [[0, 1], [0, 1], [1, 2], [2], [3]]


def test_frames_after_the_end_of_the_log_get_no_fixation_and_a_warning():
    fixations = Fixations(np.array([0.0]), np.array([90.0]), np.zeros(1), np.zeros(1))
    with pytest.warns(UserWarning, match="after the gaze log ends"):
        got = fixations_per_frame(np.array([0.0, 100, 2000]), fixations, end_ms=500)
    assert [g.tolist() for g in got] == [[0], [], []]
