"""Checkpoints: weights in safetensors, training state with ``torch.save``, atomic pointer.

A checkpoint of step N is two files in ``runs/<name>/checkpoints/`` (reading the
weights back needs only :mod:`sonomtl.models.checkpoints`, which inference uses):

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
from sonomtl.models.checkpoints import (
    FORMAT_VERSION,
    CheckpointPaths,
    latest_checkpoint,
    load_weights,
    read_model_metadata,
    rebuild_kwargs,
    weights_file,
)

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


def read_metadata(weights: str | os.PathLike[str]) -> dict[str, Any]:
    """The checkpoint's metadata (:func:`sonomtl.models.checkpoints.read_model_metadata`),
    its task checked too: only a registered task may be rebuilt from it."""
    from sonomtl.training.tasks import checkpoint_task_allowed

    metadata = read_model_metadata(weights)
    task = metadata.get("task") or {}
    if task.get("name") is not None and not checkpoint_task_allowed(task["name"]):
        raise InputError(f"task {task['name']!r} is not a registered task", file=weights,
                         field="task.name")
    return metadata


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
    from sonomtl.models.registry import build_model
    from sonomtl.training.tasks import build_task

    weights = weights_file(run_or_ckpt_path)
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
            kwargs = rebuild_kwargs(specs[name])
            model = specs[name]["model"]
            modules[name] = (task.build_module(name, model=model, kwargs=kwargs)
                             if task is not None else build_model(model, **kwargs))
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

