"""Saliency losses L_S: BCE on logits and MSE on probabilities, against hand computations."""

from __future__ import annotations

import math

import pytest
import torch

from sonomtl.losses.saliency import saliency_bce, saliency_loss, saliency_mse


def test_bce_matches_the_hand_computed_mean_over_pixels():
    logits = torch.tensor([[[[0.0, 2.0], [-1.0, 3.0]]]])
    target = torch.tensor([[[[0.5, 1.0], [0.0, 0.25]]]])
    p = [0.5, 1 / (1 + math.exp(-2)), 1 / (1 + math.exp(1)), 1 / (1 + math.exp(-3))]
    a = [0.5, 1.0, 0.0, 0.25]
    expected = -sum(t * math.log(q) + (1 - t) * math.log(1 - q) for t, q in zip(a, p)) / 4
    assert float(saliency_bce(logits, target)) == pytest.approx(expected, rel=1e-6)
    assert float(
        saliency_loss(attention_logits=logits, target=target, kind="bce")
    ) == pytest.approx(expected, rel=1e-6)


def test_bce_stays_finite_for_saturated_logits():
    logits = torch.tensor([[-200.0, 200.0]])
    loss = saliency_bce(logits, torch.tensor([[1.0, 0.0]]))
    assert float(loss) == pytest.approx(200.0)


def test_mse_matches_the_hand_computed_mean_over_pixels():
    attention = torch.tensor([[0.2, 0.9, 0.5]])
    target = torch.tensor([[0.0, 1.0, 0.5]])
    assert float(saliency_mse(attention, target)) == pytest.approx((0.04 + 0.01 + 0.0) / 3)
    logits = torch.logit(attention)
    assert float(
        saliency_loss(attention_logits=logits, target=target, kind="mse")
    ) == pytest.approx(0.05 / 3, rel=1e-5)


def test_bad_arguments_raise_value_errors_naming_them():
    with pytest.raises(ValueError, match="same shape"):
        saliency_bce(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 5))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        saliency_mse(torch.zeros(2), torch.tensor([0.0, 2.0]))
    with pytest.raises(ValueError, match="kind"):
        saliency_loss(attention_logits=torch.zeros(2), target=torch.zeros(2), kind="kld")
