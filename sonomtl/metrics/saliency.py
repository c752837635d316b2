"""Saliency metrics (Bylinskii et al. 2018; information gain after Kümmerer et al. 2015).

Conventions (see ``docs/metrics.md`` for the full definitions and the
intentional differences from pysaliency):

* ``saliency_maps`` are predictions ``(N, H, W)`` (or one ``(H, W)`` map).
  NSS, CC and the AUCs accept any finite values; SIM, KLD and IG read the
  map as a distribution and require non-negative values.
* ``fixation_maps`` hold fixation **counts** per pixel (booleans count 1);
  each fixation is weighted by its count, as pysaliency does with repeated
  fixations.
* ``attention_maps`` are continuous ground-truth maps (non-negative) for
  the distribution metrics CC, SIM and KLD.
* Every ``compute_*`` returns one value per image, ``(N,)`` float64. Images
  where a metric is undefined (no fixations, constant or all-zero reference)
  get NaN and one :class:`RuntimeWarning` per call says how many and why.
  A constant *prediction* is not an error: it scores chance (NSS 0, CC 0,
  AUC 0.5), as in pysaliency.
* Values agree with pysaliency 0.2.22 to 1e-6 where the definitions
  coincide (tested).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from sonomtl.metrics import _saliency_inputs as inputs
from sonomtl.metrics import _saliency_kernels as kernels
from sonomtl.metrics._arrays import (
    as_fixation_counts,
    as_maps,
    check_same_shape,
    warn_undefined,
)

__all__ = [
    "SALIENCY_KEYS",
    "IG_EPSILON",
    "KLD_EPSILON",
    "centre_bias_map",
    "mean_density_map",
    "compute_nss",
    "compute_cc",
    "compute_sim",
    "compute_kld",
    "compute_information_gain",
    "compute_auc_judd",
    "compute_auc_borji",
    "compute_sauc",
    "compute_saliency_metrics",
    "summarise_saliency",
    "SaliencyAccumulator",
]

#: The keys of the ``saliency`` section of results.json, in table order.
SALIENCY_KEYS = ("IG", "CC", "NSS", "SIM", "AUC_Judd", "AUC_Borji", "sAUC", "KLD")

#: Added to every pixel before a map becomes a density for IG (pysaliency's
#: ``SaliencyMapNormalizingModel(minimum_value=1e-20)``), so log(0) never occurs.
IG_EPSILON = 1e-20
#: The KL divergence regulariser of the MIT/Tuebingen benchmark (MATLAB eps).
KLD_EPSILON = kernels.KLD_EPSILON

_CHUNK_IMAGES = 64


def centre_bias_map(shape_hw: Sequence[int], *, sigma_fraction: float = 0.5) -> np.ndarray:
    """The default IG baseline: a Gaussian centred in the image.

    ``exp(-((x - xc) / W)**2 / (2 s**2) - ((y - yc) / H)**2 / (2 s**2))`` with
    ``s = sigma_fraction``, ``(xc, yc) = ((W - 1) / 2, (H - 1) / 2)``: the
    standard deviation is ``sigma_fraction`` times the width (x) and the
    height (y). Same shape as pysaliency's ``GaussianSaliencyMapModel(width=s)``
    except that pysaliency centres it half a pixel lower-right, at ``(W/2, H/2)``.

    Examples
    --------
    >>> m = centre_bias_map((3, 3))
    >>> float(m[1, 1]), m.shape
    (1.0, (3, 3))
    """
    if len(shape_hw) != 2 or min(int(v) for v in shape_hw) < 1:
        raise ValueError(
            f"shape_hw must be (rows, cols) of positive sizes, received {tuple(shape_hw)}"
        )
    if not sigma_fraction > 0:
        raise ValueError(f"sigma_fraction must be > 0, received {sigma_fraction}")
    height, width = (int(v) for v in shape_hw)
    ys = (np.arange(height) - (height - 1) / 2.0) / height
    xs = (np.arange(width) - (width - 1) / 2.0) / width
    return np.exp(-0.5 * (ys[:, None] ** 2 + xs[None, :] ** 2) / sigma_fraction**2)


def mean_density_map(attention_maps: Any) -> np.ndarray:
    """The mean of the maps, each first normalised to sum 1: a data-driven IG baseline.

    Pass the training set's ground-truth attention maps to get the "mean
    ground-truth map" baseline; all-zero maps are skipped.
    """
    maps = as_maps(attention_maps, name="attention_maps", non_negative=True)
    flat = maps.reshape(maps.shape[0], -1)
    keep = flat.sum(axis=1) > 0
    if not keep.any():
        raise ValueError(
            "attention_maps must contain at least one map with a non-zero sum, received none"
        )
    return kernels.density(flat[keep]).mean(axis=0).reshape(maps.shape[1:])


def compute_nss(saliency_maps: Any, fixation_maps: Any) -> np.ndarray:
    """Normalised scanpath saliency per image.

    The map is standardised by its mean and population standard deviation
    (ddof 0, as pysaliency); NSS is the mean standardised value over the
    fixations. A constant map scores 0.

    Examples
    --------
    >>> s = np.array([[0.0, 0.0], [0.0, 4.0]]); f = np.array([[0, 0], [0, 1]])
    >>> compute_nss(s, f).round(6).tolist()
    [1.732051]
    """
    maps, fixations = inputs.pair(
        saliency_maps, fixation_maps, other_name="fixation_maps", fixations=True
    )
    inputs.warn_fixations("NSS", fixations)
    flat_fix = inputs.flatten_maps(fixations)
    return kernels.nss(kernels.map_stats(inputs.flatten_maps(maps)), kernels.fixated(flat_fix))


def compute_cc(saliency_maps: Any, attention_maps: Any) -> np.ndarray:
    """Pearson's linear correlation between prediction and ground-truth attention, per image.

    A constant prediction scores 0 against a non-constant reference
    (pysaliency); a constant reference gives NaN with a warning.
    """
    maps, reference = inputs.pair(
        saliency_maps, attention_maps, other_name="attention_maps", fixations=False
    )
    inputs.warn_reference("CC", reference, constant=True)
    return kernels.cc(
        kernels.map_stats(inputs.flatten_maps(maps)),
        kernels.map_stats(inputs.flatten_maps(reference)),
    )


def _sim_kld(saliency_maps: Any, attention_maps: Any, metric: str, epsilon: float) -> np.ndarray:
    """SIM or KLD of validated non-negative map pairs; NaN where the reference is all zero."""
    maps, reference = inputs.pair(
        saliency_maps,
        attention_maps,
        other_name="attention_maps",
        fixations=False,
        non_negative=True,
    )
    inputs.warn_reference(metric, reference, constant=False)
    maps, reference = inputs.flatten_maps(maps), inputs.flatten_maps(reference)
    zero_reference = reference.sum(axis=1) == 0
    p, q = kernels.density(maps), kernels.density(reference)
    if metric == "SIM":
        values = kernels.sim(p, q)
    else:
        values = kernels.kld(p, q, epsilon=epsilon)
    values[zero_reference] = np.nan
    return values


def compute_sim(saliency_maps: Any, attention_maps: Any) -> np.ndarray:
    """Similarity (histogram intersection) of the two maps normalised to sum 1, per image.

    An all-zero prediction is read as uniform (pysaliency); an all-zero
    reference gives NaN with a warning.
    """
    return _sim_kld(saliency_maps, attention_maps, "SIM", KLD_EPSILON)


def compute_kld(
    saliency_maps: Any, attention_maps: Any, *, epsilon: float = KLD_EPSILON
) -> np.ndarray:
    """KL divergence of the prediction from the ground truth, in nats, per image.

    ``sum Q * log(eps + Q / (P + eps))`` with ``P``, ``Q`` the prediction and
    the reference normalised to sum 1 and ``eps = 2.2204e-16``: the MIT
    saliency benchmark's definition (pysaliency ``MIT_KLDiv``). Lower is better.
    An all-zero reference gives NaN with a warning.
    """
    return _sim_kld(saliency_maps, attention_maps, "KLD", epsilon)


def compute_information_gain(
    saliency_maps: Any, fixation_maps: Any, *, baseline_map: Any = None, epsilon: float = IG_EPSILON
) -> np.ndarray:
    """Information gain over a baseline in bits per fixation, per image.

    Both maps become densities ``p = (s + eps) / sum(s + eps)`` (pysaliency's
    ``SaliencyMapNormalizingModel(minimum_value=eps)``); IG is the mean over
    fixations of ``log2 p_model - log2 p_baseline``. ``baseline_map`` is one
    ``(H, W)`` map for all images or one per image; default
    :func:`centre_bias_map`.
    """
    maps, fixations = inputs.pair(
        saliency_maps, fixation_maps, other_name="fixation_maps", fixations=True, non_negative=True
    )
    if not epsilon > 0:
        raise ValueError(f"epsilon must be > 0, received {epsilon}")
    baseline = inputs.baseline_maps(baseline_map, maps.shape, centre_bias_map)
    inputs.warn_fixations("IG", fixations)
    fix = kernels.fixated(inputs.flatten_maps(fixations))
    stats = kernels.map_stats(inputs.flatten_maps(maps))
    return kernels.information_gain(stats, inputs.flatten_maps(baseline), fix, epsilon=epsilon)


def compute_auc_judd(saliency_maps: Any, fixation_maps: Any) -> np.ndarray:
    """AUC-Judd per image: thresholds at the fixated values, negatives = all unfixated pixels.

    Equals pysaliency ``AUC_Judd(..., jitter=False)``; pysaliency's default
    adds 1e-7 random noise to break ties, which this deterministic version
    does not.
    """
    maps, fixations = inputs.pair(
        saliency_maps, fixation_maps, other_name="fixation_maps", fixations=True
    )
    inputs.warn_fixations("AUC_Judd", fixations)
    flat_fix = inputs.flatten_maps(fixations)
    flat_maps = inputs.flatten_maps(maps)
    values = kernels.auc_judd(flat_maps, kernels.fixated(flat_fix), kernels.sorted_rows(flat_maps))
    inputs.warn_judd_and_shuffled(fixations, None)
    return values


def compute_auc_borji(saliency_maps: Any, fixation_maps: Any) -> np.ndarray:
    """AUC-Borji per image, computed exactly: fixated values against every pixel (ties 1/2).

    This is the expectation of Borji's random uniform negatives, so it has no
    sampling noise; equals pysaliency ``AUC(nonfixations='uniform')``.
    """
    maps, fixations = inputs.pair(
        saliency_maps, fixation_maps, other_name="fixation_maps", fixations=True
    )
    inputs.warn_fixations("AUC_Borji", fixations)
    flat_maps = inputs.flatten_maps(maps)
    fix = kernels.fixated(inputs.flatten_maps(fixations))
    return kernels.auc_borji(flat_maps, fix, kernels.sorted_rows(flat_maps))


def compute_sauc(
    saliency_maps: Any, fixation_maps: Any, *, fixation_total: Any = None
) -> np.ndarray:
    """Shuffled AUC per image: fixated values against the other images' fixations (ties 1/2).

    Negatives are the prediction's values at every fixation of every other
    image (with repeats), exactly, as pysaliency ``AUC(nonfixations='shuffled')``
    for images of one size. ``fixation_total`` is the ``(H, W)`` sum of all
    fixation maps of the evaluation set (default: of the maps given), so
    batches of a larger set can be scored against the whole set.
    """
    maps, fixations = inputs.pair(
        saliency_maps, fixation_maps, other_name="fixation_maps", fixations=True
    )
    total = inputs.fixation_total_map(fixation_total, fixations)
    inputs.warn_fixations("sAUC", fixations)
    values = kernels.auc_shuffled(
        inputs.flatten_maps(maps), kernels.fixated(inputs.flatten_maps(fixations)), total
    )
    flat = inputs.flatten_maps(fixations)
    own = flat.sum(axis=1)
    lonely = int(np.count_nonzero((own > 0) & (own == total.sum())))
    warn_undefined("sAUC", lonely, flat.shape[0], "no other image has fixations")
    return values


def compute_saliency_metrics(
    saliency_maps: Any,
    fixation_maps: Any,
    *,
    attention_maps: Any = None,
    baseline_map: Any = None,
    fixation_total: Any = None,
    threads: int | None = None,
) -> dict[str, np.ndarray]:
    """Every saliency metric per image, keyed as in results.json (:data:`SALIENCY_KEYS`).

    CC, SIM and KLD compare with ``attention_maps`` when given, otherwise
    with the fixation maps themselves (pysaliency's ``FixationMap`` without
    blur). Works through the batch in chunks of 64 images, so memory stays
    bounded, on ``threads`` threads (default: the CPU count, at most 4);
    one warning per metric and cause for undefined images.

    Returns
    -------
    dict
        ``{key: (N,) float64 array}`` for ``IG, CC, NSS, SIM, AUC_Judd,
        AUC_Borji, sAUC, KLD``.
    """
    maps, low, high = as_maps(
        saliency_maps, name="saliency_maps", non_negative=True, keep_dtype=True, return_range=True
    )
    fixations, fix_low, fix_high = as_fixation_counts(
        fixation_maps, name="fixation_maps", keep_dtype=True, return_range=True
    )
    check_same_shape(maps, fixations, names=("saliency_maps", "fixation_maps"))
    if attention_maps is None:
        reference, ref_low, ref_high = fixations, fix_low, fix_high
    else:
        reference, ref_low, ref_high = as_maps(
            attention_maps,
            name="attention_maps",
            non_negative=True,
            keep_dtype=True,
            return_range=True,
        )
        check_same_shape(maps, reference, names=("saliency_maps", "attention_maps"))
    constant, constant_ref = low == high, ref_low == ref_high
    baseline = inputs.flatten_maps(inputs.baseline_maps(baseline_map, maps.shape, centre_bias_map))
    total = inputs.fixation_total_map(fixation_total, fixations)

    n = maps.shape[0]
    results = {key: np.empty(n) for key in SALIENCY_KEYS}

    def score(chunk: slice) -> None:
        raw_maps = inputs.flatten_maps(maps[chunk])
        stats = kernels.map_stats(raw_maps, constant[chunk])
        ref = kernels.map_stats(inputs.flatten_maps(reference[chunk]), constant_ref[chunk])
        fix = kernels.fixated(inputs.flatten_maps(fixations[chunk]))
        chunk_baseline = baseline if baseline.shape[0] == 1 else baseline[chunk]
        results["IG"][chunk] = kernels.information_gain(
            stats, chunk_baseline, fix, epsilon=IG_EPSILON
        )
        results["CC"][chunk] = kernels.cc(stats, ref)
        results["NSS"][chunk] = kernels.nss(stats, fix)
        del stats.centred, ref.centred
        sorted_maps = kernels.sorted_rows(raw_maps)
        results["AUC_Judd"][chunk] = kernels.auc_judd(stats.maps, fix, sorted_maps)
        results["AUC_Borji"][chunk] = kernels.auc_borji(stats.maps, fix, sorted_maps)
        del sorted_maps
        results["sAUC"][chunk] = kernels.auc_shuffled(stats.maps, fix, total, raw_maps)
        zero_reference = ref.sum == 0
        p, q = stats.density(), ref.density()
        results["SIM"][chunk] = np.where(zero_reference, np.nan, kernels.sim(p, q))
        results["KLD"][chunk] = np.where(zero_reference, np.nan, kernels.kld(p, q))

    chunks = [slice(s, min(s + _CHUNK_IMAGES, n)) for s in range(0, n, _CHUNK_IMAGES)]
    workers = min(len(chunks), inputs.workers() if threads is None else int(threads))
    if workers <= 1:
        for chunk in chunks:
            score(chunk)
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(score, chunks))  # numpy releases the GIL in sorts and ufuncs
    inputs.warn_fixations("IG, NSS and the AUCs", fixations)
    inputs.warn_judd_and_shuffled(fixations, total)
    what = "attention map" if attention_maps is not None else "fixation map used as reference"
    inputs.warn_reference("CC", reference, constant=True, what=what)
    inputs.warn_reference("SIM and KLD", reference, constant=False, what=what)
    return results


def summarise_saliency(per_image: dict[str, np.ndarray]) -> dict[str, float | int]:
    """Means over images (NaN images left out) plus ``n_images``, the number of images scored.

    Returns NaN for a metric that is undefined on every image.
    """
    summary: dict[str, float | int] = {}
    for key in SALIENCY_KEYS:
        if key not in per_image:
            continue
        values = np.asarray(per_image[key], dtype=np.float64)
        finite = values[~np.isnan(values)]
        summary[key] = float(finite.mean()) if finite.size else float("nan")
    first = next(iter(per_image.values()), np.empty(0))
    summary["n_images"] = int(np.count_nonzero(~np.isnan(np.asarray(per_image.get("NSS", first)))))
    return summary


class SaliencyAccumulator:
    """Collect per-image saliency metrics batch by batch (MONAI style).

    Parameters
    ----------
    baseline_map
        IG baseline ``(H, W)``; default :func:`centre_bias_map`.
    fixation_total
        ``(H, W)`` sum of every fixation map of the evaluation set, needed for
        the shuffled AUC. Without it sAUC is left out, because a batch alone
        does not know the other images' fixations.

    Examples
    --------
    >>> acc = SaliencyAccumulator()
    >>> rng = np.random.default_rng(0)
    >>> acc.update(rng.random((2, 8, 8)), rng.random((2, 8, 8)) > 0.8)
    >>> sorted(acc.compute())[:3]
    ['AUC_Borji', 'AUC_Judd', 'CC']
    """

    def __init__(self, *, baseline_map: Any = None, fixation_total: Any = None) -> None:
        self.baseline_map = baseline_map
        self.fixation_total = fixation_total
        self._batches: list[dict[str, np.ndarray]] = []

    def reset(self) -> None:
        """Forget every batch."""
        self._batches.clear()

    def update(self, saliency_maps: Any, fixation_maps: Any, attention_maps: Any = None) -> None:
        """Score one batch and keep the per-image values."""
        results = compute_saliency_metrics(
            saliency_maps,
            fixation_maps,
            attention_maps=attention_maps,
            baseline_map=self.baseline_map,
            fixation_total=self.fixation_total,
        )
        if self.fixation_total is None:
            del results["sAUC"]
        self._batches.append(results)

    def per_image(self) -> dict[str, np.ndarray]:
        """Per-image values of every batch so far, concatenated."""
        if not self._batches:
            return {}
        return {key: np.concatenate([b[key] for b in self._batches]) for key in self._batches[0]}

    def compute(self) -> dict[str, float | int]:
        """Means over every image seen so far (see :func:`summarise_saliency`)."""
        if not self._batches:
            raise ValueError(
                "SaliencyAccumulator.compute() needs at least one update(), received none"
            )
        return summarise_saliency(self.per_image())
