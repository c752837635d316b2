"""Readers for gaze logs: EyeTribe API frames (JSON lines), EyeTribe/PyGaze TSV logs, CSV.

Every reader returns :class:`~sonomtl.gaze.samples.GazeSamples` with lost
samples as NaN. A sample is lost when the tracker says so (EyeTribe ``state``
without the gaze bit 0x1, or with the fail 0x8 or lost 0x10 bits), when it
reports ``(0, 0)``, or when a coordinate is NaN/empty. Bad files raise
:class:`~sonomtl.errors.InputError` naming the file and line; questionable
but usable files give a :class:`~sonomtl.gaze.samples.GazeWarning`.

Behaviour on bad input (all readers):

* empty file, or no sample in it: ``InputError``;
* a non-numeric time or coordinate: ``InputError`` with the line number;
* a time that is not strictly after the previous one (unsorted or duplicate): ``InputError``
  with the line number;
* a truncated last line of an EyeTribe JSON log (recorder killed): dropped with a warning;
* every sample lost: a warning; the samples are returned (and give no fixation).
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np

from sonomtl.errors import InputError
from sonomtl.gaze.samples import GazeSamples, warn

__all__ = [
    "STATE_GAZE", "STATE_EYES", "STATE_PRESENCE", "STATE_FAIL", "STATE_LOST",
    "read_eyetribe_json", "read_eyetribe_tsv", "read_csv", "read_gaze_log",
]

STATE_GAZE = 0x1
STATE_EYES = 0x2
STATE_PRESENCE = 0x4
STATE_FAIL = 0x8
STATE_LOST = 0x10

GazeFormat = Literal["eyetribe", "tsv", "csv"]
Point = Literal["raw", "avg"]


def _state_valid(state: int) -> bool:
    return bool(state & STATE_GAZE) and not state & (STATE_FAIL | STATE_LOST)


def _number(value: Any, *, file: Path, row: int, field: str) -> float:
    """A float from a JSON number or a text field; InputError otherwise."""
    if isinstance(value, bool) or value is None:
        raise InputError(f"expected a number, got {value!r}", file=file, row=row, field=field)
    if isinstance(value, (int, float)):
        try:
            return float(value)
        except OverflowError:
            raise InputError("number too large", file=file, row=row, field=field) from None
    if isinstance(value, str):
        text = value.strip()
        if text == "" or text.lower() in {"nan", "na", "none", "null"}:
            return math.nan
        try:
            return float(text)
        except ValueError:
            pass
    raise InputError(f"expected a number, got {value!r}"[:120], file=file, row=row, field=field)


def _finish(
    rows: list[int], times: list[float], xs: list[float], ys: list[float], *, file: Path,
    time_field: str = "time",
) -> GazeSamples:
    """Check times and build the samples (shared by all readers)."""
    if not times:
        raise InputError("no gaze samples in the file", file=file)
    time_ms = np.asarray(times, dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(time_ms))
    if bad.size:
        raise InputError("time is not a finite number", file=file, row=rows[bad[0]],
                         field=time_field)
    step = np.diff(time_ms)
    bad = np.flatnonzero(step <= 0)
    if bad.size:
        i = bad[0] + 1
        kind = "duplicate" if step[bad[0]] == 0 else "earlier than the previous sample (unsorted)"
        raise InputError(f"time {times[i]:g} is {kind}", file=file, row=rows[i],
                         field=time_field)
    x = np.asarray(xs, dtype=np.float64)
    y = np.asarray(ys, dtype=np.float64)
    lost = ~(np.isfinite(x) & np.isfinite(y)) | ((x == 0) & (y == 0))
    x[lost] = np.nan
    y[lost] = np.nan
    if lost.all():
        warn(f"{file}: all {len(x)} gaze samples are lost")
    return GazeSamples(time_ms, x, y)


def _parse_timestamp(text: Any, *, file: Path, row: int) -> float:
    """EyeTribe ``timestamp`` ('YYYY-MM-DD HH:MM:SS.mmm') to ms since the epoch (naive)."""
    if isinstance(text, str):
        for fmt in ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S"):
            try:
                stamp = datetime.strptime(text.strip(), fmt)
            except ValueError:
                continue
            return (stamp - datetime(1970, 1, 1)).total_seconds() * 1000.0
    raise InputError(f"no 'time' and unreadable 'timestamp' {text!r}"[:120], file=file, row=row,
                     field="timestamp")


def read_eyetribe_json(path: str | os.PathLike[str], *, point: Point = "raw") -> GazeSamples:
    """Read EyeTribe API frames, one JSON object per line.

    Each line is a tracker reply ``{"category": "tracker", ..., "values": {"frame": {...}}}``
    (or the bare ``{"values": {"frame": ...}}`` / ``{"frame": ...}``). The time is
    ``frame.time`` (ms); when absent, ``frame.timestamp`` is parsed. ``point`` picks
    ``frame.raw`` (default: the paper filters the raw gaze itself) or ``frame.avg``.
    Lines that are valid JSON but carry no frame (heartbeats, other replies) are skipped.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> log = pathlib.Path(tempfile.mkdtemp()) / "g.jsonl"
    >>> _ = log.write_text(
    ...     '{"values": {"frame": {"time": 0, "state": 7, "raw": {"x": 5, "y": 6}}}}\\n'
    ...     '{"category": "heartbeat", "statuscode": 200}\\n'
    ...     '{"values": {"frame": {"time": 33, "state": 16, "raw": {"x": 0, "y": 0}}}}\\n')
    >>> s = read_eyetribe_json(log)
    >>> s.time_ms.tolist(), s.x_px.tolist()
    ([0.0, 33.0], [5.0, nan])
    """
    if point not in ("raw", "avg"):
        raise ValueError(f"point must be 'raw' or 'avg', got {point!r}")
    file = Path(path)
    lines = _read_lines(file)
    rows: list[int] = []
    times: list[float] = []
    xs: list[float] = []
    ys: list[float] = []
    last = max((i for i, line in enumerate(lines) if line.strip()), default=-1)
    for i, line in enumerate(lines):
        row = i + 1
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except (json.JSONDecodeError, RecursionError):
            if i == last and rows:
                warn(f"{file}: line {row}: truncated last line dropped")
                continue
            raise InputError("not a JSON object (EyeTribe logs hold one per line)",
                             file=file, row=row) from None
        frame = _frame_of(obj)
        if frame is None:
            continue
        if "time" in frame:
            time_ms = _number(frame["time"], file=file, row=row, field="time")
        else:
            time_ms = _parse_timestamp(frame.get("timestamp"), file=file, row=row)
        state = frame.get("state", STATE_GAZE)
        state_value = _number(state, file=file, row=row, field="state")
        if not math.isfinite(state_value) or state_value != int(state_value) or state_value < 0:
            raise InputError(f"state must be a non-negative integer, got {state!r}"[:120],
                             file=file, row=row, field="state")
        coords = frame.get(point)
        if not isinstance(coords, dict):
            raise InputError(f"missing '{point}' object with x and y", file=file, row=row,
                             field=point)
        x = _number(coords.get("x"), file=file, row=row, field=f"{point}.x")
        y = _number(coords.get("y"), file=file, row=row, field=f"{point}.y")
        if not _state_valid(int(state_value)):
            x = y = math.nan
        rows.append(row)
        times.append(time_ms)
        xs.append(x)
        ys.append(y)
    return _finish(rows, times, xs, ys, file=file)


def _frame_of(obj: Any) -> dict[str, Any] | None:
    if not isinstance(obj, dict):
        return None
    values = obj.get("values", obj)
    if not isinstance(values, dict):
        return None
    frame = values.get("frame")
    return frame if isinstance(frame, dict) else None


def _read_lines(file: Path) -> list[str]:
    try:
        text = file.read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        raise InputError(f"cannot read gaze log: {error.strerror or error}", file=file) from None
    if not text.strip():
        raise InputError("empty gaze log", file=file)
    return text.splitlines()


def read_eyetribe_tsv(path: str | os.PathLike[str], *, point: Point = "raw") -> GazeSamples:
    """Read the tab-separated EyeTribe log written by PyGaze/PyTribe.

    The header names the columns (``timestamp time fix state rawx rawy avgx avgy ...``);
    ``time`` (ms), ``state`` and ``rawx/rawy`` (or ``avgx/avgy``) are used; message
    lines (first field ``MSG``) are skipped.
    """
    if point not in ("raw", "avg"):
        raise ValueError(f"point must be 'raw' or 'avg', got {point!r}")
    file = Path(path)
    lines = _read_lines(file)
    return _read_table(
        file, (line.split("\t") for line in lines),
        time_column="time", x_column=f"{point}x", y_column=f"{point}y", state_column="state",
        skip_first_field="MSG",
    )


def read_csv(
    path: str | os.PathLike[str], *,
    time_column: str = "time_ms", x_column: str = "x_px", y_column: str = "y_px",
    delimiter: str = ",",
) -> GazeSamples:
    """Read a delimited text file with a header; columns named by the arguments.

    Empty, ``nan`` or ``NA`` coordinates mark lost samples.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> log = pathlib.Path(tempfile.mkdtemp()) / "g.csv"
    >>> _ = log.write_text("time_ms,x_px,y_px\\n0,10,20\\n33,,\\n66,12,21\\n")
    >>> read_csv(log).x_px.tolist()
    [10.0, nan, 12.0]
    """
    file = Path(path)
    lines = _read_lines(file)
    return _read_table(file, csv.reader(lines, delimiter=delimiter), time_column=time_column,
                       x_column=x_column, y_column=y_column)


def _read_table(
    file: Path, records: Iterable[list[str]], *, time_column: str, x_column: str, y_column: str,
    state_column: str | None = None, skip_first_field: str | None = None,
) -> GazeSamples:
    rows: list[int] = []
    times: list[float] = []
    xs: list[float] = []
    ys: list[float] = []
    header: list[str] | None = None
    try:
        for i, fields in enumerate(records):
            row = i + 1
            if not fields or all(not f.strip() for f in fields):
                continue
            if header is None:
                header = [f.strip() for f in fields]
                wanted = [time_column, x_column, y_column]
                wanted += [state_column] if state_column else []
                missing = [name for name in wanted if name not in header]
                if missing:
                    raise InputError(f"header lacks column(s) {', '.join(missing)} "
                                     f"(found: {', '.join(header)[:200]})", file=file, row=row)
                index = {name: header.index(name) for name in wanted}
                continue
            if skip_first_field is not None and fields[0].strip() == skip_first_field:
                continue
            if len(fields) < len(header):
                raise InputError(f"{len(fields)} fields, the header has {len(header)}",
                                 file=file, row=row)
            time_ms = _number(fields[index[time_column]], file=file, row=row, field=time_column)
            x = _number(fields[index[x_column]], file=file, row=row, field=x_column)
            y = _number(fields[index[y_column]], file=file, row=row, field=y_column)
            if state_column is not None:
                state = _number(fields[index[state_column]], file=file, row=row,
                                field=state_column)
                if not math.isfinite(state) or state != int(state) or state < 0:
                    raise InputError("state must be a non-negative integer", file=file, row=row,
                                     field=state_column)
                if not _state_valid(int(state)):
                    x = y = math.nan
            rows.append(row)
            times.append(time_ms)
            xs.append(x)
            ys.append(y)
    except csv.Error as error:
        raise InputError(f"malformed delimited text: {error}", file=file) from None
    return _finish(rows, times, xs, ys, file=file, time_field=time_column)


def read_gaze_log(
    path: str | os.PathLike[str], *, format: GazeFormat = "eyetribe", point: Point = "raw",
    time_column: str = "time_ms", x_column: str = "x_px", y_column: str = "y_px",
) -> GazeSamples:
    """Read a gaze log of the given ``format`` (``eyetribe`` | ``tsv`` | ``csv``)."""
    if format == "eyetribe":
        return read_eyetribe_json(path, point=point)
    if format == "tsv":
        return read_eyetribe_tsv(path, point=point)
    if format == "csv":
        return read_csv(path, time_column=time_column, x_column=x_column, y_column=y_column)
    raise ValueError(f"format must be 'eyetribe', 'tsv' or 'csv', got {format!r}")
