"""Dataset folders: ``dataset.yaml`` (what the data is) + ``manifest.csv`` (one row per frame).

The contract is ``docs/data-format.md``. This module reads, validates and
writes the manifest (one frozen :class:`FrameRecord` per row) and re-exports
the ``dataset.yaml`` API of :mod:`sonomtl.data.spec` (:class:`DatasetSpec`,
:func:`load_spec`). Every problem in a user's file raises
:class:`sonomtl.errors.InputError` naming the file, the row (as a spreadsheet
shows it: the header is row 1) and the field. Writes are atomic.

Examples
--------
>>> import tempfile
>>> folder = tempfile.mkdtemp()
>>> spec = DatasetSpec(name="demo", classes=("a", "b"))
>>> _ = write_dataset(folder, spec, [{"image": "x.png", "subject": "s1", "label": "b"}])
>>> spec2, records = load_dataset(folder)
>>> spec2 == spec, records[0].row, records[0].label, spec2.class_index(records[0].label)
(True, 2, 'b', 1)
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sonomtl.data.spec import (
    FORMAT_VERSION,
    MEASUREMENT_TYPES,
    SPEC_FILE,
    DatasetSpec,
    GazeSetup,
    Measurement,
    did_you_mean,
    load_spec,
    spec_from_dict,
)
from sonomtl.errors import InputError, one_line
from sonomtl.fileio import atomic_path, write_text

__all__ = [
    "FORMAT_VERSION",
    "MANIFEST_COLUMNS",
    "MANIFEST_FILES",
    "MEASUREMENT_TYPES",
    "DatasetSpec",
    "FrameRecord",
    "GazeSetup",
    "Measurement",
    "find_manifest",
    "load_dataset",
    "load_spec",
    "read_manifest",
    "record_to_row",
    "spec_from_dict",
    "update_manifest_column",
    "write_dataset",
]

MANIFEST_FILES = ("manifest.csv", "manifest.parquet")

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


def find_manifest(folder: str | os.PathLike[str]) -> Path:
    """The manifest file of a dataset folder (``manifest.csv``, else ``manifest.parquet``)."""
    folder = Path(folder)
    for name in MANIFEST_FILES:
        if (folder / name).is_file():
            return folder / name
    raise InputError(f"no manifest found (expected {' or '.join(MANIFEST_FILES)})", file=folder)


def read_manifest(folder_or_file: str | os.PathLike[str], spec: DatasetSpec, *,
                  problems: list[InputError] | None = None) -> list[FrameRecord]:
    """Read and validate every row of a dataset's manifest.

    Parameters
    ----------
    folder_or_file
        The dataset folder, or the manifest file itself (CSV, or Parquet when
        ``pyarrow`` is importable).
    spec
        The dataset's description: labels and landmark names are checked
        against it.
    problems
        When a list is given, bad rows are appended to it as errors and
        skipped instead of raising (``sonomtl data check`` lists them all).

    Raises
    ------
    InputError
        Naming the file, the row (header = row 1) and the field.
    """
    path = Path(folder_or_file)
    path = find_manifest(path) if path.is_dir() else path
    columns, raw_rows = _read_table(path)
    _check_columns(columns, path)
    records = []
    for i, values in enumerate(raw_rows):
        if values is None:
            continue
        try:
            record = _parse_row(values, row_number=i + 2, spec=spec, file=path)
            _check_paths_inside(record, path, allow_external=spec.allow_external_paths)
            records.append(record)
        except InputError as error:
            if problems is None:
                raise
            problems.append(error)
    return records


def _check_paths_inside(record: FrameRecord, manifest: Path, *, allow_external: bool) -> None:
    """Refuse a row whose image, video or attention path leaves the dataset folder."""
    from sonomtl.untrusted import resolve_inside

    for key in ("image", "video", "attention"):
        value = getattr(record, key)
        if value is not None:
            resolve_inside(manifest.parent, value, file=manifest, row=record.row, field=key,
                           allow_external=allow_external)


def load_dataset(folder: str | os.PathLike[str]) -> tuple[DatasetSpec, list[FrameRecord]]:
    """``(load_spec(folder), read_manifest(folder, spec))`` for a dataset folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError("dataset folder not found", file=folder)
    spec = load_spec(folder)
    return spec, read_manifest(folder, spec)


