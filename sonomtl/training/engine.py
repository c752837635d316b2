"""The stage loop: epochs/steps, validation, logging, checkpoints, exact resume.

Positions are counted so that a checkpoint taken after any batch can be
resumed bit-exactly on CPU: ``(stage, epoch, batch, stage_step, global_step)``
plus optimiser/scheduler states, the running epoch sums of the losses, the
RNG states of every process and the number of metrics rows written. The batch
order is a pure function of ``(seed, stage, epoch, rank)`` (see
:mod:`sonomtl.training.sampling`), so resuming skips the consumed batches
without loading them.
"""

from __future__ import annotations

import dataclasses
import gc
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
from torch.utils.data import DataLoader

from sonomtl.config import StageConfig, TrainConfig
from sonomtl.errors import InputError
from sonomtl.training.checkpoint import (
    FORMAT_VERSION,
    capture_rng_state,
    restore_rng_state,
    save_checkpoint,
)
from sonomtl.training.logging import MetricsLogger
from sonomtl.training.sampling import (
    SeededDataset,
    ShardedBatchSampler,
    SkipBatches,
    class_balanced_sampler,
    sample_seed,
)
from sonomtl.training.schedules import build_lr_scheduler, loss_weight
from sonomtl.training.stages import apply_stage_freezing, build_optimizer, trained_parameters
from sonomtl.training.steps import StepContext, adversarial_step, plain_step
from sonomtl.training.tasks import Task, TaskDatasets

__all__ = ["Engine", "Position"]

_EPOCH_STRIDE = (
    1_000_000  # sampler epoch key = stage * stride + epoch: every stage draws its own orders
)


def _loader_generator(seed: int, epoch_key: int) -> torch.Generator:
    """The DataLoader's own generator: creating an iterator must not draw from the global RNG
    (a resumed run creates its iterator at another moment than the uninterrupted one)."""
    return torch.Generator().manual_seed(sample_seed(seed=seed, epoch=epoch_key + 1, index=2**31))


@dataclass
class Position:
    """Where training stands; everything before it is done."""

    stage: int = 0
    epoch: int = 0
    batch: int = 0
    stage_step: int = 0
    global_step: int = 0


