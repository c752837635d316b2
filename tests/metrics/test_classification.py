"""Classification metrics equal scikit-learn's; agreement and accumulator behaviour."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from sonomtl.metrics import classification as cls

sklearn_metrics = pytest.importorskip("sklearn.metrics")

LABELS = ["a", "b", "c", "d"]


@pytest.fixture(scope="module")
def predictions():
    rng = np.random.default_rng(7)
    y_true = rng.integers(0, 4, 200)
    y_pred = np.where(rng.random(200) < 0.7, y_true, rng.integers(0, 4, 200))
    return y_true, y_pred


def test_accuracy_and_confusion_matrix_equal_sklearn(predictions):
    y_true, y_pred = predictions
    assert cls.compute_accuracy(y_true, y_pred) == sklearn_metrics.accuracy_score(y_true, y_pred)
    ours = cls.compute_confusion_matrix(y_true, y_pred, num_classes=4)
    np.testing.assert_array_equal(
        ours, sklearn_metrics.confusion_matrix(y_true, y_pred, labels=range(4))
    )
    np.testing.assert_allclose(
        cls.normalise_confusion_rows(ours),
        sklearn_metrics.confusion_matrix(y_true, y_pred, labels=range(4), normalize="true"),
    )


@pytest.mark.parametrize("zero_division", [0.0, np.nan])
def test_per_class_and_averages_equal_sklearn(zero_division):
    # class "d" (3) is never predicted and class "c" (2) never occurs: both undefined somewhere
    y_true = np.array([0, 0, 1, 1, 1, 3, 3, 0, 1, 0])
    y_pred = np.array([0, 1, 1, 1, 0, 0, 2, 0, 1, 1])
    with pytest.warns(RuntimeWarning, match="undefined .* c, d"):
        report = cls.compute_classification_report(
            y_true, y_pred, labels=LABELS, zero_division=zero_division
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p, r, f, s = sklearn_metrics.precision_recall_fscore_support(
            y_true, y_pred, labels=range(4), zero_division=zero_division
        )
        macro = sklearn_metrics.precision_recall_fscore_support(
            y_true, y_pred, labels=range(4), average="macro", zero_division=zero_division
        )
        micro = sklearn_metrics.precision_recall_fscore_support(
            y_true, y_pred, labels=range(4), average="micro", zero_division=zero_division
        )
    for k, label in enumerate(LABELS):
        row = report["per_class"][label]
        np.testing.assert_allclose([row["precision"], row["recall"], row["f1"]], [p[k], r[k], f[k]])
        assert row["support"] == s[k]
    np.testing.assert_allclose(
        [report["macro"][m] for m in ("precision", "recall", "f1")], macro[:3]
    )
    np.testing.assert_allclose(
        [report["micro"][m] for m in ("precision", "recall", "f1")], micro[:3]
    )
    assert report["accuracy"] == pytest.approx(0.5)
    # the absent class "c" has a NaN row in the normalised confusion matrix (sklearn writes 0)
    assert np.isnan(report["confusion_matrix_normalised"][2]).all()


def test_roc_auc_equals_sklearn_with_ties():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 300)
    scores = np.round(rng.random(300) + 0.3 * y, 1)  # many ties
    assert cls.compute_roc_auc(y, scores) == pytest.approx(
        sklearn_metrics.roc_auc_score(y, scores), abs=1e-12
    )


def test_roc_auc_of_a_single_class_is_an_error():
    with pytest.raises(ValueError, match="needs both classes in y_true, received only class 1"):
        cls.compute_roc_auc([1, 1, 1], [0.2, 0.5, 0.9])


def test_agreement_equals_sklearn_kappa(predictions):
    first, second = predictions
    result = cls.compute_agreement(first, second, num_classes=4)
    assert result["kappa"] == pytest.approx(
        sklearn_metrics.cohen_kappa_score(first, second), abs=1e-12
    )
    assert result["accuracy"] == pytest.approx(np.mean(first == second))


def test_kappa_by_hand():
    # 2x2 table [[20, 5], [10, 15]]: p_o = 0.7, p_e = (25*30 + 25*20) / 2500 = 0.5, kappa = 0.4
    first = [0] * 25 + [1] * 25
    second = [0] * 20 + [1] * 5 + [0] * 10 + [1] * 15
    assert cls.compute_agreement(first, second, num_classes=2)["kappa"] == pytest.approx(0.4)


def test_kappa_of_one_identical_class_is_nan_with_a_warning():
    with pytest.warns(RuntimeWarning, match="single, identical class"):
        assert np.isnan(cls.compute_agreement([1, 1], [1, 1], num_classes=2)["kappa"])


def test_accumulator_equals_one_call(predictions):
    y_true, y_pred = predictions
    acc = cls.ClassificationAccumulator(labels=LABELS)
    for start in range(0, 200, 64):
        scores = np.eye(4)[y_pred[start : start + 64]]  # (N, K) scores: argmax is taken
        acc.update(y_true[start : start + 64], scores)
    assert acc.compute() == cls.compute_classification_report(y_true, y_pred, labels=LABELS)


def test_bad_labels_are_rejected_with_what_was_received():
    with pytest.raises(ValueError, match=r"class ids in \[0, 4\), received values from 0 to 7"):
        cls.compute_confusion_matrix([0, 7], [0, 1], num_classes=4)
    with pytest.raises(ValueError, match="same length, received 2 and 3"):
        cls.compute_confusion_matrix([0, 1], [0, 1, 1], num_classes=4)
    with pytest.raises(ValueError, match="non-integer"):
        cls.compute_accuracy([0.5, 1.0], [0, 1])
    with pytest.raises(ValueError, match="must not be empty"):
        cls.compute_accuracy([], [])
    with pytest.raises(ValueError, match="1-D array of class ids"):
        cls.compute_accuracy([[0, 1]], [[0, 1]])
    with pytest.raises(ValueError, match="non-integer"):
        cls.compute_accuracy([np.nan, 1.0], [0, 1])


def test_torch_labels_are_accepted():
    torch = pytest.importorskip("torch")
    assert cls.compute_accuracy(torch.tensor([0, 1, 2]), torch.tensor([0, 1, 1])) == pytest.approx(
        2 / 3
    )


def test_a_single_class_present_gives_nan_for_the_absent_class_with_a_warning():
    with pytest.warns(RuntimeWarning, match="no predicted or no true samples: b"):
        report = cls.compute_classification_report([0, 0, 0], [0, 0, 0], labels=["a", "b"])
    assert report["accuracy"] == 1.0
    assert report["per_class"]["a"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 3}
    absent = report["per_class"]["b"]
    assert np.isnan(absent["precision"]) and np.isnan(absent["recall"]) and np.isnan(absent["f1"])
    assert report["macro"]["f1"] == 1.0  # NaN classes are left out of the macro mean
