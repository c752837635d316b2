"""A checkpoint's weights file read back: its metadata, and its networks from the model registry.

The file layout (written by :func:`sonomtl.training.checkpoint.save_checkpoint`):
``runs/<name>/checkpoints/step-000000N.safetensors`` holds every module's
``state_dict`` under ``<module>.<key>`` and, in the safetensors header, the
``sonomtl`` metadata (format version, each module's registry model name and
kwargs, the task, the preprocessing); ``last.json`` points at the latest step.
Inference needs nothing else: :func:`load_checkpoint_module` rebuilds one
network through the registry, with the weights-file arguments (``pretrained``)
switched off since the checkpoint replaces those weights.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch.nn as nn

from sonomtl.errors import InputError

__all__ = [
    "FORMAT_VERSION",
    "CheckpointPaths",
    "latest_checkpoint",
    "load_checkpoint_module",
    "load_weights",
    "read_model_metadata",
    "rebuild_kwargs",
    "weights_file",
]

FORMAT_VERSION = 1
#: Factory arguments naming a weights file to initialise from (replaced by the checkpoint).
WEIGHT_FILE_ARGS = frozenset({"pretrained", "weights"})


class CheckpointPaths:
    """File names of the checkpoint of one step inside ``checkpoints/``."""

    def __init__(self, folder: str | os.PathLike[str], step: int) -> None:
        self.folder = Path(folder)
        self.step = step
        self.weights = self.folder / f"step-{step:09d}.safetensors"
        self.state = self.folder / f"step-{step:09d}.state.pt"


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


def read_model_metadata(weights: str | os.PathLike[str]) -> dict[str, Any]:
    """The sonomtl metadata of a checkpoint's safetensors file, checked as far as models go.

    Refuses newer format versions, malformed metadata, and modules that are
    not registry models: a checkpoint is data from anywhere, so it may only
    rebuild the toolkit's own networks (never call an arbitrary function of
    the package with the file's arguments). The training side also checks
    the task (:func:`sonomtl.training.checkpoint.read_metadata`).
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
    except (json.JSONDecodeError, RecursionError) as error:  # or nested past the parser's stack
        raise InputError(f"the sonomtl metadata is not valid JSON: {str(error)[:200]}",
                         file=weights) from None
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
    _check_modules(metadata, weights)
    return metadata


def _check_modules(metadata: Mapping[str, Any], weights: Any) -> None:
    from sonomtl.models.registry import registered_name

    modules = metadata.get("modules")
    if not isinstance(modules, dict) or not modules:
        raise InputError("the checkpoint lists no modules", file=weights, field="modules")
    for name, spec in modules.items():
        if not isinstance(spec, dict) or not isinstance(spec.get("model"), str) \
                or not isinstance(spec.get("kwargs") or {}, dict):
            raise InputError("expected {model: name, kwargs: {...}}", file=weights,
                             field=f"modules.{name}")
        if registered_name(spec["model"]) is None:
            raise InputError(f"model {spec['model']!r} is not a registered model; a checkpoint "
                             "rebuilds registered models only", file=weights,
                             field=f"modules.{name}.model")
        _check_kwarg_sizes(spec.get("kwargs") or {}, weights, f"modules.{name}.kwargs")
    task = metadata.get("task") or {}
    if not isinstance(task, dict) or not isinstance(task.get("params") or {}, dict):
        raise InputError("expected {name, params: {...}}", file=weights, field="task")
    if not isinstance(metadata.get("preprocessing") or {}, dict):
        raise InputError("expected a JSON object", file=weights, field="preprocessing")


def _check_kwarg_sizes(value: Any, weights: Any, key: str) -> None:
    """Refuse any number in a module's kwargs over ``LIMITS.network_width`` (widths, channels,
    classes, kernel sizes, input sizes), before a network of that size is allocated."""
    from sonomtl.untrusted import LIMITS

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


def rebuild_kwargs(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A checkpoint module's factory arguments with its weights file switched off.

    ``pretrained`` becomes ``None`` (the checkpoint holds the weights, and the
    file may not exist here); ``weights``, SonoNet's earlier spelling of it,
    is read as ``pretrained``.

    Examples
    --------
    >>> rebuild_kwargs({"model": "sononet16", "kwargs": {"weights": "x.npz", "num_classes": 2}})
    {'pretrained': None, 'num_classes': 2}
    """
    return {("pretrained" if key == "weights" else key): (None if key in WEIGHT_FILE_ARGS
                                                          else value)
            for key, value in (spec.get("kwargs") or {}).items()}


def weights_file(run_or_ckpt_path: str | os.PathLike[str]) -> Path:
    """The weights file of a run folder, its ``checkpoints/`` folder, or a ``.safetensors`` file."""
    path = Path(run_or_ckpt_path)
    if path.is_file():
        return path
    paths = latest_checkpoint(path)
    if paths is None:
        raise InputError("no checkpoint found (checkpoints/last.json missing)", file=path)
    return paths.weights


def load_checkpoint_module(
    weights: str | os.PathLike[str], name: str, metadata: Mapping[str, Any] | None = None
) -> nn.Module:
    """The checkpoint's module ``name`` rebuilt by the model registry, its weights loaded.

    ``metadata``: the file's :func:`read_model_metadata` when already read.
    Raises :class:`InputError` naming the file when the module is missing, its
    model cannot be built from its kwargs, or the weights do not fit it.
    """
    from sonomtl.models.registry import build_model

    metadata = read_model_metadata(weights) if metadata is None else metadata
    specs = metadata["modules"]
    if name not in specs:
        raise InputError(f"the checkpoint has no module {name!r} (it has "
                         f"{', '.join(sorted(specs))})", file=weights)
    kwargs = rebuild_kwargs(specs[name])
    part = f"module {name!r}"
    try:
        module = build_model(specs[name]["model"], **kwargs)
        part = "the weights"
        load_weights(weights, {name: module})
    except InputError:
        raise
    except (TypeError, ValueError, KeyError, RuntimeError) as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise InputError(f"cannot rebuild {part} from the checkpoint: {first}",
                         file=weights) from None
    return module.eval()
