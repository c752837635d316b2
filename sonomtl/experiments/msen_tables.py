"""Paper 000's Tables 1 and 2 from per-fold predictions: figures, paired tests, Markdown.

Pure functions on NumPy arrays and plain dicts (no training here):

* :func:`fold_classification` / :func:`fold_saliency`: one fold's figures;
* :func:`errors_by_subject` / :func:`subject_errors_table`: where the misclassified
  frames are, per held-out subject (video);
* :func:`summarise_folds`: mean, sample std (``ddof=1``) and the per-fold values;
* :func:`table1` / :func:`table2`: the paper's layout, each model against the
  best one with a paired t-test across folds;
* :func:`compare`: one named comparison (a vs b on a metric, paired t-test);
* :func:`markdown_tables`: the tables as Markdown.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from sonomtl.report.tables import table_cell

__all__ = [
    "CLASSIFICATION_KEYS",
    "SALIENCY_EXTRA_KEYS",
    "SALIENCY_TABLE_KEYS",
    "compare",
    "errors_by_subject",
    "fold_classification",
    "fold_saliency",
    "markdown_tables",
    "subject_errors_table",
    "summarise_folds",
    "table1",
    "table2",
]

#: Table 1 figures (for the plane class), in percent.
CLASSIFICATION_KEYS: tuple[str, ...] = ("precision", "recall", "f1")
#: Table 2 columns -> keys of :func:`sonomtl.metrics.saliency.compute_saliency_metrics`.
SALIENCY_TABLE_KEYS: dict[str, str] = {
    "IG": "IG", "CC": "CC", "NSS": "NSS", "SIM": "SIM", "AUC": "AUC_Judd",
}
#: Figures reported per fold beside Table 2's (not in the paper's table).
SALIENCY_EXTRA_KEYS: dict[str, str] = {"sAUC": "sAUC"}
_FIXATION_METRICS = ("IG", "NSS", "AUC_Judd", "sAUC")


def fold_classification(
    y_true: np.ndarray, y_pred: np.ndarray, *, labels: Sequence[str], positive: int = 0
) -> dict[str, float]:
    """Precision, recall and F1 (percent) of class ``positive``, plus accuracy (percent)."""
    from sonomtl.metrics.classification import compute_classification_report

    report = compute_classification_report(y_true, y_pred, labels=labels, zero_division=0.0)
    per_class = report["per_class"][labels[positive]]
    out = {key: 100.0 * float(per_class[key]) for key in CLASSIFICATION_KEYS}
    out["accuracy"] = 100.0 * float(report["accuracy"])
    out["n"] = int(report["n"])
    return out


def errors_by_subject(
    subjects: Sequence[str], y_true: np.ndarray, y_pred: np.ndarray, *, positive: int = 0
) -> dict[str, dict[str, int]]:
    """Per subject: its frames, its frames of class ``positive``, and the errors on that class.

    A fold's F1 is often decided by one video whose plane frames are all missed,
    which the mean over folds hides; this says which.

    Examples
    --------
    >>> errors = errors_by_subject(["b", "a", "a"], np.array([0, 0, 1]), np.array([1, 0, 0]))
    >>> list(errors), errors["a"]
    (['a', 'b'], {'frames': 2, 'positives': 1, 'false_negatives': 0, 'false_positives': 1})
    """
    y_true, y_pred = np.asarray(y_true).reshape(-1), np.asarray(y_pred).reshape(-1)
    if not len(subjects) == len(y_true) == len(y_pred):
        raise ValueError(f"lengths differ: {len(subjects)} subjects, {len(y_true)} labels, "
                         f"{len(y_pred)} predictions")
    subjects = np.asarray(subjects, dtype=object)
    out: dict[str, dict[str, int]] = {}
    for subject in sorted(set(subjects)):
        mine = subjects == subject
        truth, guess = y_true[mine] == positive, y_pred[mine] == positive
        out[str(subject)] = {"frames": int(mine.sum()), "positives": int(truth.sum()),
                             "false_negatives": int((truth & ~guess).sum()),
                             "false_positives": int((~truth & guess).sum())}
    return out


def subject_errors_table(per_model: Mapping[str, Mapping[str, Mapping[str, int]]],
                         titles: Mapping[str, str]) -> dict[str, Any]:
    """Missed / false plane frames per held-out subject (rows) and model (columns).

    ``per_model`` maps a model to :func:`errors_by_subject` over all its folds
    (every subject is held out once). Only subjects with an error in some model are listed.
    """
    names = list(per_model)
    subjects = sorted({s for errors in per_model.values() for s in errors})
    rows = []
    for subject in subjects:
        counts = [per_model[n].get(subject) for n in names]
        if not any(c and (c["false_negatives"] or c["false_positives"]) for c in counts):
            continue
        first = next(c for c in counts if c)
        rows.append([subject, first["frames"], first["positives"]] + [
            "-" if c is None else f"{c['false_negatives']} / {c['false_positives']}"
            for c in counts])
    return {
        "title": "Errors by held-out subject (video): missed plane frames / false plane frames",
        "columns": ["Subject", "Frames", "Plane frames"] + [titles.get(n, n) for n in names],
        "rows": rows, "digits": 0,
        "note": "Only subjects with an error in some model; each subject is held out in one fold.",
    }


def fold_saliency(
    predicted: np.ndarray, ground_truth: np.ndarray, *, fixation_maps: np.ndarray | None,
    baseline_map: np.ndarray,
) -> dict[str, float]:
    """Mean IG, CC, NSS, SIM, AUC (Judd) and sAUC of one fold's maps ``(N, H, W)``.

    CC and SIM compare with the ground-truth maps, over the frames whose
    ground truth is not empty; NSS, IG, AUC-Judd and the shuffled AUC (the
    other frames' fixations of the fold as negatives) score against the
    recorded fixations (``fixation_maps``: 1 at each fixated pixel, the data
    layer's ``fixation_map``), over the frames with at least one fixation;
    IG against ``baseline_map``. Without ``fixation_maps`` (no fixation data)
    those four are NaN. ``n`` and ``n_fixated`` count the frames used.
    """
    from sonomtl.metrics.saliency import compute_cc, compute_saliency_metrics, compute_sim

    maps = np.asarray(predicted, dtype=np.float32)
    truth = np.asarray(ground_truth, dtype=np.float32)
    keep = truth.reshape(len(truth), -1).max(axis=1) > 0
    out = {column: float("nan") for column in (*SALIENCY_TABLE_KEYS, *SALIENCY_EXTRA_KEYS)}
    if keep.any():
        out["CC"] = float(np.nanmean(compute_cc(maps[keep], truth[keep])))
        out["SIM"] = float(np.nanmean(compute_sim(maps[keep], truth[keep])))
    fixated = np.zeros(len(maps), dtype=bool)
    if fixation_maps is not None:
        fixations = np.asarray(fixation_maps, dtype=np.float32)
        if fixations.shape != maps.shape:
            raise ValueError(f"fixation_maps: expected shape {maps.shape}, got "
                             f"{fixations.shape}")
        fixated = fixations.reshape(len(fixations), -1).max(axis=1) > 0
        if fixated.any():
            per_image = compute_saliency_metrics(maps[fixated], fixations[fixated],
                                                 attention_maps=truth[fixated],
                                                 baseline_map=baseline_map)
            columns = {**SALIENCY_TABLE_KEYS, **SALIENCY_EXTRA_KEYS}
            for column, key in columns.items():
                if key in _FIXATION_METRICS:
                    out[column] = float(np.nanmean(per_image[key]))
    out["n"] = int(keep.sum())
    out["n_fixated"] = int(fixated.sum())
    return out


def summarise_folds(folds: Sequence[Mapping[str, float]], keys: Sequence[str]) -> dict[str, Any]:
    """``{key: {"mean", "std", "folds"}}`` (std with ``ddof=1``; NaN with one fold)."""
    summary: dict[str, Any] = {}
    for key in keys:
        values = np.array([float(f[key]) for f in folds], dtype=np.float64)
        summary[key] = {
            "mean": float(values.mean()),
            "std": float(values.std(ddof=1)) if len(values) > 1 else float("nan"),
            "folds": values.tolist(),
        }
    return summary


def _p_value(a: Sequence[float], b: Sequence[float]) -> float | None:
    from sonomtl.metrics.stats import paired_t_test

    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) != len(b) or len(a) < 2 or not (np.isfinite(a).all() and np.isfinite(b).all()):
        return None  # undefined: a fold without a value (e.g. NSS of a fold without fixations)
    p = float(paired_t_test(a, b).pvalue)
    return None if math.isnan(p) else p


def compare(
    summaries: Mapping[str, Mapping[str, Any]], a: str, b: str, *, section: str, metric: str
) -> dict[str, Any] | None:
    """``a`` vs ``b`` on ``summaries[name][section][metric]`` (paired t-test across folds).

    Returns ``None`` when either model or figure is missing.
    """
    try:
        first = summaries[a][section][metric]
        second = summaries[b][section][metric]
    except KeyError:
        return None
    return {
        "a": a, "b": b, "metric": metric, "mean_a": first["mean"], "mean_b": second["mean"],
        "difference": first["mean"] - second["mean"],
        "a_better": bool(first["mean"] > second["mean"]),
        "p_value": _p_value(first["folds"], second["folds"]), "test": "paired t-test across folds",
    }


def _best(summaries: Mapping[str, Mapping[str, Any]], names: Sequence[str], section: str,
          metric: str) -> str:
    """The row with the highest mean ``metric`` (a NaN mean never wins; the first on ties)."""
    def mean(name: str) -> float:
        value = float(summaries[name][section][metric]["mean"])
        return value if np.isfinite(value) else -np.inf

    return max(names, key=mean)


def table1(summaries: Mapping[str, Mapping[str, Any]], rows: Sequence[tuple[str, str, str]]
           ) -> dict[str, Any]:
    """Table 1 (classification of the plane class) for the rows ``(name, title, inputs)`` present.

    Columns: model, inputs, then mean and std of precision, recall and F1 (%),
    then p-values of P, R and F1 against the model with the best mean F1.
    """
    present = [r for r in rows if "classification" in summaries.get(r[0], {})]
    columns = ["Model", "Inputs", "Precision", "P std", "Recall", "R std", "F1-score", "F1 std",
               "p (P)", "p (R)", "p (F1)"]
    out_rows: list[list[Any]] = []
    best = _best(summaries, [r[0] for r in present], "classification", "f1") if present else None
    for name, title, inputs in present:
        figures = summaries[name]["classification"]
        row: list[Any] = [title, inputs]
        for key in CLASSIFICATION_KEYS:
            row += [figures[key]["mean"], figures[key]["std"]]
        for key in CLASSIFICATION_KEYS:
            row.append(None if name == best else
                       _p_value(figures[key]["folds"],
                                summaries[best]["classification"][key]["folds"]))
        out_rows.append(row)
    return {
        "title": "Table 1. Classification of the standard plane (%), mean and std over folds",
        "columns": columns, "rows": out_rows, "digits": 1, "best": best,
        "note": "p: paired t-test across folds against the best F1 "
                f"({dict((r[0], r[1]) for r in present).get(best, '-')}).",
    }


def table2(summaries: Mapping[str, Mapping[str, Any]], rows: Sequence[tuple[str, str, str]]
           ) -> dict[str, Any]:
    """Table 2 (saliency metrics) of the rows present; p of CC and NSS against the best NSS."""
    present = [r for r in rows if "saliency" in summaries.get(r[0], {})]
    columns = ["Model"]
    for key in SALIENCY_TABLE_KEYS:
        columns += [key, f"{key} std"]
    columns += ["p (CC)", "p (NSS)"]
    best = _best(summaries, [r[0] for r in present], "saliency", "NSS") if present else None
    out_rows = []
    for name, title, _ in present:
        figures = summaries[name]["saliency"]
        row: list[Any] = [title]
        for key in SALIENCY_TABLE_KEYS:
            row += [figures[key]["mean"], figures[key]["std"]]
        for key in ("CC", "NSS"):
            row.append(None if name == best else
                       _p_value(figures[key]["folds"], summaries[best]["saliency"][key]["folds"]))
        out_rows.append(row)
    return {
        "title": "Table 2. Saliency prediction on the held-out folds, mean and std over folds",
        "columns": columns, "rows": out_rows, "digits": 3, "best": best,
        "note": "AUC = AUC-Judd; IG against the centre-bias map; p: paired t-test across folds "
                "against the best NSS.",
    }


def markdown_tables(tables: Mapping[str, Mapping[str, Any]]) -> str:
    """The tables as Markdown (title, pipe table, note), in the mapping's order."""
    parts = []
    for table in tables.values():
        digits = int(table.get("digits", 3))
        lines = [f"### {table['title']}", "", "| " + " | ".join(table["columns"]) + " |",
                 "|" + "|".join("---" for _ in table["columns"]) + "|"]
        for row in table["rows"]:
            cells = [table_cell(v, column=str(c), digits=digits)
                     for v, c in zip(row, table["columns"])]
            lines.append("| " + " | ".join(cells) + " |")
        if table.get("note"):
            lines += ["", table["note"]]
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"
