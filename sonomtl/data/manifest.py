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
import io
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sonomtl.data.manifest_rows import (
    MANIFEST_COLUMNS,
    FrameRecord,
    cell_text,
    check_columns,
    parse_row,
    record_to_row,
)
from sonomtl.data.spec import (
    FORMAT_VERSION,
    MEASUREMENT_TYPES,
    SPEC_FILE,
    DatasetSpec,
    GazeSetup,
    Measurement,
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
    check_columns(columns, path)
    records = []
    for i, values in enumerate(raw_rows):
        if values is None:
            continue
        try:
            record = parse_row(values, row_number=i + 2, spec=spec, file=path)
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
        from sonomtl.optional import require

        pq = require("pyarrow.parquet", "parquet", "reading Parquet (or use manifest.csv)",
                     file=path)
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
            cells[column] = cell_text(column, value)
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
        from sonomtl.optional import require

        pa = require("pyarrow", "parquet", "writing Parquet (or use manifest.csv)", file=path)
        pq = require("pyarrow.parquet", "parquet", "writing Parquet", file=path)

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
    check_columns(columns, manifest)
    for i, cells in enumerate(table):
        parse_row({c: cells.get(c, "") for c in columns}, row_number=i + 2, spec=spec,
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
    table = {i + 2: {c: cell_text(c, v) for c, v in r.items()}
             for i, r in enumerate(raw) if r is not None}
    if isinstance(values, Mapping):
        for row_number, value in values.items():
            if row_number not in table:
                raise ValueError(f"values: no manifest record at row {row_number!r} "
                                 f"(header = row 1; records at rows {min(table, default=0)}.."
                                 f"{max(table, default=0)})")
            table[row_number][column] = cell_text(column, value)
    else:
        values = list(values)
        if len(values) != len(table):
            raise ValueError(f"values: expected {len(table)} values (one per manifest record), "
                             f"got {len(values)}")
        for cells, value in zip(table.values(), values):
            cells[column] = cell_text(column, value)
    if column not in columns:
        columns.append(column)
    for row_number, cells in table.items():
        parse_row({c: cells.get(c, "") for c in columns}, row_number=row_number, spec=spec,
                   file=path)
    # blank lines stay, so that row numbers (FrameRecord.row, splits files) keep their meaning
    _write_table(path, columns, [table.get(i + 2) for i in range(len(raw))])
    return path


