"""Scoring of the abdominal experiment's trained models on the held-out subjects.

Landmarks are compared in original-image pixels and mm (each frame's own pixel
size), on the channels annotated on each frame (its true view); measurements
are the ``dataset.yaml`` definitions (:mod:`sonomtl.evaluation.abdominal_scoring`).
The ``Human`` figures score the second annotator against the first on every
frame that has a second annotation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from sonomtl.evaluation.abdominal_scoring import landmark_report, score_human

__all__ = ["score_models"]


def _classification(views: np.ndarray, records: Sequence[Any], spec: Any) -> dict[str, Any]:
    from sonomtl.metrics.results import build_results

    truth = np.array([spec.class_index(r.label) for r in records])
    return build_results(labels=list(spec.classes), y_true=truth, y_pred=views)["classification"]


def score_models(
    trained: Mapping[str, Mapping[str, Mapping[str, Any]]], *, spec: Any,
    records: Sequence[Any], log: Callable[[str], None] = lambda line: None,
) -> dict[str, dict[str, Any]]:
    """Results per model: ``landmarks``, ``classification`` and ``model`` sections.

    Parameters
    ----------
    trained
        ``{model: {entry: {"module", "task", "config", "test"}}}``; ``SFCN`` has
        one entry per landmark task, the others one entry.
    spec, records
        The dataset (its full spec: all landmarks and measurements).
    """
    from sonomtl.evaluation.abdominal import predict_dataset
    from sonomtl.metrics.results import model_figures

    evaluations: dict[str, dict[str, Any]] = {}
    for name, entries in trained.items():
        result: dict[str, Any] = {}
        sizes = [model_figures(e["module"]) for e in entries.values()]
        result["model"] = {"parameters": sum(s["parameters"] for s in sizes),
                           "size_mb": sum(s["size_mb"] for s in sizes),
                           "networks": len(sizes)}
        points = None
        test_records, test_index = None, None
        for entry in entries.values():
            predicted = predict_dataset(entry["module"], entry["task"], entry["test"])
            test_index = [int(i) for i in predicted["index"]]
            test_records = [records[i] for i in test_index]
            if predicted["points"] is not None:
                if points is None:
                    points = np.zeros((len(test_records), len(spec.landmarks), 2))
                points[:, entry["task"].channels] = predicted["points"]
            trains_views = any("view" in s.losses for s in entry["config"].stages)
            if predicted["view"] is not None and trains_views:
                result["classification"] = _classification(predicted["view"], test_records, spec)
        if points is not None:
            result["landmarks"] = landmark_report(points, test_records, spec)
            result["landmarks"]["n_images"] = int(sum(bool(r.landmarks) for r in test_records))
            result["points"] = points  # original pixels, for the figures (not written)
            result["test_index"] = test_index
        evaluations[name] = result
        summary = []
        if "landmarks" in result:
            error = result["landmarks"]["point_error_mm"]["mean"]["mean"]
            summary.append(f"point error {error:.2f} mm")
        if "classification" in result:
            summary.append(f"view accuracy {result['classification']['accuracy']:.3f}")
        log(f"{name}: {', '.join(summary) or 'no scores'}")
    evaluations["Human"] = score_human(spec=spec, records=records)
    return evaluations
