"""Reading run and experiment folders into plain data for the report.

A **run folder** (``runs/<name>/``) holds ``config.yaml``, ``metrics.csv``,
``results.json``, ``figures/`` and optionally ``benchmark.json``. An
**experiment folder** holds a ``results.json`` with a ``models`` mapping
and/or ``tables`` (schema in ``docs/data-format.md``, "Run and experiment
folders") and one sub-folder per model or fold. Every part is optional: what is
missing is reported as "not available", never as a crash; what is present but
malformed raises :class:`sonomtl.errors.InputError` naming the file and field.
"""

from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sonomtl.errors import InputError
from sonomtl.untrusted import resolve_inside

__all__ = [
    "AttentionExamples",
    "LandmarkExample",
    "ReportSource",
    "load_source",
    "read_metrics_table",
    "read_attention_examples",
    "read_landmark_examples",
    "ATTENTION_EXAMPLES_FILE",
    "LANDMARK_EXAMPLES_FILE",
]

#: Sample maps for the attention grid, inside a folder's ``figures/``.
ATTENTION_EXAMPLES_FILE = "attention_examples.npz"
#: Sample frames with landmarks for the overlays, inside a folder's ``figures/``.
LANDMARK_EXAMPLES_FILE = "landmark_examples.json"
_METRICS_LONG_COLUMNS = ("step", "metric", "value")


@dataclass(frozen=True)
class AttentionExamples:
    """Frames, ground-truth attention maps and each model's predicted maps (all ``(N, H, W)``)."""

    frames: Any
    ground_truth: Any
    predictions: dict[str, Any]


@dataclass(frozen=True)
class LandmarkExample:
    """One frame with true and predicted landmarks ``{name: (x, y)}`` in image pixels.

    ``measurements`` maps a measurement name to ``{"landmarks": [...],
    "true_mm": float | None, "predicted_mm": float | None}``.
    """

    image: Any
    title: str
    spacing_mm: tuple[float, float]
    truth: dict[str, tuple[float, float]]
    prediction: dict[str, tuple[float, float]]
    measurements: dict[str, dict[str, Any]]


@dataclass
class ReportSource:
    """Everything found in one run or experiment folder (missing parts are ``None``/empty)."""

    path: Path
    kind: str  # "run" or "experiment"
    config_text: str | None = None
    results: dict[str, Any] | None = None
    metrics: list[dict[str, Any]] = field(default_factory=list)
    benchmark: list[dict[str, Any]] = field(default_factory=list)
    attention: AttentionExamples | None = None
    landmark_examples: list[LandmarkExample] = field(default_factory=list)
    extra_figures: list[Path] = field(default_factory=list)
    children: list[ReportSource] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The folder's name, used as the section title."""
        return self.path.resolve().name


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as error:
        raise InputError(f"not UTF-8 text ({error.reason})", file=path) from None
    except json.JSONDecodeError as error:
        raise InputError(f"invalid JSON at line {error.lineno}: {error.msg}", file=path) from None


def _is_experiment(results: Any) -> bool:
    return isinstance(results, dict) and ("models" in results or "tables" in results)


