"""Input handling shared by the saliency metrics: validation, baselines, warnings.

Private to :mod:`sonomtl.metrics.saliency`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from sonomtl.metrics._arrays import (
    as_fixation_counts,
    as_maps,
    check_same_shape,
    warn_undefined,
)

__all__ = [
    "workers",
    "flatten_maps",
    "pair",
    "warn_fixations",
    "warn_reference",
    "baseline_maps",
    "warn_judd_and_shuffled",
    "fixation_total_map",
]


def workers() -> int:
    import os

    return max(1, min(4, os.cpu_count() or 1))


def flatten_maps(maps: np.ndarray) -> np.ndarray:
    return maps.reshape(maps.shape[0], -1)


def pair(
    saliency_maps: Any, other: Any, *, other_name: str, fixations: bool, non_negative: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    maps = as_maps(saliency_maps, name="saliency_maps", non_negative=non_negative)
    if fixations:
        second = as_fixation_counts(other, name=other_name)
    else:
        second = as_maps(other, name=other_name, non_negative=True)
    check_same_shape(maps, second, names=("saliency_maps", other_name))
    return maps, second


def warn_fixations(metric: str, fixation_counts: np.ndarray) -> None:
    empty = int(np.count_nonzero(~flatten_maps(fixation_counts).any(axis=1)))
    warn_undefined(metric, empty, fixation_counts.shape[0], "the fixation map is empty")


def warn_reference(
    metric: str, reference: np.ndarray, *, constant: bool, what: str = "attention map"
) -> None:
    flat = flatten_maps(reference)
    if constant:
        bad = int(np.count_nonzero(flat.max(axis=1) == flat.min(axis=1)))
        reason = f"the {what} is constant (zero variance)"
    else:
        bad = int(np.count_nonzero(~flat.any(axis=1)))
        reason = f"the {what} is all zero"
    warn_undefined(metric, bad, reference.shape[0], reason)


def baseline_maps(
    baseline_map: Any, shape: tuple[int, int, int], default: Callable[[tuple[int, int]], np.ndarray]
) -> np.ndarray:
    """The IG baseline as ``(1 or N, H, W)``; ``default(shape_hw)`` when none is given."""
    if baseline_map is None:
        return default(shape[1:])[None]
    baseline = as_maps(baseline_map, name="baseline_map", non_negative=True)
    if baseline.shape[1:] != shape[1:] or baseline.shape[0] not in (1, shape[0]):
        raise ValueError(
            f"baseline_map must have shape {shape[1:]} or {shape}, received {baseline.shape}"
        )
    return baseline


def warn_judd_and_shuffled(fixations: np.ndarray, total: np.ndarray | None) -> None:
    flat = flatten_maps(fixations)
    full = int(np.count_nonzero(flat.all(axis=1)))
    warn_undefined("AUC_Judd", full, flat.shape[0], "every pixel is fixated (no negatives)")
    if total is not None:
        own = flat.sum(axis=1, dtype=np.float64)
        lonely = int(np.count_nonzero((own > 0) & (own == total.sum())))
        warn_undefined("sAUC", lonely, flat.shape[0], "no other image has fixations")


def fixation_total_map(fixation_total: Any, fixations: np.ndarray) -> np.ndarray:
    if fixation_total is None:
        return flatten_maps(fixations).sum(axis=0, dtype=np.float64)
    total = as_fixation_counts(fixation_total, name="fixation_total")
    if total.shape != (1, *fixations.shape[1:]):
        raise ValueError(
            f"fixation_total must have shape {fixations.shape[1:]}, received {total.shape[1:]}"
        )
    return total.reshape(-1)
