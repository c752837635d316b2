"""One manifest row <-> one :class:`FrameRecord`: the columns, parsing and checking of a row's
cells, and a record written back as cells (docs/data-format.md, "Manifest").

:mod:`sonomtl.data.manifest` reads and writes whole tables with these.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sonomtl.data.spec import DatasetSpec, did_you_mean
from sonomtl.errors import InputError

__all__ = [
    "MANIFEST_COLUMNS",
    "FrameRecord",
    "cell_text",
    "check_columns",
    "parse_row",
    "record_to_row",
]

#: The manifest columns the contract defines, in the order they are written.
MANIFEST_COLUMNS = (
    "image", "video", "frame", "subject", "sequence", "label", "label_2", "attention",
    "landmarks", "landmarks_2", "spacing_mm", "spacing_x_mm", "spacing_y_mm", "timestamp_ms",
    "fixations",
)


@dataclass(frozen=True)
class FrameRecord:
    """One validated manifest row (one frame).

    ``row`` is the spreadsheet row number (header = 1). Exactly one of
    ``image`` and ``video`` is set; ``frame`` is the 0-based frame index for a
    video or multi-frame DICOM (``None`` for a single image). ``landmarks`` maps a
    landmark name to ``(x, y)`` in original-image pixels (absent ones omitted).
    ``spacing_mm`` is ``(x, y)`` or ``None``. ``fixations`` holds the ``(x, y)``
    gaze fixation points on the frame in original-image pixels (``()``: gaze was
    recorded but nothing was fixated; ``None``: no gaze data for the frame).
    Unknown columns are kept in ``extra``.
    """

    row: int
    subject: str
    image: str | None = None
    video: str | None = None
    frame: int | None = None
    sequence: str | None = None
    label: str | None = None
    label_2: str | None = None
    attention: str | None = None
    landmarks: dict[str, tuple[float, float]] = field(default_factory=dict)
    landmarks_2: dict[str, tuple[float, float]] = field(default_factory=dict)
    spacing_mm: tuple[float, float] | None = None
    timestamp_ms: float | None = None
    fixations: tuple[tuple[float, float], ...] | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def source(self) -> str:
        """The file the frame comes from (``image`` or ``video``)."""
        return self.image if self.image is not None else str(self.video)


# --------------------------------------------------------------------------- manifest rows


def check_columns(columns: list[str], path: Path) -> None:
    """Missing required, duplicated or misspelt columns -> InputError (row 1)."""
    seen: set[str] = set()
    for c in columns:
        if c in seen:
            raise InputError("duplicate column", file=path, row=1, field=c)
        seen.add(c)
    if "subject" not in seen:
        raise InputError("missing required column (every split is by subject)",
                         file=path, row=1, field="subject")
    if "image" not in seen and "video" not in seen:
        raise InputError("missing column: expected 'image', or 'video' and 'frame'",
                         file=path, row=1, field="image")
    if "video" in seen and "frame" not in seen:
        raise InputError("missing column: a 'video' column needs a 'frame' column",
                         file=path, row=1, field="frame")
    if ("spacing_x_mm" in seen) != ("spacing_y_mm" in seen):
        missing = "spacing_y_mm" if "spacing_x_mm" in seen else "spacing_x_mm"
        raise InputError("missing column: anisotropic spacing needs both spacing_x_mm and "
                         "spacing_y_mm", file=path, row=1, field=missing)
    absent = [c for c in MANIFEST_COLUMNS if c not in seen]
    for c in columns:
        if c in MANIFEST_COLUMNS or not c:
            continue
        match = difflib.get_close_matches(c.lower(), absent, n=1, cutoff=0.8)
        if match and not _is_extension(c, match[0]):
            raise InputError(f"unknown column; did you mean {match[0]!r}? (rename it, or give "
                             "other columns names that do not resemble manifest columns)",
                             file=path, row=1, field=c)


def _is_extension(column: str, known: str) -> bool:
    """``label_3`` or ``landmarks_note`` extend a known name rather than misspell it."""
    if any(column.startswith(c + "_") for c in MANIFEST_COLUMNS):
        return True
    stem = re.sub(r"_?\d+$", "", column)
    return stem != column and stem == re.sub(r"_?\d+$", "", known)


def _blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def parse_row(values: dict[str, Any], *, row_number: int, spec: DatasetSpec,
               file: Path) -> FrameRecord:
    def fail(message: str, key: str) -> None:
        raise InputError(message, file=file, row=row_number, field=key)

    def text(key: str) -> str | None:
        value = values.get(key)
        return None if _blank(value) else str(value).strip()

    def number(key: str, *, positive: bool = False) -> float | None:
        value = values.get(key)
        if _blank(value):
            return None
        try:
            x = float(value)
        except (TypeError, ValueError):
            fail(f"expected a number, got {value!r}", key)
        if not math.isfinite(x) or (positive and x <= 0):
            fail(f"expected a {'positive ' if positive else ''}finite number, got {value!r}", key)
        return x

    subject = text("subject")
    if subject is None:
        fail("missing subject (every split is by subject)", "subject")
    image, video = text("image"), text("video")
    if image is None and video is None:
        fail("missing file: expected 'image', or 'video' and 'frame'", "image")
    if image is not None and video is not None:
        fail("expected one of 'image' and 'video', not both", "video")
    frame_value = number("frame")
    if frame_value is not None and (frame_value < 0 or not frame_value.is_integer()):
        fail(f"expected a 0-based frame index, got {values.get('frame')!r}", "frame")
    frame = None if frame_value is None else int(frame_value)
    if video is not None and frame is None:
        fail("a video row needs a frame index", "frame")
    labels = {}
    for key in ("label", "label_2"):
        labels[key] = text(key)
        if labels[key] is not None and labels[key] not in spec.classes:
            fail(f"unknown label {labels[key]!r}{did_you_mean(labels[key], spec.classes)}; "
                 f"dataset.yaml classes: {list(spec.classes)}", key)
    points = {key: _parse_landmarks(values.get(key), spec, fail, key)
              for key in ("landmarks", "landmarks_2")}
    spacing = number("spacing_mm", positive=True)
    sx, sy = number("spacing_x_mm", positive=True), number("spacing_y_mm", positive=True)
    if (sx is None) != (sy is None):
        fail("expected both spacing_x_mm and spacing_y_mm", "spacing_y_mm" if sy is None
             else "spacing_x_mm")
    if spacing is not None and sx is not None:
        fail("give spacing_mm or spacing_x_mm/spacing_y_mm, not both", "spacing_mm")
    spacing_mm = (spacing, spacing) if spacing is not None else (sx, sy) if sx else None
    extra = {k: ("" if _blank(v) else str(v)) for k, v in values.items()
             if k not in MANIFEST_COLUMNS}
    return FrameRecord(
        row=row_number, subject=subject, image=image, video=video, frame=frame,
        sequence=text("sequence"), label=labels["label"], label_2=labels["label_2"],
        attention=text("attention"), landmarks=points["landmarks"],
        landmarks_2=points["landmarks_2"], spacing_mm=spacing_mm,
        timestamp_ms=number("timestamp_ms"),
        fixations=_parse_fixations(values.get("fixations"), fail), extra=extra,
    )


def _parse_fixations(value: Any, fail: Any) -> tuple[tuple[float, float], ...] | None:
    """JSON ``[[x, y], ...]`` (``[]``: no fixation on the frame); blank: no gaze data."""
    if _blank(value):
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            fail(f"expected a JSON list of [x, y] points: {error.msg}", "fixations")
    if hasattr(value, "tolist"):  # a Parquet list column
        value = value.tolist()
    if not isinstance(value, (list, tuple)):
        fail(f"expected a JSON list of [x, y] points, got {value!r}", "fixations")
    points = []
    for i, xy in enumerate(value):
        if hasattr(xy, "tolist"):
            xy = xy.tolist()
        ok = isinstance(xy, (list, tuple)) and len(xy) == 2 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in xy)
        if not ok or not all(math.isfinite(v) for v in xy):
            fail(f"fixation {i}: expected [x, y] with finite numbers, got {xy!r}", "fixations")
        points.append((float(xy[0]), float(xy[1])))
    return tuple(points)


def _parse_landmarks(value: Any, spec: DatasetSpec, fail: Any,
                     key: str) -> dict[str, tuple[float, float]]:
    """JSON ``{"name": [x, y], ...}``; ``null`` or ``[null, null]`` mean absent."""
    if _blank(value):
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            fail(f"expected a JSON object {{\"name\": [x, y]}}: {error.msg}", key)
    if not isinstance(value, Mapping):
        fail(f"expected a JSON object {{\"name\": [x, y]}}, got {value!r}", key)
    points = {}
    for name, xy in value.items():
        if name not in spec.landmarks:
            fail(f"unknown landmark {name!r}{did_you_mean(name, spec.landmarks)}", key)
        if xy is None or (isinstance(xy, (list, tuple)) and all(v is None for v in xy)):
            continue
        ok = isinstance(xy, (list, tuple)) and len(xy) == 2 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in xy)
        if not ok or not all(math.isfinite(v) for v in xy):
            fail(f"landmark {name!r}: expected [x, y] with finite numbers, got {xy!r}", key)
        points[name] = (float(xy[0]), float(xy[1]))
    return points


# --------------------------------------------------------------------------- writing


def record_to_row(record: FrameRecord) -> dict[str, Any]:
    """The manifest columns of a record (for writing a subset or a copy of a dataset)."""
    row: dict[str, Any] = {k: getattr(record, k) for k in
                           ("image", "video", "frame", "subject", "sequence", "label", "label_2",
                            "attention", "landmarks", "landmarks_2", "spacing_mm",
                            "timestamp_ms", "fixations")}
    row.update(record.extra)
    return row


def cell_text(column: str, value: Any) -> str:
    """One CSV cell: ``None``/NaN -> empty, landmarks -> JSON, floats at full precision."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if column in ("landmarks", "landmarks_2"):
        if isinstance(value, str):
            return value
        points = {}
        for name, xy in dict(value).items():
            x, y = (float(v) for v in xy)
            if math.isfinite(x) and math.isfinite(y):
                points[str(name)] = [x, y]
        return json.dumps(points) if points else ""
    if column == "fixations":
        if isinstance(value, str):
            return value
        # JSON floats are written with repr: the points read back exactly ("[]" = none).
        points = value.tolist() if hasattr(value, "tolist") else value
        return json.dumps([[float(x), float(y)] for x, y in points])
    if isinstance(value, bool):
        return str(value)
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalars
        value = value.item()
    return repr(value) if isinstance(value, float) else str(value)