def load_source(path: str | os.PathLike[str], *, _depth: int = 0) -> ReportSource:
    """Read a run or experiment folder.

    Parameters
    ----------
    path
        The folder. It must contain at least one of ``results.json``,
        ``metrics.csv``, ``config.yaml``, ``benchmark.json`` or ``figures/``.

    Returns
    -------
    ReportSource
        ``kind`` is ``"experiment"`` when ``results.json`` has ``models`` or
        ``tables``; its sub-folders that are runs become ``children``.

    Raises
    ------
    InputError
        The folder does not exist, holds nothing a report can show, or a file
        in it is malformed.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise InputError("not a folder (expected a run or experiment folder)", file=folder)
    known = ("results.json", "metrics.csv", "config.yaml", "benchmark.json", "figures")
    if not any((folder / name).exists() for name in known):
        raise InputError(
            "nothing to report: expected results.json, metrics.csv, config.yaml, "
            "benchmark.json or figures/ in it",
            file=folder,
        )
    results = None
    if (folder / "results.json").is_file():
        results = _read_json(folder / "results.json")
        if not isinstance(results, dict):
            raise InputError(
                f"expected a JSON object at the top level, found {type(results).__name__}",
                file=folder / "results.json",
            )
        _check_experiment_schema(results, folder / "results.json")
        _check_sections(results, folder / "results.json")
    source = ReportSource(path=folder, kind="experiment" if _is_experiment(results) else "run")
    source.results = results
    if (folder / "config.yaml").is_file():
        source.config_text = (folder / "config.yaml").read_text(encoding="utf-8", errors="replace")
    if (folder / "metrics.csv").is_file():
        source.metrics = read_metrics_table(folder / "metrics.csv")
    if (folder / "benchmark.json").is_file():
        source.benchmark = _read_benchmark(folder / "benchmark.json")
    figures = folder / "figures"
    used: set[Path] = set()
    if (figures / ATTENTION_EXAMPLES_FILE).is_file():
        source.attention = read_attention_examples(figures / ATTENTION_EXAMPLES_FILE)
    if (figures / LANDMARK_EXAMPLES_FILE).is_file():
        source.landmark_examples, used = read_landmark_examples(figures / LANDMARK_EXAMPLES_FILE)
    if figures.is_dir():
        source.extra_figures = sorted(
            resolve_inside(folder, p.relative_to(folder), file=p, field=None, hint="")
            for p in figures.iterdir() if p.suffix.lower() == ".png" and p.resolve() not in used
        )
    if source.kind == "experiment" and _depth == 0:
        for child in sorted(p for p in folder.iterdir() if p.is_dir() and p.name != "figures"):
            if any((child / name).is_file() for name in ("results.json", "metrics.csv")):
                source.children.append(load_source(child, _depth=1))
    return source


def _check_experiment_schema(results: dict[str, Any], file: Path) -> None:
    models = results.get("models", {})
    if not isinstance(models, dict) or not all(isinstance(v, dict) for v in models.values()):
        raise InputError(
            "expected an object {model name: results object}", file=file, field="models"
        )
    tables = results.get("tables", {})
    if not isinstance(tables, dict):
        raise InputError("expected an object {table id: table}", file=file, field="tables")
    for key, table in tables.items():
        where = f"tables.{key}"
        if not isinstance(table, dict) or not isinstance(table.get("columns"), list):
            raise InputError("expected an object with a 'columns' list", file=file, field=where)
        rows = table.get("rows", [])
        if not isinstance(rows, list):
            raise InputError("expected 'rows' to be a list of lists", file=file, field=where)
        for k, row in enumerate(rows):
            if not isinstance(row, list) or len(row) != len(table["columns"]):
                raise InputError(
                    f"row {k} must be a list of {len(table['columns'])} values (one per column)",
                    file=file,
                    field=where,
                )


def _check_sections(results: dict[str, Any], file: Path) -> None:
    """The report's sections of a run's results, and of each model's in an experiment."""
    from sonomtl.report.schema import check_results_sections, check_table_digits

    check_results_sections(results, file)
    check_table_digits(results.get("tables") or {}, file)
    for name, model in (results.get("models") or {}).items():
        check_results_sections(model, file, prefix=f"models.{name}.")


