"""Gaze samples in memory, and filling of short gaps."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from sonomtl.gaze._validation import check_1d, check_non_negative, check_same_length

__all__ = ["GazeSamples", "GazeWarning", "fill_gaps"]


class GazeWarning(UserWarning):
    """Questionable but usable gaze input (lost samples, off-image fixations, short logs)."""


@dataclass(frozen=True)
class GazeSamples:
    """A gaze recording: one sample per tracker frame, lost samples as NaN.

    Parameters
    ----------
    time_ms
        Sample times in milliseconds, strictly increasing.
    x_px, y_px
        Gaze on the screen in pixels (origin upper left); NaN where the tracker lost the eyes.
    """

    time_ms: np.ndarray
    x_px: np.ndarray
    y_px: np.ndarray

    def __post_init__(self) -> None:
        time_ms = check_1d("time_ms", self.time_ms)
        x_px = check_1d("x_px", self.x_px)
        y_px = check_1d("y_px", self.y_px)
        check_same_length(time_ms=time_ms, x_px=x_px, y_px=y_px)
        if not np.isfinite(time_ms).all():
            raise ValueError("time_ms must be finite")
        if len(time_ms) > 1 and not (np.diff(time_ms) > 0).all():
            raise ValueError("time_ms must be strictly increasing")
        lost = ~(np.isfinite(x_px) & np.isfinite(y_px))
        x_px = np.where(lost, np.nan, x_px)
        y_px = np.where(lost, np.nan, y_px)
        object.__setattr__(self, "time_ms", time_ms)
        object.__setattr__(self, "x_px", x_px)
        object.__setattr__(self, "y_px", y_px)

    def __len__(self) -> int:
        return len(self.time_ms)

    @property
    def lost(self) -> np.ndarray:
        """Boolean mask of lost samples."""
        return np.isnan(self.x_px)

    def sampling_rate_hz(self) -> float:
        """The nominal sampling rate: 1000 / median interval between samples.

        Raises ``ValueError`` for fewer than two samples.
        """
        if len(self) < 2:
            raise ValueError("at least two samples are needed to estimate a sampling rate")
        return 1000.0 / float(np.median(np.diff(self.time_ms)))


def fill_gaps(samples: GazeSamples, *, max_gap_ms: float) -> GazeSamples:
    """Interpolate lost runs whose valid neighbours are at most ``max_gap_ms`` apart.

    Runs touching the start or the end of the recording are never filled; longer
    gaps stay lost. ``max_gap_ms=0`` returns the samples unchanged.

    Examples
    --------
    >>> s = GazeSamples(np.array([0., 33, 66, 99]), np.array([10., np.nan, np.nan, 40]),
    ...                 np.array([5., np.nan, np.nan, 5]))
    >>> fill_gaps(s, max_gap_ms=100).x_px.tolist()
    [10.0, 20.0, 30.0, 40.0]
    >>> int(np.isnan(fill_gaps(s, max_gap_ms=98).x_px).sum())
    2
    """
    max_gap_ms = check_non_negative("max_gap_ms", max_gap_ms)
    lost = samples.lost
    if max_gap_ms == 0 or not lost.any() or lost.all():
        return samples
    valid_index = np.flatnonzero(~lost)
    # For every lost sample: the valid sample before and after it.
    after = np.searchsorted(valid_index, np.arange(len(samples)))
    inner = lost & (after > 0) & (after < len(valid_index))
    idx = np.flatnonzero(inner)
    before_i = valid_index[after[idx] - 1]
    after_i = valid_index[after[idx]]
    t = samples.time_ms
    span = t[after_i] - t[before_i]
    ok = span <= max_gap_ms
    idx, before_i, after_i, span = idx[ok], before_i[ok], after_i[ok], span[ok]
    weight = (t[idx] - t[before_i]) / span
    x = samples.x_px.copy()
    y = samples.y_px.copy()
    x[idx] = x[before_i] + weight * (x[after_i] - x[before_i])
    y[idx] = y[before_i] + weight * (y[after_i] - y[before_i])
    return GazeSamples(t, x, y)


def warn(message: str) -> None:
    """Emit a :class:`GazeWarning` attributed to the caller of the public function."""
    warnings.warn(message, GazeWarning, stacklevel=3)
