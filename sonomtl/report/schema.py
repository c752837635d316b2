"""Shape checks of the JSON the report reads: ``results.json`` sections and ``benchmark.json``.

A run folder may come from anywhere; what the report renders must have the
shape ``docs/data-format.md`` describes, or the report stops with one
:class:`sonomtl.errors.InputError` naming the file and the dotted field,
before any figure is drawn. Missing sections are fine (the report says "not
available").
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sonomtl.errors import InputError
from sonomtl.untrusted import LIMITS

__all__ = ["check_benchmark_entries", "check_results_sections", "check_table_digits"]

#: Sections of a results object that, when present, must be JSON objects.
_OBJECT_SECTIONS = (
    "classification", "saliency", "landmarks", "model", "timing",
    "classification.macro", "classification.per_class",
    "landmarks.point_error_mm", "landmarks.measurement_abs_error_mm",
    "landmarks.success_detection_rate",
)


def check_results_sections(results: Mapping[str, Any], file: Path, *, prefix: str = "") -> None:
    """The sections of one results object (a run's, or one model's in an experiment).

    Raises
    ------
    InputError
        A section that is not an object, a per-class entry that is not an
        object, labels that are not strings, or a confusion matrix that is not
        a square matrix of finite non-negative numbers, one row per label.
    """
    for dotted in _OBJECT_SECTIONS:
        value = _lookup(results, dotted)
        if value is not None and not isinstance(value, Mapping):
            raise InputError(f"expected an object, got {type(value).__name__}", file=file,
                             field=prefix + dotted)
    classification = results.get("classification") or {}
    for label, scores in (classification.get("per_class") or {}).items():
        if not isinstance(scores, Mapping):
            raise InputError("expected an object of scores", file=file,
                             field=f"{prefix}classification.per_class.{label}")
    labels = classification.get("labels")
    if labels is not None and (not isinstance(labels, list)
                               or not all(isinstance(x, str) for x in labels)):
        raise InputError("expected a list of class names", file=file,
                         field=f"{prefix}classification.labels")
    matrix = classification.get("confusion_matrix")
    if matrix is not None:
        _check_matrix(matrix, len(labels) if labels else None, file,
                      f"{prefix}classification.confusion_matrix")


def check_table_digits(tables: Mapping[str, Any], file: Path) -> None:
    """Each experiment table's optional ``digits``: an integer from 0 to 10."""
    for key, table in tables.items():
        digits = table.get("digits", 3) if isinstance(table, Mapping) else 3
        if isinstance(digits, bool) or not isinstance(digits, int) or not 0 <= digits <= 10:
            raise InputError(f"expected an integer from 0 to 10, got {digits!r}"[:100],
                             file=file, field=f"tables.{key}.digits")


def check_benchmark_entries(entries: list[Any], file: Path) -> None:
    """Each ``benchmark.json`` entry: an object whose numbers are numbers."""
    for k, entry in enumerate(entries):
        where = f"[{k}]" if len(entries) > 1 else ""
        if not isinstance(entry, Mapping):
            raise InputError("expected an object (one per backend)", file=file,
                             field=where or None)
        latency = entry.get("latency_ms")
        if latency is not None and not isinstance(latency, Mapping):
            raise InputError("expected an object {p50, p95, ...}", file=file,
                             field=f"{where}latency_ms".lstrip("."))
        numbers = {f"latency_ms.{key}": value for key, value in (latency or {}).items()}
        numbers.update({key: entry.get(key) for key in (
            "batch_size", "throughput_fps", "parameters", "size_mb")})
        for key, value in numbers.items():
            if value is not None and not _is_number(value):
                raise InputError(f"expected a number, got {value!r}"[:100], file=file,
                                 field=f"{where}{key}" if not where else f"{where}.{key}")


def _check_matrix(matrix: Any, size: int | None, file: Path, field: str) -> None:
    if not isinstance(matrix, list) or not all(isinstance(row, list) for row in matrix):
        raise InputError("expected a list of rows", file=file, field=field)
    n = len(matrix) if size is None else size
    if n > LIMITS.report_classes:
        raise InputError(f"{n} classes; the report draws at most {LIMITS.report_classes} "
                         "(docs/security.md)", file=file, field=field)
    if len(matrix) != n or any(len(row) != n for row in matrix):
        lengths = [len(row) for row in matrix]
        raise InputError(f"expected a square {n}x{n} matrix (one row and column per label), got "
                         f"row lengths {lengths}"[:160], file=file, field=field)
    for i, row in enumerate(matrix):
        for value in row:
            if not _is_number(value) or value < 0:
                raise InputError(f"row {i}: expected non-negative counts, got {value!r}"[:100],
                                 file=file, field=field)


def _is_number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def _lookup(mapping: Mapping[str, Any], dotted: str) -> Any:
    value: Any = mapping
    for key in dotted.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value
