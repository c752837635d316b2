"""One optimisation step of each update pattern: ``plain`` and ``adversarial``.

``adversarial`` (paper 1, eqs. 1-2; paper 2, eq. 4): the generator runs once
on the batch; then ``d_steps`` discriminator updates on ``(real, fake.detach())``
with one-sided label smoothing (real target ``real_label``, e.g. 0.9; fake
target ``fake_label`` = 0); then ``g_steps`` generator updates with the
discriminator frozen (its parameters do not require gradients and it is
called outside DDP), adding the term ``-mean log D(fake)`` under the name
``adversarial.loss_term``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn

from sonomtl.config import AdversarialConfig
from sonomtl.losses.adversarial import discriminator_loss, generator_adversarial_loss

__all__ = [
    "NonFiniteLossError",
    "StepContext",
    "plain_step",
    "adversarial_step",
    "check_finite",
]


class NonFiniteLossError(RuntimeError):
    """A loss term became NaN or infinite; training stopped."""

    def __init__(self, term: str, *, stage: str, step: int, value: float | None = None) -> None:
        self.term = term
        self.stage = stage
        self.step = step
        shown = "" if value is None else f" ({value})"
        super().__init__(
            f"loss term {term!r} is not finite{shown} at step {step} of stage {stage!r}; "
            "training stopped, the last good checkpoint is kept"
        )


@dataclass
class StepContext:
    """What a step needs from the engine."""

    task: Any
    fabric: Any
    modules: Mapping[str, nn.Module]  # trained modules wrapped (DDP), others raw
    raw_modules: Mapping[str, nn.Module]
    optimizers: Mapping[str, Any]
    schedulers: Mapping[str, Any]
    weights: Mapping[str, float]
    stage: str
    step: int
    grad_clip_norm: float | None
    trained: Sequence[str]


def check_finite(terms: Mapping[str, torch.Tensor], *, fabric: Any, stage: str, step: int) -> None:
    """Raise :class:`NonFiniteLossError` naming the first bad term (all ranks agree)."""
    names = list(terms)
    values = torch.stack([terms[n].detach().float().reshape(()) for n in names])
    finite = torch.isfinite(values)
    bad = (~finite).any().to(torch.float32).reshape(1)
    if fabric.world_size > 1:
        bad = fabric.all_reduce(bad, reduce_op="sum")
    if float(bad.item()) > 0:
        for name, ok, value in zip(names, finite.tolist(), values.tolist()):
            if not ok:
                raise NonFiniteLossError(name, stage=stage, step=step, value=value)
        raise NonFiniteLossError("(on another process)", stage=stage, step=step)


def _weighted_total(
    terms: Mapping[str, torch.Tensor], weights: Mapping[str, float]
) -> torch.Tensor:
    total = None
    for name, value in terms.items():
        part = weights[name] * value
        total = part if total is None else total + part
    return total


def _check_terms(terms: Mapping[str, torch.Tensor], expected: Sequence[str], task: Any) -> None:
    missing = [t for t in expected if t not in terms]
    extra = [t for t in terms if t not in expected]
    if missing or extra:
        raise ValueError(
            f"{type(task).__name__}.generator_losses returned terms {sorted(terms)}; "
            f"the stage weights {sorted(expected)} (missing {missing}, unexpected {extra})"
        )


def _optimise(ctx: StepContext, loss: torch.Tensor, names: Sequence[str]) -> None:
    ctx.fabric.backward(loss)
    for name in names:
        optimizer = ctx.optimizers[name]
        if ctx.grad_clip_norm is not None:
            # through Fabric: with a gradient scaler (16-mixed) the gradients are unscaled
            # before their norm is taken, so the threshold means the same in every precision
            ctx.fabric.clip_gradients(ctx.modules[name.split(".")[0]], optimizer,
                                      max_norm=ctx.grad_clip_norm, error_if_nonfinite=False)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)


def _step_schedulers(ctx: StepContext) -> None:
    """Advance every trained module's learning-rate schedule by one batch.

    Once per batch, not per optimiser step: with ``d_steps``/``g_steps`` > 1 a
    schedule still spans the whole stage.
    """
    for name in ctx.trained:
        ctx.schedulers[name].step()


def plain_step(ctx: StepContext, batch: Mapping[str, Any]) -> dict[str, float]:
    """All trained modules take one step on the weighted sum of the generator terms."""
    terms_wanted = list(ctx.weights)
    with ctx.fabric.autocast():
        outputs = ctx.task.forward(ctx.modules, batch)
        terms = ctx.task.generator_losses(outputs, batch, terms=terms_wanted)
    _check_terms(terms, terms_wanted, ctx.task)
    check_finite(terms, fabric=ctx.fabric, stage=ctx.stage, step=ctx.step)
    total = _weighted_total(terms, ctx.weights)
    _optimise(ctx, total, ctx.trained)
    _step_schedulers(ctx)
    values = {name: float(value.detach()) for name, value in terms.items()}
    values["total"] = float(total.detach())
    return values


def adversarial_step(
    ctx: StepContext, batch: Mapping[str, Any], adv: AdversarialConfig
) -> dict[str, float]:
    """Discriminator update(s), then generator update(s) with the discriminator frozen."""
    d_name = adv.discriminator
    g_names = [n for n in ctx.trained if n != d_name]
    terms_wanted = [t for t in ctx.weights if t != adv.loss_term]
    discriminator = ctx.modules[d_name]
    raw_discriminator = ctx.raw_modules[d_name]
    values: dict[str, float] = {}

    def generator_forward() -> tuple[Mapping[str, torch.Tensor], torch.Tensor, torch.Tensor]:
        with ctx.fabric.autocast():
            outputs = ctx.task.forward(ctx.modules, batch)
            real, fake = ctx.task.discriminator_inputs(outputs, batch)
        return outputs, real, fake

    outputs, real, fake = generator_forward()
    for _ in range(adv.d_steps):
        with ctx.fabric.autocast():
            loss_d = discriminator_loss(discriminator(real.detach()), discriminator(fake.detach()),
                                        real_target=adv.real_label, fake_target=adv.fake_label,
                                        output=adv.output)
        check_finite({"discriminator": loss_d}, fabric=ctx.fabric, stage=ctx.stage, step=ctx.step)
        _optimise(ctx, loss_d, [d_name])
    values["discriminator"] = float(loss_d.detach())

    d_params = [p for p in raw_discriminator.parameters() if p.requires_grad]
    for g_step in range(adv.g_steps):
        if g_step > 0:
            outputs, real, fake = generator_forward()
        for param in d_params:
            param.requires_grad_(False)
        try:
            with ctx.fabric.autocast():
                terms = dict(ctx.task.generator_losses(outputs, batch, terms=terms_wanted))
                _check_terms(terms, terms_wanted, ctx.task)
                terms[adv.loss_term] = generator_adversarial_loss(raw_discriminator(fake),
                                                                  output=adv.output)
            check_finite(terms, fabric=ctx.fabric, stage=ctx.stage, step=ctx.step)
            total = _weighted_total(terms, ctx.weights)
            _optimise(ctx, total, g_names)
        finally:
            for param in d_params:
                param.requires_grad_(True)
    _step_schedulers(ctx)
    values.update({name: float(value.detach()) for name, value in terms.items()})
    values["total"] = float(total.detach())
    return values
