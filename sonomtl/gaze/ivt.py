"""Velocity-threshold identification of fixations (I-VT, Salvucci & Goldberg 2000)."""

from __future__ import annotations

import numpy as np

from sonomtl.gaze._validation import check_1d, check_positive

__all__ = ["ivt"]


def ivt(velocity_deg_s: np.ndarray, *, threshold_deg_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Runs of consecutive samples whose speed is strictly below ``threshold_deg_s``.

    NaN speed (lost samples, the first sample) is never below the threshold, so
    a lost sample ends a fixation. Returns ``(starts, stops)``: sample indices of
    the first sample and one past the last sample of each run. No minimum
    duration here: see :func:`sonomtl.gaze.fixations.detect_fixations`.

    Examples
    --------
    >>> ivt(np.array([np.nan, 1, 2, 50, 30, 29.9, np.nan, 3]), threshold_deg_s=30)
    (array([1, 5, 7]), array([3, 6, 8]))
    """
    speed = check_1d("velocity_deg_s", velocity_deg_s)
    threshold_deg_s = check_positive("threshold_deg_s", threshold_deg_s)
    below = np.zeros(len(speed) + 2, dtype=np.int8)
    with np.errstate(invalid="ignore"):
        below[1:-1] = speed < threshold_deg_s
    edges = np.diff(below)
    starts = np.flatnonzero(edges == 1)
    stops = np.flatnonzero(edges == -1)
    return starts, stops
