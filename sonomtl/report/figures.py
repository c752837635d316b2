"""Matplotlib figures of the report, in the style of the two papers.

* :func:`attention_grid_figure` — paper 000, Fig. 2: US frame, ground-truth
  attention, then each model's predicted map (one row per example).
* :func:`landmark_overlay_figure` — paper 004, Fig. 4: landmarks, caliper
  lines and the measurements in mm.
* :func:`confusion_matrix_figure` / :func:`confusion_comparison_figure` —
  paper 004, Fig. 3: counts and row-normalised matrices, overall accuracy in
  the title, class names on the axes.
* :func:`training_curves_figure` — loss terms and metrics of ``metrics.csv``
  against the training step.
* :func:`benchmark_figure` — inference latency (p50/p95) and throughput.

Every function is pure and keyword-only, returns a
:class:`matplotlib.figure.Figure` built without pyplot (no global state, no
display needed) and :func:`figure_to_png` turns it into PNG bytes.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from sonomtl.report.sources import LandmarkExample

__all__ = [
    "figure_to_png",
    "attention_grid_figure",
    "landmark_overlay_figure",
    "confusion_matrix_figure",
    "confusion_comparison_figure",
    "training_curves_figure",
    "benchmark_figure",
]

_TRUE_COLOUR = "#2ca02c"
_PRED_COLOUR = "#d62728"


def _new_figure(width_in: float, height_in: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width_in, height_in), layout="constrained")


def figure_to_png(figure: Figure, *, dpi: int = 100) -> bytes:
    """Render ``figure`` to PNG bytes (Agg, no display)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, facecolor="white")
    return buffer.getvalue()


def _normalise_map(values: Any) -> Any:
    import numpy as np

    array = np.asarray(values, dtype=np.float64)
    array = np.where(np.isfinite(array), array, 0.0)
    low, high = float(array.min()), float(array.max())
    return (array - low) / (high - low) if high > low else np.zeros_like(array)


def attention_grid_figure(
    *, frames: Any, ground_truth: Any, predictions: Mapping[str, Any], max_examples: int = 4
) -> Figure:
    """Paper 000 Fig. 2: per example, the frame, its ground truth and each model's map.

    Parameters
    ----------
    frames, ground_truth
        ``(N, H, W)`` arrays; maps are shown min-max scaled over the frame.
    predictions
        ``{model name: (N, H, W)}``, one column each, in the mapping's order.
    max_examples
        At most this many rows.
    """
    import numpy as np

    frames = np.asarray(frames)
    truth = np.asarray(ground_truth)
    if frames.ndim != 3 or truth.shape != frames.shape:
        raise ValueError(
            f"frames and ground_truth must be (N, H, W) of one shape, "
            f"received {frames.shape}, {truth.shape}"
        )
    for name, maps in predictions.items():
        if np.shape(maps) != frames.shape:
            raise ValueError(
                f"predictions[{name!r}] must have shape {frames.shape}, received {np.shape(maps)}"
            )
    rows = min(int(max_examples), frames.shape[0])
    if rows < 1:
        raise ValueError(
            f"need at least one example, received {frames.shape[0]} and max_examples={max_examples}"
        )
    columns = [("US image", None), ("ground truth", truth)] + [
        (n, np.asarray(m)) for n, m in predictions.items()
    ]
    figure = _new_figure(2.1 * len(columns), 2.1 * rows * frames.shape[1] / frames.shape[2] + 0.4)
    axes = figure.subplots(rows, len(columns), squeeze=False)
    for row in range(rows):
        frame = _normalise_map(frames[row])
        for col, (title, maps) in enumerate(columns):
            ax = axes[row, col]
            ax.imshow(frame, cmap="gray", vmin=0, vmax=1, interpolation="bilinear")
            if maps is not None:
                ax.imshow(
                    _normalise_map(maps[row]),
                    cmap="jet",
                    alpha=0.45,
                    vmin=0,
                    vmax=1,
                    interpolation="bilinear",
                )
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(title, fontsize=9)
    return figure


def _measurement_segments(landmarks: Sequence[str]) -> list[tuple[str, str]]:
    names = list(landmarks)
    return [(names[k], names[k + 1]) for k in range(0, len(names) - 1, 2)]


