"""Scoring abdominal predictions against a split's annotations, and the second annotator's.

Landmarks are compared in original-image pixels and mm (each frame's own pixel
size), on the channels annotated on each frame (its true view); measurements
are the ``dataset.yaml`` definitions. The ``Human`` figures score the second
annotator against the first on every frame that has a second annotation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from sonomtl.errors import InputError

__all__ = ["landmark_report", "measurement_definitions", "original_spacing", "score_human"]


def measurement_definitions(spec: Any) -> dict[str, dict[str, Any]]:
    """``{name: {"type", "landmarks"}}`` of the spec's measurements (plain data)."""
    return {name: {"type": m.type, "landmarks": list(m.landmarks)}
            for name, m in spec.measurements.items()}


def original_spacing(records: Sequence[Any]) -> np.ndarray:
    """``(N, 2)`` pixel sizes ``(x, y)`` of the original frames; every frame needs one."""
    out = np.empty((len(records), 2))
    for i, record in enumerate(records):
        if record.spacing_mm is None:
            raise InputError("measurements in mm need the pixel size of every frame",
                             row=record.row, field="spacing_mm")
        out[i] = record.spacing_mm
    return out


def landmark_report(points: np.ndarray, records: Sequence[Any], spec: Any, *,
                    landmarks: Sequence[str] | None = None) -> dict[str, Any]:
    """Point and measurement errors (mm, original pixels) of ``points`` against ``records``.

    ``landmarks`` names the columns of ``points`` (default all of the spec's,
    in order); a single-task network scores only its own landmarks and the
    measurements made of them.
    """
    from sonomtl.evaluation.abdominal import truth_points
    from sonomtl.metrics.landmarks import compute_landmark_report

    names = list(spec.landmarks) if landmarks is None else list(landmarks)
    measurements = {name: m for name, m in measurement_definitions(spec).items()
                    if set(m["landmarks"]) <= set(names)}
    return compute_landmark_report(
        points, truth_points(records, names), landmark_names=names,
        spacing_mm=original_spacing(records), measurements=measurements)


def score_human(*, spec: Any, records: Sequence[Any]) -> dict[str, Any]:
    """Second annotator vs first: ``landmarks`` (inter-observer report) and ``classification``."""
    from sonomtl.evaluation.abdominal import truth_points
    from sonomtl.metrics.classification import compute_agreement
    from sonomtl.metrics.landmarks import compute_inter_observer_report

    human: dict[str, Any] = {}
    with_points = [r for r in records if r.landmarks_2 and r.landmarks]
    if with_points:
        human["landmarks"] = compute_inter_observer_report(
            truth_points(with_points, spec.landmarks),
            truth_points(with_points, spec.landmarks, second=True),
            landmark_names=list(spec.landmarks), spacing_mm=original_spacing(with_points),
            measurements=measurement_definitions(spec))
        human["landmarks"]["n_images"] = len(with_points)
    with_labels = [r for r in records if r.label_2 and r.label]
    if with_labels and len(spec.classes) > 1:
        agreement = compute_agreement(
            [spec.class_index(r.label) for r in with_labels],
            [spec.class_index(r.label_2) for r in with_labels], num_classes=len(spec.classes))
        human["classification"] = {**agreement, "labels": list(spec.classes)}
    return human
