"""The paper's fixation pipeline: filter, velocity, I-VT, merge, minimum duration.

M-SEN (Zhao et al.) following SonoEyeNet: a 3-sample (100 ms at 30 Hz) moving
average, angular velocity, I-VT at 30 deg/s, fixations closer than 0.5 deg
merged, fixations shorter than 80 ms discarded. With ``smooth_window=1`` and
``merge_deg=0`` the result equals pymovements' ``pix2deg`` ->
``pos2vel(method='preceding')`` -> ``detect('ivt')`` (tested).
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sonomtl.errors import InputError
from sonomtl.gaze._validation import check_non_negative, check_positive
from sonomtl.gaze.filters import moving_average
from sonomtl.gaze.geometry import ScreenGeometry, pix2deg
from sonomtl.gaze.ivt import ivt
from sonomtl.gaze.merge import merge_fixations
from sonomtl.gaze.samples import GazeSamples, fill_gaps, warn
from sonomtl.gaze.velocity import velocity_preceding

__all__ = [
    "FixationParams", "Fixations", "detect_fixations", "write_fixations_csv",
    "read_fixations_csv", "FIXATION_COLUMNS",
]

FIXATION_COLUMNS = ("onset_ms", "offset_ms", "duration_ms", "x_px", "y_px")


@dataclass(frozen=True)
class FixationParams:
    """Parameters of :func:`detect_fixations`; the defaults are the paper's protocol.

    Parameters
    ----------
    velocity_threshold_deg_s
        I-VT threshold: a sample belongs to a fixation when its speed is strictly below it.
    smooth_window
        Moving-average window in samples (odd; 1 = off).
    merge_deg
        Merge consecutive fixations whose centroids are closer than this (0 = off).
    max_merge_gap_ms
        ... and whose gap (last sample of one to first of the next) is shorter than this.
        75 ms as in the Tobii I-VT fixation filter (Olsen 2012), which also merges at 0.5 deg.
    min_duration_ms
        Discard fixations whose duration (time of last sample - time of first) is below this.
    sampling_rate_hz
        Constant rate for the velocity; ``None`` = 1000 / median sample interval.
    max_gap_fill_ms
        Linearly interpolate lost runs whose valid neighbours are at most this far apart
        (0 = never interpolate, the paper's setting).
    max_interval_factor
        A sample more than this many nominal intervals after the previous one (a hole in
        the log) starts no fixation across the hole.
    """

    velocity_threshold_deg_s: float = 30.0
    smooth_window: int = 3
    merge_deg: float = 0.5
    max_merge_gap_ms: float = 75.0
    min_duration_ms: float = 80.0
    sampling_rate_hz: float | None = None
    max_gap_fill_ms: float = 0.0
    max_interval_factor: float = 2.5

    def __post_init__(self) -> None:
        check_positive("velocity_threshold_deg_s", self.velocity_threshold_deg_s)
        if isinstance(self.smooth_window, bool) or not isinstance(self.smooth_window, int):
            raise TypeError(f"smooth_window must be an int, got {self.smooth_window!r}")
        if self.smooth_window < 1 or self.smooth_window % 2 == 0:
            raise ValueError(f"smooth_window must be odd and >= 1, got {self.smooth_window}")
        check_non_negative("merge_deg", self.merge_deg)
        check_non_negative("max_merge_gap_ms", self.max_merge_gap_ms)
        check_non_negative("min_duration_ms", self.min_duration_ms)
        if self.sampling_rate_hz is not None:
            check_positive("sampling_rate_hz", self.sampling_rate_hz)
        check_non_negative("max_gap_fill_ms", self.max_gap_fill_ms)
        check_positive("max_interval_factor", self.max_interval_factor)


@dataclass(frozen=True)
class Fixations:
    """Detected fixations, one entry per fixation, in time order.

    ``onset_ms``/``offset_ms`` are the times of the first and last sample,
    ``duration_ms = offset_ms - onset_ms``, ``x_px``/``y_px`` the mean of the raw
    (unfiltered) screen-pixel samples; ``start``/``stop`` the sample index range.
    """

    onset_ms: np.ndarray
    offset_ms: np.ndarray
    x_px: np.ndarray
    y_px: np.ndarray
    start: np.ndarray | None = None
    stop: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.onset_ms)

    @property
    def duration_ms(self) -> np.ndarray:
        return self.offset_ms - self.onset_ms


def detect_fixations(
    samples: GazeSamples, *, geometry: ScreenGeometry, params: FixationParams | None = None
) -> Fixations:
    """Fixations in a gaze recording, by the paper's protocol (see :class:`FixationParams`).

    Steps: optional gap filling; centred moving average of the pixel positions over the
    valid samples; per-axis degrees (:func:`~sonomtl.gaze.geometry.pix2deg`); speed from
    each sample to the previous one times the sampling rate (NaN at the first sample, next
    to lost samples and after holes in the log); I-VT; merging; minimum duration.
    Samples off the screen are kept (trackers report slightly off-screen gaze) with a
    warning giving their count; a recording whose samples are all lost gives no fixation
    and a warning.

    Examples
    --------
    >>> g = ScreenGeometry(screen_px=(1920, 1200), screen_cm=(33.2, 20.7), distance_cm=50)
    >>> t = np.arange(12) * 33.0
    >>> x = np.r_[np.full(6, 600.0), np.full(6, 1200.0)]
    >>> f = detect_fixations(GazeSamples(t, x, np.full(12, 500.0)), geometry=g,
    ...                      params=FixationParams(smooth_window=1, sampling_rate_hz=30))
    >>> f.onset_ms.tolist(), f.offset_ms.tolist(), f.x_px.tolist()
    ([33.0, 231.0], [165.0, 363.0], [600.0, 1200.0])
    """
    params = FixationParams() if params is None else params
    if params.max_gap_fill_ms > 0:
        samples = fill_gaps(samples, max_gap_ms=params.max_gap_fill_ms)
    n = len(samples)
    no_index = np.zeros(0, np.int64)
    empty = Fixations(*(np.zeros(0) for _ in range(4)), no_index, no_index)
    lost = samples.lost
    if n == 0 or lost.all():
        warn("no valid gaze samples: no fixations")
        return empty
    x_px, y_px, time_ms = samples.x_px, samples.y_px, samples.time_ms
    width, height = geometry.screen_px
    with np.errstate(invalid="ignore"):
        off_screen = (x_px < 0) | (x_px > width - 1) | (y_px < 0) | (y_px > height - 1)
    off = int(np.count_nonzero(off_screen))
    if off:
        warn(f"{off} of {n} gaze samples lie off the screen ({width:g}x{height:g} px)")
    if n < 2:
        return empty
    nominal_ms = float(np.median(np.diff(time_ms)))
    rate_hz = params.sampling_rate_hz
    if rate_hz is None:
        rate_hz = 1000.0 / nominal_ms
    smooth_x = moving_average(x_px, window=params.smooth_window)
    smooth_y = moving_average(y_px, window=params.smooth_window)
    x_deg, y_deg = pix2deg(smooth_x, smooth_y, geometry=geometry)
    speed = velocity_preceding(x_deg, y_deg, sampling_rate_hz=rate_hz, time_ms=time_ms,
                               max_interval_ms=params.max_interval_factor * nominal_ms)
    starts, stops = ivt(speed, threshold_deg_s=params.velocity_threshold_deg_s)
    starts, stops, cx, cy = merge_fixations(
        starts, stops, time_ms=time_ms, x_px=x_px, y_px=y_px, geometry=geometry,
        max_distance_deg=params.merge_deg, max_gap_ms=params.max_merge_gap_ms,
    )
    onset = time_ms[starts]
    offset = time_ms[stops - 1]
    keep = offset - onset >= params.min_duration_ms
    return Fixations(onset[keep], offset[keep], cx[keep], cy[keep], starts[keep], stops[keep])


def write_fixations_csv(path: str | os.PathLike[str], fixations: Fixations) -> Path:
    """Write ``onset_ms,offset_ms,duration_ms,x_px,y_px`` atomically (full float precision)."""
    from sonomtl.fileio import write_text

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(FIXATION_COLUMNS)
    for row in zip(fixations.onset_ms, fixations.offset_ms, fixations.duration_ms,
                   fixations.x_px, fixations.y_px):
        writer.writerow([_format(v) for v in row])
    return write_text(path, buffer.getvalue())


def _format(value: float) -> str:
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


def read_fixations_csv(path: str | os.PathLike[str]) -> Fixations:
    """Read a fixation list written by :func:`write_fixations_csv` (or by hand)."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        message = f"cannot read fixation list: {error.strerror or error}"
        raise InputError(message, file=file) from None
    rows = list(csv.reader(text.splitlines()))
    if not rows:
        raise InputError("empty fixation list", file=file)
    header = [name.strip() for name in rows[0]]
    missing = [c for c in ("onset_ms", "offset_ms", "x_px", "y_px") if c not in header]
    if missing:
        raise InputError(f"header lacks column(s) {', '.join(missing)}", file=file, row=1)
    columns: dict[str, list[float]] = {c: [] for c in ("onset_ms", "offset_ms", "x_px", "y_px")}
    for number, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        for name in columns:
            try:
                columns[name].append(float(row[header.index(name)]))
            except (ValueError, IndexError):
                raise InputError("expected a number", file=file, row=number, field=name) from None
    arrays = {name: np.asarray(values) for name, values in columns.items()}
    if (arrays["offset_ms"] < arrays["onset_ms"]).any():
        row = int(np.flatnonzero(arrays["offset_ms"] < arrays["onset_ms"])[0]) + 2
        raise InputError("offset before onset", file=file, row=row, field="offset_ms")
    return Fixations(arrays["onset_ms"], arrays["offset_ms"], arrays["x_px"], arrays["y_px"])