def _read_table(path: Path) -> tuple[list[str], list[dict[str, Any] | None]]:
    """Columns and raw rows of a CSV or Parquet manifest.

    Element ``i`` is spreadsheet row ``i + 2``; blank CSV rows are ``None`` (kept
    so that row numbers match what a spreadsheet shows).
    """
    if not path.is_file():
        raise InputError("manifest not found", file=path)
    if path.suffix.lower() == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise InputError("reading Parquet needs pyarrow (pip install pyarrow), or use "
                             "manifest.csv", file=path) from None
        try:
            table = pq.read_table(path)
        except Exception as error:  # pyarrow raises several types for corrupt files
            raise InputError(f"not a readable Parquet file: {one_line(error)}",
                             file=path) from None
        return list(table.column_names), table.to_pylist()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputError(f"not UTF-8 text: {one_line(error)}", file=path) from None
    rows: list[dict[str, Any] | None] = []
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None or not any(c.strip() for c in header):
            raise InputError("empty manifest: expected a header row", file=path, row=1)
        columns = [c.strip() for c in header]
        for values in reader:
            if not any(v.strip() for v in values):
                rows.append(None)
            elif len(values) != len(columns):
                raise InputError(f"expected {len(columns)} values, got {len(values)}",
                                 file=path, row=len(rows) + 2)
            else:
                rows.append(dict(zip(columns, values)))
    except csv.Error as error:
        raise InputError(f"malformed CSV: {error}", file=path, row=len(rows) + 2) from None
    return columns, rows


def _check_columns(columns: list[str], path: Path) -> None:
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


