"""Start or resume a training run: run folder, Fabric, task, modules, engine.

``train(config)`` is what ``sonomtl train CONFIG`` does; ``resume(run_dir)``
is ``sonomtl train --resume runs/NAME``. Both work unchanged on one CPU, on
several GPUs (``trainer.devices``), and on several nodes (launched by
torchrun or SLURM; see docs/training.md).
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sonomtl.config import TrainConfig
from sonomtl.errors import InputError

__all__ = ["TrainResult", "train", "resume", "build_fabric", "check_loss_terms", "seed_everything"]


@dataclass
class TrainResult:
    """What a finished run leaves in memory (on every process).

    ``timing``: this process's seconds waiting for batches (``data_s``) and in
    the optimisation steps (``step_s``), with ``steps`` and ``samples`` counts;
    a resumed run starts from the totals in its checkpoint (rank 0's), so they
    cover the whole run except the work lost after the last checkpoint.
    """

    metrics: dict[str, float]
    modules: dict[str, Any]
    task: Any
    run_dir: Path
    rank: int
    world_size: int
    timing: dict[str, float]


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - the global RNG is what datasets use
    torch.manual_seed(seed)


def build_fabric(config: TrainConfig) -> Any:
    """A launched ``lightning.fabric.Fabric`` for ``config.trainer``."""
    import logging

    from lightning.fabric import Fabric

    for name in ("lightning.fabric", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    trainer = config.trainer
    try:
        fabric = Fabric(
            accelerator=trainer.accelerator,
            devices=trainer.devices,
            num_nodes=trainer.num_nodes,
            strategy=trainer.strategy,
            precision=trainer.precision,
        )
    except (ValueError, RuntimeError, TypeError) as error:
        raise InputError(f"invalid trainer settings: {error}", field="trainer") from None
    fabric.launch()
    return fabric


def _leave_process_group(*, wait_for_others: bool) -> None:
    """Tear down the DDP process group, so no gloo thread is alive when the process exits.

    Without it a multi-process CPU run sometimes aborted at exit ("terminate
    called without an active exception", status -6) after finishing its work.
    """
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        if wait_for_others:
            dist.barrier()
        dist.destroy_process_group()


def check_loss_terms(config: TrainConfig, task: Any) -> None:
    """Every stage weighs only terms the task computes (checked when the task lists its
    ``loss_terms``; otherwise the first training step of the stage finds out)."""
    known = getattr(task, "loss_terms", None)
    if known is None:
        return
    for i, stage in enumerate(config.stages):
        allowed = set(known)
        if stage.pattern == "adversarial" and stage.adversarial is not None:
            allowed.add(stage.adversarial.loss_term)  # the engine computes this one itself
        for term in stage.losses:
            if term not in allowed:
                raise InputError(
                    f"stage {stage.name!r}: the {config.task.name} task has no loss term "
                    f"{term!r} (known: {', '.join(sorted(allowed))})",
                    field=f"stages.{i}.losses.{term}",
                )


def _remove_unstarted_run(run_dir: Path, *, created: bool) -> None:
    """Undo the files of a run that was rejected before its first checkpoint, so that
    the same name works again once the config is fixed."""
    import shutil

    if (run_dir / "checkpoints").exists():
        return
    if created:
        shutil.rmtree(run_dir, ignore_errors=True)
    else:
        (run_dir / "config.yaml").unlink(missing_ok=True)


def train(
    config: TrainConfig,
    *,
    run_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
    start_from: str | os.PathLike[str] | None = None,
) -> TrainResult:
    """Train ``config``; returns the final metrics (``train/<term>``, ``val/<metric>``) and modules.

    Parameters
    ----------
    config
        A validated config (:func:`sonomtl.config.load_config`).
    run_dir
        The run folder (default ``config.out_dir/config.name``).
    resume
        Continue from the folder's last checkpoint (from the start if it has none).
    start_from
        A run folder whose finished stages are this config's first ones
        (:mod:`sonomtl.training.fork`): the new run starts after them. Ignored
        when resuming a run folder that already exists.

    Raises
    ------
    InputError
        The run folder already exists (when not resuming), or settings are invalid.
        A rejected config leaves no run folder behind: the task, datasets and
        modules are built before ``config.yaml`` is written, and a folder that
        the engine rejects before its first checkpoint is removed again.
    sonomtl.training.steps.NonFiniteLossError
        A loss term became NaN/Inf (the last good checkpoint is kept).
    """
    import torch

    from sonomtl.config import save_config
    from sonomtl.training.checkpoint import latest_checkpoint, load_training_state, load_weights
    from sonomtl.training.engine import Engine
    from sonomtl.training.fork import check_fork_source, write_fork
    from sonomtl.training.tasks import build_task

    run_dir = Path(run_dir) if run_dir is not None else config.run_dir
    fabric = build_fabric(config)
    if not resume and (run_dir / "config.yaml").exists():
        raise InputError(
            "the run folder already exists; resume it with 'sonomtl train --resume "
            f"{run_dir}' or choose another name=...",
            file=run_dir,
        )
    if config.trainer.deterministic:
        torch.use_deterministic_algorithms(True)

    # everything that can reject the config is built before the run folder is written
    try:
        task = build_task(config.task.name, params=config.task.params)
    except ValueError as error:
        raise InputError(str(error), field="task.name") from None
    check_loss_terms(config, task)
    fork = None
    if start_from is not None and not (resume and (run_dir / "config.yaml").exists()):
        fork = check_fork_source(config, start_from)
    seed_everything(config.seed)
    datasets = task.build_datasets(
        root=config.data.root, params=config.data.params, seed=config.seed
    )
    seed_everything(config.seed)
    modules = {}
    for name, spec in config.modules.items():
        try:
            modules[name] = task.build_module(name, model=spec.model, kwargs=spec.kwargs)
        except (ValueError, TypeError) as error:
            raise InputError(
                f"cannot build module {name!r}: {error}", field=f"modules.{name}"
            ) from None
    fabric.barrier()
    created = not run_dir.exists()
    if fabric.is_global_zero and not resume:
        save_config(config, run_dir / "config.yaml")
    modules = {name: module.to(fabric.device) for name, module in modules.items()}
    # every process draws its own dropout masks; initial weights were drawn identically above
    seed_everything(config.seed + 7919 * fabric.global_rank)

    engine = Engine(
        config=config, task=task, fabric=fabric, run_dir=run_dir, datasets=datasets, modules=modules
    )
    if fork is not None:
        if fabric.is_global_zero:  # the checkpoint this run resumes from
            write_fork(run_dir, fork, modules=modules, metadata=engine.metadata, config=config)
        fabric.barrier()
    state = None
    paths = latest_checkpoint(run_dir) if resume or fork is not None else None
    if paths is not None:
        load_weights(paths.weights, modules)
        state = load_training_state(paths)
        engine.restore_rng(state)
    fabric.barrier()
    try:
        metrics = engine.fit(state=state)
    except BaseException as error:
        if isinstance(error, InputError) and fabric.is_global_zero and not resume:
            _remove_unstarted_run(run_dir, created=created)
        _leave_process_group(wait_for_others=False)  # a failed rank must not wait at a barrier
        raise
    _leave_process_group(wait_for_others=True)
    return TrainResult(
        metrics=metrics,
        modules=modules,
        task=task,
        run_dir=run_dir,
        rank=fabric.global_rank,
        world_size=fabric.world_size,
        timing=engine.timing,
    )


def resume(run_dir: str | os.PathLike[str]) -> TrainResult:
    """Continue the run in ``run_dir`` from its last checkpoint, with its saved config."""
    from sonomtl.config import load_config

    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise InputError("not a run folder (config.yaml missing)", file=run_dir)
    config = load_config(run_dir / "config.yaml")
    return train(config, run_dir=run_dir, resume=True)
