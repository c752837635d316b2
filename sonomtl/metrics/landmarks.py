"""Landmark and measurement errors (paper 2, Table 1), success detection rates, HC.

Points are ``(N, L, 2)`` arrays of ``(x, y)`` in pixels (docs/data-format.md);
a landmark that is not annotated is NaN in the *true* points and is left out.
``spacing_mm`` is the pixel size ``(x, y)`` in mm: a scalar, ``(2,)`` for
all images, ``(N,)`` isotropic per image or ``(N, 2)``. Errors in mm scale
each axis by its own spacing before taking the length.

Summary statistics are ``mean``, ``std`` (sample, ddof 1; NaN for n < 2),
``median`` and ``n`` over the annotated values.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from sonomtl.metrics._arrays import to_numpy

__all__ = [
    "SDR_THRESHOLDS_MM",
    "summarise_values",
    "point_errors",
    "ellipse_circumference_mm",
    "measurement_values_mm",
    "success_detection_rate",
    "compute_landmark_report",
    "compute_inter_observer_report",
]

#: Success detection rate thresholds (mm).
SDR_THRESHOLDS_MM = (2.0, 2.5, 3.0, 4.0)


def summarise_values(values: Any) -> dict[str, float | int]:
    """``mean``, ``std`` (ddof 1), ``median`` and ``n`` of the non-NaN values.

    Examples
    --------
    >>> summarise_values([1.0, 2.0, float("nan"), 6.0])
    {'mean': 3.0, 'std': 2.6457513110645907, 'median': 2.0, 'n': 3}
    """
    array = np.asarray(to_numpy(values), dtype=np.float64).ravel()
    finite = array[~np.isnan(array)]
    n = int(finite.size)
    return {
        "mean": float(finite.mean()) if n else math.nan,
        "std": float(finite.std(ddof=1)) if n > 1 else math.nan,
        "median": float(np.median(finite)) if n else math.nan,
        "n": n,
    }


def _points(value: Any, *, name: str) -> np.ndarray:
    array = np.asarray(to_numpy(value), dtype=np.float64)
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3 or array.shape[-1] != 2:
        raise ValueError(
            f"{name} must have shape (N, L, 2) of (x, y) points, received {array.shape}"
        )
    if np.isinf(array).any():
        raise ValueError(f"{name} must not hold inf values")
    return array


def _spacing(spacing_mm: Any, n: int) -> np.ndarray:
    """Spacing as ``(N, 1, 2)`` (x, y) mm per pixel."""
    array = np.asarray(to_numpy(spacing_mm), dtype=np.float64)
    if array.ndim == 0:
        array = np.full((n, 2), float(array))
    elif array.shape == (2,):
        array = np.broadcast_to(array, (n, 2))
    elif array.shape == (n,):
        array = np.stack([array, array], axis=1)
    elif array.shape != (n, 2):
        raise ValueError(
            f"spacing_mm must be a scalar, (2,), ({n},) or ({n}, 2), received shape {array.shape}"
        )
    if not (np.isfinite(array).all() and (array > 0).all()):
        raise ValueError("spacing_mm must be finite and > 0, received other values")
    return array[:, None, :]


def point_errors(
    pred_points: Any, true_points: Any, *, spacing_mm: Any = 1.0, missing_predictions: str = "error"
) -> tuple[np.ndarray, np.ndarray]:
    """Euclidean point errors ``(N, L)`` in pixels and in mm; NaN where not annotated.

    Parameters
    ----------
    missing_predictions
        ``"error"`` (default): a NaN prediction of an annotated landmark raises
        ``ValueError``; ``"skip"``: it is left out like a missing annotation
        (used for a second annotator who did not mark every point).
    """
    pred = _points(pred_points, name="pred_points")
    true = _points(true_points, name="true_points")
    if pred.shape != true.shape:
        raise ValueError(
            "pred_points and true_points must have the same shape, "
            f"received {pred.shape} and {true.shape}"
        )
    if missing_predictions not in ("error", "skip"):
        raise ValueError(
            f"missing_predictions must be 'error' or 'skip', received {missing_predictions!r}"
        )
    annotated = ~np.isnan(true).any(axis=-1)
    predicted = ~np.isnan(pred).any(axis=-1)
    if missing_predictions == "error" and (annotated & ~predicted).any():
        count = int(np.count_nonzero(annotated & ~predicted))
        raise ValueError(
            f"pred_points has NaN for {count} annotated landmark(s); predictions must be finite"
        )
    difference = pred - true
    errors_px = np.sqrt((difference**2).sum(axis=-1))
    errors_mm = np.sqrt(((difference * _spacing(spacing_mm, pred.shape[0])) ** 2).sum(axis=-1))
    return errors_px, errors_mm


def ellipse_circumference_mm(major_axis_mm: Any, minor_axis_mm: Any) -> np.ndarray:
    """Ramanujan's approximation ``pi (3(a + b) - sqrt((3a + b)(a + 3b)))`` from the two diameters.

    ``a``, ``b`` are the semi-axes (half the diameters).

    Examples
    --------
    >>> round(float(ellipse_circumference_mm(20.0, 20.0)), 9)  # a circle of diameter 20
    62.831853072
    """
    a = np.asarray(major_axis_mm, dtype=np.float64) / 2.0
    b = np.asarray(minor_axis_mm, dtype=np.float64) / 2.0
    return np.pi * (3.0 * (a + b) - np.sqrt((3.0 * a + b) * (a + 3.0 * b)))


def measurement_values_mm(
    points: Any,
    *,
    landmark_names: Sequence[str],
    measurements: Mapping[str, Mapping[str, Any]],
    spacing_mm: Any = 1.0,
) -> dict[str, np.ndarray]:
    """Clinical measurements in mm per image, from ``dataset.yaml``'s ``measurements``.

    ``distance``: the length between two landmarks; ``ellipse_circumference``:
    landmarks ``[major_1, major_2, minor_1, minor_2]`` (e.g. OFD then BPD end
    points) through :func:`ellipse_circumference_mm`. NaN where a landmark is missing.
    """
    array = _points(points, name="points")
    names = list(landmark_names)
    if array.shape[1] != len(names):
        raise ValueError(
            f"points must have one column per landmark name ({len(names)}), "
            f"received {array.shape[1]}"
        )
    scaled = array * _spacing(spacing_mm, array.shape[0])
    index = {name: k for k, name in enumerate(names)}

    def length(first: str, second: str) -> np.ndarray:
        return np.sqrt(((scaled[:, index[first]] - scaled[:, index[second]]) ** 2).sum(axis=-1))

    values: dict[str, np.ndarray] = {}
    for measurement, definition in measurements.items():
        kind = definition.get("type")
        used = list(definition.get("landmarks", []))
        unknown = [name for name in used if name not in index]
        if unknown:
            raise ValueError(
                f"measurement {measurement} uses unknown landmark(s) {unknown}; known: {names}"
            )
        if kind == "distance" and len(used) == 2:
            values[measurement] = length(*used)
        elif kind == "ellipse_circumference" and len(used) == 4:
            values[measurement] = ellipse_circumference_mm(length(*used[:2]), length(*used[2:]))
        else:
            raise ValueError(
                f"measurement {measurement} must be a distance of 2 landmarks or an "
                f"ellipse_circumference of 4, received type {kind!r} with {len(used)} landmark(s)"
            )
    return values


def success_detection_rate(
    errors_mm: Any, *, thresholds_mm: Sequence[float] = SDR_THRESHOLDS_MM
) -> dict[str, float]:
    """Fraction of annotated points with error <= each threshold; keys like ``"2.5"``."""
    errors = np.asarray(to_numpy(errors_mm), dtype=np.float64).ravel()
    errors = errors[~np.isnan(errors)]
    if errors.size == 0:
        return {f"{float(t):g}": math.nan for t in thresholds_mm}
    return {f"{float(t):g}": float(np.mean(errors <= t)) for t in thresholds_mm}


def compute_landmark_report(
    pred_points: Any,
    true_points: Any,
    *,
    landmark_names: Sequence[str],
    spacing_mm: Any = 1.0,
    measurements: Mapping[str, Mapping[str, Any]] | None = None,
    missing_predictions: str = "error",
) -> dict[str, Any]:
    """The ``landmarks`` section of results.json.

    Returns
    -------
    dict
        ``point_error_mm`` and ``point_error_px``: {landmark: stats, ``"mean"``:
        stats over all annotated points}; ``measurement_abs_error_mm``:
        {measurement: stats of ``|pred - true|``}; ``success_detection_rate``:
        {"2", "2.5", "3", "4": fraction}. Stats are :func:`summarise_values`.
    """
    names = list(landmark_names)
    errors_px, errors_mm = point_errors(
        pred_points, true_points, spacing_mm=spacing_mm, missing_predictions=missing_predictions
    )
    if errors_px.shape[1] != len(names):
        raise ValueError(
            f"points must have one column per landmark name ({len(names)}), "
            f"received {errors_px.shape[1]}"
        )
    report: dict[str, Any] = {}
    for key, errors in (("point_error_mm", errors_mm), ("point_error_px", errors_px)):
        section = {name: summarise_values(errors[:, k]) for k, name in enumerate(names)}
        section["mean"] = summarise_values(errors)
        report[key] = section
    report["measurement_abs_error_mm"] = {}
    if measurements:
        kwargs = {"landmark_names": names, "measurements": measurements, "spacing_mm": spacing_mm}
        predicted = measurement_values_mm(pred_points, **kwargs)
        true = measurement_values_mm(true_points, **kwargs)
        report["measurement_abs_error_mm"] = {
            name: summarise_values(np.abs(predicted[name] - true[name])) for name in measurements
        }
    report["success_detection_rate"] = success_detection_rate(errors_mm)
    return report


def compute_inter_observer_report(
    first_points: Any,
    second_points: Any,
    *,
    landmark_names: Sequence[str],
    spacing_mm: Any = 1.0,
    measurements: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The paper's "Human" row: the second annotator scored against the first.

    Points either annotator left out (NaN) are skipped.
    """
    return compute_landmark_report(
        second_points,
        first_points,
        landmark_names=landmark_names,
        spacing_mm=spacing_mm,
        measurements=measurements,
        missing_predictions="skip",
    )
