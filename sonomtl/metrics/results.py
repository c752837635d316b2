"""Assemble the results.json dictionary (keys fixed by DESIGN.md) from predictions.

``sonomtl evaluate`` calls :func:`build_results` with whatever the model
predicts and writes the dict with :func:`sonomtl.fileio.write_json` (NaN
becomes ``null``). A section is present only when its inputs are given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["build_results", "model_figures"]


def model_figures(model: Any) -> dict[str, float | int]:
    """``parameters`` (count) and ``size_mb`` (parameter + buffer bytes / 1e6) of a torch module."""
    tensors = [*model.parameters(), *model.buffers()]
    return {
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "size_mb": float(sum(t.numel() * t.element_size() for t in tensors) / 1e6),
    }


def _need(section: str, **inputs: Any) -> bool:
    given = {name for name, value in inputs.items() if value is not None}
    if given and given != set(inputs):
        missing = sorted(set(inputs) - given)
        raise ValueError(f"the {section} section needs {sorted(inputs)}; missing {missing}")
    return bool(given)


def build_results(
    *,
    labels: Sequence[str] | None = None,
    y_true: Any = None,
    y_pred: Any = None,
    saliency_maps: Any = None,
    fixation_maps: Any = None,
    attention_maps: Any = None,
    baseline_map: Any = None,
    landmark_names: Sequence[str] | None = None,
    landmarks_pred: Any = None,
    landmarks_true: Any = None,
    spacing_mm: Any = 1.0,
    measurements: Mapping[str, Mapping[str, Any]] | None = None,
    timing: Mapping[str, Any] | None = None,
    model: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The results.json dict.

    Sections and their keys:

    * ``classification`` (``labels``, ``y_true``, ``y_pred`` class ids):
      ``accuracy``, ``labels``, ``confusion_matrix``, ``per_class`` {label:
      ``precision``, ``recall``, ``f1``, ``support``}, plus
      ``confusion_matrix_normalised``, ``macro``, ``micro``, ``n``;
    * ``saliency`` (``saliency_maps``, ``fixation_maps``; optional
      ``attention_maps``, ``baseline_map``): means over images of ``IG``,
      ``CC``, ``NSS``, ``SIM``, ``AUC_Judd``, ``AUC_Borji``, ``KLD`` plus
      ``sAUC`` and ``n_images``;
    * ``landmarks`` (``landmark_names``, ``landmarks_pred``,
      ``landmarks_true``; ``spacing_mm``, ``measurements``):
      ``point_error_mm`` {name: stats, "mean": stats},
      ``measurement_abs_error_mm`` {measurement: ``mean``, ``std``,
      ``median``, ``n``}, plus ``point_error_px`` and ``success_detection_rate``;
    * ``timing``: passed through (e.g. ``{"ms_per_frame": 12.5}``);
    * ``model``: ``parameters`` and ``size_mb`` (see :func:`model_figures`).
    """
    results: dict[str, Any] = {}
    if _need("classification", labels=labels, y_true=y_true, y_pred=y_pred):
        from sonomtl.metrics.classification import compute_classification_report

        results["classification"] = compute_classification_report(y_true, y_pred, labels=labels)
    if _need("saliency", saliency_maps=saliency_maps, fixation_maps=fixation_maps):
        from sonomtl.metrics.saliency import compute_saliency_metrics, summarise_saliency

        per_image = compute_saliency_metrics(
            saliency_maps, fixation_maps, attention_maps=attention_maps, baseline_map=baseline_map
        )
        results["saliency"] = summarise_saliency(per_image)
    if _need(
        "landmarks",
        landmark_names=landmark_names,
        landmarks_pred=landmarks_pred,
        landmarks_true=landmarks_true,
    ):
        from sonomtl.metrics.landmarks import compute_landmark_report

        results["landmarks"] = compute_landmark_report(
            landmarks_pred,
            landmarks_true,
            landmark_names=landmark_names,
            spacing_mm=spacing_mm,
            measurements=measurements,
        )
    if timing is not None:
        results["timing"] = dict(timing)
    if model is not None:
        missing = {"parameters", "size_mb"} - set(model)
        if missing:
            raise ValueError(
                f"model must give 'parameters' and 'size_mb', missing {sorted(missing)}"
            )
        results["model"] = {key: _plain(value) for key, value in model.items()}
    return results


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
