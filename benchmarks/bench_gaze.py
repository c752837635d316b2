"""Gaze pipeline speed: one hour of 30 Hz gaze to fixations, and 100 attention maps.

Runs sonomtl and pymovements (pix2deg, pos2vel 'preceding', I-VT) side by side on the
same 108,000 samples, single-threaded, best of several repeats, and prints the ratio.
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
from sonomtl.gaze import FixationParams, detect_fixations
from sonomtl.gaze.maps import attention_map
from tests.gaze.gaze_synthetic import PAPER_GEOMETRY, scanpath


def best_of(function, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    samples, _ = scanpath(n_fixations=11_000, seed=0, lost_fraction=0.02, noise_px=3.0)
    n = 108_000
    from sonomtl.gaze import GazeSamples

    samples = GazeSamples(samples.time_ms[:n], samples.x_px[:n], samples.y_px[:n])
    paper = FixationParams(sampling_rate_hz=30.0)
    plain = FixationParams(smooth_window=1, merge_deg=0.0, sampling_rate_hz=30.0)
    geometry = PAPER_GEOMETRY
    ours_paper = best_of(lambda: detect_fixations(samples, geometry=geometry, params=paper), 7)
    ours_plain = best_of(lambda: detect_fixations(samples, geometry=geometry, params=plain), 7)

    import pymovements as pm

    experiment = pm.gaze.Experiment(
        screen_width_px=1920, screen_height_px=1200, screen_width_cm=33.2, screen_height_cm=20.7,
        distance_cm=50, origin="upper left", sampling_rate=30)

    def pymovements_ivt():
        gaze = pm.gaze.from_numpy(time=samples.time_ms.astype(np.int64),
                                  pixel=np.stack([samples.x_px, samples.y_px]),
                                  experiment=experiment, time_unit="ms")
        gaze.pix2deg()
        gaze.pos2vel(method="preceding")
        gaze.detect("ivt", velocity_threshold=30.0, minimum_duration=80)
        return gaze

    theirs = best_of(pymovements_ivt, 3)
    n_fix = len(detect_fixations(samples, geometry=PAPER_GEOMETRY, params=plain))
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
