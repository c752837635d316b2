"""Typed training configs: YAML files, dotted overrides, strict validation.

A config is a tree of dataclasses (:class:`TrainConfig` at the root). It is
read from YAML, changed with ``key=value`` overrides (``trainer.devices=2``,
``stages.pretrain.epochs=3`` or ``stages.0.epochs=3``), then checked: an
unknown key or a value of the wrong type is an :class:`~sonomtl.errors.InputError`
naming the dotted key and the file. The fully resolved config is written to
``runs/<name>/config.yaml`` by :func:`save_config` and reads back identically.

The fields are documented in ``docs/training.md``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sonomtl.errors import InputError
from sonomtl.schema import build_typed

__all__ = [
    "AdversarialConfig",
    "CheckpointConfig",
    "DataConfig",
    "LossWeightConfig",
    "ModelConfig",
    "OptimizerConfig",
    "StageConfig",
    "TaskConfig",
    "TrainConfig",
    "TrainerConfig",
    "apply_overrides",
    "config_from_dict",
    "config_to_dict",
    "flatten_config",
    "load_config",
    "save_config",
]


@dataclass
class ModelConfig:
    """One named module: a registry name (or ``sonomtl.pkg.mod:factory``) and its kwargs."""

    model: str
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class TaskConfig:
    """The task (system-specific losses and data): a registered name and free parameters."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class DataConfig:
    """What the task builds its datasets from, and how batches are drawn."""

    root: str | None = None
    batch_size: int = 8
    val_batch_size: int | None = None
    num_workers: int = 0
    sampler: Literal["random", "sequential", "class_balanced"] = "random"
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class OptimizerConfig:
    """Optimiser of one trained module; the learning rate schedule runs over the stage."""

    kind: Literal["adam", "sgd"] = "adam"
    lr: float = 1e-3
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0
    schedule: Literal["constant", "linear", "cosine"] = "constant"
    final_lr_factor: float = 1.0


@dataclass
class LossWeightConfig:
    """Weight of one loss term: constant (``start``) or linear from ``start`` to ``end``.

    In YAML a bare number is a constant weight; ``{start: 2, end: 1}`` falls
    linearly over the stage's epochs (``per: epoch``, the first epoch has
    ``start`` and the last ``end``) or optimisation steps (``per: step``).
    """

    #: A bare number in YAML is ``{start: number}`` (:func:`sonomtl.schema.build_typed`).
    SCALAR_FIELD: typing.ClassVar[str] = "start"

    start: float
    end: float | None = None
    per: Literal["epoch", "step"] = "epoch"


@dataclass
class AdversarialConfig:
    """Alternating discriminator/generator updates of an ``adversarial`` stage."""

    discriminator: str = "discriminator"
    real_label: float = 0.9
    fake_label: float = 0.0
    d_steps: int = 1
    g_steps: int = 1
    output: Literal["probability", "logit"] = "probability"
    loss_term: str = "adversarial"


@dataclass
class StageConfig:
    """One stage: how long, what trains, what is frozen, which losses with which weights."""

    name: str
    epochs: int | None = None
    steps: int | None = None
    pattern: Literal["plain", "adversarial"] = "plain"
    train: list[str] = field(default_factory=list)
    frozen: list[str] = field(default_factory=list)
    optimizers: dict[str, OptimizerConfig] = field(default_factory=dict)
    losses: dict[str, LossWeightConfig] = field(default_factory=dict)
    adversarial: AdversarialConfig | None = None
    batch_size: int | None = None
    val_every_n_steps: int | None = None
    grad_clip_norm: float | None = None


@dataclass
class TrainerConfig:
    """Devices, distribution and precision (Lightning Fabric) and logging cadence."""

    accelerator: Literal["auto", "cpu", "gpu", "cuda", "mps"] = "cpu"
    devices: int | str = 1
    num_nodes: int = 1
    strategy: str = "auto"
    precision: Literal["32-true", "16-mixed", "bf16-mixed"] = "32-true"
    log_every_n_steps: int = 10
    progress_bar: bool = True
    deterministic: bool = False


@dataclass
class CheckpointConfig:
    """When checkpoints are written (always at the end of every epoch and stage)."""

    every_n_steps: int | None = None
    keep_last: int = 2


@dataclass
class TrainConfig:
    """A whole training run."""

    name: str
    task: TaskConfig
    modules: dict[str, ModelConfig]
    stages: list[StageConfig]
    seed: int = 0
    out_dir: str = "runs"
    data: DataConfig = field(default_factory=DataConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)

    @property
    def run_dir(self) -> Path:
        """``out_dir/name``."""
        return Path(self.out_dir) / self.name


# --------------------------------------------------------------------------- loading



