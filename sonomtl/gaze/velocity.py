"""Angular velocity of gaze from positions in degrees."""

from __future__ import annotations

import numpy as np

from sonomtl.gaze._validation import check_1d, check_positive, check_same_length

__all__ = ["velocity_preceding"]


def velocity_preceding(
    x_deg: np.ndarray, y_deg: np.ndarray, *, sampling_rate_hz: float,
    time_ms: np.ndarray | None = None, max_interval_ms: float | None = None,
) -> np.ndarray:
    """Speed in deg/s from each sample to the one before it, at a constant sampling rate.

    ``|p[i] - p[i-1]| * sampling_rate_hz`` (pymovements' ``pos2vel(method='preceding')``
    followed by the Euclidean norm). The first sample has no predecessor and gets NaN;
    so does every sample next to a lost (NaN) one. When ``time_ms`` and
    ``max_interval_ms`` are given, a sample more than ``max_interval_ms`` after the
    previous one (a hole in the log) also gets NaN, so no fixation spans the hole.

    Examples
    --------
    >>> velocity_preceding(np.array([0., 0.1, 1.1]), np.array([0., 0., 0.]),
    ...                    sampling_rate_hz=30).round(6).tolist()
    [nan, 3.0, 30.0]
    """
    x_deg = check_1d("x_deg", x_deg)
    y_deg = check_1d("y_deg", y_deg)
    check_same_length(x_deg=x_deg, y_deg=y_deg)
    sampling_rate_hz = check_positive("sampling_rate_hz", sampling_rate_hz)
    speed = np.full(len(x_deg), np.nan)
    if len(x_deg) > 1:
        speed[1:] = np.hypot(np.diff(x_deg) * sampling_rate_hz, np.diff(y_deg) * sampling_rate_hz)
    if max_interval_ms is not None:
        if time_ms is None:
            raise ValueError("time_ms is required when max_interval_ms is given")
        time_ms = check_1d("time_ms", time_ms)
        check_same_length(x_deg=x_deg, time_ms=time_ms)
        max_interval_ms = check_positive("max_interval_ms", max_interval_ms)
        if len(time_ms) > 1:
            speed[1:][np.diff(time_ms) > max_interval_ms] = np.nan
    return speed