class Engine:
    """Runs the stages of a config with a task on a Lightning Fabric.

    Parameters
    ----------
    config
        The validated run config.
    task
        The system-specific task.
    fabric
        A launched ``lightning.fabric.Fabric``.
    run_dir
        The run folder (rank 0 writes into it).
    datasets
        The task's datasets.
    modules
        The raw modules (built by the task, on the fabric's device).
    """

    def __init__(
        self,
        *,
        config: TrainConfig,
        task: Task,
        fabric: Any,
        run_dir: Path,
        datasets: TaskDatasets,
        modules: dict[str, nn.Module],
    ) -> None:
        self.config = config
        self.task = task
        self.fabric = fabric
        self.run_dir = Path(run_dir)
        self.datasets = datasets
        self.modules = modules
        self.train_set = SeededDataset(datasets.train, seed=config.seed)
        self.val_set = datasets.val
        self.position = Position()
        self.epoch_sums: dict[str, float] = {}
        self.epoch_count = 0
        self.last_metrics: dict[str, float] = {}
        self.logger: MetricsLogger | None = None
        self.metadata: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "run_name": config.name,
            "modules": {n: dataclasses.asdict(m) for n, m in config.modules.items()},
            "task": dataclasses.asdict(config.task),
            "preprocessing": task.preprocessing_info(datasets),
        }
        self._optimizers: dict[str, Any] = {}
        self._schedulers: dict[str, Any] = {}
        self._wrapped: dict[str, nn.Module] = {}
        # wall-clock totals of the training loop, carried through checkpoints so a resumed
        # run reports all of its time (not logged: metrics.csv stays reproducible)
        self.timing: dict[str, float] = {"data_s": 0.0, "step_s": 0.0, "steps": 0, "samples": 0}

    # ------------------------------------------------------------------ public
    def fit(self, *, state: Mapping[str, Any] | None = None) -> dict[str, float]:
        """Train from the start or from a checkpoint's ``state``; returns the final metrics."""
        world = self.fabric.world_size
        if self.val_set is not None and 0 < len(self.val_set) < world:
            # every process validates its share; an empty share would stall the reduction
            raise InputError(f"the validation set ({len(self.val_set)} samples) is smaller than "
                             f"the number of processes ({world})", field="data")
        resume_rows = resume_step = None
        if state is not None:
            self.position = Position(**state["position"])
            self.epoch_sums = dict(state["epoch_sums"])
            self.epoch_count = int(state["epoch_count"])
            self.last_metrics = dict(state["last_metrics"])
            self.timing.update(state.get("timing", {}))  # absent in checkpoints before it existed
            scaler = self._grad_scaler()
            if scaler is not None and state.get("grad_scaler"):
                scaler.load_state_dict(state["grad_scaler"])  # 16-mixed: the scale it had reached
            resume_rows, resume_step = int(state["metrics_rows"]), self.position.global_step
        self.logger = MetricsLogger(
            self.run_dir,
            enabled=self.fabric.is_global_zero,
            resume_rows=resume_rows,
            resume_step=resume_step,
        )
        try:
            while self.position.stage < len(self.config.stages):
                self._run_stage(self.config.stages[self.position.stage], state)
                state = None
            self._sync_buffers()
        finally:
            self.logger.close()
        return dict(self.last_metrics)

    # ------------------------------------------------------------------ stages
    def _setup_stage(self, stage: StageConfig, state: Mapping[str, Any] | None) -> None:
        self._wrapped = {}
        self._optimizers, self._schedulers = {}, {}
        gc.collect()  # drop the previous stage's DDP wrappers (and their gradient hooks)
        apply_stage_freezing(self.modules, stage)
        num_steps = self._stage_steps(stage)
        for entry in stage.train:
            root = entry.split(".")[0]
            if root not in self._wrapped:
                self._wrapped[root] = self.fabric.setup_module(self.modules[root])
        for entry in stage.train:
            params = trained_parameters(self.modules, entry, stage.frozen)
            optimizer = self.fabric.setup_optimizers(
                build_optimizer(params, stage.optimizers[entry])
            )
            self._optimizers[entry] = optimizer
            self._schedulers[entry] = build_lr_scheduler(
                optimizer.optimizer, stage.optimizers[entry], num_steps=num_steps
            )
        if state is not None and state.get("optimizers"):
            for entry, opt_state in state["optimizers"].items():
                self._optimizers[entry].load_state_dict(opt_state)
            for entry, sched_state in state["schedulers"].items():
                self._schedulers[entry].load_state_dict(sched_state)

    def _batch_sampler(self, stage: StageConfig) -> Any:
        batch_size = stage.batch_size or self.config.data.batch_size
        kind = self.config.data.sampler
        if kind == "class_balanced":
            labels = self.task.sample_labels(self.datasets.train)
            return class_balanced_sampler(
                labels,
                batch_size=batch_size,
                seed=self.config.seed,
                rank=self.fabric.global_rank,
                world_size=self.fabric.world_size,
            )
        return ShardedBatchSampler(
            len(self.train_set),
            batch_size=batch_size,
            shuffle=kind == "random",
            seed=self.config.seed,
            rank=self.fabric.global_rank,
            world_size=self.fabric.world_size,
            drop_last=True,
        )

    def _batches_per_epoch(self, stage: StageConfig) -> int:
        count = len(self._batch_sampler(stage))
        if count < 1:
            raise InputError(
                f"stage {stage.name!r}: the training set ({len(self.train_set)} samples on "
                f"{self.fabric.world_size} process(es)) is smaller than one batch",
                field="data.batch_size",
            )
        return count

    def _stage_steps(self, stage: StageConfig) -> int:
        if stage.steps is not None:
            return stage.steps
        return stage.epochs * self._batches_per_epoch(stage)

    def _loader(self, stage: StageConfig, *, epoch: int, skip: int) -> DataLoader:
        sampler = self._batch_sampler(stage)
        key = self.position.stage * _EPOCH_STRIDE + epoch
        sampler.set_epoch(key)
        self.train_set.set_epoch(key)
        return DataLoader(
            self.train_set,
            batch_sampler=SkipBatches(sampler, skip=skip),
            num_workers=self.config.data.num_workers,
            collate_fn=self.task.collate,
            pin_memory=self.fabric.device.type == "cuda",
            generator=_loader_generator(self.config.seed, key),
        )

    def _run_stage(self, stage: StageConfig, state: Mapping[str, Any] | None) -> None:
        self._setup_stage(stage, state)
        pos = self.position
        num_steps = self._stage_steps(stage)
        per_epoch = self._batches_per_epoch(stage)
        self.logger.start_progress(
            total=num_steps,
            initial=pos.stage_step,
            enabled=self.config.trainer.progress_bar,
            description=f"{stage.name} ({stage.pattern})",
        )

        def more() -> bool:
            return (
                pos.epoch < stage.epochs
                if stage.epochs is not None
                else pos.stage_step < stage.steps
            )

        if not more() and pos.batch >= per_epoch:
            # resumed from a checkpoint taken in a steps stage's last step, which was also the
            # last batch of an epoch: that epoch's end comes next, as in an unbroken run
            self._end_epoch(stage)
        while more():
            finished_epoch = True
            batches = iter(self._loader(stage, epoch=pos.epoch, skip=pos.batch))
            while True:
                started = time.perf_counter()
                batch = next(batches, None)
                loaded = time.perf_counter()
                if batch is None:
                    break
                self._train_step(stage, batch, num_steps=num_steps)
                self._count_time(batch, started=started, loaded=loaded)
                if stage.steps is not None and pos.stage_step >= stage.steps:
                    finished_epoch = pos.batch >= per_epoch
                    break
            if finished_epoch:
                self._end_epoch(stage)
        self._end_stage(stage)

    def _count_time(self, batch: Any, *, started: float, loaded: float) -> None:
        if self.fabric.device.type == "cuda":
            torch.cuda.synchronize(self.fabric.device)
        self.timing["data_s"] += loaded - started
        self.timing["step_s"] += time.perf_counter() - loaded
        self.timing["steps"] += 1
        first = next((v for v in batch.values() if torch.is_tensor(v)), None) \
            if isinstance(batch, dict) else None
        self.timing["samples"] += 0 if first is None else int(first.shape[0])

    def _weights(self, stage: StageConfig, num_steps: int) -> dict[str, float]:
        pos = self.position
        return {
            name: loss_weight(
                schedule,
                epoch=pos.epoch,
                num_epochs=stage.epochs,
                step=pos.stage_step,
                num_steps=num_steps,
            )
            for name, schedule in stage.losses.items()
        }

    def _train_step(self, stage: StageConfig, batch: Any, *, num_steps: int) -> None:
        pos = self.position
        batch = self.fabric.to_device(batch)
        modules = {n: self._wrapped.get(n, m) for n, m in self.modules.items()}
        ctx = StepContext(
            task=self.task,
            fabric=self.fabric,
            modules=modules,
            raw_modules=self.modules,
            optimizers=self._optimizers,
            schedulers=self._schedulers,
            weights=self._weights(stage, num_steps),
            stage=stage.name,
            step=pos.global_step + 1,
            grad_clip_norm=stage.grad_clip_norm,
            trained=stage.train,
        )
        if stage.pattern == "adversarial":
            values = adversarial_step(ctx, batch, stage.adversarial)
        else:
            values = plain_step(ctx, batch)
        pos.batch += 1
        pos.stage_step += 1
        pos.global_step += 1
        for name, value in values.items():
            self.epoch_sums[name] = self.epoch_sums.get(name, 0.0) + value
        self.epoch_count += 1
        self.logger.update_progress(values)
        if pos.global_step % self.config.trainer.log_every_n_steps == 0:
            self._log(values, stage, split="train_step")
        val_every = stage.val_every_n_steps
        if val_every and pos.stage_step % val_every == 0:
            self._validate(stage)
        every = self.config.checkpoint.every_n_steps
        if every and pos.global_step % every == 0:
            self._checkpoint()

    def _end_epoch(self, stage: StageConfig) -> None:
        pos = self.position
        self._log_epoch_means(stage)
        if stage.epochs is not None and self.val_set is not None:
            self._validate(stage)
        pos.epoch += 1
        pos.batch = 0
        self._checkpoint()

    def _log_epoch_means(self, stage: StageConfig) -> None:
        """Log the mean step values of the epoch (over all processes), then reset them."""
        if self.epoch_count:
            names = sorted(self.epoch_sums)
            sums = torch.tensor(
                [self.epoch_sums[n] for n in names] + [float(self.epoch_count)], dtype=torch.float64
            )
            if self.fabric.world_size > 1:
                sums = self.fabric.all_reduce(sums.to(self.fabric.device), reduce_op="sum").cpu()
            means = {n: float(sums[i] / sums[-1]) for i, n in enumerate(names)}
            num_steps = self._stage_steps(stage)
            means.update({f"weight_{n}": w for n, w in self._weights(stage, num_steps).items()})
            means.update(
                {f"lr_{n}": float(s.get_last_lr()[0]) for n, s in self._schedulers.items()}
            )
            self._log(means, stage, split="train")
            self.last_metrics.update({f"train/{k}": v for k, v in means.items()})
        self.epoch_sums, self.epoch_count = {}, 0

    def _end_stage(self, stage: StageConfig) -> None:
        pos = self.position
        self._log_epoch_means(stage)  # a steps stage may end mid-epoch
        val_every = stage.val_every_n_steps
        if (
            stage.steps is not None
            and self.val_set is not None
            and not (val_every and pos.stage_step % val_every == 0)
        ):
            self._validate(stage)
        self.logger.close_progress()
        self.position = Position(stage=pos.stage + 1, global_step=pos.global_step)
        self._wrapped, self._optimizers, self._schedulers = {}, {}, {}
        self._checkpoint()

    # ------------------------------------------------------------------ validation
    def _sync_buffers(self) -> None:
        """Give every process rank 0's buffers (batch-norm statistics)."""
        if self.fabric.world_size < 2:
            return
        import torch.distributed as dist

        for module in self.modules.values():
            for buffer in module.buffers():
                dist.broadcast(buffer.data, src=0)

    @torch.no_grad()
    def _validate(self, stage: StageConfig) -> None:
        from sonomtl.training.validation import validation_metrics

        self._sync_buffers()
        modes = {
            name: [m.training for m in module.modules()] for name, module in self.modules.items()
        }
        for module in self.modules.values():
            module.eval()
        metrics = validation_metrics(
            self.task, self.modules, self.val_set, fabric=self.fabric,
            batch_size=self.config.data.val_batch_size or self.config.data.batch_size,
            num_workers=self.config.data.num_workers,
            generator=_loader_generator(self.config.seed, -1))
        for name, module in self.modules.items():
            for sub, mode in zip(module.modules(), modes[name]):
                sub.training = mode
        if metrics:
            self._log(metrics, stage, split="val")
            self.last_metrics.update({f"val/{k}": v for k, v in metrics.items()})

    def _grad_scaler(self) -> Any:
        """The mixed-precision gradient scaler (16-mixed), else ``None``."""
        precision = getattr(getattr(self.fabric, "strategy", None), "precision", None)
        return getattr(precision, "scaler", None)

    # ------------------------------------------------------------------ logging & checkpoints
    def _log(self, values: Mapping[str, float], stage: StageConfig, *, split: str) -> None:
        self.logger.log(
            values,
            step=self.position.global_step,
            stage=stage.name,
            epoch=self.position.epoch,
            split=split,
        )

    def _checkpoint(self) -> None:
        self._sync_buffers()
        rng = capture_rng_state()
        if self.fabric.world_size > 1:
            import torch.distributed as dist

            gathered: list[Any] = [None] * self.fabric.world_size
            dist.all_gather_object(gathered, rng)
            rngs = gathered
        else:
            rngs = [rng]
        if self.fabric.is_global_zero:
            scaler = self._grad_scaler()
            state = {
                "format_version": FORMAT_VERSION,
                "position": dataclasses.asdict(self.position),
                "world_size": self.fabric.world_size,
                "optimizers": {n: o.state_dict() for n, o in self._optimizers.items()},
                "schedulers": {n: s.state_dict() for n, s in self._schedulers.items()},
                "epoch_sums": dict(self.epoch_sums),
                "epoch_count": self.epoch_count,
                "last_metrics": dict(self.last_metrics),
                "metrics_rows": self.logger.rows_written,
                "timing": dict(self.timing),
                "rng": rngs,
                "grad_scaler": None if scaler is None else scaler.state_dict(),
            }
            stage_index = min(self.position.stage, len(self.config.stages) - 1)
            metadata = {
                **self.metadata,
                "step": self.position.global_step,
                "stage": self.config.stages[stage_index].name,
                "finished": self.position.stage >= len(self.config.stages),
            }
            save_checkpoint(
                self.run_dir / "checkpoints",
                step=self.position.global_step,
                modules=self.modules,
                metadata=metadata,
                state=state,
                keep_last=self.config.checkpoint.keep_last,
            )
        self.fabric.barrier()

    def restore_rng(self, state: Mapping[str, Any]) -> None:
        """Restore this process's RNG states from a checkpoint's training state."""
        rngs = state["rng"]
        if len(rngs) != self.fabric.world_size:
            raise InputError(
                f"the checkpoint was written by {len(rngs)} process(es); resume it with as "
                f"many (trainer.devices x trainer.num_nodes), not {self.fabric.world_size}"
            )
        restore_rng_state(rngs[self.fabric.global_rank])