def _distance_mm(
    points: Mapping[str, tuple[float, float]],
    first: str,
    second: str,
    spacing_mm: tuple[float, float],
) -> float:
    if first not in points or second not in points:
        return math.nan
    dx = (points[first][0] - points[second][0]) * spacing_mm[0]
    dy = (points[first][1] - points[second][1]) * spacing_mm[1]
    return math.hypot(dx, dy)


def _measurement_text(name: str, definition: Mapping[str, Any], example: LandmarkExample) -> str:
    segments = _measurement_segments(definition["landmarks"])
    values = {}
    for key, points in (("predicted_mm", example.prediction), ("true_mm", example.truth)):
        value = definition.get(key)
        if value is None and len(segments) == 1:
            value = _distance_mm(points, *segments[0], example.spacing_mm)
        values[key] = math.nan if value is None else float(value)
    text = f"{name}: "
    text += (
        "pred -" if math.isnan(values["predicted_mm"]) else f"pred {values['predicted_mm']:.1f} mm"
    )
    if not math.isnan(values["true_mm"]):
        text += f", true {values['true_mm']:.1f} mm"
    return text


def landmark_overlay_figure(*, examples: Sequence[LandmarkExample], columns: int = 3) -> Figure:
    """Paper 004 Fig. 4: frames with true (green o) and predicted (red x) landmarks.

    Each measurement's landmark pairs are joined by caliper lines (solid red:
    prediction, dashed green: truth) and its value is written in mm below the
    frame. A measurement without ``predicted_mm``/``true_mm`` and with two
    landmarks is measured from the points and ``spacing_mm`` (x, y).
    """
    import numpy as np

    if len(examples) == 0:
        raise ValueError("examples must hold at least one LandmarkExample, received none")
    columns = max(1, min(int(columns), len(examples)))
    rows = math.ceil(len(examples) / columns)
    figure = _new_figure(3.6 * columns, 3.9 * rows)
    axes = figure.subplots(rows, columns, squeeze=False)
    for ax in axes.ravel()[len(examples) :]:
        ax.axis("off")
    for ax, example in zip(axes.ravel(), examples):
        image = np.asarray(example.image, dtype=np.float64)
        ax.imshow(image, cmap="gray", interpolation="bilinear")
        for points, colour, style in (
            (example.truth, _TRUE_COLOUR, "--"),
            (example.prediction, _PRED_COLOUR, "-"),
        ):
            for definition in example.measurements.values():
                for first, second in _measurement_segments(definition["landmarks"]):
                    if first in points and second in points:
                        xs, ys = zip(points[first], points[second])
                        ax.plot(xs, ys, linestyle=style, color=colour, linewidth=1.3)
        if example.truth:
            xs, ys = zip(*example.truth.values())
            ax.scatter(
                xs,
                ys,
                s=36,
                facecolors="none",
                edgecolors=_TRUE_COLOUR,
                linewidths=1.5,
                label="truth",
            )
        if example.prediction:
            xs, ys = zip(*example.prediction.values())
            ax.scatter(
                xs, ys, s=36, marker="x", color=_PRED_COLOUR, linewidths=1.5, label="prediction"
            )
        ax.set_xlim(-0.5, image.shape[1] - 0.5)
        ax.set_ylim(image.shape[0] - 0.5, -0.5)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(example.title, fontsize=9)
        lines = [_measurement_text(n, d, example) for n, d in example.measurements.items()]
        ax.set_xlabel("\n".join(lines), fontsize=8)
        if example.truth or example.prediction:
            ax.legend(loc="upper right", fontsize=7, framealpha=0.7)
    return figure


def _as_matrix(confusion: Any, labels: Sequence[str]) -> Any:
    import numpy as np

    matrix = np.asarray(confusion, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape != (len(labels), len(labels)):
        raise ValueError(
            f"confusion must be a square matrix of {len(labels)} labels, "
            f"received shape {matrix.shape}"
        )
    return matrix


def _row_normalised(matrix: Any) -> Any:
    import numpy as np

    totals = matrix.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, matrix / np.where(totals > 0, totals, 1), np.nan)


def _accuracy(matrix: Any) -> float:
    import numpy as np

    total = matrix.sum()
    return float(np.trace(matrix) / total) if total > 0 else math.nan


