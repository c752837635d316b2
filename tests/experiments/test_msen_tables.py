"""Table figures of the M-SEN experiment against hand-computed values and scipy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from sonomtl.experiments.msen_tables import (
    fixation_points_from_map,
    fold_classification,
    markdown_tables,
    summarise_folds,
    table1,
)


def test_fixations_are_the_peaks_of_the_blurred_map():
    yy, xx = np.mgrid[0:40, 0:50]
    blob = lambda x, y: np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 3.0**2))  # noqa: E731
    attention = blob(10, 12) + 0.8 * blob(35, 25) + 0.2 * blob(45, 5)
    points = fixation_points_from_map(attention)
    assert sorted(zip(*np.nonzero(points))) == [(12, 10), (25, 35)]  # 0.2 peak is below half
    assert fixation_points_from_map(np.zeros((4, 4))).sum() == 0


def test_plane_precision_recall_f1_by_hand():
    # ACP = 0: 3 true ACP, predicted ACP at 2 of them and at 1 BG frame
    y_true = np.array([0, 0, 0, 1, 1, 1, 1])
    y_pred = np.array([0, 0, 1, 0, 1, 1, 1])
    figures = fold_classification(y_true, y_pred, labels=["ACP", "BG"])
    assert figures["precision"] == pytest.approx(100 * 2 / 3)
    assert figures["recall"] == pytest.approx(100 * 2 / 3)
    assert figures["f1"] == pytest.approx(100 * 2 / 3)
    assert figures["accuracy"] == pytest.approx(100 * 5 / 7)


def test_table1_means_stds_and_p_values_against_the_best_f1():
    folds_a = [{"precision": 90, "recall": 80, "f1": 85, "accuracy": 0},
               {"precision": 94, "recall": 84, "f1": 89, "accuracy": 0},
               {"precision": 92, "recall": 90, "f1": 91, "accuracy": 0}]
    folds_b = [{"precision": 70, "recall": 75, "f1": 72, "accuracy": 0},
               {"precision": 80, "recall": 70, "f1": 74, "accuracy": 0},
               {"precision": 75, "recall": 85, "f1": 80, "accuracy": 0}]
    keys = ("precision", "recall", "f1", "accuracy")
    summaries = {"a": {"classification": summarise_folds(folds_a, keys)},
                 "b": {"classification": summarise_folds(folds_b, keys)}}
    table = table1(summaries, [("b", "B", "I"), ("a", "A", "I"), ("c", "C", "I")])
    assert table["best"] == "a"
    assert [row[0] for row in table["rows"]] == ["B", "A"]  # absent rows are left out
    b_row = table["rows"][0]
    assert b_row[6] == pytest.approx(np.mean([72, 74, 80]))
    assert b_row[7] == pytest.approx(np.std([72, 74, 80], ddof=1))
    assert b_row[10] == pytest.approx(stats.ttest_rel([72, 74, 80], [85, 89, 91]).pvalue)
    assert table["rows"][1][8:] == [None, None, None]
    text = markdown_tables({"t1": table})
    assert "| B | I | 75.0 |" in text and "| A | I |" in text
