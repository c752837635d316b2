"""Saliency losses L_S between a predicted attention map A-hat and the gaze map A.

M-SEN (paper 000) trains its saliency branch with either binary cross-entropy
(each pixel an independent "fixated or not" variable, target ``A`` in [0, 1])
or the mean squared error. BCE is computed from the logits, which is exact
and numerically stable (no ``log(0)`` for saturated sigmoids).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

__all__ = ["saliency_bce", "saliency_mse", "saliency_loss"]


def _check(prediction: torch.Tensor, target: torch.Tensor, name: str) -> None:
    if prediction.shape != target.shape:
        raise ValueError(f"{name} and target must have the same shape, got "
                         f"{tuple(prediction.shape)} and {tuple(target.shape)}")
    if target.numel() and (float(target.min()) < 0.0 or float(target.max()) > 1.0):
        raise ValueError(f"target attention must lie in [0, 1], got [{float(target.min()):g}, "
                         f"{float(target.max()):g}]")


def saliency_bce(attention_logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean pixel-wise BCE of ``sigmoid(attention_logits)`` against ``target`` in [0, 1].

    ``-mean(A log A_hat + (1 - A) log(1 - A_hat))`` over every pixel of the batch.
    """
    _check(attention_logits, target, "attention_logits")
    return F.binary_cross_entropy_with_logits(attention_logits, target.to(attention_logits.dtype))


def saliency_mse(attention: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean pixel-wise squared error between the attention map (probabilities) and ``target``."""
    _check(attention, target, "attention")
    return F.mse_loss(attention, target.to(attention.dtype))


def saliency_loss(
    *, attention_logits: torch.Tensor, target: torch.Tensor, kind: Literal["bce", "mse"]
) -> torch.Tensor:
    """L_S of the named ``kind``: ``"bce"`` on the logits, ``"mse"`` on ``sigmoid(logits)``."""
    if kind == "bce":
        return saliency_bce(attention_logits, target)
    if kind == "mse":
        return saliency_mse(torch.sigmoid(attention_logits), target)
    raise ValueError(f"kind must be 'bce' or 'mse', got {kind!r}")
