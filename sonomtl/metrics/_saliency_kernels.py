"""Batched kernels behind :mod:`sonomtl.metrics.saliency`.

All kernels take flattened float64 arrays of shape ``(n, P)`` (``P = H * W``)
that have already been validated, return one value per image, and never warn:
the public functions decide what is undefined and say so once per call.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "fixated",
    "nss",
    "cc",
    "density",
    "sim",
    "kld",
    "information_gain",
    "auc_judd",
    "auc_borji",
    "auc_shuffled",
]

# MATLAB's eps, used by the MIT/Tuebingen benchmark's KL divergence (pysaliency.metrics.MIT_KLDiv).
KLD_EPSILON = 2.2204e-16


class Fixated:
    """The fixated pixels of a chunk: row (image), column (flat pixel), count, segment bounds."""

    def __init__(self, fixation_counts: np.ndarray) -> None:
        self.rows, self.cols = np.nonzero(fixation_counts)
        self.counts = fixation_counts[self.rows, self.cols].astype(np.float64)
        n = fixation_counts.shape[0]
        self.bounds = np.searchsorted(self.rows, np.arange(n + 1))
        self.totals = np.bincount(self.rows, weights=self.counts, minlength=n)

    def segment(self, image: int) -> slice:
        return slice(self.bounds[image], self.bounds[image + 1])


def fixated(fixation_counts: np.ndarray) -> Fixated:
    """Index the non-zero entries of ``(n, P)`` fixation counts."""
    return Fixated(fixation_counts)


def _per_image_weighted_mean(fix: Fixated, values: np.ndarray, n: int) -> np.ndarray:
    sums = np.bincount(fix.rows, weights=fix.counts * values, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / fix.totals


class MapStats:
    """One chunk of maps as float64 with the sums every metric shares (computed once)."""

    def __init__(self, maps: np.ndarray, constant: np.ndarray | None = None) -> None:
        self.maps = maps.astype(np.float64)
        self.n_pixels = maps.shape[1]
        self.sum = self.maps.sum(axis=1)
        self.mean = self.sum / self.n_pixels
        self.centred = self.maps - self.mean[:, None]
        self.sum_squares = np.einsum("ij,ij->i", self.centred, self.centred)
        self.std = np.sqrt(self.sum_squares / self.n_pixels)  # population std (ddof 0)
        # exactly constant maps (a float mean may differ from the value by one ulp, so the
        # standard deviation is not a reliable test)
        self.constant = maps.max(axis=1) == maps.min(axis=1) if constant is None else constant

    def density(self) -> np.ndarray:
        """Each non-negative map divided by its sum; all-zero maps become uniform (pysaliency)."""
        zero = self.sum == 0
        result = self.maps / np.where(zero, 1.0, self.sum)[:, None]
        result[zero] = 1.0 / self.n_pixels
        return result


def map_stats(maps: np.ndarray, constant: np.ndarray | None = None) -> MapStats:
    """Precompute the shared sums of ``(n, P)`` maps (``constant`` per map when already known)."""
    return MapStats(maps, constant)


def nss(stats: MapStats, fix: Fixated) -> np.ndarray:
    """Mean over fixations of the map standardised by its mean and population std (ddof 0)."""
    values = stats.maps[fix.rows, fix.cols] - stats.mean[fix.rows]
    values = values / np.where(stats.constant, 1.0, stats.std)[fix.rows]
    values[stats.constant[fix.rows]] = 0.0
    return _per_image_weighted_mean(fix, values, stats.maps.shape[0])


def cc(stats: MapStats, reference: MapStats) -> np.ndarray:
    """Pearson correlation per image; a constant prediction scores 0, a constant reference NaN."""
    numerator = np.einsum("ij,ij->i", stats.centred, reference.centred)
    with np.errstate(invalid="ignore", divide="ignore"):
        values = numerator / np.sqrt(stats.sum_squares * reference.sum_squares)
    values[stats.constant & ~reference.constant] = 0.0
    values[reference.constant] = np.nan
    return values


def density(maps: np.ndarray) -> np.ndarray:
    """Divide each non-negative ``(n, P)`` map by its sum; all-zero maps become uniform."""
    sums = maps.sum(axis=1)
    zero = sums == 0
    result = maps / np.where(zero, 1.0, sums)[:, None]
    result[zero] = 1.0 / maps.shape[1]
    return result


def sim(maps_density: np.ndarray, reference_density: np.ndarray) -> np.ndarray:
    """Histogram intersection of two densities (rows summing to 1, see :func:`density`)."""
    return np.minimum(maps_density, reference_density).sum(axis=1)


def kld(
    maps_density: np.ndarray, reference_density: np.ndarray, *, epsilon: float = KLD_EPSILON
) -> np.ndarray:
    """KL(reference || prediction) in nats with the MIT benchmark's regulariser, from densities."""
    work = maps_density + epsilon  # one temporary, updated in place: this runs on every pixel
    np.divide(reference_density, work, out=work)
    work += epsilon
    np.log(work, out=work)
    work *= reference_density
    return work.sum(axis=1)


