"""Conversion and validation of metric inputs (numpy arrays or torch tensors).

Every metric validates its inputs the same way: torch tensors are detached
and moved to the CPU, values are checked for NaN/inf (and for negative values
where the metric reads the array as a distribution or as counts), and shape
mismatches raise a :class:`ValueError` naming the argument, what was
expected and what was received.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

__all__ = ["to_numpy", "as_maps", "as_fixation_counts", "check_same_shape", "warn_undefined"]


def to_numpy(value: Any) -> np.ndarray:
    """A numpy view of ``value``; torch tensors are detached and copied to the CPU."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def as_maps(
    value: Any,
    *,
    name: str,
    non_negative: bool = False,
    keep_dtype: bool = False,
    return_range: bool = False,
) -> Any:
    """Return ``value`` as a float64 ``(N, H, W)`` array; a single ``(H, W)`` map becomes ``N = 1``.

    With ``keep_dtype`` a floating array keeps its dtype (callers convert it
    chunk by chunk, to bound memory) and booleans/integers are not converted.
    With ``return_range`` returns ``(array, minima, maxima)`` per image too
    (the validation computes them anyway: two passes, no temporary array).

    Raises
    ------
    ValueError
        When the array is not 2-D/3-D, is empty, holds NaN/inf, or (with
        ``non_negative``) negative values.
    """
    array = to_numpy(value)
    if not (array.dtype == bool or np.issubdtype(array.dtype, np.number)):
        raise TypeError(f"{name} must be a numeric array, received dtype {array.dtype}")
    if np.issubdtype(array.dtype, np.complexfloating):
        raise TypeError(f"{name} must be real, received dtype {array.dtype}")
    if not keep_dtype:
        array = np.asarray(array, dtype=np.float64)
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3:
        raise ValueError(
            f"{name} must have shape (N, H, W) or (H, W), received shape {array.shape}"
        )
    if array.size == 0:
        raise ValueError(f"{name} must not be empty, received shape {array.shape}")
    flat = array.reshape(array.shape[0], -1)
    minima, maxima = flat.min(axis=1), flat.max(axis=1)  # NaN propagates into both
    if np.issubdtype(array.dtype, np.floating) and not (
        np.isfinite(minima).all() and np.isfinite(maxima).all()
    ):
        bad = int(np.count_nonzero(~np.isfinite(array)))
        raise ValueError(f"{name} must hold finite values, received {bad} NaN/inf value(s)")
    if non_negative and array.dtype != bool and minima.min() < 0:
        raise ValueError(
            f"{name} must be non-negative (it is read as a distribution), "
            f"received minimum {minima.min():.6g}"
        )
    return (array, minima, maxima) if return_range else array


def as_fixation_counts(
    value: Any, *, name: str = "fixation_maps", keep_dtype: bool = False, return_range: bool = False
) -> Any:
    """Return fixation maps as float64 ``(N, H, W)`` counts (booleans count 1).

    With ``keep_dtype`` booleans and integers stay as they are.

    Raises
    ------
    ValueError
        When values are negative or not whole numbers (a continuous attention
        map passed where fixations are expected).
    """
    array, minima, maxima = as_maps(
        value, name=name, non_negative=True, keep_dtype=keep_dtype, return_range=True
    )
    if np.issubdtype(array.dtype, np.floating) and not np.array_equal(array, np.floor(array)):
        raise ValueError(
            f"{name} must hold fixation counts (whole numbers, or booleans), received "
            "fractional values; pass continuous maps as attention_maps instead"
        )
    return (array, minima, maxima) if return_range else array


def check_same_shape(first: np.ndarray, second: np.ndarray, *, names: tuple[str, str]) -> None:
    """Raise ``ValueError`` unless the two arrays have the same shape."""
    if first.shape != second.shape:
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same shape, "
            f"received {first.shape} and {second.shape}"
        )


def warn_undefined(metric: str, count: int, total: int, reason: str) -> None:
    """Warn once that ``metric`` is NaN for ``count`` of ``total`` items and why."""
    if count:
        warnings.warn(
            f"{metric} is undefined (NaN) for {count} of {total} image(s): {reason}",
            RuntimeWarning,
            stacklevel=4,  # warn_undefined <- _warn_* helper <- compute_* <- the caller
        )
