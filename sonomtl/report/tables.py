"""Tables of the report, built from results.json sections (keys as in DESIGN.md).

Each function takes one section (or ``{model: results}`` for comparisons) and
returns :class:`Table` objects whose cells are already formatted strings;
units are in the column headers. Missing keys give "-" cells, never errors.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Table",
    "format_number",
    "table_cell",
    "classification_tables",
    "saliency_table",
    "landmark_tables",
    "model_table",
    "timing_table",
    "benchmark_table",
    "comparison_tables",
    "experiment_table",
    "SALIENCY_COLUMNS",
]

#: The saliency keys of results.json, in the order of paper 000, Table 2 (then the extras).
SALIENCY_COLUMNS = ("IG", "CC", "NSS", "SIM", "AUC_Judd", "AUC_Borji", "KLD")
_MISSING = "-"


@dataclass(frozen=True)
class Table:
    """A titled table of formatted cells."""

    title: str
    columns: list[str]
    rows: list[list[str]]
    note: str = ""
    numeric_columns: set[int] = field(default_factory=set)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def format_number(value: Any, *, digits: int = 3, percent: bool = False) -> str:
    """A cell: ``digits`` decimals, ``percent`` multiplies by 100, None/NaN give "-".

    Examples
    --------
    >>> format_number(0.96512, digits=1, percent=True), format_number(None), format_number(12345678)
    ('96.5', '-', '12,345,678')
    >>> format_number(-1e-12), format_number(-0.0004), format_number(-0.0006)
    ('0.000', '0.000', '-0.001')
    """
    if not _is_number(value):
        return _MISSING if value is None else str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return _MISSING
    if isinstance(value, int) and not percent:
        return f"{value:,}"
    text = f"{100 * value if percent else value:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text  # no "-0.000"


def table_cell(value: Any, *, column: str, digits: int) -> str:
    """A cell of an experiment table (results.json ``tables``) under ``column``.

    p-value columns ("p", "p (F1)") get 3 decimals whatever the table's ``digits``, and a
    p-value that would print as zero is written in scientific notation (other columns keep
    their digits: a centre-bias IG of 1e-9 is rounding error, shown as 0.000); NaN gives "n/a".

    Examples
    --------
    >>> table_cell(0.0017, column="p (F1)", digits=1), table_cell(3.6e-4, column="p", digits=3)
    ('0.002', '3.6e-04')
    """
    if isinstance(value, float) and math.isnan(value):
        return "n/a"
    if column == "p" or column.startswith("p "):
        if _is_number(value) and 0 < abs(value) < 1e-3:
            return f"{value:.1e}"
        digits = 3
    return format_number(value, digits=digits)


def _get(mapping: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(mapping, Mapping) or key not in mapping:
            return None
        mapping = mapping[key]
    return mapping


def _stats_cells(stats: Any, *, digits: int = 2) -> list[str]:
    if _is_number(stats):
        return [format_number(stats, digits=digits), _MISSING, _MISSING, _MISSING]
    mean, std = _get(stats, "mean"), _get(stats, "std")
    return [
        format_number(mean, digits=digits),
        format_number(std, digits=digits),
        format_number(_get(stats, "median"), digits=digits),
        format_number(_get(stats, "n")),
    ]


def classification_tables(section: Mapping[str, Any]) -> list[Table]:
    """Summary (accuracy, macro P/R/F1 in %) and per-class table of a ``classification`` section."""
    macro = section.get("macro", {})
    summary = Table(
        title="Summary",
        columns=[
            "accuracy (%)",
            "macro precision (%)",
            "macro recall (%)",
            "macro F1 (%)",
            "frames",
        ],
        rows=[
            [
                format_number(section.get("accuracy"), digits=1, percent=True),
                format_number(_get(macro, "precision"), digits=1, percent=True),
                format_number(_get(macro, "recall"), digits=1, percent=True),
                format_number(_get(macro, "f1"), digits=1, percent=True),
                format_number(section.get("n")),
            ]
        ],
        numeric_columns={0, 1, 2, 3, 4},
    )
    per_class = section.get("per_class") or {}
    rows = [
        [
            str(label),
            format_number(_get(scores, "precision"), digits=1, percent=True),
            format_number(_get(scores, "recall"), digits=1, percent=True),
            format_number(_get(scores, "f1"), digits=1, percent=True),
            format_number(_get(scores, "support")),
        ]
        for label, scores in per_class.items()
    ]
    tables = [summary]
    if rows:
        tables.append(
            Table(
                title="Per class",
                columns=["class", "precision (%)", "recall (%)", "F1 (%)", "support (frames)"],
                rows=rows,
                note="'-': undefined (no predicted or no true frame of the class).",
                numeric_columns={1, 2, 3, 4},
            )
        )
    return tables


def saliency_table(sections: Mapping[str, Mapping[str, Any]]) -> Table:
    """One row per model: IG, CC, NSS, SIM, AUC-Judd, AUC-Borji, KLD (paper 000, Table 2)."""
    present = [k for k in SALIENCY_COLUMNS if any(k in s for s in sections.values())]
    extra = sorted(
        {k for s in sections.values() for k, v in s.items() if _is_number(v)}
        - set(SALIENCY_COLUMNS)
    )
    columns = present + extra
    return Table(
        title="Saliency prediction",
        columns=["model"] + [c.replace("_", "-") for c in columns],
        rows=[
            [name] + [format_number(s.get(c), digits=3) for c in columns]
            for name, s in sections.items()
        ],
        note="Means over test frames. IG in bits/pixel; KLD: lower is better, "
        "others: higher is better.",
        numeric_columns=set(range(1, len(columns) + 1)),
    )


def landmark_tables(section: Mapping[str, Any]) -> list[Table]:
    """Point errors per landmark and absolute measurement errors in mm (mean, std, median, n)."""
    tables = []
    stats_columns = ["mean (mm)", "std (mm)", "median (mm)", "n"]
    points = section.get("point_error_mm") or {}
    if points:
        tables.append(
            Table(
                title="Landmark point error (Euclidean distance, mm)",
                columns=["landmark"] + stats_columns,
                rows=[[str(name)] + _stats_cells(stats) for name, stats in points.items()],
                numeric_columns={1, 2, 3, 4},
            )
        )
    measurements = section.get("measurement_abs_error_mm") or {}
    if measurements:
        tables.append(
            Table(
                title="Measurement absolute error |predicted - true| (mm)",
                columns=["measurement"] + stats_columns,
                rows=[[str(name)] + _stats_cells(stats) for name, stats in measurements.items()],
                numeric_columns={1, 2, 3, 4},
            )
        )
    sdr = section.get("success_detection_rate") or {}
    if sdr:
        tables.append(
            Table(
                title="Success detection rate (% of points within the radius)",
                columns=[f"<= {k} mm (%)" for k in sdr],
                rows=[[format_number(v, digits=1, percent=True) for v in sdr.values()]],
                numeric_columns=set(range(len(sdr))),
            )
        )
    return tables


def model_table(section: Mapping[str, Any]) -> Table:
    """Parameters and size (MB) of the ``model`` section."""
    return Table(
        title="Model",
        columns=["parameters", "size (MB)"] + (["name"] if "name" in section else []),
        rows=[
            [
                format_number(section.get("parameters")),
                format_number(section.get("size_mb"), digits=1),
            ]
            + ([str(section["name"])] if "name" in section else [])
        ],
        numeric_columns={0, 1},
    )


def _flatten(mapping: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    items = []
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            items.extend(_flatten(value, f"{name}."))
        else:
            items.append((name, value))
    return items


def timing_table(section: Mapping[str, Any]) -> Table:
    """The free-form ``timing`` section, one row per (dotted) key; units are in the key names."""
    return Table(
        title="Timing",
        columns=["quantity", "value"],
        rows=[[name, format_number(value, digits=3)] for name, value in _flatten(section)],
        numeric_columns={1},
    )


def benchmark_table(entries: Sequence[Mapping[str, Any]]) -> Table:
    """``sonomtl bench --json`` results: backend, dtype, latency, throughput, parameters, size."""
    rows = []
    for entry in entries:
        rows.append(
            [
                str(entry.get("name") or entry.get("model") or _MISSING),
                str(entry.get("backend", _MISSING)),
                str(entry.get("dtype", _MISSING)),
                format_number(entry.get("batch_size")),
                format_number(_get(entry, "latency_ms", "p50"), digits=2),
                format_number(_get(entry, "latency_ms", "p95"), digits=2),
                format_number(entry.get("throughput_fps"), digits=1),
                format_number(entry.get("parameters")),
                format_number(entry.get("size_mb"), digits=1),
            ]
        )
    return Table(
        title="Inference benchmark",
        columns=[
            "model",
            "backend",
            "dtype",
            "batch",
            "latency p50 (ms)",
            "latency p95 (ms)",
            "throughput (frames/s)",
            "parameters",
            "size (MB)",
        ],
        rows=rows,
        numeric_columns={3, 4, 5, 6, 7, 8},
    )


def comparison_tables(models: Mapping[str, Mapping[str, Any]]) -> list[Table]:
    """Side-by-side tables of several models' results.json: classification, saliency,
    measurement errors (paper 004, Table 1 layout: one column per measurement) and size."""
    tables = []
    with_classification = {
        n: r["classification"]
        for n, r in models.items()
        if isinstance(r.get("classification"), Mapping)
    }
    if with_classification:
        tables.append(
            Table(
                title="Classification (per model)",
                columns=[
                    "model",
                    "accuracy (%)",
                    "macro precision (%)",
                    "macro recall (%)",
                    "macro F1 (%)",
                ],
                rows=[
                    [
                        name,
                        format_number(c.get("accuracy"), digits=1, percent=True),
                        format_number(_get(c, "macro", "precision"), digits=1, percent=True),
                        format_number(_get(c, "macro", "recall"), digits=1, percent=True),
                        format_number(_get(c, "macro", "f1"), digits=1, percent=True),
                    ]
                    for name, c in with_classification.items()
                ],
                numeric_columns={1, 2, 3, 4},
            )
        )
    with_saliency = {
        n: r["saliency"] for n, r in models.items() if isinstance(r.get("saliency"), Mapping)
    }
    if with_saliency:
        tables.append(saliency_table(with_saliency))
    with_measurements = {
        n: _get(r, "landmarks", "measurement_abs_error_mm")
        for n, r in models.items()
        if _get(r, "landmarks", "measurement_abs_error_mm")
    }
    if with_measurements:
        names = list(dict.fromkeys(m for section in with_measurements.values() for m in section))
        tables.append(
            Table(
                title="Measurement absolute error, mean (mm)",
                columns=["model"] + [f"{m} (mm)" for m in names],
                rows=[
                    [model]
                    + [
                        format_number(
                            _get(section, m, "mean")
                            if isinstance(section.get(m), Mapping)
                            else section.get(m),
                            digits=2,
                        )
                        for m in names
                    ]
                    for model, section in with_measurements.items()
                ],
                numeric_columns=set(range(1, len(names) + 1)),
            )
        )
    with_model = {n: r["model"] for n, r in models.items() if isinstance(r.get("model"), Mapping)}
    if with_model:
        tables.append(
            Table(
                title="Model size",
                columns=["model", "parameters", "size (MB)"],
                rows=[
                    [
                        n,
                        format_number(m.get("parameters")),
                        format_number(m.get("size_mb"), digits=1),
                    ]
                    for n, m in with_model.items()
                ],
                numeric_columns={1, 2},
            )
        )
    return tables


def experiment_table(key: str, table: Mapping[str, Any]) -> Table:
    """A paper-style table of an experiment's ``tables`` (title, columns, rows, note, digits)."""
    digits = int(table.get("digits", 3))
    columns = [str(c) for c in table["columns"]]
    rows = [[table_cell(cell, column=column, digits=digits) for cell, column in zip(row, columns)]
            for row in table.get("rows", [])]
    numeric = {
        k
        for k in range(len(columns))
        if rows and all(_is_number(r[k]) or r[k] is None for r in table["rows"])
    }
    return Table(
        title=str(table.get("title", key)),
        columns=columns,
        rows=rows,
        note=str(table.get("note", "")),
        numeric_columns=numeric,
    )
