"""The paper's fixation protocol on hand-made recordings with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from sonomtl.gaze import (
    FixationParams,
    GazeSamples,
    ScreenGeometry,
    angle_between_deg,
    detect_fixations,
    pix2deg,
    read_fixations_csv,
    write_fixations_csv,
)
from sonomtl.gaze.filters import moving_average
from tests.gaze.gaze_synthetic import PAPER_GEOMETRY, scanpath

PLAIN = dict(smooth_window=1, merge_deg=0.0, sampling_rate_hz=30.0)


def _samples(x, y=None, step_ms=33.0):
    x = np.asarray(x, dtype=float)
    y = np.full(len(x), 600.0) if y is None else np.asarray(y, dtype=float)
    return GazeSamples(np.arange(len(x)) * step_ms, x, y)


def test_speed_strictly_below_threshold_is_fixation():
    # Gaze alternating 0.5 px either side of the screen centre: every step has the same speed.
    x = np.array([959.0, 960.0] * 3)
    step_deg = float(np.diff(pix2deg(x[:2], np.zeros(2), geometry=PAPER_GEOMETRY)[0])[0])
    samples = _samples(x)
    at = FixationParams(velocity_threshold_deg_s=30 * step_deg, min_duration_ms=0, **PLAIN)
    assert len(detect_fixations(samples, geometry=PAPER_GEOMETRY, params=at)) == 0
    above = FixationParams(velocity_threshold_deg_s=30 * step_deg * 1.001, min_duration_ms=0,
                           **PLAIN)
    fix = detect_fixations(samples, geometry=PAPER_GEOMETRY, params=above)
    # The first sample has no velocity, so the fixation starts at the second one.
    assert fix.onset_ms.tolist() == [33.0] and fix.offset_ms.tolist() == [165.0]


def test_min_duration_is_last_minus_first_sample_time():
    x = [100.0] * 4 + [900.0] * 5 + [1500.0] * 4
    fix = detect_fixations(_samples(x), geometry=PAPER_GEOMETRY,
                           params=FixationParams(min_duration_ms=99, **PLAIN))
    # Fixations of 3 samples (66 ms), 4 samples (99 ms, kept), 3 samples (66 ms).
    assert fix.onset_ms.tolist() == [165.0] and fix.duration_ms.tolist() == [99.0]
    assert fix.x_px.tolist() == [900.0]


def test_a_lost_sample_splits_a_fixation_and_is_never_part_of_one():
    x = [500.0] * 6 + [np.nan] + [500.0] * 6
    fix = detect_fixations(_samples(x), geometry=PAPER_GEOMETRY,
                           params=FixationParams(min_duration_ms=0, **PLAIN))
    # Samples 1..5, then 8..12 (sample 7 has no velocity: its predecessor is lost).
    assert fix.onset_ms.tolist() == [33.0, 264.0]
    assert fix.offset_ms.tolist() == [165.0, 396.0]


def test_a_hole_in_the_log_splits_a_fixation():
    t = np.r_[np.arange(6) * 33.0, 2000 + np.arange(6) * 33.0]
    fix = detect_fixations(GazeSamples(t, np.full(12, 500.0), np.full(12, 500.0)),
                           geometry=PAPER_GEOMETRY, params=FixationParams(min_duration_ms=0))
    assert fix.onset_ms.tolist() == [33.0, 2033.0]


def test_moving_average_removes_a_one_sample_spike_that_breaks_plain_ivt():
    x = np.full(15, 800.0)
    x[7] = 825.0  # 25 px ~ 0.5 deg in 33 ms: 15 deg/s up and down -> fine; make it 60 px
    x[7] = 860.0
    plain = detect_fixations(_samples(x), geometry=PAPER_GEOMETRY,
                             params=FixationParams(min_duration_ms=0, **PLAIN))
    assert len(plain) == 2
    smooth = detect_fixations(_samples(x), geometry=PAPER_GEOMETRY,
                              params=FixationParams(smooth_window=3, merge_deg=0.0,
                                                    min_duration_ms=0, sampling_rate_hz=30))
    # The filter spreads 60 px over three samples: 20 px steps = 17.5 deg/s < 30.
    assert len(smooth) == 1 and smooth.onset_ms[0] == 33.0
    assert moving_average(x, window=3)[6:9].tolist() == [820.0, 820.0, 820.0]


def test_merging_joins_close_fixations_and_keeps_distant_ones():
    # Two fixations 10 px (0.2 deg) apart separated by one fast sample, then one far away.
    x = [600.0] * 5 + [700.0] + [610.0] * 5 + [1400.0] * 5
    params = dict(smooth_window=1, sampling_rate_hz=30.0, min_duration_ms=0)
    unmerged = detect_fixations(_samples(x), geometry=PAPER_GEOMETRY,
                                params=FixationParams(merge_deg=0.0, **params))
    merged = detect_fixations(_samples(x), geometry=PAPER_GEOMETRY,
                              params=FixationParams(merge_deg=0.5, max_merge_gap_ms=100, **params))
    assert len(unmerged) == 3 and len(merged) == 2
    assert merged.onset_ms.tolist() == [33.0, 396.0]
    assert merged.offset_ms.tolist() == [330.0, 495.0]
    # The gap is 132 -> 231 ms (99 ms): a 75 ms limit keeps them apart.
    # Centroid of the 4 + 4 fixation samples (the 700 px saccade sample and the first 610
    # sample, whose velocity is high, are not fixation samples).
    assert merged.x_px[0] == pytest.approx((4 * 600 + 4 * 610) / 8)
    not_merged = detect_fixations(_samples(x), geometry=PAPER_GEOMETRY,
                                  params=FixationParams(merge_deg=0.5, max_merge_gap_ms=75,
                                                        **params))
    assert len(not_merged) == 3


def test_no_fixation_and_a_warning_when_all_samples_are_lost():
    with pytest.warns(UserWarning, match="no valid gaze samples"):
        fix = detect_fixations(_samples([np.nan] * 5), geometry=PAPER_GEOMETRY)
    assert len(fix) == 0


def test_off_screen_samples_are_kept_with_a_warning():
    with pytest.warns(UserWarning, match="3 of 6 gaze samples lie off the screen"):
        fix = detect_fixations(_samples([-50.0] * 3 + [1000.0] * 3), geometry=PAPER_GEOMETRY,
                               params=FixationParams(min_duration_ms=0, **PLAIN))
    assert fix.x_px.tolist() == [-50.0, 1000.0]


@pytest.mark.parametrize(("kwargs", "match"), [
    (dict(screen_px=(0, 1080), screen_cm=(53, 30), distance_cm=60), "screen_px"),
    (dict(screen_px=(1920, 1080), screen_cm=(53, -30), distance_cm=60), "screen_cm"),
    (dict(screen_px=(1920, 1080), screen_cm=(53, 30), distance_cm=float("nan")), "distance_cm"),
])
def test_zero_negative_or_nan_geometry_is_rejected_naming_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ScreenGeometry(**kwargs)


def test_exact_angle_agrees_with_per_axis_degrees_on_an_axis_and_differs_off_axis():
    g = PAPER_GEOMETRY
    on_axis = angle_between_deg(959.5, 599.5, 1500.0, 599.5, geometry=g)
    assert on_axis == pytest.approx(pix2deg(np.array([1500.0]), np.zeros(1), geometry=g)[0][0])
    corner = angle_between_deg(959.5, 599.5, 1919.0, 1199.0, geometry=g)
    x_deg, y_deg = pix2deg(np.array([1919.0]), np.array([1199.0]), geometry=g)
    # True angle to the corner: the offsets from the centre in cm, then atan(length / 50 cm).
    dx_cm = (1919 - 959.5) * 33.2 / 1920
    dy_cm = (1199 - 599.5) * 20.7 / 1200
    assert float(corner) == pytest.approx(np.degrees(np.arctan(np.hypot(dx_cm, dy_cm) / 50)))
    assert float(np.hypot(x_deg, y_deg)[0]) > float(corner)


def test_fixation_csv_round_trip(tmp_path):
    samples, _ = scanpath(n_fixations=20, seed=3)
    fix = detect_fixations(samples, geometry=PAPER_GEOMETRY)
    path = write_fixations_csv(tmp_path / "f.csv", fix)
    assert path.read_text().splitlines()[0] == "onset_ms,offset_ms,duration_ms,x_px,y_px"
    back = read_fixations_csv(path)
    np.testing.assert_array_equal(back.onset_ms, fix.onset_ms)
    np.testing.assert_array_equal(back.x_px, fix.x_px)


def test_protocol_recovers_the_simulated_fixations_of_200_ms_or_more():
    samples, truth = scanpath(n_fixations=200, seed=11, lost_fraction=0.0, noise_px=3.0)
    fix = detect_fixations(samples, geometry=PAPER_GEOMETRY)
    onset_truth = samples.time_ms[truth[:, 0]]
    offset_truth = samples.time_ms[truth[:, 1]]
    long_ones = (truth[:, 1] - truth[:, 0] + 1) >= 7
    onset_error, offset_error = [], []
    for onset, offset in zip(onset_truth[long_ones], offset_truth[long_ones]):
        hits = np.flatnonzero((fix.onset_ms <= offset) & (fix.offset_ms >= onset))
        assert len(hits) == 1  # found, once
        onset_error.append(fix.onset_ms[hits[0]] - onset)
        offset_error.append(fix.offset_ms[hits[0]] - offset)
    # Preceding-sample velocity on smoothed positions starts a fixation 1-2 samples late and
    # may end it 1 sample early; merges with a close neighbour give the rare large errors.
    assert 33.0 <= np.median(onset_error) <= 67.0  # 1-2 samples at 30 Hz
    assert np.median(np.abs(offset_error)) <= 34.0
