"""Classification metrics: accuracy, per-class P/R/F1, confusion matrices, ROC AUC, agreement.

Labels are integer class ids ``0 .. num_classes - 1`` (numpy arrays, lists or
torch tensors). Conventions match scikit-learn (tested against it):

* precision ``tp / (tp + fp)``, recall ``tp / (tp + fn)``, F1
  ``2 tp / (2 tp + fp + fn)``; a ratio with a zero denominator takes the
  value ``zero_division`` (default NaN, with one warning per call), as
  sklearn's ``zero_division`` argument;
* macro averages are means over classes, leaving out NaN classes (sklearn's
  behaviour with ``zero_division=np.nan``); micro averages pool the counts
  (for single-label data all three equal the accuracy);
* the row-normalised confusion matrix divides each row by its count; a class
  with no true samples gets a row of NaN (sklearn writes 0 there: we do not
  want an absent class to look like a class that is always missed).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from sonomtl.metrics._arrays import to_numpy

__all__ = [
    "as_labels",
    "compute_accuracy",
    "compute_confusion_matrix",
    "normalise_confusion_rows",
    "compute_classification_report",
    "compute_roc_auc",
    "compute_agreement",
    "ClassificationAccumulator",
]


def as_labels(values: Any, *, name: str, num_classes: int | None = None) -> np.ndarray:
    """Validate class ids: a non-empty 1-D array of whole numbers in ``[0, num_classes)``."""
    array = to_numpy(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of class ids, received shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} must not be empty, received 0 labels")
    if array.dtype == bool or not np.issubdtype(array.dtype, np.number):
        raise TypeError(f"{name} must hold integer class ids, received dtype {array.dtype}")
    if np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all() or not np.array_equal(array, np.floor(array)):
            raise ValueError(f"{name} must hold integer class ids, received non-integer values")
    labels = array.astype(np.int64)
    if labels.min() < 0 or (num_classes is not None and labels.max() >= num_classes):
        raise ValueError(
            f"{name} must hold class ids in [0, {num_classes}), "
            f"received values from {labels.min()} to {labels.max()}"
        )
    return labels


def _pair(y_true: Any, y_pred: Any, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    if int(num_classes) < 1:
        raise ValueError(f"num_classes must be >= 1, received {num_classes}")
    truth = as_labels(y_true, name="y_true", num_classes=num_classes)
    pred = as_labels(y_pred, name="y_pred", num_classes=num_classes)
    if truth.shape != pred.shape:
        raise ValueError(
            f"y_true and y_pred must have the same length, received {truth.size} and {pred.size}"
        )
    return truth, pred


def compute_accuracy(y_true: Any, y_pred: Any) -> float:
    """Fraction of predictions equal to the truth.

    Examples
    --------
    >>> compute_accuracy([0, 1, 1, 2], [0, 1, 2, 2])
    0.75
    """
    truth = as_labels(y_true, name="y_true")
    pred = as_labels(y_pred, name="y_pred")
    if truth.shape != pred.shape:
        raise ValueError(
            f"y_true and y_pred must have the same length, received {truth.size} and {pred.size}"
        )
    return float(np.mean(truth == pred))


def compute_confusion_matrix(y_true: Any, y_pred: Any, *, num_classes: int) -> np.ndarray:
    """Counts ``C[i, j]`` of samples of true class ``i`` predicted as ``j``, int64 ``(K, K)``."""
    truth, pred = _pair(y_true, y_pred, num_classes)
    flat = np.bincount(truth * num_classes + pred, minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes).astype(np.int64)


def normalise_confusion_rows(confusion: Any) -> np.ndarray:
    """Each row divided by its sum (the recall of each class on the diagonal); empty rows NaN."""
    counts = np.asarray(confusion, dtype=np.float64)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1]:
        raise ValueError(f"confusion must be a square (K, K) matrix, received shape {counts.shape}")
    rows = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(rows > 0, counts / np.where(rows > 0, rows, 1.0), np.nan)


def _ratio(numerator: np.ndarray, denominator: np.ndarray, zero_division: float) -> np.ndarray:
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    safe = np.where(denominator > 0, denominator, 1.0)
    return np.where(denominator > 0, numerator / safe, zero_division)


def _nanmean(values: np.ndarray) -> float:
    finite = values[~np.isnan(values)]
    return float(finite.mean()) if finite.size else float("nan")


def _scores_from_confusion(
    confusion: np.ndarray, labels: Sequence[str], zero_division: float
) -> dict:
    tp = np.diag(confusion).astype(np.float64)
    support = confusion.sum(axis=1)
    predicted = confusion.sum(axis=0)
    precision = _ratio(tp, predicted, zero_division)
    recall = _ratio(tp, support, zero_division)
    f1 = _ratio(2 * tp, support + predicted, zero_division)
    undefined = [str(labels[k]) for k in range(len(labels)) if predicted[k] == 0 or support[k] == 0]
    if undefined:
        warnings.warn(
            f"precision/recall/F1 undefined (set to {zero_division}) for class(es) with no "
            f"predicted or no true samples: {', '.join(undefined)}",
            RuntimeWarning,
            stacklevel=3,
        )
    total = int(confusion.sum())
    accuracy = float(tp.sum() / total) if total else float("nan")
    return {
        "accuracy": accuracy,
        "labels": [str(label) for label in labels],
        "confusion_matrix": confusion.astype(np.int64).tolist(),
        "confusion_matrix_normalised": normalise_confusion_rows(confusion).tolist(),
        "per_class": {
            str(label): {
                "precision": float(precision[k]),
                "recall": float(recall[k]),
                "f1": float(f1[k]),
                "support": int(support[k]),
            }
            for k, label in enumerate(labels)
        },
        "macro": {
            "precision": _nanmean(precision),
            "recall": _nanmean(recall),
            "f1": _nanmean(f1),
        },
        "micro": {"precision": accuracy, "recall": accuracy, "f1": accuracy},
        "n": total,
    }


def compute_classification_report(
    y_true: Any, y_pred: Any, *, labels: Sequence[str], zero_division: float = float("nan")
) -> dict[str, Any]:
    """Accuracy, confusion matrices and per-class/macro/micro P, R, F1 as a JSON-ready dict.

    Parameters
    ----------
    y_true, y_pred
        Class ids ``(N,)``.
    labels
        Class names; class id ``k`` is ``labels[k]``.
    zero_division
        Value of a ratio whose denominator is 0 (sklearn's argument of the same name).

    Returns
    -------
    dict
        ``accuracy``, ``labels``, ``confusion_matrix`` (counts, rows = truth),
        ``confusion_matrix_normalised``, ``per_class`` {label: precision,
        recall, f1, support}, ``macro`` and ``micro`` {precision, recall, f1}, ``n``.
    """
    labels = list(labels)
    confusion = compute_confusion_matrix(y_true, y_pred, num_classes=len(labels))
    return _scores_from_confusion(confusion, labels, zero_division)


def compute_roc_auc(y_true: Any, scores: Any) -> float:
    """Area under the ROC curve of a binary task (ties count 1/2), as sklearn's ``roc_auc_score``.

    ``y_true`` holds 0/1 (1 = positive); ``scores`` the positive-class score.

    Raises
    ------
    ValueError
        When only one class is present: the AUC is undefined.

    Examples
    --------
    >>> compute_roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    """
    from scipy.stats import rankdata

    truth = as_labels(y_true, name="y_true", num_classes=2)
    values = np.asarray(to_numpy(scores), dtype=np.float64)
    if values.shape != truth.shape:
        raise ValueError(
            f"scores must have the shape of y_true {truth.shape}, received {values.shape}"
        )
    if not np.isfinite(values).all():
        raise ValueError("scores must be finite, received NaN/inf")
    n_pos = int(truth.sum())
    n_neg = truth.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError(
            "ROC AUC needs both classes in y_true, received only class "
            f"{int(truth[0])} ({truth.size} samples)"
        )
    ranks = rankdata(values)  # average ranks: ties count 1/2 (Mann-Whitney U)
    u = ranks[truth == 1].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def compute_agreement(labels_first: Any, labels_second: Any, *, num_classes: int) -> dict[str, Any]:
    """Agreement of two annotators: accuracy of the second against the first and Cohen's kappa.

    ``kappa = (p_o - p_e) / (1 - p_e)``; when both annotators used one and
    the same class throughout ``p_e = 1`` and kappa is NaN (with a warning),
    as in sklearn's ``cohen_kappa_score``.

    Returns
    -------
    dict
        ``accuracy``, ``kappa``, ``confusion_matrix`` (rows = first annotator), ``n``.
    """
    first, second = _pair(labels_first, labels_second, num_classes)
    confusion = compute_confusion_matrix(first, second, num_classes=num_classes).astype(np.float64)
    total = confusion.sum()
    observed = np.trace(confusion) / total
    expected = float((confusion.sum(axis=1) * confusion.sum(axis=0)).sum() / total**2)
    if expected == 1.0:
        warnings.warn(
            "Cohen's kappa is undefined (NaN): both annotators used a single, identical class",
            RuntimeWarning,
            stacklevel=2,
        )
        kappa = float("nan")
    else:
        kappa = float((observed - expected) / (1.0 - expected))
    return {
        "accuracy": float(observed),
        "kappa": kappa,
        "confusion_matrix": confusion.astype(np.int64).tolist(),
        "n": int(total),
    }


class ClassificationAccumulator:
    """Accumulate a confusion matrix batch by batch; :meth:`compute` gives the full report.

    Examples
    --------
    >>> acc = ClassificationAccumulator(labels=["bg", "ac"])
    >>> acc.update([0, 1, 1], [0, 1, 0]); acc.update([1], [1])
    >>> acc.compute()["accuracy"]
    0.75
    """

    def __init__(self, *, labels: Sequence[str], zero_division: float = float("nan")) -> None:
        self.labels = list(labels)
        if not self.labels:
            raise ValueError("labels must name at least one class, received none")
        self.zero_division = zero_division
        self.confusion = np.zeros((len(self.labels), len(self.labels)), dtype=np.int64)

    def reset(self) -> None:
        """Forget every batch."""
        self.confusion[:] = 0

    def update(self, y_true: Any, y_pred: Any) -> None:
        """Add one batch of class ids (or ``(N, K)`` scores for ``y_pred``: argmax is taken)."""
        pred = to_numpy(y_pred)
        if pred.ndim == 2:
            pred = pred.argmax(axis=1)
        self.confusion += compute_confusion_matrix(y_true, pred, num_classes=len(self.labels))

    def compute(self) -> dict[str, Any]:
        """The report of :func:`compute_classification_report` over every batch so far."""
        if self.confusion.sum() == 0:
            raise ValueError("ClassificationAccumulator.compute() needs at least one update()")
        return _scores_from_confusion(self.confusion, self.labels, self.zero_division)
