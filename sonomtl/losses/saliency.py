"""Saliency losses L_S between a predicted attention map A-hat and the gaze map A (training's).

M-SEN (paper 000) trains its saliency branch with either binary cross-entropy
(each pixel an independent "fixated or not" variable, target ``A`` in [0, 1])
or the mean squared error. BCE is computed from the logits, which is exact
and numerically stable (no ``log(0)`` for saturated sigmoids). Each sample's
loss is the mean over its pixels; the batch loss is the mean over the samples
that have a ground-truth map.
"""

from __future__ import annotations

import typing
from typing import Literal

import torch
import torch.nn.functional as F

__all__ = ["SALIENCY_LOSSES", "SaliencyLossKind", "saliency_bce", "saliency_mse", "saliency_loss"]

#: The kinds of L_S.
SaliencyLossKind = Literal["bce", "mse"]
SALIENCY_LOSSES: tuple[str, ...] = typing.get_args(SaliencyLossKind)


def _check(prediction: torch.Tensor, target: torch.Tensor, name: str) -> None:
    if prediction.shape != target.shape or prediction.ndim < 1:
        raise ValueError(f"{name} and target must have the same (N, ...) shape, got "
                         f"{tuple(prediction.shape)} and {tuple(target.shape)}")
    if target.numel() and (float(target.min()) < 0.0 or float(target.max()) > 1.0):
        raise ValueError(f"target attention must lie in [0, 1], got [{float(target.min()):g}, "
                         f"{float(target.max()):g}]")


def saliency_bce(attention_logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per sample ``(N,)``: mean pixel BCE of ``sigmoid(attention_logits)`` against ``target``.

    ``-mean(A log A_hat + (1 - A) log(1 - A_hat))`` over each sample's pixels.
    """
    _check(attention_logits, target, "attention_logits")
    per_pixel = F.binary_cross_entropy_with_logits(attention_logits.float(), target.float(),
                                                   reduction="none")
    return per_pixel.flatten(1).mean(dim=1) if per_pixel.ndim > 1 else per_pixel


def saliency_mse(attention: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per sample ``(N,)``: mean squared error between attention (probabilities) and ``target``."""
    _check(attention, target, "attention")
    per_pixel = (attention.float() - target.float()) ** 2
    return per_pixel.flatten(1).mean(dim=1) if per_pixel.ndim > 1 else per_pixel


def saliency_loss(
    attention_logits: torch.Tensor,
    attention: torch.Tensor,
    target: torch.Tensor,
    *,
    kind: str,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """L_S of the batch: BCE (from the logits) or MSE (on ``attention``), masked sample mean.

    Parameters
    ----------
    attention_logits, attention
        Predicted map logits and their sigmoid, ``(N, 1, H, W)``.
    target
        Ground-truth maps in [0, 1], ``(N, 1, H, W)``.
    kind
        ``"bce"`` or ``"mse"``.
    mask
        ``(N,)`` bool: samples that have a ground-truth map (default all).
        The mean is over those samples; 0 (with gradient) if none.
    """
    if kind not in SALIENCY_LOSSES:
        raise ValueError(f"kind: expected one of {SALIENCY_LOSSES}, got {kind!r}")
    per_sample = (saliency_bce(attention_logits, target) if kind == "bce"
                  else saliency_mse(attention, target))
    if mask is None:
        return per_sample.mean()
    weights = mask.to(per_sample.dtype)
    return (per_sample * weights).sum() / weights.sum().clamp_min(1.0)