def _draw_matrix(
    ax: Any, values: Any, labels: Sequence[str], *, percent: bool, vmax: float
) -> None:
    import numpy as np

    shown = np.where(np.isnan(values), 0.0, values)
    ax.imshow(shown, cmap="Blues", vmin=0, vmax=vmax)
    small = len(labels) > 8
    for (i, j), value in np.ndenumerate(values):
        if np.isnan(value):
            text = "-"
        else:
            text = f"{100 * value:.0f}" if percent else f"{int(round(value))}"
        ax.text(
            j,
            i,
            text,
            ha="center",
            va="center",
            fontsize=6 if small else 8,
            color="white" if shown[i, j] > 0.6 * vmax else "black",
        )
    ticks = range(len(labels))
    ax.set_xticks(ticks, labels=labels, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(ticks, labels=labels, fontsize=7)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")


def confusion_matrix_figure(*, confusion: Any, labels: Sequence[str], title: str = "") -> Figure:
    """Paper 004 Fig. 3 for one model: counts (left) and row-normalised % (right).

    Rows are the true class, columns the predicted one; the overall accuracy
    (trace / total) is in the title. A class with no true sample gets a row of "-".
    """
    matrix = _as_matrix(confusion, labels)
    size = 2.6 + 0.36 * len(labels)
    figure = _new_figure(2 * size, size)
    left, right = figure.subplots(1, 2)
    _draw_matrix(left, matrix, labels, percent=False, vmax=max(float(matrix.max()), 1.0))
    left.set_title("counts", fontsize=9)
    _draw_matrix(right, _row_normalised(matrix), labels, percent=True, vmax=1.0)
    right.set_title("row-normalised (% of true class)", fontsize=9)
    figure.suptitle(
        f"{title + ': ' if title else ''}overall accuracy {100 * _accuracy(matrix):.1f}%"
    )
    return figure


def confusion_comparison_figure(*, confusions: Mapping[str, Any], labels: Sequence[str]) -> Figure:
    """Paper 004 Fig. 3 across models: one row-normalised matrix (%) per model with its accuracy."""
    if len(confusions) == 0:
        raise ValueError("confusions must map at least one model name to a matrix, received none")
    matrices = {name: _as_matrix(c, labels) for name, c in confusions.items()}
    size = 2.6 + 0.36 * len(labels)
    figure = _new_figure(size * len(matrices), size + 0.8)
    axes = figure.subplots(1, len(matrices), squeeze=False)[0]
    for ax, (name, matrix) in zip(axes, matrices.items()):
        _draw_matrix(ax, _row_normalised(matrix), labels, percent=True, vmax=1.0)
        ax.set_title(f"{name}\naccuracy {100 * _accuracy(matrix):.1f}%", fontsize=9)
    figure.suptitle("row-normalised confusion matrices (% of true class)")
    return figure


_CURVE_KINDS = ("loss", "schedule", "metric")
_CURVE_LABELS = {"loss": "loss (unitless)", "schedule": "learning rate / loss weight",
                 "metric": "metric value"}
_CURVE_TITLES = {"loss": "losses", "schedule": "schedules", "metric": "metrics"}


def _curve_kind(split: str, metric: str) -> str:
    """``"schedule"`` for ``lr_*``/``weight_*``, ``"loss"`` for the training splits' terms
    and any name holding ``loss``, ``"metric"`` otherwise (validation figures)."""
    name = metric.lower()
    if name.startswith(("lr_", "weight_")):
        return "schedule"
    if "loss" in name or split.startswith("train"):
        return "loss"
    return "metric"


def training_curves_figure(*, rows: Sequence[Mapping[str, Any]]) -> Figure:
    """Loss terms and metrics against the training step, one panel per split and kind.

    Parameters
    ----------
    rows
        Long-form rows ``{step, epoch, stage, split, metric, value}`` (as
        :func:`sonomtl.report.sources.read_metrics_table` returns). One panel
        per split and kind (:func:`_curve_kind`): loss terms (log scale when all
        values are positive and span more than 20x), schedules (``lr_*`` and
        ``weight_*``, log scale) and other metrics. Stage changes are marked by
        dotted vertical lines labelled with the new stage.
    """
    import numpy as np

    if len(rows) == 0:
        raise ValueError("rows must hold at least one metrics row, received none")
    panels: dict[tuple[str, str], dict[str, list[tuple[int, float]]]] = {}
    for row in rows:
        split = str(row.get("split", "train"))
        key = (split, _curve_kind(split, str(row["metric"])))
        panels.setdefault(key, {}).setdefault(str(row["metric"]), []).append(
            (int(row["step"]), float(row["value"]))
        )
    order = sorted(panels, key=lambda k: (k[0] != "train", k[0], _CURVE_KINDS.index(k[1])))
    stage_starts: list[tuple[int, str]] = []
    for row in sorted(rows, key=lambda r: int(r["step"])):
        stage = str(row.get("stage", ""))
        if stage and (not stage_starts or stage_starts[-1][1] != stage):
            stage_starts.append((int(row["step"]), stage))
    epochs = sorted({int(r.get("epoch", 0)) for r in rows})
    figure = _new_figure(6.4, 2.9 * len(order))
    axes = figure.subplots(len(order), 1, squeeze=False)[:, 0]
    for ax, key in zip(axes, order):
        split, kind = key
        values_all = []
        for metric, points in sorted(panels[key].items()):
            points.sort()
            steps = np.array([p[0] for p in points])
            values = np.array([p[1] for p in points])
            values_all.append(values)
            ax.plot(
                steps,
                values,
                marker="o" if len(points) < 30 else None,
                markersize=3,
                linewidth=1.2,
                label=metric,
            )
        finite = np.concatenate(values_all)
        finite = finite[np.isfinite(finite)]
        positive = finite.size and finite.min() > 0
        if (kind == "schedule" and positive) or (
                kind == "loss" and positive and finite.max() / finite.min() > 20):
            ax.set_yscale("log")
        for step, stage in stage_starts[1:] if len(stage_starts) > 1 else []:
            ax.axvline(step, color="grey", linestyle=":", linewidth=1)
            ax.text(
                step,
                1.0,
                f" {stage}",
                transform=ax.get_xaxis_transform(),
                fontsize=7,
                va="top",
                color="dimgrey",
            )
        ax.set_xlabel("training step (optimiser updates)")
        ax.set_ylabel(_CURVE_LABELS[kind])
        stages = ", ".join(s for _, s in stage_starts) or "-"
        ax.set_title(
            f"{split} {_CURVE_TITLES[kind]} — stages: {stages}; "
            f"epochs {epochs[0]}–{epochs[-1]}",
            fontsize=9,
        )
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    return figure


def _benchmark_label(entry: Mapping[str, Any], index: int) -> str:
    parts = [str(entry[k]) for k in ("name", "model", "backend", "dtype", "device") if entry.get(k)]
    if entry.get("batch_size"):
        parts.append(f"batch {entry['batch_size']}")
    return " / ".join(parts) or f"entry {index + 1}"


def benchmark_figure(*, entries: Sequence[Mapping[str, Any]]) -> Figure:
    """Latency p50/p95 (ms, left) and throughput (frames/s, right), one bar group per entry.

    ``entries`` are ``sonomtl bench --json`` objects: ``latency_ms`` {``p50``,
    ``p95``}, ``throughput_fps``, ``backend``, ``dtype``; missing values are skipped.
    """
    import numpy as np

    if len(entries) == 0:
        raise ValueError("entries must hold at least one benchmark result, received none")
    labels = [_benchmark_label(e, k) for k, e in enumerate(entries)]

    def latency(entry: Mapping[str, Any], key: str) -> float:
        value = entry.get("latency_ms", {})
        value = value.get(key) if isinstance(value, Mapping) else None
        return float(value) if isinstance(value, (int, float)) else math.nan

    p50 = np.array([latency(e, "p50") for e in entries])
    p95 = np.array([latency(e, "p95") for e in entries])
    fps = np.array(
        [
            float(e["throughput_fps"])
            if isinstance(e.get("throughput_fps"), (int, float))
            else math.nan
            for e in entries
        ]
    )
    figure = _new_figure(9.0, 1.6 + 0.45 * len(entries))
    left, right = figure.subplots(1, 2, sharey=True)
    y = np.arange(len(entries))
    left.barh(y - 0.2, p50, height=0.4, label="p50", color="#1f77b4")
    left.barh(y + 0.2, p95, height=0.4, label="p95", color="#aec7e8")
    left.set_yticks(y, labels=labels, fontsize=8)
    left.invert_yaxis()
    left.set_xlabel("latency per call (ms), lower is better")
    left.legend(fontsize=8)
    right.barh(y, fps, height=0.5, color="#2ca02c")
    right.set_xlabel("throughput (frames/s), higher is better")
    for ax, values in ((left, p95), (right, fps)):
        ax.grid(axis="x", alpha=0.3)
        for k, value in enumerate(values):
            if np.isfinite(value):
                ax.text(value, k, f" {value:.3g}", va="center", fontsize=7)
    return figure
