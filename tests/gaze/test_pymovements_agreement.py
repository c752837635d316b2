"""With smoothing and merging off, fixations equal pymovements' I-VT on the same samples."""

from __future__ import annotations

import numpy as np
import pytest

from sonomtl.gaze import FixationParams, detect_fixations, pix2deg
from tests.gaze.gaze_synthetic import PAPER_GEOMETRY, scanpath

pm = pytest.importorskip("pymovements")


def _pymovements_fixations(samples, *, threshold, min_duration, rate_hz=30.0):
    geometry = PAPER_GEOMETRY
    experiment = pm.gaze.Experiment(
        screen_width_px=int(geometry.screen_px[0]), screen_height_px=int(geometry.screen_px[1]),
        screen_width_cm=geometry.screen_cm[0], screen_height_cm=geometry.screen_cm[1],
        distance_cm=geometry.distance_cm, origin="upper left", sampling_rate=rate_hz,
    )
    gaze = pm.gaze.from_numpy(
        time=samples.time_ms.astype(np.int64), pixel=np.stack([samples.x_px, samples.y_px]),
        experiment=experiment, time_unit="ms",
    )
    gaze.pix2deg()
    gaze.pos2vel(method="preceding")
    gaze.detect("ivt", velocity_threshold=threshold, minimum_duration=min_duration)
    gaze.compute_event_properties(("location", {"method": "mean", "position_column": "pixel"}))
    frame = gaze.events.frame
    location = np.asarray(frame["location"].to_list(), dtype=np.float64).reshape(-1, 2)
    return (frame["onset"].to_numpy(), frame["offset"].to_numpy(), frame["duration"].to_numpy(),
            location)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(("threshold", "min_duration"), [(30.0, 80), (30.0, 0), (20.0, 100)])
def test_fixations_equal_pymovements_ivt_with_smoothing_and_merging_off(
    seed, threshold, min_duration
):
    samples, _ = scanpath(n_fixations=60, seed=seed, lost_fraction=0.03, noise_px=8.0, jitter_ms=2)
    params = FixationParams(
        velocity_threshold_deg_s=threshold, smooth_window=1, merge_deg=0.0,
        min_duration_ms=min_duration, sampling_rate_hz=30.0,
    )
    ours = detect_fixations(samples, geometry=PAPER_GEOMETRY, params=params)
    onset, offset, duration, location = _pymovements_fixations(
        samples, threshold=threshold, min_duration=min_duration)
    assert len(ours) > 30
    np.testing.assert_array_equal(ours.onset_ms, onset)
    np.testing.assert_array_equal(ours.offset_ms, offset)
    np.testing.assert_array_equal(ours.duration_ms, duration)
    np.testing.assert_allclose(np.c_[ours.x_px, ours.y_px], location, rtol=0, atol=1e-6)


def test_pix2deg_equals_pymovements_gaze_pix2deg():
    x = np.array([0.0, 959.5, 1919.0, 100.25, np.nan, -50.0])
    y = np.array([0.0, 599.5, 1199.0, 1000.0, 3.0, 1300.0])
    experiment = pm.gaze.Experiment(
        screen_width_px=1920, screen_height_px=1200, screen_width_cm=33.2, screen_height_cm=20.7,
        distance_cm=50, origin="upper left", sampling_rate=30,
    )
    gaze = pm.gaze.from_numpy(time=np.arange(6), pixel=np.stack([x, y]), experiment=experiment)
    gaze.pix2deg()
    reference = np.asarray(gaze.samples["position"].to_list(), dtype=np.float64)
    ours = np.stack(pix2deg(x, y, geometry=PAPER_GEOMETRY), axis=1)
    np.testing.assert_allclose(ours, reference, rtol=1e-12, atol=1e-12, equal_nan=True)
    # The centre of the screen is 0 deg; 959.5 px is the centre of a 1920 px axis.
    assert ours[1].tolist() == [0.0, 0.0]
