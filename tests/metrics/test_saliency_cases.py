"""Saliency metrics on hand-computed cases (perfect, uniform, inverted maps) and on bad input."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from sonomtl.metrics import saliency

# One fixation in the centre of a 3x3 image.
FIXATIONS = np.zeros((3, 3), dtype=bool)
FIXATIONS[1, 1] = True
PERFECT = FIXATIONS.astype(float)
UNIFORM = np.full((3, 3), 0.5)
INVERTED = 1.0 - PERFECT
KLD_EPS = 2.2204e-16


def _all(maps, fixations=FIXATIONS, **kwargs):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="sAUC is undefined")  # a single image
        per_image = saliency.compute_saliency_metrics(maps, fixations, **kwargs)
    return {key: float(values[0]) for key, values in per_image.items()}


def test_perfect_map_scores_by_hand():
    # mean 1/9, population std sqrt(8)/9 -> NSS = (8/9) / (sqrt(8)/9) = sqrt(8)
    values = _all(PERFECT, attention_maps=PERFECT, baseline_map=UNIFORM)
    assert values["NSS"] == pytest.approx(math.sqrt(8), abs=1e-12)
    assert values["AUC_Judd"] == pytest.approx(1.0, abs=1e-12)
    assert values["AUC_Borji"] == pytest.approx(8.5 / 9, abs=1e-12)  # 8 pixels below, itself tied
    assert values["CC"] == pytest.approx(1.0, abs=1e-12)
    assert values["SIM"] == pytest.approx(1.0, abs=1e-12)
    assert values["KLD"] == pytest.approx(0.0, abs=1e-12)
    # p_model(fixation) ~ 1, p_uniform = 1/9: log2(9) bits
    assert values["IG"] == pytest.approx(math.log2(9), abs=1e-9)


def test_uniform_map_scores_chance_without_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        values = _all(UNIFORM, attention_maps=PERFECT, baseline_map=UNIFORM)
    assert values["NSS"] == 0.0
    assert values["CC"] == 0.0
    assert values["AUC_Judd"] == pytest.approx(0.5, abs=1e-12)
    assert values["AUC_Borji"] == pytest.approx(0.5, abs=1e-12)
    assert values["SIM"] == pytest.approx(1 / 9, abs=1e-12)
    assert values["KLD"] == pytest.approx(math.log(9), abs=1e-9)
    assert values["IG"] == pytest.approx(0.0, abs=1e-12)


def test_inverted_map_scores_by_hand():
    values = _all(INVERTED, attention_maps=PERFECT, baseline_map=UNIFORM)
    assert values["NSS"] == pytest.approx(-math.sqrt(8), abs=1e-12)
    assert values["CC"] == pytest.approx(-1.0, abs=1e-12)
    # Judd thresholds only at fixated values: the fixated value is the minimum -> straight line.
    assert values["AUC_Judd"] == pytest.approx(0.5, abs=1e-12)
    assert values["AUC_Borji"] == pytest.approx(0.5 / 9, abs=1e-12)
    assert values["SIM"] == pytest.approx(0.0, abs=1e-12)
    assert values["KLD"] == pytest.approx(math.log(KLD_EPS + 1 / KLD_EPS), abs=1e-9)
    # p_model(fix) = 1e-20 / (8 + 9e-20); baseline 1/9
    assert values["IG"] == pytest.approx(math.log2(1e-20 / 8) - math.log2(1 / 9), abs=1e-9)


def test_shuffled_auc_uses_the_other_images_fixations():
    fixations = np.zeros((2, 2, 2), dtype=np.int64)
    fixations[0, 0, 0] = 1
    fixations[1, 1, 1] = 2
    maps = np.array([[[1.0, 0.0], [0.0, 0.0]], [[3.0, 0.0], [0.0, 3.0]]])
    # image 0: positive 1 vs negatives {0, 0} (image 1's two fixations at (1, 1)) -> 1
    # image 1: positives {3, 3} vs negative {3} (image 0's fixation at (0, 0)) -> ties -> 0.5
    np.testing.assert_allclose(saliency.compute_sauc(maps, fixations), [1.0, 0.5])
    # the same images scored as a batch of a larger set with more fixations elsewhere
    total = fixations.sum(axis=0)
    total[0, 1] = 4  # 4 fixations at (0, 1) from images not in this batch
    np.testing.assert_allclose(
        saliency.compute_sauc(maps, fixations, fixation_total=total), [1.0, (4 * 1.0 + 0.5) / 5]
    )


def test_repeated_fixations_weigh_by_their_count():
    maps = np.array([[0.0, 1.0, 2.0, 3.0]])
    counts = np.array([[0, 0, 1, 3]])
    z = (maps[0] - maps[0].mean()) / maps[0].std()
    assert saliency.compute_nss(maps, counts)[0] == pytest.approx((z[2] + 3 * z[3]) / 4)


def test_negative_values_shift_nss_cc_and_auc_not():
    rng = np.random.default_rng(0)
    maps = rng.random((2, 5, 6))
    fixations = rng.random((2, 5, 6)) > 0.7
    shifted = maps - 10.0
    np.testing.assert_allclose(
        saliency.compute_nss(shifted, fixations), saliency.compute_nss(maps, fixations)
    )
    np.testing.assert_allclose(
        saliency.compute_auc_judd(shifted, fixations), saliency.compute_auc_judd(maps, fixations)
    )
    np.testing.assert_allclose(saliency.compute_cc(shifted, maps), [1.0, 1.0])


def test_torch_tensors_give_the_same_values():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    maps = rng.random((3, 6, 7))
    fixations = rng.random((3, 6, 7)) > 0.8
    fixations[:, 0, 0] = True
    ours = saliency.compute_saliency_metrics(maps, fixations)
    theirs = saliency.compute_saliency_metrics(torch.from_numpy(maps), torch.from_numpy(fixations))
    for key in saliency.SALIENCY_KEYS:
        np.testing.assert_allclose(ours[key], theirs[key], atol=1e-12)


def test_float32_input_gives_the_float64_values():
    rng = np.random.default_rng(2)
    maps = rng.random((70, 8, 9)).astype(np.float32)  # more than one chunk of 64
    fixations = rng.random((70, 8, 9)) > 0.8
    fixations[:, 4, 4] = True
    ours = saliency.compute_saliency_metrics(maps, fixations)
    ref = saliency.compute_saliency_metrics(maps.astype(np.float64), fixations.astype(np.int32))
    for key in saliency.SALIENCY_KEYS:
        np.testing.assert_allclose(ours[key], ref[key], atol=1e-12)


def test_accumulator_equals_one_call_on_the_whole_set():
    rng = np.random.default_rng(3)
    maps = rng.random((10, 6, 6))
    fixations = rng.random((10, 6, 6)) > 0.8
    fixations[:, 2, 3] = True
    whole = saliency.summarise_saliency(saliency.compute_saliency_metrics(maps, fixations))
    acc = saliency.SaliencyAccumulator(fixation_total=fixations.sum(axis=0))
    for start in range(0, 10, 4):
        acc.update(maps[start : start + 4], fixations[start : start + 4])
    result = acc.compute()
    for key in saliency.SALIENCY_KEYS:
        assert result[key] == pytest.approx(whole[key], abs=1e-12)
    assert result["n_images"] == 10
    acc_without_total = saliency.SaliencyAccumulator()
    acc_without_total.update(maps, fixations)
    assert "sAUC" not in acc_without_total.compute()


def test_mean_density_map_is_the_mean_of_normalised_maps():
    maps = np.array([[[1.0, 1.0], [0.0, 2.0]], [[0.0, 0.0], [0.0, 0.0]], [[0.0, 3.0], [1.0, 0.0]]])
    np.testing.assert_allclose(saliency.mean_density_map(maps), [[0.125, 0.5], [0.125, 0.25]])


def test_centre_bias_peaks_in_the_centre_of_an_odd_image():
    bias = saliency.centre_bias_map((5, 7), sigma_fraction=0.25)
    assert np.unravel_index(bias.argmax(), bias.shape) == (2, 3)
    assert bias[2, 3] == 1.0
    # one column right: exp(-0.5 * (1/7)^2 / 0.25^2)
    assert bias[2, 4] == pytest.approx(math.exp(-0.5 * (1 / 7) ** 2 / 0.0625))


# ---- bad input -------------------------------------------------------------------------------


def test_shape_mismatch_names_both_shapes():
    with pytest.raises(
        ValueError, match=r"saliency_maps and fixation_maps .*\(1, 3, 3\) and \(1, 3, 4\)"
    ):
        saliency.compute_nss(np.ones((3, 3)), np.ones((3, 4)))


def test_wrong_number_of_dimensions_is_rejected():
    with pytest.raises(
        ValueError, match=r"shape \(N, H, W\) or \(H, W\), received shape \(2, 2, 2, 2\)"
    ):
        saliency.compute_cc(np.ones((2, 2, 2, 2)), np.ones((2, 2, 2, 2)))


def test_nan_is_rejected():
    maps = PERFECT.copy()
    maps[0, 0] = np.nan
    with pytest.raises(
        ValueError, match="saliency_maps must hold finite values, received 1 NaN/inf"
    ):
        saliency.compute_saliency_metrics(maps, FIXATIONS)


def test_negative_values_are_rejected_where_the_map_is_a_distribution():
    with pytest.raises(ValueError, match="saliency_maps must be non-negative"):
        saliency.compute_sim(PERFECT - 1, PERFECT)
    with pytest.raises(ValueError, match="attention_maps must be non-negative"):
        saliency.compute_kld(PERFECT, PERFECT - 1)
    with pytest.raises(ValueError, match="saliency_maps must be non-negative"):
        saliency.compute_information_gain(PERFECT - 1, FIXATIONS)


def test_fractional_fixations_are_rejected():
    with pytest.raises(ValueError, match="fixation_maps must hold fixation counts"):
        saliency.compute_nss(PERFECT, PERFECT * 0.5)


def test_empty_fixation_map_gives_nan_and_one_warning():
    fixations = np.stack([FIXATIONS, np.zeros_like(FIXATIONS)])
    maps = np.stack([PERFECT, PERFECT])
    with pytest.warns(
        RuntimeWarning,
        match=r"NSS is undefined \(NaN\) for 1 of 2 image\(s\): the fixation map is empty",
    ):
        nss = saliency.compute_nss(maps, fixations)
    assert nss[0] == pytest.approx(math.sqrt(8)) and np.isnan(nss[1])
    with pytest.warns(RuntimeWarning) as record:
        per_image = saliency.compute_saliency_metrics(maps, fixations, attention_maps=maps)
    assert sorted(str(w.message) for w in record) == [
        "IG, NSS and the AUCs is undefined (NaN) for 1 of 2 image(s): the fixation map is empty",
        # image 0 is the only one with fixations: no negatives for its shuffled AUC
        "sAUC is undefined (NaN) for 1 of 2 image(s): no other image has fixations",
    ]
    for key in ("IG", "NSS", "AUC_Judd", "AUC_Borji", "sAUC"):
        assert np.isnan(per_image[key][1]), key
    assert np.isnan(per_image["sAUC"][0])
    summary = saliency.summarise_saliency(per_image)
    assert summary["n_images"] == 1 and summary["NSS"] == pytest.approx(math.sqrt(8))


def test_constant_attention_map_makes_cc_nan_with_a_warning():
    with pytest.warns(RuntimeWarning, match=r"CC is undefined .* constant \(zero variance\)"):
        assert np.isnan(saliency.compute_cc(PERFECT, UNIFORM)[0])


def test_all_zero_attention_map_makes_sim_and_kld_nan_with_a_warning():
    with pytest.warns(RuntimeWarning, match="SIM is undefined .* all zero"):
        assert np.isnan(saliency.compute_sim(PERFECT, np.zeros((3, 3)))[0])
    with pytest.warns(RuntimeWarning, match="KLD is undefined .* all zero"):
        assert np.isnan(saliency.compute_kld(PERFECT, np.zeros((3, 3)))[0])


def test_every_pixel_fixated_makes_auc_judd_nan_with_a_warning():
    with pytest.warns(RuntimeWarning, match="every pixel is fixated"):
        assert np.isnan(saliency.compute_auc_judd(PERFECT, np.ones((3, 3), dtype=bool))[0])


def test_baseline_of_the_wrong_shape_is_rejected():
    with pytest.raises(ValueError, match=r"baseline_map must have shape \(3, 3\)"):
        saliency.compute_information_gain(PERFECT, FIXATIONS, baseline_map=np.ones((4, 4)))


def test_fixation_total_missing_an_images_fixations_is_rejected():
    with pytest.raises(ValueError, match="fixation_total must count every image's fixations"):
        saliency.compute_sauc(PERFECT, FIXATIONS, fixation_total=np.zeros((3, 3)) + (PERFECT == 0))


def test_accumulator_without_updates_refuses_to_compute():
    with pytest.raises(ValueError, match="needs at least one update"):
        saliency.SaliencyAccumulator().compute()


def test_one_baseline_per_image_is_used_for_its_own_image():
    rng = np.random.default_rng(4)
    maps = rng.random((70, 5, 5))  # more than one chunk
    fixations = rng.random((70, 5, 5)) > 0.7
    fixations[:, 0, 0] = True
    baselines = rng.random((70, 5, 5))
    together = saliency.compute_saliency_metrics(maps, fixations, baseline_map=baselines)["IG"]
    one_by_one = [
        saliency.compute_information_gain(maps[i], fixations[i], baseline_map=baselines[i])[0]
        for i in (0, 65, 69)
    ]
    np.testing.assert_allclose(together[[0, 65, 69]], one_by_one, atol=1e-12)