def read_metrics_table(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Rows of a ``metrics.csv`` in long form: ``{step, epoch, stage, split, metric, value}``.

    The training engine writes long format (``step,stage,epoch,split,metric,value``);
    a wide file (``step,epoch,stage`` and one column per metric) is converted.
    Empty cells are skipped; non-numeric values raise :class:`InputError`.
    """
    path = Path(path)
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        columns = reader.fieldnames or []
        if "step" not in columns:
            raise InputError("missing the 'step' column", file=path, field="step")
        long_form = all(name in columns for name in _METRICS_LONG_COLUMNS)
        fixed = {"step", "epoch", "stage", "split", "metric", "value"}
        rows: list[dict[str, Any]] = []
        for number, row in enumerate(reader, start=2):
            base = {
                "step": _number(row.get("step"), path, number, "step", integer=True),
                "epoch": _number(row.get("epoch") or "0", path, number, "epoch", integer=True),
                "stage": row.get("stage") or "",
                "split": row.get("split") or "train",
            }
            items = (
                [(row["metric"], row["value"])]
                if long_form
                else [(name, row[name]) for name in columns if name not in fixed]
            )
            for metric, text in items:
                if text is None or text.strip() == "":
                    continue
                value = _number(text, path, number, "value" if long_form else metric, integer=False)
                rows.append({**base, "metric": metric, "value": value})
    return rows


def _number(text: str | None, file: Path, row: int, name: str, *, integer: bool) -> Any:
    try:
        value = float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InputError(
            f"expected a number, found {text!r}", file=file, row=row, field=name
        ) from None
    if integer:
        if not math.isfinite(value) or value != int(value):
            raise InputError(
                f"expected a whole number, found {text!r}", file=file, row=row, field=name
            )
        return int(value)
    return value


def _read_benchmark(path: Path) -> list[dict[str, Any]]:
    data = _read_json(path)
    if isinstance(data, dict) and isinstance(data.get("results"), list):
        data = data["results"]
    entries = data if isinstance(data, list) else [data]
    if not all(isinstance(entry, dict) for entry in entries):
        raise InputError("expected an object or a list of objects (one per backend)", file=path)
    from sonomtl.report.schema import check_benchmark_entries

    check_benchmark_entries(entries, path)
    return entries


def read_attention_examples(path: str | os.PathLike[str]) -> AttentionExamples:
    """Read ``attention_examples.npz``: ``frames``, ``ground_truth`` ``(N, H, W)``,
    ``predictions`` ``(M, N, H, W)`` and ``model_names`` ``(M,)`` (strings).

    Loaded with ``allow_pickle=False``.
    """

    from sonomtl.untrusted import load_npz

    path = Path(path)
    arrays = load_npz(path)
    for name in ("frames", "ground_truth", "predictions", "model_names"):
        if name not in arrays:
            raise InputError("missing array", file=path, field=name)
    frames, truth = arrays["frames"], arrays["ground_truth"]
    predictions, names = arrays["predictions"], arrays["model_names"]
    if frames.ndim != 3 or truth.shape != frames.shape:
        raise InputError(
            f"frames and ground_truth must both be (N, H, W), "
            f"found {frames.shape} and {truth.shape}",
            file=path,
            field="ground_truth",
        )
    if (
        predictions.ndim != 4
        or predictions.shape[1:] != frames.shape
        or names.shape != predictions.shape[:1]
    ):
        raise InputError(
            f"predictions must be (M, N, H, W) = (M, {', '.join(map(str, frames.shape))}) "
            "with M model_names; "
            f"found {predictions.shape} and {names.shape[0] if names.ndim else 0} names",
            file=path,
            field="predictions",
        )
    return AttentionExamples(
        frames=frames,
        ground_truth=truth,
        predictions={str(n): predictions[k] for k, n in enumerate(names.tolist())},
    )


def _point(value: Any, file: Path, where: str) -> tuple[float, float]:
    if (
        not isinstance(value, (list, tuple))
        or len(value) != 2
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    ):
        raise InputError(f"expected [x, y] in pixels, found {value!r}", file=file, field=where)
    return float(value[0]), float(value[1])


def read_landmark_examples(path: str | os.PathLike[str]) -> tuple[list[LandmarkExample], set[Path]]:
    """Read ``landmark_examples.json`` and the images it names.

    Returns the examples and the resolved image paths (so they are not shown twice).
    """
    import numpy as np

    path = Path(path)
    data = _read_json(path)
    entries = data.get("examples") if isinstance(data, dict) else data
    if not isinstance(entries, list):
        raise InputError('expected {"examples": [...]} or a list of examples', file=path)
    examples, used = [], set()
    drawn = data.get("figure") if isinstance(data, dict) else None
    run_folder = path.parent.parent  # figures/landmark_examples.json: paths stay in the run
    if isinstance(drawn, str):
        drawn_path = resolve_inside(path.parent, drawn, file=path, field="figure", hint="")
        if drawn_path.is_file():
            used.add(drawn_path.resolve())  # the same examples as one PNG: not twice
    for k, entry in enumerate(entries):
        where = f"examples[{k}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("image"), str):
            raise InputError("expected an object with an 'image' path", file=path, field=where)
        image_path = path.parent / entry["image"]
        resolve_inside(run_folder, os.path.join(path.parent.name, entry["image"]), file=path,
                       field=f"{where}.image", hint="")
        if not image_path.is_file():
            raise InputError(f"image not found: {image_path}", file=path, field=f"{where}.image")
        used.add(image_path.resolve())
        if image_path.suffix.lower() == ".npy":
            from sonomtl.untrusted import load_npy

            image = np.asarray(load_npy(image_path))
        else:
            from sonomtl.data.io import open_image

            try:
                with open_image(image_path) as handle:
                    image = np.asarray(handle.convert("L"))
            except OSError as error:
                raise InputError(f"unreadable image ({error})", file=image_path) from None
        spacing = entry.get("spacing_mm", 1.0)
        if isinstance(spacing, (int, float)) and not isinstance(spacing, bool):
            spacing = (float(spacing), float(spacing))
        else:
            spacing = _point(spacing, path, f"{where}.spacing_mm")
        points = {}
        for key in ("truth", "prediction"):
            raw = entry.get(key, {})
            if not isinstance(raw, dict):
                raise InputError("expected {name: [x, y]}", file=path, field=f"{where}.{key}")
            points[key] = {str(n): _point(v, path, f"{where}.{key}.{n}") for n, v in raw.items()}
        measurements = entry.get("measurements", {})
        if not isinstance(measurements, dict) or not all(
            isinstance(m, dict) and isinstance(m.get("landmarks"), list)
            for m in measurements.values()
        ):
            raise InputError(
                "expected {name: {landmarks: [...], true_mm, predicted_mm}}",
                file=path,
                field=f"{where}.measurements",
            )
        examples.append(
            LandmarkExample(
                image=image,
                title=str(entry.get("title", image_path.stem)),
                spacing_mm=spacing,
                truth=points["truth"],
                prediction=points["prediction"],
                measurements={str(n): dict(m) for n, m in measurements.items()},
            )
        )
    return examples, used
