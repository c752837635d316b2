"""Score detected fixations against a ground-truth fixation list (event-level agreement).

Matching is one-to-one on time: a detected and a true fixation are *candidates* when
their intervals ``[onset_ms, offset_ms]`` overlap (a positive overlap; a zero-length
interval counts when it lies inside the other). Among the candidates, the matching
takes as many pairs as possible and, among those, the largest total overlap (an exact
assignment per connected group of candidates, :func:`scipy.optimize.linear_sum_assignment`).
A true fixation without a match is a miss, a detected one without a match is spurious.
A true fixation overlapped by several detected ones is *split*; a detected fixation
overlapping several true ones is *merged* (at most one pair of each group is a match).

Errors are taken over the matched pairs: onset and offset ``detected - true`` in ms
(negative = early), centroid distance in screen pixels and in degrees of visual angle
(the exact angle at the eye, :func:`~sonomtl.gaze.geometry.angle_between_deg`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sonomtl.gaze.fixations import FixationParams, Fixations
from sonomtl.gaze.geometry import ScreenGeometry, angle_between_deg

__all__ = [
    "ErrorStats", "FixationScore", "error_stats", "score_fixations", "combine_scores",
    "score_dataset_fixations",
]


@dataclass(frozen=True)
class ErrorStats:
    """Summary of one error over the matched pairs (NaN when there is none).

    ``median``, ``mean`` and ``p90`` are of the absolute error; ``median_signed`` keeps
    the sign (for onsets and offsets: > 0 = the detector is late).
    """

    n: int
    median: float
    mean: float
    p90: float
    median_signed: float


def error_stats(errors: np.ndarray) -> ErrorStats:
    """:class:`ErrorStats` of ``errors`` (``p90``: linear interpolation, numpy's default).

    Examples
    --------
    >>> error_stats(np.array([-10.0, 0.0, 20.0, 30.0]))
    ErrorStats(n=4, median=15.0, mean=15.0, p90=27.0, median_signed=10.0)
    """
    values = np.asarray(errors, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"errors must be one-dimensional, got shape {values.shape}")
    if len(values) == 0:
        return ErrorStats(0, math.nan, math.nan, math.nan, math.nan)
    absolute = np.abs(values)
    return ErrorStats(
        n=len(values),
        median=float(np.median(absolute)),
        mean=float(np.mean(absolute)),
        p90=float(np.percentile(absolute, 90)),
        median_signed=float(np.median(values)),
    )


@dataclass(frozen=True)
class FixationScore:
    """Agreement of detected fixations with true ones (see the module docstring).

    ``true_index``/``detected_index`` are the matched pairs (indices into the two lists,
    ascending by true fixation); the error arrays are per pair, in the same order.
    """

    n_true: int
    n_detected: int
    true_index: np.ndarray
    detected_index: np.ndarray
    onset_error_ms: np.ndarray
    offset_error_ms: np.ndarray
    position_error_px: np.ndarray
    position_error_deg: np.ndarray
    n_split: int
    n_merged: int

    @property
    def n_matched(self) -> int:
        return len(self.true_index)

    @property
    def recall(self) -> float:
        """Hit rate: matched / true fixations (NaN without true fixations)."""
        return self.n_matched / self.n_true if self.n_true else math.nan

    @property
    def precision(self) -> float:
        """Matched / detected fixations (NaN without detected fixations)."""
        return self.n_matched / self.n_detected if self.n_detected else math.nan

    @property
    def f1(self) -> float:
        total = self.n_true + self.n_detected
        return 2 * self.n_matched / total if total else math.nan

    def summary(self) -> dict[str, object]:
        """Counts, rates and :class:`ErrorStats` as plain numbers (JSON-ready)."""
        return {
            "n_true": self.n_true, "n_detected": self.n_detected, "n_matched": self.n_matched,
            "n_missed": self.n_true - self.n_matched,
            "n_spurious": self.n_detected - self.n_matched,
            "n_split": self.n_split, "n_merged": self.n_merged,
            "recall": self.recall, "precision": self.precision, "f1": self.f1,
            "onset_error_ms": vars(error_stats(self.onset_error_ms)),
            "offset_error_ms": vars(error_stats(self.offset_error_ms)),
            "position_error_px": vars(error_stats(self.position_error_px)),
            "position_error_deg": vars(error_stats(self.position_error_deg)),
        }


def _interval_arrays(name: str, fixations: Fixations) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(fixations, Fixations):
        raise TypeError(f"{name} must be a Fixations, got {type(fixations).__name__}")
    onset = np.asarray(fixations.onset_ms, dtype=np.float64)
    offset = np.asarray(fixations.offset_ms, dtype=np.float64)
    if onset.ndim != 1 or onset.shape != offset.shape:
        raise ValueError(f"{name}: onset_ms and offset_ms must be 1-D of one length, "
                         f"got shapes {onset.shape} and {offset.shape}")
    if not (np.isfinite(onset).all() and np.isfinite(offset).all()):
        raise ValueError(f"{name}: onset_ms and offset_ms must be finite")
    if (offset < onset).any():
        raise ValueError(f"{name}: offset_ms before onset_ms at index "
                         f"{int(np.flatnonzero(offset < onset)[0])}")
    if (np.diff(onset) < 0).any() or (np.diff(offset) < 0).any():
        raise ValueError(f"{name}: fixations must be in time order (onset_ms and offset_ms "
                         "non-decreasing)")
    return onset, offset


def _candidates(on_t: np.ndarray, off_t: np.ndarray, on_d: np.ndarray,
                off_d: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Overlapping (true, detected) pairs and their overlap in ms."""
    # Both lists are in time order, so the detected fixations that can overlap true
    # fixation i form the contiguous range [first, last): offset >= its onset, onset <= its offset.
    first = np.searchsorted(off_d, on_t, side="left")
    last = np.searchsorted(on_d, off_t, side="right")
    counts = np.maximum(last - first, 0)
    true_i = np.repeat(np.arange(len(on_t)), counts)
    range_start = np.cumsum(counts) - counts  # where true fixation i's range begins
    det_j = (np.arange(len(true_i)) + np.repeat(first - range_start, counts)).astype(np.int64)
    overlap = np.minimum(off_t[true_i], off_d[det_j]) - np.maximum(on_t[true_i], on_d[det_j])
    point = (off_t[true_i] == on_t[true_i]) | (off_d[det_j] == on_d[det_j])
    keep = (overlap > 0) | ((overlap == 0) & point)
    return true_i[keep], det_j[keep], overlap[keep]


def _match(true_i: np.ndarray, det_j: np.ndarray, overlap: np.ndarray, n_true: int,
           n_detected: int) -> tuple[np.ndarray, np.ndarray]:
    """Maximum-cardinality, then maximum-overlap, one-to-one matching of candidate pairs."""
    from scipy.optimize import linear_sum_assignment
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    degree_t = np.bincount(true_i, minlength=n_true)
    degree_d = np.bincount(det_j, minlength=n_detected)
    single = (degree_t[true_i] == 1) & (degree_d[det_j] == 1)
    matched_t, matched_d = [true_i[single]], [det_j[single]]
    rest = ~single
    if rest.any():
        ti, dj, weight = true_i[rest], det_j[rest], overlap[rest]
        nodes = n_true + n_detected
        graph = coo_matrix((np.ones(len(ti)), (ti, n_true + dj)), shape=(nodes, nodes))
        _, label = connected_components(graph, directed=False)
        group = label[ti]
        order = np.argsort(group, kind="stable")
        bounds = np.flatnonzero(np.diff(group[order])) + 1
        for pairs in np.split(order, bounds):
            rows, row_index = np.unique(ti[pairs], return_inverse=True)
            cols, col_index = np.unique(dj[pairs], return_inverse=True)
            # A match is worth more than any total overlap in the group: most matches first.
            bonus = float(weight[pairs].sum()) + 1.0
            gain = np.zeros((len(rows), len(cols)))
            gain[row_index, col_index] = weight[pairs] + bonus
            r, c = linear_sum_assignment(gain, maximize=True)
            real = gain[r, c] > 0
            matched_t.append(rows[r[real]])
            matched_d.append(cols[c[real]])
    t_all = np.concatenate(matched_t).astype(np.int64)
    d_all = np.concatenate(matched_d).astype(np.int64)
    order = np.argsort(t_all, kind="stable")
    return t_all[order], d_all[order]


def score_fixations(
    detected: Fixations, truth: Fixations, *, geometry: ScreenGeometry
) -> FixationScore:
    """Match ``detected`` to ``truth`` one-to-one by time and measure the errors.

    Parameters
    ----------
    detected
        Fixations from a detector (e.g. :func:`~sonomtl.gaze.fixations.detect_fixations`),
        in time order.
    truth
        True fixations, in time order (e.g. the simulator's list read with
        :func:`~sonomtl.gaze.fixations.read_fixations_csv`).
    geometry
        The screen, for the position error in degrees of visual angle.

    Returns
    -------
    FixationScore
        Recall (hit rate), precision, split/merged counts and the per-pair errors.

    Examples
    --------
    One true fixation found 33 ms late and 3 px off, one missed, one spurious:

    >>> g = ScreenGeometry(screen_px=(1680, 1050), screen_cm=(33.2, 20.7), distance_cm=50)
    >>> truth = Fixations(np.array([0.0, 500.0]), np.array([300.0, 800.0]),
    ...                   np.array([800.0, 900.0]), np.array([500.0, 500.0]))
    >>> found = Fixations(np.array([33.0, 1000.0]), np.array([297.0, 1200.0]),
    ...                   np.array([803.0, 100.0]), np.array([500.0, 100.0]))
    >>> s = score_fixations(found, truth, geometry=g)
    >>> s.recall, s.precision, s.onset_error_ms.tolist(), s.position_error_px.tolist()
    (0.5, 0.5, [33.0], [3.0])
    """
    on_t, off_t = _interval_arrays("truth", truth)
    on_d, off_d = _interval_arrays("detected", detected)
    if not isinstance(geometry, ScreenGeometry):
        raise TypeError(f"geometry must be a ScreenGeometry, got {type(geometry).__name__}")
    n_true, n_detected = len(on_t), len(on_d)
    true_i, det_j, overlap = _candidates(on_t, off_t, on_d, off_d)
    n_split = int(np.count_nonzero(np.bincount(true_i, minlength=n_true) > 1))
    n_merged = int(np.count_nonzero(np.bincount(det_j, minlength=n_detected) > 1))
    ti, dj = _match(true_i, det_j, overlap, n_true, n_detected)
    tx, ty = np.asarray(truth.x_px, np.float64)[ti], np.asarray(truth.y_px, np.float64)[ti]
    dx, dy = np.asarray(detected.x_px, np.float64)[dj], np.asarray(detected.y_px, np.float64)[dj]
    return FixationScore(
        n_true=n_true,
        n_detected=n_detected,
        true_index=ti,
        detected_index=dj,
        onset_error_ms=on_d[dj] - on_t[ti],
        offset_error_ms=off_d[dj] - off_t[ti],
        position_error_px=np.hypot(dx - tx, dy - ty),
        position_error_deg=np.asarray(angle_between_deg(dx, dy, tx, ty, geometry=geometry),
                                      dtype=np.float64).reshape(-1),
        n_split=n_split,
        n_merged=n_merged,
    )


def combine_scores(scores: Sequence[FixationScore]) -> FixationScore:
    """Pool the scores of several recordings (indices offset into the concatenated lists)."""
    scores = list(scores)
    if not all(isinstance(s, FixationScore) for s in scores):
        raise TypeError("scores must be a sequence of FixationScore")
    true_offset = np.cumsum([0] + [s.n_true for s in scores])
    det_offset = np.cumsum([0] + [s.n_detected for s in scores])

    def join(name: str, offsets: np.ndarray | None = None) -> np.ndarray:
        parts = [getattr(s, name) + (0 if offsets is None else offsets[k])
                 for k, s in enumerate(scores)]
        dtype = np.int64 if offsets is not None else np.float64
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)

    return FixationScore(
        n_true=int(true_offset[-1]),
        n_detected=int(det_offset[-1]),
        true_index=join("true_index", true_offset),
        detected_index=join("detected_index", det_offset),
        onset_error_ms=join("onset_error_ms"),
        offset_error_ms=join("offset_error_ms"),
        position_error_px=join("position_error_px"),
        position_error_deg=join("position_error_deg"),
        n_split=sum(s.n_split for s in scores),
        n_merged=sum(s.n_merged for s in scores),
    )


