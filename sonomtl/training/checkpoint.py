"""Checkpoints: weights in safetensors, training state with ``torch.save``, atomic pointer.

A checkpoint of step N is two files in ``runs/<name>/checkpoints/``:

* ``step-000000N.safetensors``: every module's ``state_dict`` under
  ``<module>.<key>`` plus metadata (JSON in the safetensors header): the
  format version, each module's model name and kwargs, the task, the
  dataset's preprocessing info. Inference rebuilds the modules from this file
  alone (:func:`load_checkpoint_modules`).
* ``step-000000N.state.pt``: optimisers, schedulers, stage/epoch/step,
  sampler position, running metric sums, RNG states of every rank; tensors
  and plain containers only, read back with ``torch.load(weights_only=True)``.

Both are written atomically, then ``last.json`` (the pointer) is replaced
atomically: a SIGKILL at any moment leaves the previous complete checkpoint
in charge.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from sonomtl.errors import InputError
from sonomtl.fileio import atomic_path, write_json
from sonomtl.untrusted import LIMITS

__all__ = [
    "FORMAT_VERSION",
    "CheckpointPaths",
    "capture_rng_state",
    "restore_rng_state",
    "save_checkpoint",
    "latest_checkpoint",
    "load_training_state",
    "load_weights",
    "load_checkpoint_modules",
    "read_metadata",
]

FORMAT_VERSION = 1


class CheckpointPaths:
    """File names of the checkpoint of one step inside ``checkpoints/``."""

    def __init__(self, folder: str | os.PathLike[str], step: int) -> None:
        self.folder = Path(folder)
        self.step = step
        self.weights = self.folder / f"step-{step:09d}.safetensors"
        self.state = self.folder / f"step-{step:09d}.state.pt"


def capture_rng_state() -> dict[str, Any]:
    """Python, NumPy and torch (CPU, CUDA) RNG states as tensors and plain values."""
    py_version, py_state, py_gauss = random.getstate()
    np_kind, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()  # noqa: NPY002
    state: dict[str, Any] = {
        "python": {
            "version": py_version,
            "state": torch.tensor(py_state, dtype=torch.int64),
            "gauss": py_gauss,
        },
        "numpy": {
            "kind": np_kind,
            "keys": torch.from_numpy(np_keys.astype(np.int64)),
            "pos": int(np_pos),
            "has_gauss": int(np_has_gauss),
            "gauss": float(np_gauss),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def restore_rng_state(state: Mapping[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state`."""
    py = state["python"]
    random.setstate((py["version"], tuple(int(v) for v in py["state"].tolist()), py["gauss"]))
    nps = state["numpy"]
    np.random.set_state(  # noqa: NPY002
        (
            nps["kind"],
            nps["keys"].numpy().astype(np.uint32),
            nps["pos"],
            nps["has_gauss"],
            nps["gauss"],
        )
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


def save_checkpoint(
    folder: str | os.PathLike[str],
    *,
    step: int,
    modules: Mapping[str, nn.Module],
    metadata: Mapping[str, Any],
    state: Mapping[str, Any],
    keep_last: int,
) -> CheckpointPaths:
    """Write weights + state of ``step`` atomically, point ``last.json`` at them, prune old ones."""
    from safetensors.torch import save_file

    paths = CheckpointPaths(folder, step)
    tensors = {}
    for name, module in modules.items():
        for key, value in module.state_dict().items():
            tensors[f"{name}.{key}"] = value.detach().to("cpu", copy=True).contiguous()
    header = {"sonomtl": json.dumps(dict(metadata), sort_keys=True)}
    with atomic_path(paths.weights) as tmp:
        save_file(tensors, str(tmp), metadata=header)
    with atomic_path(paths.state) as tmp:
        torch.save(dict(state), tmp)
    write_json(
        Path(folder) / "last.json",
        {
            "step": step,
            "weights": paths.weights.name,
            "state": paths.state.name,
            "format_version": FORMAT_VERSION,
        },
    )
    _prune(Path(folder), keep_last=keep_last, current=step)
    return paths


def _prune(folder: Path, *, keep_last: int, current: int) -> None:
    steps = sorted({int(p.name[5:14]) for p in folder.glob("step-*.safetensors")})
    for old in steps[:-keep_last]:
        if old == current:
            continue
        for path in (CheckpointPaths(folder, old).weights, CheckpointPaths(folder, old).state):
            path.unlink(missing_ok=True)


def latest_checkpoint(run_or_folder: str | os.PathLike[str]) -> CheckpointPaths | None:
    """The checkpoint ``last.json`` points at (``None`` when there is none yet)."""
    path = Path(run_or_folder)
    folder = path / "checkpoints" if (path / "checkpoints").is_dir() else path
    pointer = folder / "last.json"
    if not pointer.is_file():
        return None
    try:
        data = json.loads(pointer.read_text(encoding="utf-8"))
        paths = CheckpointPaths(folder, int(data["step"]))
    except (ValueError, KeyError, TypeError) as error:
        raise InputError(f"unreadable checkpoint pointer: {error}", file=pointer) from None
    if not paths.weights.is_file():
        raise InputError(f"checkpoint weights missing: {paths.weights.name}", file=pointer)
    return paths


def read_metadata(weights: str | os.PathLike[str]) -> dict[str, Any]:
    """The sonomtl metadata of a checkpoint's safetensors file, checked.

    Refuses newer format versions, malformed metadata, and modules or tasks
    that are not registered factories: a checkpoint is data from anywhere,
    so it may only rebuild the toolkit's own networks (never call an
    arbitrary function of the package with the file's arguments).
    """
    from safetensors import safe_open

    try:
        with safe_open(str(weights), framework="pt") as handle:
            header = handle.metadata() or {}
    except Exception as error:  # safetensors raises its own error types
        raise InputError(f"not a readable safetensors checkpoint: {error}", file=weights) from None
    if "sonomtl" not in header:
        raise InputError("not a sonomtl checkpoint (no sonomtl metadata)", file=weights)
    try:
        metadata = json.loads(header["sonomtl"])
    except json.JSONDecodeError as error:
        raise InputError(f"the sonomtl metadata is not valid JSON: {error}", file=weights) from None
    if not isinstance(metadata, dict):
        raise InputError("the sonomtl metadata is not a JSON object", file=weights)
    version = metadata.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise InputError(f"checkpoint format version {version!r} is not a positive integer",
                         file=weights, field="format_version")
    if version > FORMAT_VERSION:
        raise InputError(
            f"checkpoint format version {version} is newer than this sonomtl supports "
            f"({FORMAT_VERSION}); upgrade sonomtl to read it",
            file=weights,
        )
    _check_factories(metadata, weights)
    return metadata


def _check_factories(metadata: Mapping[str, Any], weights: Any) -> None:
    from sonomtl.training.tasks import checkpoint_factory_allowed

    modules = metadata.get("modules")
    if not isinstance(modules, dict) or not modules:
        raise InputError("the checkpoint lists no modules", file=weights, field="modules")
    for name, spec in modules.items():
        if not isinstance(spec, dict) or not isinstance(spec.get("model"), str) \
                or not isinstance(spec.get("kwargs") or {}, dict):
            raise InputError("expected {model: name, kwargs: {...}}", file=weights,
                             field=f"modules.{name}")
        if not checkpoint_factory_allowed(spec["model"], kind="model"):
            raise InputError(f"model {spec['model']!r} is not a registered model; a checkpoint "
                             "rebuilds registered models only", file=weights,
                             field=f"modules.{name}.model")
        _check_kwarg_sizes(spec.get("kwargs") or {}, weights, f"modules.{name}.kwargs")
    task = metadata.get("task") or {}
    if not isinstance(task, dict) or not isinstance(task.get("params") or {}, dict):
        raise InputError("expected {name, params: {...}}", file=weights, field="task")
    if task.get("name") is not None and not checkpoint_factory_allowed(task["name"], kind="task"):
        raise InputError(f"task {task['name']!r} is not a registered task", file=weights,
                         field="task.name")
    preprocessing = metadata.get("preprocessing") or {}
    if not isinstance(preprocessing, dict):
        raise InputError("expected a JSON object", file=weights, field="preprocessing")


def _check_kwarg_sizes(value: Any, weights: Any, key: str) -> None:
    """Refuse any number in a module's kwargs over ``LIMITS.network_width`` (widths, channels,
    classes, kernel sizes, input sizes), before a network of that size is allocated."""
    if isinstance(value, dict):
        for name, item in value.items():
            _check_kwarg_sizes(item, weights, f"{key}.{name}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_kwarg_sizes(item, weights, f"{key}[{i}]")
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and not (
            abs(value) <= LIMITS.network_width):
        raise InputError(f"expected at most {LIMITS.network_width}, got {value!r} "
                         "(docs/security.md: limits)", file=weights, field=key)


def load_weights(weights: str | os.PathLike[str], modules: Mapping[str, nn.Module]) -> None:
    """Load a checkpoint's tensors into ``modules`` (strict: every key must match)."""
    from safetensors.torch import load_file

    tensors = load_file(str(weights))
    for name, module in modules.items():
        prefix = f"{name}."
        sub = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
        expected = module.state_dict()
        for key in sorted(set(expected) | set(sub)):  # one line naming the first bad tensor
            if key not in sub:
                raise InputError(f"the weights do not fit the model: tensor {prefix}{key} is "
                                 "missing", file=weights)
            if key not in expected:
                raise InputError(f"the weights do not fit the model: tensor {prefix}{key} is "
                                 "not part of it", file=weights)
            if tuple(sub[key].shape) != tuple(expected[key].shape):
                raise InputError(f"the weights do not fit the model: tensor {prefix}{key} has "
                                 f"shape {list(sub[key].shape)}, the model expects "
                                 f"{list(expected[key].shape)}", file=weights)
        module.load_state_dict(sub, strict=True)


def load_training_state(paths: CheckpointPaths) -> dict[str, Any]:
    """The training state of a checkpoint (``torch.load(weights_only=True)``).

    A damaged file, or one holding anything but tensors and plain containers
    (which ``weights_only`` refuses to unpickle), raises :class:`InputError`.
    """
    import warnings

    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols before refusing
            warnings.simplefilter("ignore")
            return torch.load(paths.state, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises UnpicklingError, EOFError, RuntimeError, ...
        # torch's own text suggests weights_only=False, i.e. unpickling: never repeated here
        reason = ("it holds Python objects other than tensors and plain containers, which "
                  "are never unpickled" if "weights only" in str(error).lower()
                  else f"damaged or truncated ({type(error).__name__})")
        raise InputError(f"cannot read the training state: {reason}", file=paths.state) from None


def load_checkpoint_modules(
    run_or_ckpt_path: str | os.PathLike[str], *, names: Sequence[str] | None = None
) -> tuple[dict[str, nn.Module], dict[str, Any]]:
    """Rebuild the modules of a checkpoint, with their weights, in eval mode.

    Modules are built the way the run built them: through its task's
    ``build_module`` (tasks wrap or adapt registry models, e.g. the M-SEN
    discriminator adapter or the abdominal ``encoder_layers``), with
    ``pretrained``/``weights`` file arguments switched off, since the
    checkpoint replaces those weights (and the file may not exist here).

    Parameters
    ----------
    run_or_ckpt_path
        A run folder (``runs/NAME``), its ``checkpoints/`` folder, or a
        ``.safetensors`` checkpoint file.
    names
        Only these modules (default: all of them).

    Returns
    -------
    modules, metadata
        ``{name: module}`` and the checkpoint metadata (``format_version``,
        ``modules`` {name: {model, kwargs}}, ``task``, ``preprocessing``, ``step``...).
    """
    from sonomtl.training.tasks import build_named_model, build_task

    path = Path(run_or_ckpt_path)
    if path.is_file():
        weights = path
    else:
        paths = latest_checkpoint(path)
        if paths is None:
            raise InputError("no checkpoint found (checkpoints/last.json missing)", file=path)
        weights = paths.weights
    metadata = read_metadata(weights)
    specs = metadata["modules"]
    unknown = sorted(set(names or ()) - set(specs))
    if unknown:
        raise InputError(f"the checkpoint has no module {unknown[0]!r} (it has "
                         f"{', '.join(sorted(specs))})", file=weights)
    task_meta = metadata.get("task") or {}
    modules = {}
    part = "its task"
    try:
        task = (build_task(task_meta["name"], params=task_meta.get("params") or {})
                if task_meta.get("name") else None)
        for name in names or list(specs):
            part = f"module {name!r}"
            kwargs = {key: (None if key in _WEIGHT_FILE_ARGS else value)
                      for key, value in (specs[name].get("kwargs") or {}).items()}
            model = specs[name]["model"]
            modules[name] = (task.build_module(name, model=model, kwargs=kwargs)
                             if task is not None else build_named_model(model, kwargs))
        part = "the weights"
        load_weights(weights, modules)
    except InputError:
        raise
    except (TypeError, ValueError, KeyError, RuntimeError) as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise InputError(f"cannot rebuild {part} from the checkpoint: {first}",
                         file=weights) from None
    for module in modules.values():
        module.eval()
    return modules, metadata


#: Factory arguments naming a weights file to initialise from (replaced by the checkpoint).
_WEIGHT_FILE_ARGS = frozenset({"pretrained", "weights"})
