"""Table figures of the M-SEN experiment against hand-computed values and scipy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from sonomtl.experiments.msen_tables import (
    errors_by_subject,
    fold_classification,
    fold_saliency,
    markdown_tables,
    subject_errors_table,
    summarise_folds,
    table1,
)


def test_fold_saliency_scores_against_the_recorded_fixations_by_hand():
    # Each predicted map: 3 at the centre, 0 elsewhere (mean 1/3, population std sqrt(8)/3).
    pred = np.zeros((4, 3, 3))
    pred[:, 1, 1] = 3.0
    truth = pred.copy()
    truth[2] = 0.0  # frame 2: no ground truth, no fixation: left out everywhere
    fixations = np.zeros((4, 3, 3))
    fixations[0, 1, 1] = 1.0  # on the peak: NSS (3 - 1/3) / (sqrt(8)/3) = 2 sqrt(2)
    fixations[1, 0, 0] = 1.0  # off the peak: NSS (0 - 1/3) / (sqrt(8)/3) = -1 / (2 sqrt(2))
    # frame 3: a ground-truth map but its fixation was cropped away: CC/SIM only
    figures = fold_saliency(pred, truth, fixation_maps=fixations,
                            baseline_map=np.full((3, 3), 1 / 9))
    assert figures["NSS"] == pytest.approx((2 * np.sqrt(2) - 1 / (2 * np.sqrt(2))) / 2)
    # AUC-Judd: frame 0 thresholds at 3 (TPR 1 at FPR 0) -> 1; frame 1 at 0 -> 0.5
    assert figures["AUC"] == pytest.approx(0.75)
    # shuffled AUC: each frame's negatives are the other frame's fixation: 1 and 0
    assert figures["sAUC"] == pytest.approx(0.5)
    assert figures["CC"] == pytest.approx(1.0) and figures["SIM"] == pytest.approx(1.0)
    assert (figures["n"], figures["n_fixated"]) == (3, 2)
    # IG against a uniform baseline (1/9 everywhere): p = (s + 1e-20) / sum(s + 1e-20), so
    # frame 0's fixation has p = 1 (log2 9 bits gained), frame 1's p = 1e-20 / 3
    ig_0 = np.log2(3 / 3) - np.log2(1 / 9)
    ig_1 = np.log2(1e-20 / (3 + 9e-20)) - np.log2(1 / 9)
    assert figures["IG"] == pytest.approx((ig_0 + ig_1) / 2, rel=1e-6)


def test_fold_saliency_without_fixation_data_reports_only_cc_and_sim():
    pred = np.random.default_rng(0).random((2, 4, 4))
    figures = fold_saliency(pred, pred, fixation_maps=None, baseline_map=np.ones((4, 4)))
    assert figures["CC"] == pytest.approx(1.0) and figures["n_fixated"] == 0
    assert all(np.isnan(figures[k]) for k in ("NSS", "IG", "AUC", "sAUC"))


def test_plane_precision_recall_f1_by_hand():
    # ACP = 0: 3 true ACP, predicted ACP at 2 of them and at 1 BG frame
    y_true = np.array([0, 0, 0, 1, 1, 1, 1])
    y_pred = np.array([0, 0, 1, 0, 1, 1, 1])
    figures = fold_classification(y_true, y_pred, labels=["ACP", "BG"])
    assert figures["precision"] == pytest.approx(100 * 2 / 3)
    assert figures["recall"] == pytest.approx(100 * 2 / 3)
    assert figures["f1"] == pytest.approx(100 * 2 / 3)
    assert figures["accuracy"] == pytest.approx(100 * 5 / 7)


def test_errors_by_subject_by_hand_and_the_table_lists_only_videos_with_errors():
    # video v1: 2 plane frames, one missed; v2: one BG frame called plane; v3: all right
    subjects = ["v1", "v1", "v1", "v2", "v2", "v3", "v3"]
    y_true = np.array([0, 0, 1, 1, 0, 0, 1])
    y_pred = np.array([0, 1, 1, 0, 0, 0, 1])
    errors = errors_by_subject(subjects, y_true, y_pred)
    assert errors == {
        "v1": {"frames": 3, "positives": 2, "false_negatives": 1, "false_positives": 0},
        "v2": {"frames": 2, "positives": 1, "false_negatives": 0, "false_positives": 1},
        "v3": {"frames": 2, "positives": 1, "false_negatives": 0, "false_positives": 0},
    }
    # the counts agree with the fold's figures: 3 of 4 plane frames found, 1 of 4 calls false
    figures = fold_classification(y_true, y_pred, labels=["ACP", "BG"])
    assert figures["recall"] == pytest.approx(75.0)
    assert figures["precision"] == pytest.approx(75.0)
    perfect = errors_by_subject(subjects, y_true, y_true)
    table = subject_errors_table({"m": errors, "s": perfect}, {"m": "M-SEN", "s": "SonoNet"})
    assert table["columns"] == ["Subject", "Frames", "Plane frames", "M-SEN", "SonoNet"]
    assert table["rows"] == [["v1", 3, 2, "1 / 0", "0 / 0"], ["v2", 2, 1, "0 / 1", "0 / 0"]]
    assert "| v1 | 3 | 2 | 1 / 0 | 0 / 0 |" in markdown_tables({"e": table})
    with pytest.raises(ValueError, match="lengths differ"):
        errors_by_subject(subjects[:-1], y_true, y_pred)


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


def test_a_row_whose_mean_is_nan_is_never_the_best():
    keys = ("precision", "recall", "f1", "accuracy")
    nan = [{"precision": 0, "recall": 0, "f1": float("nan"), "accuracy": 0}] * 2
    real = [{"precision": 50, "recall": 50, "f1": 50, "accuracy": 0},
            {"precision": 60, "recall": 60, "f1": 60, "accuracy": 0}]
    summaries = {"n": {"classification": summarise_folds(nan, keys)},
                 "r": {"classification": summarise_folds(real, keys)}}
    table = table1(summaries, [("n", "N", "I"), ("r", "R", "I")])
    assert table["best"] == "r" and table["rows"][0][10] is None  # p of F1 undefined