def score_dataset_fixations(
    folder: str | os.PathLike[str], *, params: FixationParams | None = None
) -> dict[str, FixationScore]:
    """Detect fixations in every gaze log of a simulated dataset and score each clip.

    The dataset must list its ground truth under ``metadata.gaze_fixations`` (as
    ``sonomtl synth sweeps`` writes it); the logs and the screen come from ``gaze:``.
    Pool the clips with :func:`combine_scores`.

    Raises
    ------
    InputError
        The dataset has no ``gaze:`` section or no ground-truth fixation lists.
    """
    from sonomtl.data.spec import load_spec
    from sonomtl.errors import InputError
    from sonomtl.gaze.fixations import detect_fixations, read_fixations_csv
    from sonomtl.gaze.readers import read_gaze_log

    root = Path(folder)
    spec = load_spec(root)
    if spec.gaze is None or not spec.gaze.logs:
        raise InputError("dataset has no gaze logs", file=root / "dataset.yaml", field="gaze")
    truth_files = spec.metadata.get("gaze_fixations")
    if not isinstance(truth_files, dict) or not truth_files:
        raise InputError("no ground-truth fixation lists (only simulated datasets have them)",
                         file=root / "dataset.yaml", field="metadata.gaze_fixations")
    setup = spec.gaze
    geometry = ScreenGeometry(screen_px=setup.screen_px, screen_cm=setup.screen_cm,
                              distance_cm=setup.distance_cm)
    scores = {}
    for sequence in sorted(setup.logs):
        if sequence not in truth_files:
            raise InputError(f"no ground-truth fixation list for sequence {sequence!r}",
                             file=root / "dataset.yaml", field="metadata.gaze_fixations")
        samples = read_gaze_log(root / setup.logs[sequence], format=setup.format)
        detected = detect_fixations(samples, geometry=geometry, params=params)
        from sonomtl.untrusted import resolve_inside

        truth = read_fixations_csv(resolve_inside(
            root, str(truth_files[sequence]), file=root / "dataset.yaml",
            field=f"metadata.gaze_fixations.{sequence}",
            allow_external=spec.allow_external_paths))
        scores[sequence] = score_fixations(detected, truth, geometry=geometry)
    return scores
