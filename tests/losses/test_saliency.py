"""Saliency losses L_S: BCE on logits and MSE on probabilities, against hand computations."""

from __future__ import annotations

import math

import pytest
import torch

from sonomtl.losses.saliency import saliency_bce, saliency_loss, saliency_mse


def _bce(target: float, logit: float) -> float:
    p = 1 / (1 + math.exp(-logit))
    return -(target * math.log(p) + (1 - target) * math.log(1 - p))


def test_bce_is_each_samples_mean_over_its_pixels_then_the_mean_over_samples():
    logits = torch.tensor([[[[0.0, 2.0], [-1.0, 3.0]]], [[[1.0, 1.0], [1.0, 1.0]]]])
    target = torch.tensor([[[[0.5, 1.0], [0.0, 0.25]]], [[[1.0, 1.0], [1.0, 1.0]]]])
    first = sum(_bce(t, z) for t, z in zip([0.5, 1.0, 0.0, 0.25], [0.0, 2.0, -1.0, 3.0])) / 4
    second = _bce(1.0, 1.0)
    assert saliency_bce(logits, target).tolist() == pytest.approx([first, second], rel=1e-6)
    loss = saliency_loss(logits, torch.sigmoid(logits), target, kind="bce")
    assert float(loss) == pytest.approx((first + second) / 2, rel=1e-6)


def test_bce_stays_finite_for_saturated_logits():
    loss = saliency_bce(torch.tensor([[-200.0, 200.0]]), torch.tensor([[1.0, 0.0]]))
    assert loss.tolist() == pytest.approx([200.0])


def test_mse_is_computed_on_the_probabilities():
    attention = torch.tensor([[0.2, 0.9, 0.5]])
    target = torch.tensor([[0.0, 1.0, 0.5]])
    assert saliency_mse(attention, target).tolist() == pytest.approx([(0.04 + 0.01) / 3])
    loss = saliency_loss(torch.logit(attention), attention, target, kind="mse")
    assert float(loss) == pytest.approx(0.05 / 3, rel=1e-5)


def test_the_mask_keeps_samples_with_a_map_and_an_empty_mask_gives_zero_with_gradient():
    attention = torch.tensor([[0.2, 0.4], [0.9, 0.9]], requires_grad=True)
    target = torch.tensor([[0.0, 0.0], [0.0, 0.0]])
    loss = saliency_loss(torch.logit(attention), attention, target, kind="mse",
                         mask=torch.tensor([True, False]))
    assert float(loss) == pytest.approx((0.04 + 0.16) / 2)
    none = saliency_loss(torch.logit(attention), attention, target, kind="mse",
                         mask=torch.tensor([False, False]))
    none.backward()
    assert float(none) == 0.0 and attention.grad is not None


def test_bad_arguments_raise_value_errors_naming_them():
    with pytest.raises(ValueError, match="same"):
        saliency_bce(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 5))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        saliency_mse(torch.zeros(2), torch.tensor([0.0, 2.0]))
    with pytest.raises(ValueError, match="kind"):
        saliency_loss(torch.zeros(2), torch.zeros(2), torch.zeros(2), kind="kld")
