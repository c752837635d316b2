"""Gaze pipeline speed: one hour of 30 Hz gaze to fixations, and 100 attention maps.

The gaze is the simulator's review of 1,800 frames shown 2 s each (fixations, main-sequence
saccades, drift, blinks and lost samples; sonomtl.data.synthetic.gaze). Runs sonomtl and
pymovements (pix2deg, pos2vel 'preceding', I-VT) side by side on the same 108,000 samples,
single-threaded, best of several repeats, and prints the ratio.
Run: ``.venv/bin/python benchmarks/bench_gaze.py``.
"""

from __future__ import annotations

import os

os.environ.setdefault("POLARS_MAX_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from sonomtl.data.synthetic.gaze import FrameView, review_screen, simulate_review_gaze
from sonomtl.data.synthetic.sweeps import SWEEP_CANVAS_HW, SWEEP_CROP
from sonomtl.gaze import FixationParams, GazeSamples, ScreenGeometry, detect_fixations
from sonomtl.gaze.maps import attention_map

N_SAMPLES = 108_000  # one hour at 30 Hz


def best_of(function, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def one_hour_of_review_gaze() -> tuple[GazeSamples, ScreenGeometry]:
    """The simulator's gaze over 1,800 frames of 2 s, cut to :data:`N_SAMPLES` samples."""
    screen = review_screen(SWEEP_CANVAS_HW, crop_px=SWEEP_CROP[3] - SWEEP_CROP[2])
    x0, y0, width, height = screen.image_rect_px
    rng = np.random.default_rng(0)
    views = []
    for index in range(1_800):
        targets = {name: (x0 + rng.uniform(0.2, 0.8) * width, y0 + rng.uniform(0.2, 0.8) * height)
                   for name in ("stomach", "umbilical_vein", "spine")}
        views.append(FrameView(onset_ms=2_000 * index, offset_ms=2_000 * (index + 1),
                               targets=targets, focus=float(rng.uniform(0.2, 0.9)),
                               free_box=(x0, y0, x0 + width, y0 + height)))
    recording = simulate_review_gaze(views, screen=screen, rng=rng)
    samples = GazeSamples(recording.time_ms[:N_SAMPLES].astype(float),
                          recording.x_px[:N_SAMPLES], recording.y_px[:N_SAMPLES])
    return samples, ScreenGeometry(screen_px=screen.screen_px, screen_cm=screen.screen_cm,
                                   distance_cm=screen.distance_cm)


def main() -> None:
    samples, geometry = one_hour_of_review_gaze()
    paper = FixationParams(sampling_rate_hz=30.0)
    plain = FixationParams(smooth_window=1, merge_deg=0.0, sampling_rate_hz=30.0)
    ours_paper = best_of(lambda: detect_fixations(samples, geometry=geometry, params=paper), 7)
    ours_plain = best_of(lambda: detect_fixations(samples, geometry=geometry, params=plain), 7)

    import pymovements as pm

    (width_px, height_px), (width_cm, height_cm) = geometry.screen_px, geometry.screen_cm
    experiment = pm.gaze.Experiment(
        screen_width_px=width_px, screen_height_px=height_px, screen_width_cm=width_cm,
        screen_height_cm=height_cm, distance_cm=geometry.distance_cm, origin="upper left",
        sampling_rate=30)

    def pymovements_ivt():
        gaze = pm.gaze.from_numpy(time=samples.time_ms.astype(np.int64),
                                  pixel=np.stack([samples.x_px, samples.y_px]),
                                  experiment=experiment, time_unit="ms")
        gaze.pix2deg()
        gaze.pos2vel(method="preceding")
        gaze.detect("ivt", velocity_threshold=30.0, minimum_duration=80)
        return gaze

    theirs = best_of(pymovements_ivt, 3)
    n_fix = len(detect_fixations(samples, geometry=geometry, params=plain))
    print(f"samples: {len(samples)} (one hour at 30 Hz); plain I-VT fixations: {n_fix}")
    print(f"sonomtl paper protocol (smooth 3, merge 0.5 deg): {ours_paper * 1000:8.1f} ms")
    print(f"sonomtl plain I-VT (smooth 1, merge 0)         : {ours_plain * 1000:8.1f} ms")
    print(f"pymovements pix2deg+pos2vel+ivt                : {theirs * 1000:8.1f} ms")
    print(f"ratio pymovements / sonomtl (plain I-VT)       : {theirs / ours_plain:8.1f} x")

    rng = np.random.default_rng(0)
    frames = [rng.uniform(0, 240, size=(int(rng.integers(1, 4)), 2)) for _ in range(100)]
    maps_s = best_of(lambda: [attention_map(p, output_hw=(240, 240), sigma_px=30.0)
                              for p in frames], 5)
    from scipy.ndimage import gaussian_filter

    def scipy_maps():
        for points in frames:
            binary = np.zeros((240, 240))
            binary[np.floor(points[:, 1] + 0.5).clip(0, 239).astype(int),
                   np.floor(points[:, 0] + 0.5).clip(0, 239).astype(int)] = 1.0
            gaussian_filter(binary, 30.0, mode="constant")

    scipy_s = best_of(scipy_maps, 2)
    print(f"100 attention maps 240x240, sigma 30 px (sonomtl): {maps_s * 1000:8.1f} ms")
    print(f"same with scipy.ndimage.gaussian_filter          : {scipy_s * 1000:8.1f} ms")
    print(f"ratio scipy / sonomtl                            : {scipy_s / maps_s:8.1f} x")


if __name__ == "__main__":
    main()
