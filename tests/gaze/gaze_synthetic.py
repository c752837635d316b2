"""Synthetic gaze recordings with known fixations, for the gaze tests."""

from __future__ import annotations

import numpy as np

from sonomtl.gaze import GazeSamples, ScreenGeometry

PAPER_GEOMETRY = ScreenGeometry(screen_px=(1920, 1200), screen_cm=(33.2, 20.7), distance_cm=50)


def scanpath(
    *, n_fixations: int, seed: int, rate_hz: float = 30.0, lost_fraction: float = 0.02,
    noise_px: float = 2.0, jitter_ms: float = 0.0,
) -> tuple[GazeSamples, np.ndarray]:
    """Fixations of 4-15 samples joined by 1-3 saccade samples; some samples lost.

    Returns the samples and the true (first, last) sample index of every fixation.
    """
    rng = np.random.default_rng(seed)
    xs, ys, truth = [], [], []
    index = 0
    x0, y0 = 960.0, 600.0
    for _ in range(n_fixations):
        saccade = int(rng.integers(1, 4))
        x1, y1 = rng.uniform(100, 1820), rng.uniform(100, 1100)
        for k in range(1, saccade + 1):
            xs.append(x0 + (x1 - x0) * k / (saccade + 1))
            ys.append(y0 + (y1 - y0) * k / (saccade + 1))
        index += saccade
        length = int(rng.integers(4, 16))
        xs.extend(x1 + rng.normal(0, noise_px, length))
        ys.extend(y1 + rng.normal(0, noise_px, length))
        truth.append((index, index + length - 1))
        index += length
        x0, y0 = x1, y1
    x = np.asarray(xs)
    y = np.asarray(ys)
    lost = rng.random(len(x)) < lost_fraction
    x[lost] = np.nan
    y[lost] = np.nan
    step = 1000.0 / rate_hz
    time_ms = np.round(1000 + np.arange(len(x)) * step + rng.uniform(0, jitter_ms, len(x)))
    return GazeSamples(time_ms, x, y), np.asarray(truth)
