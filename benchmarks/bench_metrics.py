"""Speed of the saliency metrics: sonomtl vs pysaliency, side by side in one run.

Scores N predicted maps of 240x240 (float32) against fixation maps (about 20
fixations per image) and ground-truth attention maps with every metric
(IG, CC, NSS, SIM, AUC-Judd, AUC-Borji, sAUC, KLD). sonomtl does all N
images; pysaliency (per-image Python loops) does the first ``--reference``
images and its time is scaled to N. The values of both on those images are
compared too (largest absolute difference per metric).

Run: ``.venv/bin/python benchmarks/bench_metrics.py [--images 1000] [--reference 100]``
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np

from sonomtl.metrics import saliency

SIZE_HW = (240, 240)


def make_data(n_images: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    maps = rng.random((n_images, *SIZE_HW), dtype=np.float32)
    attention = rng.random((n_images, *SIZE_HW), dtype=np.float32)
    fixations = rng.random((n_images, *SIZE_HW)) < 20 / (SIZE_HW[0] * SIZE_HW[1])
    fixations[:, SIZE_HW[0] // 2, SIZE_HW[1] // 2] = True
    return maps, fixations, attention


def time_sonomtl(maps, fixations, attention, repeats: int, threads: int | None):
    """Best wall-clock and process CPU seconds over ``repeats`` runs."""
    best, best_cpu = float("inf"), float("inf")
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        per_image = saliency.compute_saliency_metrics(
            maps, fixations, attention_maps=attention, threads=threads
        )
        best = min(best, time.perf_counter() - start)
        best_cpu = min(best_cpu, time.process_time() - start_cpu)
    return best, best_cpu, per_image


def time_pysaliency(maps, fixations, attention, total):
    """All metrics with pysaliency on these images; sAUC negatives from ``total`` like ours."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pysaliency
        from pysaliency import metrics as ps_metrics
        from pysaliency import models as ps_models
    if not hasattr(np, "trapz"):  # pysaliency 0.2.22 calls the np.trapz that numpy 2.4 removed
        np.trapz = np.trapezoid  # noqa: NPY201

    class ArrayModel(pysaliency.SaliencyMapModel):
        def __init__(self, stored):
            super().__init__(caching=False)
            self.stored = stored

        def _saliency_map(self, stimulus):
            return self.stored[int(np.asarray(stimulus).flat[0])]

    n = maps.shape[0]
    maps64 = maps.astype(np.float64)
    attention64 = attention.astype(np.float64)
    stimuli = pysaliency.Stimuli([np.full(SIZE_HW, float(i)) for i in range(n)])
    ns, ys, xs = np.nonzero(fixations)
    fix = pysaliency.Fixations.create_without_history(xs.astype(float), ys.astype(float), ns)
    # the shuffled negatives of the whole evaluation set (as in sonomtl's fixation_total)
    others_y, others_x = np.nonzero(total)
    model = ArrayModel(maps64)
    baseline = ArrayModel([saliency.centre_bias_map(SIZE_HW)] * n)
    eps = saliency.IG_EPSILON
    start, start_cpu = time.perf_counter(), time.process_time()
    values = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gains = ps_models.SaliencyMapNormalizingModel(model, minimum_value=eps).information_gains(
            stimuli,
            fix,
            baseline_model=ps_models.SaliencyMapNormalizingModel(baseline, minimum_value=eps),
        )
        values["IG"] = np.array([gains[fix.n == i].mean() for i in range(n)])
        values["CC"] = np.array([ps_metrics.CC(maps64[i], attention64[i]) for i in range(n)])
        values["NSS"] = np.array(
            [ps_metrics.NSS(maps64[i], xs[ns == i], ys[ns == i]).mean() for i in range(n)]
        )
        values["SIM"] = np.array([ps_metrics.SIM(maps64[i], attention64[i]) for i in range(n)])
        values["AUC_Judd"] = np.array(
            model.AUC_per_image(stimuli, fix, nonfixations="unfixated", thresholds="fixations")
        )
        values["AUC_Borji"] = np.array(model.AUC_per_image(stimuli, fix, nonfixations="uniform"))
        sauc = []
        counts = total[others_y, others_x]
        for i in range(n):
            own = fixations[i][others_y, others_x]
            reps = (counts - own).astype(int)
            negatives = maps64[i][np.repeat(others_y, reps), np.repeat(others_x, reps)]
            positives = maps64[i][ys[ns == i], xs[ns == i]]
            sauc.append(pysaliency.roc.general_roc(positives, negatives)[0])
        values["sAUC"] = np.array(sauc)
        values["KLD"] = np.array(
            [ps_metrics.MIT_KLDiv(maps64[i], attention64[i]) for i in range(n)]
        )
    return time.perf_counter() - start, time.process_time() - start_cpu, values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--reference", type=int, default=100, help="images pysaliency scores")
    parser.add_argument("--repeats", type=int, default=3, help="sonomtl runs (best is kept)")
    parser.add_argument("--threads", type=int, default=None, help="sonomtl threads (default: auto)")
    args = parser.parse_args()

    maps, fixations, attention = make_data(args.images)
    total = fixations.sum(axis=0)
    ours_s, ours_cpu, ours = time_sonomtl(maps, fixations, attention, args.repeats, args.threads)
    k = min(args.reference, args.images)
    # warm pysaliency's numba JIT on a tiny problem first, so compilation is not timed
    time_pysaliency(maps[:2], fixations[:2], attention[:2], fixations[:2].sum(axis=0))
    theirs_s, theirs_cpu, theirs = time_pysaliency(maps[:k], fixations[:k], attention[:k], total)
    scale = args.images / k
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")

    print(
        f"saliency metrics, {args.images} maps of {SIZE_HW[0]}x{SIZE_HW[1]} (float32), "
        f"{fixations.sum() / args.images:.1f} fixations per map, all 8 metrics; "
        f"{os.cpu_count()} CPUs, load average {load:.1f}"
    )
    print("               wall s     CPU s")
    print(f"  sonomtl     {ours_s:7.2f}   {ours_cpu:7.2f}   (best of {args.repeats})")
    print(
        f"  pysaliency  {theirs_s * scale:7.2f}   {theirs_cpu * scale:7.2f}   "
        f"({theirs_s:.2f} s wall for {k} maps, scaled x{scale:g})"
    )
    print(
        f"  ratio       {theirs_s * scale / ours_s:7.1f}x  {theirs_cpu * scale / ours_cpu:7.1f}x  "
        "(pysaliency / sonomtl)"
    )
    print(f"  target <= 5 s wall: {'met' if ours_s <= 5.0 else 'NOT met'}")
    print(f"largest |sonomtl - pysaliency| per metric on the first {k} maps:")
    for key in saliency.SALIENCY_KEYS:
        print(f"  {key:<10} {np.max(np.abs(ours[key][:k] - theirs[key])):.2e}")


if __name__ == "__main__":
    main()
