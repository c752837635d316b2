"""Landmark errors, measurements, HC (Ramanujan) and SDR on hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sonomtl.metrics import landmarks as lm

NAMES = ["k1", "k2"]
MEASUREMENTS = {"KL_LA": {"type": "distance", "landmarks": ["k1", "k2"]}}


def test_point_errors_in_pixels_and_anisotropic_mm():
    true = np.array([[[0.0, 0.0], [10.0, 0.0]]])
    pred = np.array([[[3.0, 4.0], [10.0, 0.0]]])
    errors_px, errors_mm = lm.point_errors(pred, true, spacing_mm=[0.5, 0.25])
    np.testing.assert_allclose(errors_px, [[5.0, 0.0]])
    np.testing.assert_allclose(errors_mm, [[math.hypot(1.5, 1.0), 0.0]])


def test_report_by_hand():
    true = np.array(
        [[[0.0, 0.0], [10.0, 0.0]], [[0.0, 0.0], [20.0, 0.0]], [[np.nan, np.nan], [5.0, 5.0]]]
    )
    pred = np.array(
        [[[3.0, 4.0], [10.0, 0.0]], [[0.0, 0.0], [26.0, 8.0]], [[1.0, 1.0], [5.0, 6.0]]]
    )
    report = lm.compute_landmark_report(
        pred, true, landmark_names=NAMES, spacing_mm=0.5, measurements=MEASUREMENTS
    )
    # k1 errors: 5, 0 px (third not annotated) -> 2.5, 0 mm
    assert report["point_error_mm"]["k1"] == {
        "mean": 1.25,
        "std": pytest.approx(math.sqrt(3.125)),
        "median": 1.25,
        "n": 2,
    }
    # k2 errors: 0, 10, 1 px -> 0, 5, 0.5 mm
    assert report["point_error_mm"]["k2"]["mean"] == pytest.approx(5.5 / 3)
    assert report["point_error_mm"]["mean"]["n"] == 5
    assert report["point_error_px"]["k2"]["median"] == 1.0
    # KL_LA: true 5, 10 mm; predicted |(10,0)-(3,4)| / 2 = sqrt(65)/2, |(26,8)-(0,0)| / 2
    expected = [abs(math.sqrt(65) / 2 - 5), abs(math.sqrt(740) / 2 - 10)]
    stats = report["measurement_abs_error_mm"]["KL_LA"]
    assert stats["mean"] == pytest.approx(np.mean(expected))
    assert stats["median"] == pytest.approx(np.median(expected))
    assert stats["std"] == pytest.approx(np.std(expected, ddof=1))
    assert stats["n"] == 2
    # SDR over the 5 annotated errors in mm {2.5, 0, 0, 5, 0.5}
    assert report["success_detection_rate"] == {"2": 0.6, "2.5": 0.8, "3": 0.8, "4": 0.8}


def test_ellipse_circumference_is_ramanujan_and_exact_for_circles():
    assert lm.ellipse_circumference_mm(10.0, 10.0) == pytest.approx(10 * math.pi)
    a, b = 5.0, 3.0  # semi-axes
    assert lm.ellipse_circumference_mm(10.0, 6.0) == pytest.approx(
        math.pi * (3 * (a + b) - math.sqrt((3 * a + b) * (a + 3 * b)))
    )
    # a flat ellipse (a segment of length 2a, perimeter 4a): Ramanujan within 0.5%
    assert lm.ellipse_circumference_mm(100.0, 0.0) == pytest.approx(200.0, rel=0.005)


def test_head_circumference_from_ofd_and_bpd_end_points():
    names = ["ofd_1", "ofd_2", "bpd_1", "bpd_2"]
    points = np.array(
        [[[10.0, 50.0], [110.0, 50.0], [60.0, 20.0], [60.0, 80.0]]]
    )  # OFD 100 px, BPD 60 px
    values = lm.measurement_values_mm(
        points,
        landmark_names=names,
        measurements={"HC": {"type": "ellipse_circumference", "landmarks": names}},
        spacing_mm=0.2,
    )
    a, b = 10.0, 6.0
    assert values["HC"][0] == pytest.approx(
        math.pi * (3 * (a + b) - math.sqrt((3 * a + b) * (a + 3 * b)))
    )


def test_inter_observer_skips_points_either_annotator_left_out():
    first = np.array([[[0.0, 0.0], [10.0, 0.0]]])
    second = np.array([[[1.0, 0.0], [np.nan, np.nan]]])
    report = lm.compute_inter_observer_report(
        first, second, landmark_names=NAMES, measurements=MEASUREMENTS
    )
    assert report["point_error_px"]["k1"]["mean"] == 1.0
    assert report["point_error_px"]["k2"]["n"] == 0
    assert report["measurement_abs_error_mm"]["KL_LA"]["n"] == 0


def test_nan_prediction_of_an_annotated_point_is_an_error():
    with pytest.raises(ValueError, match="pred_points has NaN for 1 annotated landmark"):
        lm.point_errors(np.full((1, 1, 2), np.nan), np.zeros((1, 1, 2)))


def test_bad_shapes_and_spacing_are_rejected():
    with pytest.raises(ValueError, match=r"same shape, received \(1, 2, 2\) and \(1, 3, 2\)"):
        lm.point_errors(np.zeros((1, 2, 2)), np.zeros((1, 3, 2)))
    with pytest.raises(ValueError, match=r"shape \(N, L, 2\)"):
        lm.point_errors(np.zeros((1, 2, 3)), np.zeros((1, 2, 3)))
    with pytest.raises(ValueError, match="spacing_mm must be finite and > 0"):
        lm.point_errors(np.zeros((1, 2, 2)), np.zeros((1, 2, 2)), spacing_mm=0.0)
    with pytest.raises(ValueError, match="unknown landmark"):
        lm.measurement_values_mm(
            np.zeros((1, 2, 2)),
            landmark_names=NAMES,
            measurements={"X": {"type": "distance", "landmarks": ["k1", "zz"]}},
        )
    with pytest.raises(ValueError, match="distance of 2 landmarks"):
        lm.measurement_values_mm(
            np.zeros((1, 2, 2)),
            landmark_names=NAMES,
            measurements={"X": {"type": "area", "landmarks": NAMES}},
        )


def test_summary_of_nothing_is_nan_with_n_zero():
    stats = lm.summarise_values([np.nan])
    assert stats["n"] == 0 and math.isnan(stats["mean"]) and math.isnan(stats["std"])