def _parse_row(values: dict[str, Any], *, row_number: int, spec: DatasetSpec,
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


def _cell(column: str, value: Any) -> str:
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


def _rows_to_table(rows: Iterable[Mapping[str, Any] | FrameRecord]) -> tuple[list[str],
                                                                            list[dict[str, str]]]:
    table: list[dict[str, str]] = []
    extra_columns: list[str] = []
    used: set[str] = set()
    for i, row in enumerate(rows):
        if isinstance(row, FrameRecord):
            row = record_to_row(row)
        if not isinstance(row, Mapping):
            raise TypeError(f"rows[{i}]: expected a mapping of manifest columns or a "
                            f"FrameRecord, got {type(row).__name__}")
        row = dict(row)
        spacing = row.pop("spacing_mm", None)
        if isinstance(spacing, (tuple, list)) or hasattr(spacing, "shape"):
            sx, sy = (float(v) for v in spacing)
            if sx == sy:
                row["spacing_mm"] = sx
            else:
                row["spacing_x_mm"], row["spacing_y_mm"] = sx, sy
        elif spacing is not None:
            row["spacing_mm"] = spacing
        cells = {}
        for column, value in row.items():
            column = str(column)
            cells[column] = _cell(column, value)
            if cells[column] != "":
                used.add(column)
            if column not in MANIFEST_COLUMNS and column not in extra_columns:
                extra_columns.append(column)
        table.append(cells)
    columns = [c for c in MANIFEST_COLUMNS if c in used or c == "subject"
               or (c == "frame" and "video" in used)]
    if "image" not in columns and "video" not in columns:
        columns.insert(0, "image")
    return columns + extra_columns, table


def _write_table(path: Path, columns: list[str], table: list[dict[str, str] | None]) -> None:
    """Write rows (``None``: a blank CSV line, to keep the row numbers of the rows after it)."""
    if path.suffix.lower() == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = [r for r in table if r is not None]
        arrays = {c: pa.array([r.get(c, "") for r in table], type=pa.string()) for c in columns}
        with atomic_path(path) as tmp:
            pq.write_table(pa.table(arrays), tmp)
        return
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for r in table:
        writer.writerow([] if r is None else [r.get(c, "") for c in columns])
    write_text(path, buffer.getvalue())


def write_dataset(folder: str | os.PathLike[str], spec: DatasetSpec,
                  rows: Iterable[Mapping[str, Any] | FrameRecord], *,
                  overwrite: bool = True) -> Path:
    """Write ``dataset.yaml`` and ``manifest.csv`` into ``folder`` atomically.

    Parameters
    ----------
    folder
        The dataset folder (created when missing). Image files are not touched.
    spec
        The dataset description.
    rows
        One mapping per frame with manifest columns (``image`` or ``video`` +
        ``frame``, ``subject``, ...), or :class:`FrameRecord` objects.
        ``landmarks`` may be a dict ``name -> (x, y)`` (non-finite points are
        dropped); ``spacing_mm`` a number or ``(x, y)``; ``None`` writes an empty
        cell. Other keys become extra columns.
    overwrite
        When ``False``, an existing ``dataset.yaml`` or manifest raises.

    Returns
    -------
    Path
        The dataset folder.

    Raises
    ------
    InputError
        A row does not satisfy the contract (the message names the row as it
        would appear in the written file), or ``overwrite=False`` and the
        dataset exists. Nothing is written then.
    """
    import yaml

    if not isinstance(spec, DatasetSpec):
        raise TypeError(f"spec: expected a DatasetSpec, got {type(spec).__name__}")
    folder = Path(folder)
    manifest = folder / MANIFEST_FILES[0]
    if not overwrite:
        for path in (folder / SPEC_FILE, *(folder / n for n in MANIFEST_FILES)):
            if path.exists():
                raise InputError("dataset already exists (choose another folder or allow "
                                 "overwriting)", file=path)
    columns, table = _rows_to_table(rows)
    # Validate exactly what will be read back, before anything is written.
    _check_columns(columns, manifest)
    for i, cells in enumerate(table):
        _parse_row({c: cells.get(c, "") for c in columns}, row_number=i + 2, spec=spec,
                   file=manifest)
    folder.mkdir(parents=True, exist_ok=True)
    _write_table(manifest, columns, table)
    stale = folder / MANIFEST_FILES[1]
    if stale.exists():  # the CSV would shadow it: never leave two manifests
        stale.unlink()
    write_text(folder / SPEC_FILE, yaml.safe_dump(spec.to_dict(), sort_keys=False,
                                                  default_flow_style=None))
    return folder


def update_manifest_column(folder: str | os.PathLike[str], column: str,
                           values: Sequence[Any] | Mapping[int, Any]) -> Path:
    """Set one column of an existing manifest (e.g. ``attention`` after ``gaze maps``).

    Parameters
    ----------
    folder
        The dataset folder.
    column
        Column name; added when missing.
    values
        One value per manifest row in order, or a mapping from a row number
        (:attr:`FrameRecord.row`, header = 1) to a value; rows not in the
        mapping keep their value. ``None`` writes an empty cell.

    Returns
    -------
    Path
        The manifest file, rewritten atomically (same format), after the
        updated rows were validated against ``dataset.yaml``.
    """
    spec = load_spec(folder)
    path = find_manifest(folder)
    columns, raw = _read_table(path)
    table = {i + 2: {c: _cell(c, v) for c, v in r.items()}
             for i, r in enumerate(raw) if r is not None}
    if isinstance(values, Mapping):
        for row_number, value in values.items():
            if row_number not in table:
                raise ValueError(f"values: no manifest record at row {row_number!r} "
                                 f"(header = row 1; records at rows {min(table, default=0)}.."
                                 f"{max(table, default=0)})")
            table[row_number][column] = _cell(column, value)
    else:
        values = list(values)
        if len(values) != len(table):
            raise ValueError(f"values: expected {len(table)} values (one per manifest record), "
                             f"got {len(values)}")
        for cells, value in zip(table.values(), values):
            cells[column] = _cell(column, value)
    if column not in columns:
        columns.append(column)
    for row_number, cells in table.items():
        _parse_row({c: cells.get(c, "") for c in columns}, row_number=row_number, spec=spec,
                   file=path)
    # blank lines stay, so that row numbers (FrameRecord.row, splits files) keep their meaning
    _write_table(path, columns, [table.get(i + 2) for i in range(len(raw))])
    return path


