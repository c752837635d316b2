"""Temporal moving-average filter of gaze positions (the paper's tremor filter)."""

from __future__ import annotations

import numpy as np

from sonomtl.gaze._validation import check_1d

__all__ = ["moving_average"]


def moving_average(values: np.ndarray, *, window: int) -> np.ndarray:
    """Centred moving average over ``window`` samples (odd), ignoring lost (NaN) samples.

    Each valid sample becomes the mean of the valid samples in the window centred
    on it (the window shrinks at the ends of the recording); lost samples stay NaN.
    ``window=1`` returns a copy.

    Examples
    --------
    >>> moving_average(np.array([0., 3, 6, np.nan, 12, 15]), window=3).tolist()
    [1.5, 3.0, 4.5, nan, 13.5, 13.5]
    """
    values = check_1d("values", values)
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)):
        raise TypeError(f"window must be an int, got {type(window).__name__}")
    if window < 1 or window % 2 == 0:
        raise ValueError(f"window must be an odd number of samples >= 1, got {window}")
    if window == 1 or len(values) == 0:
        return values.copy()
    valid = ~np.isnan(values)
    half = window // 2
    padded = np.concatenate([np.zeros(half + 1), np.where(valid, values, 0.0), np.zeros(half)])
    counts = np.concatenate([np.zeros(half + 1), valid.astype(np.float64), np.zeros(half)])
    sums = np.cumsum(padded)
    totals = np.cumsum(counts)
    window_sum = sums[window:] - sums[:-window]
    window_count = totals[window:] - totals[:-window]
    with np.errstate(invalid="ignore", divide="ignore"):
        smoothed = window_sum / window_count
    smoothed[~valid] = np.nan
    return smoothed
