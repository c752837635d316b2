"""Adversarial losses, written on discriminator *logits* for numerical stability.

* :func:`discriminator_loss` - M-SEN eq. 1,
  ``L_D = -1/m sum[log D(I, A) + log(1 - D(I, A_hat))]``, with one-sided label
  smoothing: the real target is ``real_target`` (e.g. 0.9) instead of 1, the
  fake target stays 0. With ``real_target=1`` it is eq. 1 exactly.
* :func:`generator_adversarial_loss` - the adversarial term of eq. 2,
  ``-lambda3/m sum log D(I, A_hat)``.
* :func:`patch_bce` - the binary cross-entropy of paper 004 eq. 4, averaged over
  every patch of a PatchGAN output; it accepts any output shape, so a
  single-probability discriminator (shape ``(N,)``) is the one-patch case.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["patch_bce", "discriminator_loss", "generator_adversarial_loss"]


def patch_bce(logits: torch.Tensor, *, target: float) -> torch.Tensor:
    """Mean BCE of ``sigmoid(logits)`` against the constant ``target`` over every element.

    ``-mean(y log p + (1 - y) log(1 - p))`` with ``p = sigmoid(logits)``, over
    the batch and all patches (paper 004 eq. 4).
    """
    if not 0.0 <= target <= 1.0:
        raise ValueError(f"target must lie in [0, 1], got {target!r}")
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, float(target)))


def discriminator_loss(
    real_logits: torch.Tensor,
    fake_logits: torch.Tensor,
    *,
    real_target: float = 0.9,
    fake_target: float = 0.0,
) -> torch.Tensor:
    """Eq. 1 with one-sided label smoothing: ``BCE(real, real_target) + BCE(fake, fake_target)``.

    Pass ``fake_logits`` computed from a detached ``A_hat`` so that this loss
    updates only the discriminator.
    """
    return patch_bce(real_logits, target=real_target) + patch_bce(fake_logits, target=fake_target)


def generator_adversarial_loss(fake_logits: torch.Tensor, *, weight: float = 1.0) -> torch.Tensor:
    """Eq. 2's adversarial term ``-weight * mean log D(I, A_hat)`` (``weight`` = lambda3).

    ``-log sigmoid(z) = softplus(-z)``, exact for any logit.
    """
    return weight * F.softplus(-fake_logits).mean()
