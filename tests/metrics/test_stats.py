"""Statistical tests: McNemar by hand, paired tests against scipy and by hand, seeded bootstrap."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from sonomtl.metrics import stats


def _discordant(b, c, same=5):
    """Correctness vectors with b samples only A got right and c only B got right."""
    a = [1] * b + [0] * c + [1] * same
    bb = [0] * b + [1] * c + [1] * same
    return a, bb


def test_mcnemar_exact_by_hand():
    # b = 1, c = 9: p = 2 * P(X <= 1 | n = 10, 1/2) = 2 * 11 / 1024
    result = stats.mcnemar_test(*_discordant(1, 9))
    assert (result.b, result.c, result.statistic) == (1, 9, 1.0)
    assert result.pvalue == pytest.approx(22 / 1024, abs=1e-15)


def test_mcnemar_chi_square_with_continuity_correction_by_hand():
    # Wikipedia's example table: b = 121, c = 59 -> (|121 - 59| - 1)^2 / 180 = 3721 / 180
    result = stats.mcnemar_test(*_discordant(121, 59), exact=False)
    assert result.statistic == pytest.approx(3721 / 180)
    # chi-square with 1 dof: sf(x) = erfc(sqrt(x / 2))
    assert result.pvalue == pytest.approx(math.erfc(math.sqrt(3721 / 360)), rel=1e-12)


def test_mcnemar_without_discordant_pairs_is_p_one():
    result = stats.mcnemar_test([1, 0, 1], [1, 0, 1])
    assert (result.statistic, result.pvalue) == (0.0, 1.0)


def test_mcnemar_rejects_non_boolean_input():
    with pytest.raises(ValueError, match="correct_a must hold booleans"):
        stats.mcnemar_test([0, 2], [0, 1])
    with pytest.raises(ValueError, match="same length, received 2 and 3"):
        stats.mcnemar_test([0, 1], [0, 1, 1])


def test_paired_t_test_by_hand_and_against_scipy():
    a = np.array([0.91, 0.92, 0.93, 0.94])
    b = a - np.array([0.01, 0.02, 0.03, 0.04])
    result = stats.paired_t_test(a, b)
    d = a - b
    t = d.mean() / (d.std(ddof=1) / 2)
    assert result.statistic == pytest.approx(t, rel=1e-9)
    assert result.pvalue == pytest.approx(2 * scipy_stats.t.sf(t, 3), rel=1e-9)
    assert result.pvalue == pytest.approx(scipy_stats.ttest_rel(a, b).pvalue)
    assert (result.mean_difference, result.n) == (pytest.approx(0.025), 4)


def test_wilcoxon_by_hand():
    # all 5 differences positive: exact two-sided p = 2 / 2^5, statistic min(W+, W-) = 0
    a = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    result = stats.wilcoxon_test(a + np.array([1, 2, 3, 4, 5]) * 0.1, a)
    assert result.statistic == 0.0
    assert result.pvalue == pytest.approx(2 / 32)


def test_identical_folds_give_nan_with_a_warning():
    with pytest.warns(RuntimeWarning, match="scored identically"):
        result = stats.wilcoxon_test([0.8, 0.9], [0.8, 0.9])
    assert math.isnan(result.pvalue)


def test_paired_tests_need_two_folds_of_equal_length():
    with pytest.raises(ValueError, match="at least 2 folds, received 1"):
        stats.paired_t_test([0.5], [0.4])
    with pytest.raises(ValueError, match="one score per fold each, received 3 and 2"):
        stats.wilcoxon_test([0.5, 0.6, 0.7], [0.4, 0.5])
    with pytest.raises(ValueError, match="scores_a must be finite"):
        stats.paired_t_test([0.5, np.nan], [0.4, 0.5])


def test_bootstrap_is_seeded_and_covers_the_estimate():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 2, 400)
    y_pred = np.where(rng.random(400) < 0.8, y_true, 1 - y_true)

    def accuracy(t, p):
        return np.mean(t == p)

    first = stats.bootstrap_ci(accuracy, y_true, y_pred, seed=3)
    again = stats.bootstrap_ci(accuracy, y_true, y_pred, seed=3)
    other = stats.bootstrap_ci(accuracy, y_true, y_pred, seed=4)
    assert first == again and first != other
    assert first.estimate == pytest.approx(accuracy(y_true, y_pred))
    # binomial standard error: the 95% interval is about estimate +- 1.96 sqrt(p(1-p)/n)
    half_width = 1.96 * math.sqrt(first.estimate * (1 - first.estimate) / 400)
    assert first.low == pytest.approx(first.estimate - half_width, abs=0.01)
    assert first.high == pytest.approx(first.estimate + half_width, abs=0.01)


def test_bootstrap_rejects_unequal_samples():
    with pytest.raises(ValueError, match=r"same length, received lengths \[2, 3\]"):
        stats.bootstrap_ci(lambda a, b: 0.0, [1, 2], [1, 2, 3])
