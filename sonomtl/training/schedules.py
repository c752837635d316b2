"""Loss-weight and learning-rate schedules over a stage (pure functions)."""

from __future__ import annotations

import math

import torch

from sonomtl.config import LossWeightConfig, OptimizerConfig

__all__ = ["loss_weight", "lr_factor", "build_lr_scheduler"]


def loss_weight(
    schedule: LossWeightConfig, *, epoch: int, num_epochs: int | None, step: int, num_steps: int
) -> float:
    """Weight of a loss term at a point of its stage.

    Linear schedules go from ``start`` at the first epoch (or step) to ``end``
    at the last one: with ``per: epoch`` over 30 epochs, epoch ``e`` (0-based)
    has ``start + (end - start) * e / 29``.

    Parameters
    ----------
    schedule
        The configured weight.
    epoch, num_epochs
        0-based epoch in the stage and the stage's epochs (``None`` for step stages).
    step, num_steps
        0-based optimisation step in the stage and the stage's total steps.

    Examples
    --------
    >>> w = LossWeightConfig(start=2.0, end=1.0)
    >>> [loss_weight(w, epoch=e, num_epochs=3, step=0, num_steps=30) for e in range(3)]
    [2.0, 1.5, 1.0]
    """
    if schedule.end is None or schedule.end == schedule.start:
        return float(schedule.start)
    if schedule.per == "epoch" and num_epochs is not None:
        position, last = epoch, num_epochs - 1
    else:
        position, last = step, num_steps - 1
    fraction = 1.0 if last <= 0 else min(max(position / last, 0.0), 1.0)
    return float(schedule.start + (schedule.end - schedule.start) * fraction)


def lr_factor(config: OptimizerConfig, *, step: int, num_steps: int) -> float:
    """Multiplier of the base learning rate after ``step`` optimiser steps of ``num_steps``.

    ``constant``: 1; ``linear``: from 1 to ``final_lr_factor``; ``cosine``:
    half a cosine from 1 to ``final_lr_factor``.

    Examples
    --------
    >>> cfg = OptimizerConfig(schedule="linear", final_lr_factor=0.0)
    >>> lr_factor(cfg, step=5, num_steps=10)
    0.5
    """
    if config.schedule == "constant" or num_steps <= 0:
        return 1.0
    fraction = min(max(step / num_steps, 0.0), 1.0)
    end = config.final_lr_factor
    if config.schedule == "linear":
        return 1.0 + (end - 1.0) * fraction
    return end + (1.0 - end) * 0.5 * (1.0 + math.cos(math.pi * fraction))


def build_lr_scheduler(
    optimizer: torch.optim.Optimizer, config: OptimizerConfig, *, num_steps: int
) -> torch.optim.lr_scheduler.LRScheduler:
    """A scheduler stepped once per optimiser step; its state dict holds only numbers.

    Uses torch's ``LinearLR``/``CosineAnnealingLR`` (constant: ``ConstantLR``
    with factor 1), whose state is checkpointable with ``weights_only``.
    """
    from torch.optim import lr_scheduler

    total = max(num_steps, 1)
    if config.schedule == "linear":
        return lr_scheduler.LinearLR(
            optimizer, start_factor=1.0, end_factor=config.final_lr_factor, total_iters=total
        )
    if config.schedule == "cosine":
        return lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=total, eta_min=config.lr * config.final_lr_factor
        )
    return lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)