def information_gain(
    stats: MapStats, baseline: np.ndarray, fix: Fixated, *, epsilon: float
) -> np.ndarray:
    """Mean over fixations of log2 p_model - log2 p_baseline, p = (s + eps) / sum(s + eps).

    ``baseline`` is ``(1, P)`` for all images or ``(n, P)``.
    """
    log_sum = np.log(stats.sum + stats.n_pixels * epsilon)
    log_sum_base = np.log(baseline.sum(axis=1) + baseline.shape[1] * epsilon)
    base_rows = fix.rows if baseline.shape[0] > 1 else np.zeros_like(fix.rows)
    gains = (
        np.log(stats.maps[fix.rows, fix.cols] + epsilon)
        - log_sum[fix.rows]
        - np.log(baseline[base_rows, fix.cols] + epsilon)
        + log_sum_base[base_rows]
    ) / np.log(2.0)
    return _per_image_weighted_mean(fix, gains, stats.maps.shape[0])


def _trapezoid(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1])) / 2.0)


def sorted_rows(maps: np.ndarray) -> np.ndarray:
    """Each row sorted ascending, as float64 (sorting a float32 input first is exact and faster)."""
    return np.sort(maps, axis=1).astype(np.float64, copy=False)


def auc_judd(maps: np.ndarray, fix: Fixated, sorted_maps: np.ndarray) -> np.ndarray:
    """AUC with thresholds at the fixated values, negatives = the unfixated pixels.

    Same curve as pysaliency's ``AUC_Judd(jitter=False)``: points (0, 0), one
    point per distinct fixated value, then (1, 1); integrated with trapezoids.
    """
    n, n_pixels = maps.shape
    values = np.full(n, np.nan)
    for image in range(n):
        segment = fix.segment(image)
        positives = maps[image, fix.cols[segment]]
        if positives.size == 0 or positives.size == n_pixels:
            continue
        order = np.argsort(positives, kind="stable")
        positives_sorted = positives[order]
        counts_sorted = fix.counts[segment][order]
        thresholds = np.unique(positives_sorted)[::-1]
        first = np.searchsorted(positives_sorted, thresholds, side="left")
        fixated_pixels_ge = positives.size - first
        cumulative = np.concatenate(([0.0], np.cumsum(counts_sorted)))
        total = cumulative[-1]
        hit_rates = (total - cumulative[first]) / total
        all_pixels_ge = n_pixels - np.searchsorted(sorted_maps[image], thresholds, side="left")
        false_rates = (all_pixels_ge - fixated_pixels_ge) / (n_pixels - positives.size)
        x = np.concatenate(([0.0], false_rates, [1.0]))
        y = np.concatenate(([0.0], hit_rates, [1.0]))
        values[image] = _trapezoid(x, y)
    return values


def auc_borji(maps: np.ndarray, fix: Fixated, sorted_maps: np.ndarray) -> np.ndarray:
    """AUC of fixated values against every pixel of the map (ties count 1/2).

    The exact expectation of Borji's uniform random negatives; equals
    pysaliency's ``AUC(nonfixations='uniform', thresholds='all')`` per image.
    """
    n, n_pixels = maps.shape
    scores = np.empty(fix.rows.size)
    for image in range(n):
        segment = fix.segment(image)
        positives = maps[image, fix.cols[segment]]
        below = np.searchsorted(sorted_maps[image], positives, side="left")
        below_or_equal = np.searchsorted(sorted_maps[image], positives, side="right")
        scores[segment] = (below + 0.5 * (below_or_equal - below)) / n_pixels
    return _per_image_weighted_mean(fix, scores, n)


def auc_shuffled(
    maps: np.ndarray, fix: Fixated, fixation_total: np.ndarray, raw_maps: np.ndarray | None = None
) -> np.ndarray:
    """AUC of fixated values against the fixations of the *other* images (ties count 1/2).

    ``fixation_total`` is the ``(P,)`` count map of all fixations of the
    evaluation set; the image's own counts are subtracted to get its negatives.
    ``raw_maps`` (the same maps before conversion to float64, e.g. float32)
    are sorted instead when given: same order, faster.
    """
    if (fixation_total[fix.cols] < fix.counts).any():
        raise ValueError(
            "fixation_total must count every image's fixations (it is the sum of the "
            "evaluation set's fixation maps), received a map with fewer fixations than one image"
        )
    n = maps.shape[0]
    support = np.flatnonzero(fixation_total)
    values = np.full(n, np.nan)
    if support.size == 0:
        return values
    candidate_values = (maps if raw_maps is None else raw_maps)[:, support]
    own = np.zeros((n, support.size))
    own[fix.rows, np.searchsorted(support, fix.cols)] = fix.counts
    weights = fixation_total[support][None, :] - own
    order = np.argsort(candidate_values, axis=1)
    sorted_values = np.take_along_axis(candidate_values, order, axis=1).astype(np.float64)
    cumulative = np.concatenate(
        (np.zeros((n, 1)), np.cumsum(np.take_along_axis(weights, order, axis=1), axis=1)), axis=1
    )
    for image in range(n):
        segment = fix.segment(image)
        negatives_total = cumulative[image, -1]
        if segment.start == segment.stop or negatives_total == 0:
            continue
        positives = maps[image, fix.cols[segment]]
        below = cumulative[image, np.searchsorted(sorted_values[image], positives, side="left")]
        below_or_equal = cumulative[
            image, np.searchsorted(sorted_values[image], positives, side="right")
        ]
        scores = (below + 0.5 * (below_or_equal - below)) / negatives_total
        counts = fix.counts[segment]
        values[image] = np.sum(counts * scores) / np.sum(counts)
    return values
