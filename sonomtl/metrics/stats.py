"""Statistics for comparing models: bootstrap CIs, McNemar, paired t-test and Wilcoxon.

Thin, validated wrappers over :mod:`scipy.stats`, returning plain dataclasses
so the numbers can go into results.json and the "p < 0.05" sentences.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from sonomtl.metrics._arrays import to_numpy

__all__ = [
    "ConfidenceInterval",
    "McNemarResult",
    "PairedTestResult",
    "bootstrap_ci",
    "mcnemar_test",
    "paired_t_test",
    "wilcoxon_test",
]


@dataclass(frozen=True)
class ConfidenceInterval:
    """A point estimate with its bootstrap interval."""

    estimate: float
    low: float
    high: float
    confidence_level: float
    n_resamples: int

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


@dataclass(frozen=True)
class McNemarResult:
    """McNemar's test on the discordant pairs ``b`` (only A right) and ``c`` (only B right)."""

    b: int
    c: int
    statistic: float
    pvalue: float
    exact: bool

    def as_dict(self) -> dict[str, float | int | bool]:
        return asdict(self)


@dataclass(frozen=True)
class PairedTestResult:
    """A paired test across folds: statistic, two-sided p-value, mean of ``a - b``, folds."""

    statistic: float
    pvalue: float
    mean_difference: float
    n: int

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def _vector(values: Any, *, name: str) -> np.ndarray:
    array = np.asarray(to_numpy(values), dtype=np.float64)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, received shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must be finite, received NaN/inf")
    return array


def bootstrap_ci(
    statistic: Callable[..., float],
    *samples: Any,
    n_resamples: int = 1000,
    confidence_level: float = 0.95,
    seed: int = 0,
    method: str = "percentile",
) -> ConfidenceInterval:
    """Seeded paired bootstrap confidence interval of ``statistic(*samples)``.

    The samples (e.g. ``y_true``, ``y_pred``) are resampled together, by
    row, with :func:`scipy.stats.bootstrap` (``paired=True``). The same seed
    gives the same interval.

    Examples
    --------
    >>> import numpy as np
    >>> ci = bootstrap_ci(lambda t, p: np.mean(t == p), [0, 1, 1, 0] * 10, [0, 1, 0, 0] * 10)
    >>> ci.estimate, ci.low < 0.75 < ci.high
    (0.75, True)
    """
    from scipy.stats import bootstrap

    if not samples:
        raise ValueError("bootstrap_ci needs at least one sample array, received none")
    arrays = [to_numpy(sample) for sample in samples]
    lengths = {len(array) for array in arrays}
    if len(lengths) != 1:
        raise ValueError(f"samples must have the same length, received lengths {sorted(lengths)}")
    if lengths == {0} or lengths == {1}:
        raise ValueError(f"bootstrap_ci needs at least 2 samples, received {lengths.pop()}")
    if not 0 < confidence_level < 1:
        raise ValueError(f"confidence_level must be in (0, 1), received {confidence_level}")
    if int(n_resamples) < 1:
        raise ValueError(f"n_resamples must be >= 1, received {n_resamples}")
    estimate = float(statistic(*arrays))
    result = bootstrap(
        tuple(arrays),
        lambda *resampled: statistic(*resampled),
        paired=True,
        vectorized=False,
        n_resamples=int(n_resamples),
        confidence_level=confidence_level,
        method=method,
        rng=np.random.default_rng(seed),
    )
    interval = result.confidence_interval
    return ConfidenceInterval(
        estimate, float(interval.low), float(interval.high), confidence_level, int(n_resamples)
    )


def mcnemar_test(correct_a: Any, correct_b: Any, *, exact: bool = True) -> McNemarResult:
    """McNemar's test of two models on the same test samples.

    ``correct_a``/``correct_b`` say per sample whether each model was right.
    ``exact=True``: two-sided binomial test of ``b`` successes in ``b + c``
    trials with p = 1/2 (statistic ``min(b, c)``); ``exact=False``: chi-square
    with Edwards' continuity correction ``(|b - c| - 1)^2 / (b + c)``, 1 dof.
    With no discordant pair the models are indistinguishable: statistic 0, p = 1.

    Examples
    --------
    >>> mcnemar_test([1] * 9 + [0], [0] * 9 + [1]).pvalue  # b = 9, c = 1
    0.021484375
    """
    from scipy.stats import binomtest, chi2

    a = _vector(correct_a, name="correct_a")
    b_arr = _vector(correct_b, name="correct_b")
    if a.shape != b_arr.shape:
        raise ValueError(
            f"correct_a and correct_b must have the same length, received {a.size} and {b_arr.size}"
        )
    for name, array in (("correct_a", a), ("correct_b", b_arr)):
        if not np.isin(array, (0.0, 1.0)).all():
            raise ValueError(f"{name} must hold booleans (or 0/1), received other values")
    b = int(np.count_nonzero((a == 1) & (b_arr == 0)))
    c = int(np.count_nonzero((a == 0) & (b_arr == 1)))
    if b + c == 0:
        return McNemarResult(b, c, 0.0, 1.0, exact)
    if exact:
        pvalue = binomtest(b, b + c, 0.5, alternative="two-sided").pvalue
        return McNemarResult(b, c, float(min(b, c)), float(min(1.0, pvalue)), True)
    statistic = (abs(b - c) - 1.0) ** 2 / (b + c)
    return McNemarResult(b, c, float(statistic), float(chi2.sf(statistic, 1)), False)


def _paired(scores_a: Any, scores_b: Any) -> tuple[np.ndarray, np.ndarray]:
    a = _vector(scores_a, name="scores_a")
    b = _vector(scores_b, name="scores_b")
    if a.shape != b.shape:
        raise ValueError(
            "scores_a and scores_b must have one score per fold each, "
            f"received {a.size} and {b.size}"
        )
    if a.size < 2:
        raise ValueError(f"a paired test needs at least 2 folds, received {a.size}")
    return a, b


def _identical(test: str, a: np.ndarray, b: np.ndarray) -> PairedTestResult | None:
    if np.array_equal(a, b):
        warnings.warn(
            f"{test}: the two models scored identically on every fold; the test is undefined (NaN)",
            RuntimeWarning,
            stacklevel=3,
        )
        return PairedTestResult(math.nan, math.nan, 0.0, int(a.size))
    return None


def paired_t_test(scores_a: Any, scores_b: Any) -> PairedTestResult:
    """Two-sided paired t-test across cross-validation folds (:func:`scipy.stats.ttest_rel`)."""
    from scipy.stats import ttest_rel

    a, b = _paired(scores_a, scores_b)
    same = _identical("paired t-test", a, b)
    if same is not None:
        return same
    result = ttest_rel(a, b)
    return PairedTestResult(
        float(result.statistic), float(result.pvalue), float(np.mean(a - b)), int(a.size)
    )


def wilcoxon_test(scores_a: Any, scores_b: Any) -> PairedTestResult:
    """Two-sided Wilcoxon signed-rank test across folds (:func:`scipy.stats.wilcoxon`).

    scipy's defaults: zero differences dropped (``zero_method='wilcox'``),
    exact distribution for small samples without ties; the statistic is the
    smaller of the two rank sums.
    """
    from scipy.stats import wilcoxon

    a, b = _paired(scores_a, scores_b)
    same = _identical("Wilcoxon test", a, b)
    if same is not None:
        return same
    result = wilcoxon(a, b)
    return PairedTestResult(
        float(result.statistic), float(result.pvalue), float(np.mean(a - b)), int(a.size)
    )