def load_config(path: str | os.PathLike[str], overrides: typing.Sequence[str] = ()) -> TrainConfig:
    """Read a YAML config, apply ``key=value`` overrides, validate it.

    Parameters
    ----------
    path
        The YAML file.
    overrides
        Dotted ``key=value`` strings; values are parsed as YAML (``3``, ``2e-4``,
        ``[1, 2]``, ``null``).

    Raises
    ------
    InputError
        Missing file, invalid YAML, unknown key, wrong type, inconsistent stages.
    """
    import yaml

    from sonomtl.resources import resolve_config_path
    from sonomtl.yaml_files import load_yaml

    path = resolve_config_path(path)
    if not path.is_file():
        raise InputError("config file not found", file=path)
    try:
        raw = load_yaml(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as error:
        raise InputError(f"not UTF-8 text ({error.reason} at byte {error.start})",
                         file=path) from None
    except yaml.YAMLError as error:
        raise InputError(f"invalid YAML: {error}".replace("\n", " "), file=path) from None
    if not isinstance(raw, dict):
        raise InputError("a config must be a mapping of keys to values", file=path)
    raw = apply_overrides(raw, overrides)
    return config_from_dict(raw, file=path)


def apply_overrides(raw: dict[str, Any], overrides: typing.Sequence[str]) -> dict[str, Any]:
    """Return a copy of ``raw`` with dotted ``key=value`` overrides applied.

    A list element is addressed by its index or, for lists of named mappings
    (stages), by its ``name``. Keys are checked later by :func:`config_from_dict`,
    except that a missing list element is reported here.
    """
    import copy

    import yaml

    from sonomtl.yaml_files import load_yaml

    result = copy.deepcopy(raw)
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise InputError(f"override {item!r} is not of the form key=value")
        try:
            value = load_yaml(text) if text else None
        except yaml.YAMLError:
            value = text
        parts = key.split(".")
        node: Any = result
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            dotted = ".".join(parts[: depth + 1])
            if isinstance(node, list):
                index = _list_index(node, part, dotted)
                if last:
                    node[index] = value
                else:
                    node = node[index]
            elif isinstance(node, dict):
                if last:
                    node[part] = value
                else:
                    if node.get(part) is None:
                        node[part] = {}
                    node = node[part]
            else:
                raise InputError(
                    f"cannot set {key!r}: {'.'.join(parts[:depth])} is not a mapping", field=key
                )
    return result


def _list_index(node: list[Any], part: str, dotted: str) -> int:
    if re.fullmatch(r"\d+", part):
        index = int(part)
        if index >= len(node):
            raise InputError(
                f"index {index} out of range (the list has {len(node)} items)", field=dotted
            )
        return index
    for index, element in enumerate(node):
        if isinstance(element, dict) and element.get("name") == part:
            return index
    names = [e.get("name") for e in node if isinstance(e, dict)]
    raise InputError(f"no element named {part!r} (known: {names})", field=dotted)


def config_from_dict(
    raw: dict[str, Any], *, file: str | os.PathLike[str] | None = None
) -> TrainConfig:
    """Build and validate a :class:`TrainConfig` from plain data (parsed YAML)."""
    config = build_typed(TrainConfig, raw, "", file)
    _check_semantics(config, file)
    return config


def config_to_dict(config: Any) -> dict[str, Any]:
    """Plain-data form of a config (the inverse of :func:`config_from_dict`)."""
    return dataclasses.asdict(config)


def flatten_config(tree: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (lists, e.g. ``stages``, stay whole values)."""
    if not isinstance(tree, dict):
        return {prefix: tree}
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        flat.update(flatten_config(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def save_config(config: TrainConfig, path: str | os.PathLike[str]) -> Path:
    """Write the fully resolved config as YAML, atomically."""
    import yaml

    from sonomtl.fileio import write_text

    text = yaml.safe_dump(config_to_dict(config), sort_keys=False, default_flow_style=None)
    return write_text(path, text)


def _check_semantics(config: TrainConfig, file: Any) -> None:
    def fail(key: str, message: str) -> typing.NoReturn:
        raise InputError(message, file=file, field=key or "<root>")

    if not re.fullmatch(r"[A-Za-z0-9_.+-]+", config.name):
        fail("name", f"a run name may use letters, digits, '_', '.', '+', '-'; got {config.name!r}")
    if not config.modules:
        fail("modules", "at least one module is needed")
    if not config.stages:
        fail("stages", "at least one stage is needed")
    for key, value in (
        ("data.batch_size", config.data.batch_size),
        ("trainer.num_nodes", config.trainer.num_nodes),
        ("trainer.log_every_n_steps", config.trainer.log_every_n_steps),
        ("checkpoint.keep_last", config.checkpoint.keep_last),
    ):
        if value < 1:
            fail(key, f"must be at least 1, got {value}")
    if config.data.num_workers < 0:
        fail("data.num_workers", f"must be >= 0, got {config.data.num_workers}")
    if config.checkpoint.every_n_steps is not None and config.checkpoint.every_n_steps < 1:
        fail("checkpoint.every_n_steps", "must be at least 1 or null")
    devices = config.trainer.devices
    if isinstance(devices, int) and devices < 1 and devices != -1:
        fail("trainer.devices", f"must be a positive number, -1 or 'auto', got {devices}")
    seen: set[str] = set()
    for i, stage in enumerate(config.stages):
        key = f"stages.{i}"
        if stage.name in seen:
            fail(f"{key}.name", f"stage name {stage.name!r} is used twice")
        seen.add(stage.name)
        if (stage.epochs is None) == (stage.steps is None):
            fail(key, "give exactly one of epochs or steps")
        if (stage.epochs or 1) < 1 or (stage.steps or 1) < 1:
            fail(key, "epochs/steps must be at least 1")
        if not stage.train:
            fail(f"{key}.train", "a stage must train at least one module")
        for group in ("train", "frozen"):
            for path in getattr(stage, group):
                if path.split(".")[0] not in config.modules:
                    fail(
                        f"{key}.{group}",
                        f"{path!r} is not in modules ({', '.join(config.modules)})",
                    )
        for a in stage.train:
            for b in stage.train:
                if a != b and b.startswith(f"{a}."):  # b's parameters would step twice
                    fail(f"{key}.train", f"{b!r} is inside {a!r}: each parameter is trained "
                                         "by one entry (one optimiser)")
        if sorted(stage.optimizers) != sorted(stage.train):
            fail(
                f"{key}.optimizers",
                f"give one optimiser per trained entry {stage.train}, "
                f"got {sorted(stage.optimizers)}",
            )
        stepped = [e for e in stage.train if stage.pattern == "plain" or stage.adversarial is None
                   or e != stage.adversarial.discriminator]
        if config.trainer.precision == "16-mixed" and len(stepped) > 1:
            # Fabric updates the gradient scaler after every optimiser step, so one backward
            # followed by several steps unscales the later ones with a changed scale
            fail(f"{key}.train", f"16-mixed steps one optimiser per backward; this stage steps "
                                 f"{stepped} together: use precision bf16-mixed")
        for name, opt in stage.optimizers.items():
            opt_key = f"{key}.optimizers.{name}"
            if not (math.isfinite(opt.lr) and opt.lr > 0):
                fail(f"{opt_key}.lr", f"must be a positive finite number, got {opt.lr}")
            if len(opt.betas) != 2 or not all(0 <= beta < 1 for beta in opt.betas):
                fail(f"{opt_key}.betas", f"must be two numbers in [0, 1), got {opt.betas}")
            for attr in ("momentum", "weight_decay", "final_lr_factor"):
                value = getattr(opt, attr)
                if not (math.isfinite(value) and value >= 0):
                    fail(f"{opt_key}.{attr}", f"must be a finite number >= 0, got {value}")
            if opt.schedule == "linear" and opt.final_lr_factor > 1:
                fail(f"{opt_key}.final_lr_factor", "must be at most 1 with schedule: linear")
            if opt.kind == "sgd" and opt.nesterov and opt.momentum == 0:
                fail(f"{opt_key}.nesterov", "Nesterov momentum needs a momentum > 0")
        for term, weight in stage.losses.items():
            for value in (weight.start, weight.end):
                if value is not None and not math.isfinite(value):
                    fail(f"{key}.losses.{term}", f"a weight must be finite, got {value}")
        if not stage.losses:
            fail(f"{key}.losses", "name at least one loss term with its weight")
        if stage.batch_size is not None and stage.batch_size < 1:
            fail(f"{key}.batch_size", "must be at least 1")
        clip = stage.grad_clip_norm
        if clip is not None and not (math.isfinite(clip) and clip > 0):
            fail(f"{key}.grad_clip_norm", f"must be a positive finite number or null, got {clip}")
        if stage.pattern == "adversarial":
            adv = stage.adversarial
            if adv is None:
                fail(f"{key}.adversarial", "an adversarial stage needs an adversarial section")
            if adv.discriminator not in stage.train:
                fail(
                    f"{key}.adversarial.discriminator",
                    f"{adv.discriminator!r} must be one of the trained entries {stage.train}",
                )
            if len(stage.train) < 2:
                fail(f"{key}.train", "an adversarial stage trains a generator and a discriminator")
            if adv.d_steps < 1 or adv.g_steps < 1:
                fail(f"{key}.adversarial", "d_steps and g_steps must be at least 1")
            if adv.loss_term not in stage.losses:
                fail(f"{key}.losses", f"give the weight of the adversarial term {adv.loss_term!r}")
        elif stage.adversarial is not None:
            fail(f"{key}.adversarial", "only allowed with pattern: adversarial")
