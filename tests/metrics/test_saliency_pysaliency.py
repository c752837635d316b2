"""Saliency metrics equal pysaliency 0.2.22's on the same maps (to 1e-6)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from sonomtl.metrics import saliency

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # pysaliency imports the deprecated pkg_resources
    pysaliency = pytest.importorskip("pysaliency")
    from pysaliency import metrics as ps_metrics
    from pysaliency import models as ps_models

TOL = 1e-6
N_IMAGES, HEIGHT, WIDTH = 6, 24, 32


@pytest.fixture(autouse=True)
def _numpy_trapz_for_pysaliency(monkeypatch):
    """pysaliency 0.2.22 calls np.trapz, which numpy 2.4 removed; np.trapezoid is the same rule."""
    monkeypatch.setattr(np, "trapz", np.trapezoid, raising=False)


class _ArrayModel(pysaliency.SaliencyMapModel):
    """A pysaliency model that returns stored maps; stimulus ``i`` is an image filled with ``i``."""

    def __init__(self, maps):
        super().__init__(caching=False)
        self.maps = maps

    def _saliency_map(self, stimulus):
        return self.maps[int(np.asarray(stimulus).flat[0])]


def _stimuli(n, height, width):
    return pysaliency.Stimuli([np.full((height, width), float(i)) for i in range(n)])


def _fixations_from_counts(counts):
    xs, ys, ns = [], [], []
    for n, image in enumerate(counts):
        for y, x in zip(*np.nonzero(image)):
            for _ in range(int(image[y, x])):
                xs.append(float(x))
                ys.append(float(y))
                ns.append(n)
    return pysaliency.Fixations.create_without_history(np.array(xs), np.array(ys), np.array(ns))


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(1234)
    maps = rng.gamma(2.0, 1.0, size=(N_IMAGES, HEIGHT, WIDTH))
    maps[1] = np.round(maps[1] * 2) / 2  # many ties
    maps[2, :, :10] = 0.0  # exact zeros
    counts = (rng.random((N_IMAGES, HEIGHT, WIDTH)) < 0.03).astype(np.int64)
    counts[0, 5, 7] = 3  # repeated fixations on one pixel
    counts[3, 0, 0] = 2
    attention = rng.gamma(1.0, 1.0, size=(N_IMAGES, HEIGHT, WIDTH))
    attention[4, :12] = 0.0
    return maps, counts, attention


def test_nss_equals_pysaliency_per_fixation_mean(data):
    maps, counts, _ = data
    ours = saliency.compute_nss(maps, counts)
    for n in range(N_IMAGES):
        ys, xs = np.nonzero(counts[n])
        reps = counts[n][ys, xs]
        theirs = ps_metrics.NSS(maps[n], np.repeat(xs, reps), np.repeat(ys, reps)).mean()
        assert ours[n] == pytest.approx(theirs, abs=TOL)


@pytest.mark.filterwarnings("ignore:divide by zero encountered in log")  # inside pysaliency
def test_cc_sim_kld_equal_pysaliency(data):
    maps, _, attention = data
    cc = saliency.compute_cc(maps, attention)
    sim = saliency.compute_sim(maps, attention)
    kld = saliency.compute_kld(maps, attention)
    for n in range(N_IMAGES):
        assert cc[n] == pytest.approx(ps_metrics.CC(maps[n], attention[n]), abs=TOL)
        assert sim[n] == pytest.approx(ps_metrics.SIM(maps[n], attention[n]), abs=TOL)
        assert kld[n] == pytest.approx(ps_metrics.MIT_KLDiv(maps[n], attention[n]), abs=TOL)


def test_auc_judd_equals_pysaliency_without_jitter(data):
    maps, counts, _ = data
    model = _ArrayModel(maps)
    stimuli = _stimuli(N_IMAGES, HEIGHT, WIDTH)
    fixations = _fixations_from_counts(counts)
    theirs = model.AUC_per_image(
        stimuli, fixations, nonfixations="unfixated", thresholds="fixations"
    )
    ours = saliency.compute_auc_judd(maps, counts)
    np.testing.assert_allclose(ours, theirs, atol=TOL, rtol=0)
    mean_theirs = model.AUC_Judd(stimuli, fixations, jitter=False)
    assert ours.mean() == pytest.approx(mean_theirs, abs=TOL)


def test_auc_borji_equals_pysaliency_uniform_nonfixations(data):
    maps, counts, _ = data
    model = _ArrayModel(maps)
    stimuli = _stimuli(N_IMAGES, HEIGHT, WIDTH)
    theirs = model.AUC_per_image(stimuli, _fixations_from_counts(counts), nonfixations="uniform")
    np.testing.assert_allclose(saliency.compute_auc_borji(maps, counts), theirs, atol=TOL, rtol=0)


def test_shuffled_auc_equals_pysaliency_shuffled_nonfixations(data):
    maps, counts, _ = data
    model = _ArrayModel(maps)
    stimuli = _stimuli(N_IMAGES, HEIGHT, WIDTH)
    theirs = model.AUC_per_image(stimuli, _fixations_from_counts(counts), nonfixations="shuffled")
    np.testing.assert_allclose(saliency.compute_sauc(maps, counts), theirs, atol=TOL, rtol=0)


def test_information_gain_equals_pysaliency_normalising_model(data):
    maps, counts, _ = data
    baseline = saliency.centre_bias_map((HEIGHT, WIDTH))
    model = ps_models.SaliencyMapNormalizingModel(
        _ArrayModel(maps), minimum_value=saliency.IG_EPSILON
    )
    base = ps_models.SaliencyMapNormalizingModel(
        _ArrayModel([baseline] * N_IMAGES), minimum_value=saliency.IG_EPSILON
    )
    stimuli = _stimuli(N_IMAGES, HEIGHT, WIDTH)
    fixations = _fixations_from_counts(counts)
    per_fixation = model.information_gains(stimuli, fixations, baseline_model=base)
    theirs = [per_fixation[fixations.n == n].mean() for n in range(N_IMAGES)]
    ours = saliency.compute_information_gain(maps, counts)
    np.testing.assert_allclose(ours, theirs, atol=TOL, rtol=0)


def test_centre_bias_has_pysaliency_gaussian_shape_shifted_half_a_pixel():
    theirs = pysaliency.GaussianSaliencyMapModel(width=0.5).saliency_map(np.zeros((HEIGHT, WIDTH)))
    ours = saliency.centre_bias_map((HEIGHT, WIDTH), sigma_fraction=0.5)
    # pysaliency centres at (W/2, H/2), ours at ((W-1)/2, (H-1)/2): its formula at x + 1/2, y + 1/2.
    y, x = np.mgrid[:HEIGHT, :WIDTH].astype(float)
    shifted = np.exp(
        -0.5 * (((x + 0.5) / WIDTH - 0.5) ** 2 + ((y + 0.5) / HEIGHT - 0.5) ** 2) / 0.25
    )
    np.testing.assert_allclose(ours, shifted, atol=1e-12)
    assert ours.max() < 1.0 and theirs.max() == 1.0


def test_batch_function_matches_the_single_metric_functions(data):
    maps, counts, attention = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        per_image = saliency.compute_saliency_metrics(maps, counts, attention_maps=attention)
    np.testing.assert_allclose(per_image["NSS"], saliency.compute_nss(maps, counts), atol=1e-12)
    np.testing.assert_allclose(per_image["CC"], saliency.compute_cc(maps, attention), atol=1e-12)
    np.testing.assert_allclose(per_image["KLD"], saliency.compute_kld(maps, attention), atol=1e-12)
    np.testing.assert_allclose(per_image["sAUC"], saliency.compute_sauc(maps, counts), atol=1e-12)
    np.testing.assert_allclose(
        per_image["IG"], saliency.compute_information_gain(maps, counts), atol=1e-12
    )
