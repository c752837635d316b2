"""Adversarial losses (M-SEN eqs. 1-2, paper 004 eq. 4) on logits, against hand computations."""

from __future__ import annotations

import math

import pytest
import torch

from sonomtl.losses.adversarial import discriminator_loss, generator_adversarial_loss, patch_bce


def _sig(z: float) -> float:
    return 1 / (1 + math.exp(-z))


REAL, FAKE = [1.5, -0.5], [0.3, -2.0]


def test_discriminator_loss_without_smoothing_is_equation_1():
    # L_D = -1/m sum[log D(I, A) + log(1 - D(I, A_hat))]
    expected = -sum(math.log(_sig(r)) + math.log(1 - _sig(f)) for r, f in zip(REAL, FAKE)) / 2
    loss = discriminator_loss(torch.tensor(REAL), torch.tensor(FAKE), real_target=1.0)
    assert float(loss) == pytest.approx(expected, rel=1e-6)


def test_one_sided_label_smoothing_softens_only_the_real_target():
    real = -sum(0.9 * math.log(_sig(r)) + 0.1 * math.log(1 - _sig(r)) for r in REAL) / 2
    fake = -sum(math.log(1 - _sig(f)) for f in FAKE) / 2
    loss = discriminator_loss(torch.tensor(REAL), torch.tensor(FAKE), real_target=0.9)
    assert float(loss) == pytest.approx(real + fake, rel=1e-6)


def test_generator_term_is_minus_the_mean_log_d_of_the_fake():
    expected = -sum(math.log(_sig(f)) for f in FAKE) / 2
    loss = generator_adversarial_loss(torch.tensor(FAKE))
    assert float(loss) == pytest.approx(expected, rel=1e-6)


def test_a_discriminator_that_outputs_probabilities_gives_the_same_losses_as_its_logits():
    real, fake = torch.tensor(REAL), torch.tensor(FAKE)
    from_probabilities = discriminator_loss(torch.sigmoid(real), torch.sigmoid(fake),
                                            real_target=0.9, output="probability")
    assert float(from_probabilities) == pytest.approx(
        float(discriminator_loss(real, fake, real_target=0.9)), rel=1e-5)
    assert float(generator_adversarial_loss(torch.sigmoid(fake), output="probability")) == \
        pytest.approx(float(generator_adversarial_loss(fake)), rel=1e-5)
    with pytest.raises(ValueError, match="output"):
        patch_bce(real, target=1.0, output="score")


def test_generator_term_is_finite_and_exact_for_very_negative_logits():
    # -log sigmoid(-100) = 100 + log(1 + e^-100) ~ 100; a naive log(sigmoid) gives inf
    assert float(generator_adversarial_loss(torch.tensor([-100.0]))) == pytest.approx(100.0)


def test_patch_bce_averages_over_batch_and_every_patch():
    logits = torch.tensor([[[[0.0, 1.0], [-1.0, 2.0]]], [[[3.0, 0.0], [0.0, -3.0]]]])
    values = logits.ravel().tolist()
    expected = -sum(math.log(_sig(z)) for z in values) / len(values)
    assert float(patch_bce(logits, target=1.0)) == pytest.approx(expected, rel=1e-6)
    expected_fake = -sum(math.log(1 - _sig(z)) for z in values) / len(values)
    assert float(patch_bce(logits, target=0.0)) == pytest.approx(expected_fake, rel=1e-6)


def test_discriminator_loss_accepts_patch_outputs_of_any_shape():
    real, fake = torch.zeros(2, 1, 30, 30), torch.zeros(2, 1, 30, 30)
    assert float(discriminator_loss(real, fake, real_target=1.0)) == pytest.approx(2 * math.log(2))


def test_targets_outside_0_1_are_rejected():
    with pytest.raises(ValueError, match="target"):
        patch_bce(torch.zeros(3), target=1.5)
