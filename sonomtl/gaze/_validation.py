"""Validation helpers shared by the gaze algorithms (programming errors, not user input)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["check_positive", "check_non_negative", "check_pair", "check_1d", "check_same_length"]


def check_positive(name: str, value: Any) -> float:
    """Return ``value`` as a float; raise if it is not a finite number > 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def check_non_negative(name: str, value: Any) -> float:
    """Return ``value`` as a float; raise if it is not a finite number >= 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def check_pair(name: str, value: Any) -> tuple[float, float]:
    """Return ``value`` as a pair of positive finite floats (width, height)."""
    try:
        first, second = value
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a pair (width, height), got {value!r}") from None
    return (check_positive(f"{name}[0]", first), check_positive(f"{name}[1]", second))


def check_1d(name: str, value: Any, *, dtype: type = np.float64) -> np.ndarray:
    """Return ``value`` as a 1-D array of ``dtype``; raise if it has another shape."""
    array = np.asarray(value, dtype=dtype)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    return array


def check_same_length(**arrays: np.ndarray) -> int:
    """Return the common length of ``arrays``; raise naming them if they differ."""
    lengths = {name: len(array) for name, array in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"arrays must have the same length, got {lengths}")
    return next(iter(lengths.values()), 0)
