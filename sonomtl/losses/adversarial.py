"""Adversarial losses, the ones training uses, on discriminator logits (or probabilities).

* :func:`patch_bce` - the binary cross-entropy of paper 004 eq. 4, averaged over
  every patch of a PatchGAN output; it accepts any output shape, so a
  single-probability discriminator (shape ``(N,)``) is the one-patch case.
* :func:`discriminator_loss` - M-SEN eq. 1,
  ``L_D = -1/m sum[log D(I, A) + log(1 - D(I, A_hat))]``, with optional
  one-sided label smoothing: the real target ``real_target`` (e.g. 0.9)
  instead of 1. With ``real_target=1`` it is eq. 1 exactly.
* :func:`generator_adversarial_loss` - the adversarial term of eq. 2 before its
  weight lambda3, ``-1/m sum log D(I, A_hat)``.

``output="logit"`` (the default) computes from logits, exact for any value;
``output="probability"`` takes a discriminator that ends in a sigmoid, its
outputs clamped to ``[1e-7, 1 - 1e-7]``. Outputs are cast to float32 first
(autocast may give bf16 or fp16).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["OUTPUTS", "patch_bce", "discriminator_loss", "generator_adversarial_loss"]

#: What a discriminator's output means.
OUTPUTS = ("logit", "probability")


def patch_bce(outputs: torch.Tensor, *, target: float, output: str = "logit") -> torch.Tensor:
    """Mean BCE of the discriminator ``outputs`` against the constant ``target``, every element.

    ``-mean(y log p + (1 - y) log(1 - p))`` with ``p = sigmoid(outputs)`` for
    logits, over the batch and all patches (paper 004 eq. 4).
    """
    if not 0.0 <= target <= 1.0:
        raise ValueError(f"target must lie in [0, 1], got {target!r}")
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
    values = outputs.float()
    labels = torch.full_like(values, float(target))
    if output == "logit":
        return F.binary_cross_entropy_with_logits(values, labels)
    return F.binary_cross_entropy(values.clamp(1e-7, 1 - 1e-7), labels)


def discriminator_loss(
    real: torch.Tensor,
    fake: torch.Tensor,
    *,
    real_target: float = 1.0,
    fake_target: float = 0.0,
    output: str = "logit",
) -> torch.Tensor:
    """Eq. 1: ``BCE(real, real_target) + BCE(fake, fake_target)`` of the discriminator's outputs.

    Compute ``fake`` from a detached ``A_hat`` so that this loss updates only
    the discriminator.
    """
    return (patch_bce(real, target=real_target, output=output)
            + patch_bce(fake, target=fake_target, output=output))


def generator_adversarial_loss(fake: torch.Tensor, *, output: str = "logit") -> torch.Tensor:
    """Eq. 2's adversarial term before lambda3: ``-mean log D(I, A_hat)`` (target 1)."""
    return patch_bce(fake, target=1.0, output=output)
