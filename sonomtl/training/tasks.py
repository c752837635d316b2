"""The task interface: the system-specific part of training.

The engine knows stages, optimisers, schedules, devices and checkpoints; a
:class:`Task` knows the data and the maths of one system (M-SEN, the
abdominal network, the example task). The engine calls, per batch:

* :meth:`Task.forward` -> the generator outputs (a dict of tensors),
* :meth:`Task.generator_losses` -> named loss terms; the engine weights them
  with the stage's (scheduled) weights and sums them,
* in an ``adversarial`` stage, :meth:`Task.discriminator_inputs` -> the real
  and fake inputs of the discriminator; the engine computes the discriminator
  loss (eq. 1 of paper 1, one-sided label smoothing) and the generator's
  adversarial term ``-mean log D(fake)`` itself,
* for validation, :meth:`Task.validation_outputs` -> per-sample values whose
  means are the validation metrics.

Modules are given as a ``dict[str, nn.Module]`` keyed by the names of the
config's ``modules`` section. A task must call them (``modules["G"](x)``),
never their other methods, so that DDP wrappers see every forward.

Tasks are found by name in :data:`TASK_FACTORIES` (an explicit table, like
the model registry); ``sonomtl.pkg.module:Class`` paths also work.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn
from torch.utils.data import Dataset

from sonomtl.schema import parse_params

__all__ = [
    "TASK_FACTORIES",
    "Task",
    "TaskDatasets",
    "build_task",
    "resolve_factory",
]

TASK_FACTORIES: dict[str, str] = {
    "example": "sonomtl.training.example:ExampleTask",
    "abdominal": "sonomtl.training.abdominal_task:AbdominalTask",
    "msen": "sonomtl.training.msen_task:MSENTask",
}


@dataclass
class TaskDatasets:
    """The datasets of a run: map-style datasets of dict samples."""

    train: Dataset
    val: Dataset | None = None


class Task:
    """Base class of every task; subclasses override the methods they need.

    Parameters
    ----------
    params
        The config's ``task.params``: read into :attr:`task_params_type` (a frozen
        dataclass; unknown keys and wrong types are refused naming the field), or
        kept as a plain dict by a task that declares none.
    """

    #: The frozen dataclasses ``task.params`` and ``data.params`` are read into
    #: (:func:`sonomtl.schema.parse_params`); ``None``: a plain dict.
    task_params_type: type | None = None
    data_params_type: type | None = None

    #: What evaluation and inference make of the task's generator: ``"msen"`` (attention +
    #: plane), ``"abdominal"`` (views + landmarks) or ``"generic"`` (neither).
    kind: str = "generic"

    #: Loss terms :meth:`generator_losses` computes (the engine adds the adversarial
    #: term); ``None``: not declared, an unknown term fails at the stage's first step.
    loss_terms: tuple[str, ...] | None = None

    def __init__(self, *, params: Mapping[str, Any] | Any) -> None:
        self.params: Any = (parse_params(self.task_params_type, params, key="task.params")
                            if self.task_params_type is not None else dict(params))

    def read_data_params(self, params: Mapping[str, Any] | Any) -> Any:
        """``data.params`` as :attr:`data_params_type` (checked), or a plain dict without one."""
        if self.data_params_type is None:
            return dict(params)
        return parse_params(self.data_params_type, params, key="data.params")

    # ---- data -----------------------------------------------------------------
    def build_datasets(
        self, *, root: str | None, params: Mapping[str, Any], seed: int
    ) -> TaskDatasets:
        """Build the train (and optional validation) datasets from ``data.root``/``data.params``."""
        raise NotImplementedError(f"{type(self).__name__} must implement build_datasets")

    def collate(self, samples: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """Batch a list of dict samples (default: torch's ``default_collate``)."""
        from torch.utils.data import default_collate

        return default_collate(list(samples))

    def sample_labels(self, dataset: Dataset) -> Sequence[int]:
        """Class id of every sample, for ``data.sampler: class_balanced``."""
        raise NotImplementedError(
            f"{type(self).__name__} does not define sample_labels, "
            "so it cannot use data.sampler: class_balanced"
        )

    def preprocessing_info(self, datasets: TaskDatasets) -> dict[str, Any]:
        """What inference needs to rebuild the preprocessing (stored in checkpoints)."""
        return dict(getattr(datasets.train, "preprocessing_info", {}) or {})

    # ---- modules --------------------------------------------------------------
    def build_module(self, name: str, *, model: str, kwargs: Mapping[str, Any]) -> nn.Module:
        """Build the module ``name`` of the config (default: the model registry)."""
        from sonomtl.models.registry import build_model

        return build_model(model, **dict(kwargs))

    # ---- maths ----------------------------------------------------------------
    def forward(
        self, modules: Mapping[str, nn.Module], batch: Mapping[str, Any]
    ) -> dict[str, torch.Tensor]:
        """Run the generator(s) on a batch; returns named outputs."""
        raise NotImplementedError(f"{type(self).__name__} must implement forward")

    def generator_losses(
        self, outputs: Mapping[str, torch.Tensor], batch: Mapping[str, Any], *, terms: Sequence[str]
    ) -> dict[str, torch.Tensor]:
        """Scalar loss terms named in ``terms`` (the stage's losses, less the adversarial term)."""
        raise NotImplementedError(f"{type(self).__name__} must implement generator_losses")

    def discriminator_inputs(
        self, outputs: Mapping[str, torch.Tensor], batch: Mapping[str, Any]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(real, fake)`` inputs of the discriminator (e.g. frame + A and frame + A-hat)."""
        raise NotImplementedError(f"{type(self).__name__} does not support adversarial stages")

    def validation_outputs(
        self, modules: Mapping[str, nn.Module], batch: Mapping[str, Any]
    ) -> dict[str, torch.Tensor]:
        """Per-sample values (shape ``[n]``, ``n`` at most the batch: samples a metric does not
        apply to are left out); their means over the validation set are logged."""
        return {}


def resolve_factory(spec: str, table: Mapping[str, str], *, kind: str) -> Any:
    """The callable named by ``spec``: a key of ``table`` or a ``sonomtl.x.y:name`` path.

    Only the project's own modules can be named by path (a config never
    imports arbitrary code).
    """
    target = table.get(spec, spec)
    if ":" not in target:
        raise ValueError(
            f"unknown {kind} {spec!r}; known: {', '.join(sorted(table))} "
            "(or give a 'sonomtl.package.module:name' path)"
        )
    module_name, attr = target.split(":", 1)
    if module_name != "sonomtl" and not module_name.startswith("sonomtl."):
        raise ValueError(f"{kind} path {spec!r} must name a module inside the sonomtl package")
    try:
        module = importlib.import_module(module_name)
        return getattr(module, attr)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"cannot load {kind} {spec!r}: {error}") from None


def checkpoint_task_allowed(spec: str) -> bool:
    """Whether a checkpoint may name the task ``spec``: registered names and their paths only
    (a checkpoint is untrusted data; its models are checked by the model registry,
    :func:`sonomtl.models.checkpoints.read_model_metadata`)."""
    return spec in TASK_FACTORIES or spec in TASK_FACTORIES.values()


def build_task(name: str, *, params: Mapping[str, Any]) -> Task:
    """Instantiate the task registered as ``name`` with its parameters."""
    factory = resolve_factory(name, TASK_FACTORIES, kind="task")
    task = factory(params=params)
    if not isinstance(task, Task):
        raise TypeError(
            f"task {name!r} must build a sonomtl.training.tasks.Task, got {type(task)!r}"
        )
    return task
