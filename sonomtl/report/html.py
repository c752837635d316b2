"""One self-contained HTML report from run and experiment folders.

The file needs nothing else: figures are embedded as base64 PNG (``data:``
URLs), the stylesheet is inline, there is no JavaScript and no link to the
network, so it opens offline and can be mailed as it is.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import os
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from sonomtl.report.sources import ReportSource, load_source
from sonomtl.report.tables import (
    Table,
    benchmark_table,
    classification_tables,
    comparison_tables,
    experiment_table,
    format_number,
    landmark_tables,
    model_table,
    saliency_table,
    timing_table,
)

__all__ = ["render_report", "write_report"]

_NOT_AVAILABLE = "not available"


def _esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _anchor(*parts: str) -> str:
    return "-".join("".join(c if c.isalnum() else "-" for c in p.lower()) for p in parts)


def _table_html(table: Table) -> str:
    head = "".join(
        f"<th{' class=num' if k in table.numeric_columns else ''}>{_esc(c)}</th>"
        for k, c in enumerate(table.columns)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f"<td{' class=num' if k in table.numeric_columns else ''}>{_esc(cell)}</td>"
            for k, cell in enumerate(row)
        )
        + "</tr>"
        for row in table.rows
    )
    note = f'<p class="note">{_esc(table.note)}</p>' if table.note else ""
    return (
        f'<p class="table-title">{_esc(table.title)}</p>'
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{note}"
    )


def _image_html(png: bytes, *, alt: str, caption: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{_esc(alt)}">'
        f"<figcaption>{_esc(caption)}</figcaption></figure>"
    )


def _figure_html(figure: Any, *, alt: str, caption: str) -> str:
    from matplotlib.figure import Figure

    from sonomtl.report.figures import figure_to_png

    if not isinstance(figure, Figure):  # pragma: no cover - programming error
        raise TypeError(f"figure must be a matplotlib Figure, received {type(figure).__name__}")
    return _image_html(figure_to_png(figure), alt=alt, caption=caption)


def _missing(what: str) -> str:
    return f'<p class="missing">{_esc(what)}: {_NOT_AVAILABLE}.</p>'


def _cards(results: dict[str, Any] | None, benchmark: list[dict[str, Any]]) -> str:
    results = results or {}
    cards = []
    accuracy = (results.get("classification") or {}).get("accuracy")
    if accuracy is not None:
        cards.append(
            (format_number(accuracy, digits=1, percent=True) + " %", "classification accuracy")
        )
    saliency = results.get("saliency") or {}
    for key in ("NSS", "CC"):
        if saliency.get(key) is not None:
            cards.append((format_number(saliency[key], digits=3), f"saliency {key}"))
            break
    point = ((results.get("landmarks") or {}).get("point_error_mm") or {}).get("mean")
    if isinstance(point, dict) and point.get("mean") is not None:
        cards.append((format_number(point["mean"], digits=2) + " mm", "mean landmark error"))
    for entry in benchmark[:1]:
        p50 = (
            (entry.get("latency_ms") or {}).get("p50")
            if isinstance(entry.get("latency_ms"), dict)
            else None
        )
        if p50 is not None:
            cards.append(
                (format_number(p50, digits=1) + " ms", f"latency p50 ({entry.get('backend', '?')})")
            )
    if not cards:
        return ""
    return (
        '<div class="cards">'
        + "".join(
            f'<div class="card"><div class="value">{_esc(v)}</div>'
            f'<div class="label">{_esc(label)}</div></div>'
            for v, label in cards
        )
        + "</div>"
    )


def _results_html(results: dict[str, Any] | None, *, title: str) -> str:
    from sonomtl.report.figures import confusion_matrix_figure

    if not results:
        return _missing("results.json")
    parts = []
    classification = results.get("classification")
    parts.append("<h4>Classification</h4>")
    if isinstance(classification, dict):
        parts.extend(_table_html(t) for t in classification_tables(classification))
        labels, matrix = classification.get("labels"), classification.get("confusion_matrix")
        if labels and matrix:
            parts.append(
                _figure_html(
                    confusion_matrix_figure(confusion=matrix, labels=labels, title=title),
                    alt=f"confusion matrix of {title}",
                    caption="Confusion matrix (rows: true class, columns: predicted class), "
                    "as paper 004 Fig. 3.",
                )
            )
    else:
        parts.append(_missing("classification results"))
    parts.append("<h4>Saliency</h4>")
    saliency = results.get("saliency")
    parts.append(
        _table_html(saliency_table({title: saliency}))
        if isinstance(saliency, dict)
        else _missing("saliency results")
    )
    parts.append("<h4>Landmarks and measurements</h4>")
    landmarks = results.get("landmarks")
    tables = landmark_tables(landmarks) if isinstance(landmarks, dict) else []
    parts.extend(_table_html(t) for t in tables) if tables else parts.append(
        _missing("landmark results")
    )
    parts.append("<h4>Model and timing</h4>")
    model, timing = results.get("model"), results.get("timing")
    if isinstance(model, dict):
        parts.append(_table_html(model_table(model)))
    if isinstance(timing, dict) and timing:
        parts.append(_table_html(timing_table(timing)))
    if not isinstance(model, dict) and not (isinstance(timing, dict) and timing):
        parts.append(_missing("model size and timing"))
    return "".join(parts)


def _figures_html(source: ReportSource, *, show_missing: bool = True) -> str:
    """Attention grid, landmark overlays, curves, benchmark; absent parts say "not available"
    (or are left out when ``show_missing`` is False)."""
    from sonomtl.report.figures import (
        attention_grid_figure,
        benchmark_figure,
        landmark_overlay_figure,
        training_curves_figure,
    )

    parts = []
    if source.attention is not None or show_missing:
        parts.append("<h3>Attention maps</h3>")
    if source.attention is not None:
        parts.append(
            _figure_html(
                attention_grid_figure(
                    frames=source.attention.frames,
                    ground_truth=source.attention.ground_truth,
                    predictions=source.attention.predictions,
                ),
                alt="attention map grid",
                caption="From left to right: US frame, ground truth (sonographer attention), "
                "each model's "
                "predicted map (min-max scaled, overlaid), as paper 000 Fig. 2.",
            )
        )
    elif show_missing:
        parts.append(_missing("attention examples (figures/attention_examples.npz)"))
    if source.landmark_examples or show_missing:
        parts.append("<h3>Landmarks</h3>")
    if source.landmark_examples:
        parts.append(
            _figure_html(
                landmark_overlay_figure(examples=source.landmark_examples),
                alt="landmark overlays",
                caption="Green circles and dashed calipers: ground truth; "
                "red crosses and solid calipers: "
                "prediction; measurements in mm below each frame, as paper 004 Fig. 4.",
            )
        )
    elif show_missing:
        parts.append(_missing("landmark examples (figures/landmark_examples.json)"))
    if source.metrics or show_missing:
        parts.append("<h3>Training curves</h3>")
    if source.metrics:
        parts.append(
            _figure_html(
                training_curves_figure(rows=source.metrics),
                alt="training curves",
                caption="Logged values from metrics.csv against the training step; "
                "dotted lines mark stage changes.",
            )
        )
    elif show_missing:
        parts.append(_missing("training curves (metrics.csv)"))
    if source.benchmark or show_missing:
        parts.append("<h3>Inference benchmark</h3>")
    if source.benchmark:
        parts.append(_table_html(benchmark_table(source.benchmark)))
        parts.append(
            _figure_html(
                benchmark_figure(entries=source.benchmark),
                alt="benchmark bar chart",
                caption="Latency per call (p50, p95) and throughput, from benchmark.json.",
            )
        )
    elif show_missing:
        parts.append(_missing("benchmark (benchmark.json from 'sonomtl bench --json')"))
    if source.extra_figures:
        parts.append("<h3>Other figures</h3>")
        for path in source.extra_figures:
            parts.append(
                _image_html(path.read_bytes(), alt=path.stem, caption=f"figures/{path.name}")
            )
    return "".join(parts)


def _config_html(source: ReportSource) -> str:
    if source.config_text is None:
        return _missing("configuration (config.yaml)")
    return (
        f"<details><summary>Configuration (config.yaml, "
        f"{len(source.config_text.splitlines())} lines)"
        f"</summary><pre>{_esc(source.config_text)}</pre></details>"
    )


def _run_html(source: ReportSource, *, level: int = 2) -> str:
    heading = f"h{level}"
    parts = [
        f'<{heading} id="{_anchor(str(source.path))}">{_esc(source.name)} '
        f'<span class="kind">{source.kind}</span>'
        f"</{heading}>",
        f'<p class="path">{_esc(source.path)}</p>',
        _cards(source.results, source.benchmark),
        _config_html(source),
        "<h3>Results</h3>",
        _results_html(source.results, title=source.name),
        _figures_html(source),
    ]
    return "".join(parts)


def _experiment_html(source: ReportSource) -> str:
    from sonomtl.report.figures import confusion_comparison_figure

    results = source.results or {}
    title = str(results.get("title") or results.get("experiment") or source.name)
    parts = [
        f'<h2 id="{_anchor(str(source.path))}">{_esc(title)} '
        '<span class="kind">experiment</span></h2>',
        f'<p class="path">{_esc(source.path)}</p>',
    ]
    if results.get("description"):
        parts.append(f"<p>{_esc(results['description'])}</p>")
    if source.config_text is not None:
        parts.append(_config_html(source))
    parts.append("<h3>Tables</h3>")
    tables = results.get("tables") or {}
    parts.extend(_table_html(experiment_table(key, table)) for key, table in tables.items())
    models = results.get("models") or {}
    parts.extend(_table_html(t) for t in comparison_tables(models))
    if not tables and not models:
        parts.append(_missing("tables"))
    labelled = {
        n: r["classification"]
        for n, r in models.items()
        if isinstance(r.get("classification"), dict) and r["classification"].get("confusion_matrix")
    }
    label_sets = {tuple(c.get("labels") or ()) for c in labelled.values()}
    if labelled and len(label_sets) == 1 and next(iter(label_sets)):
        parts.append("<h3>Confusion matrices</h3>")
        parts.append(
            _figure_html(
                confusion_comparison_figure(
                    confusions={n: c["confusion_matrix"] for n, c in labelled.items()},
                    labels=list(next(iter(label_sets))),
                ),
                alt="confusion matrices per model",
                caption="Row-normalised confusion matrices per model with the overall accuracy, "
                "as paper 004 Fig. 3.",
            )
        )
    parts.append(_figures_html(source, show_missing=False))
    for child in source.children:
        parts.append(f'<section class="child">{_run_html(child, level=3)}</section>')
    return "".join(parts)


def render_report(sources: Sequence[ReportSource], *, title: str = "sonomtl report") -> str:
    """The report as one HTML string (figures embedded, CSS inline, no scripts)."""
    from sonomtl import __version__

    if len(sources) == 0:
        raise ValueError("sources must hold at least one ReportSource, received none")
    css = (
        resources.files("sonomtl.report")
        .joinpath("templates/report.css")
        .read_text(encoding="utf-8")
    )
    generated = _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    toc = "".join(
        f'<li><a href="#{_anchor(str(s.path))}">{_esc(s.name)}</a> ({s.kind})</li>' for s in sources
    )
    body = "".join(_experiment_html(s) if s.kind == "experiment" else _run_html(s) for s in sources)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_esc(title)}</title><style>{css}</style></head><body>"
        f'<header class="top"><h1>{_esc(title)}</h1><p>generated {_esc(generated)} by sonomtl '
        f"{_esc(__version__)} from {len(sources)} folder(s)</p></header><main>"
        f'<nav class="toc"><strong>Contents</strong><ul>{toc}</ul></nav>{body}'
        "<footer>Self-contained report: figures are embedded PNG, no network access is needed. "
        "Figures follow M-SEN (paper 000) and the abdominal multi-task network "
        "(paper 004).</footer>"
        "</main></body></html>\n"
    )


def write_report(
    folders: Sequence[str | os.PathLike[str]],
    *,
    out: str | os.PathLike[str],
    title: str = "sonomtl report",
) -> Path:
    """Read run/experiment ``folders`` and write the report to ``out`` atomically.

    Raises
    ------
    InputError
        A folder is missing, empty, or holds a malformed file.
    """
    from sonomtl.fileio import write_text

    if len(folders) == 0:
        raise ValueError("folders must name at least one run or experiment folder, received none")
    sources = [load_source(folder) for folder in folders]
    return write_text(out, render_report(sources, title=title))
