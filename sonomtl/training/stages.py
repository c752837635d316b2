"""What a stage trains and freezes, and its optimisers.

Rule (documented in docs/training.md): a parameter is trained in a stage
when it lies under one of the stage's ``train`` entries and under none of its
``frozen`` entries. Entries are module names (``G``) or dotted paths to
sub-modules (``net.encoder.shared``). Everything else is frozen:
``requires_grad=False``, and every sub-module that holds no trained
parameter is put in eval mode, so its batch-norm statistics stay fixed and
its dropout is off.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn as nn

from sonomtl.config import OptimizerConfig, StageConfig

__all__ = ["resolve_path", "apply_stage_freezing", "trained_parameters", "build_optimizer"]


def resolve_path(modules: Mapping[str, nn.Module], path: str) -> nn.Module:
    """The sub-module at ``name.sub.path``; ``ValueError`` naming the path when absent."""
    name, _, rest = path.partition(".")
    if name not in modules:
        raise ValueError(f"unknown module {name!r} in {path!r}; modules: {', '.join(modules)}")
    if not rest:
        return modules[name]
    try:
        return modules[name].get_submodule(rest)
    except AttributeError:
        raise ValueError(f"module {name!r} has no sub-module {rest!r}") from None


def _under(path: str, prefixes: Sequence[str]) -> bool:
    return any(path == p or path.startswith(p + ".") for p in prefixes)


def trained_parameters(
    modules: Mapping[str, nn.Module], entry: str, frozen: Sequence[str]
) -> list[nn.Parameter]:
    """Parameters of ``entry`` not under any ``frozen`` path, in a stable order."""
    root = resolve_path(modules, entry)
    params = []
    for local_name, param in root.named_parameters():
        if not _under(f"{entry}.{local_name}", frozen):
            params.append(param)
    return params


def apply_stage_freezing(modules: Mapping[str, nn.Module], stage: StageConfig) -> dict[str, int]:
    """Set ``requires_grad`` and train/eval modes for ``stage``; returns trained counts per module.

    Raises ``ValueError`` when a ``train``/``frozen`` path does not exist or a
    ``train`` entry ends up with no trainable parameter.
    """
    for path in (*stage.train, *stage.frozen):
        resolve_path(modules, path)
    counts: dict[str, int] = {}
    for name, module in modules.items():
        trained_names = set()
        for local_name, param in module.named_parameters():
            full = f"{name}.{local_name}"
            trained = _under(full, stage.train) and not _under(full, stage.frozen)
            param.requires_grad_(trained)
            if trained:
                trained_names.add(local_name)
        counts[name] = sum(p.numel() for n, p in module.named_parameters() if n in trained_names)
        modes: dict[str, bool] = {}
        for sub_name, sub in module.named_modules():
            prefix = f"{sub_name}." if sub_name else ""
            full = f"{name}.{sub_name}" if sub_name else name
            if any(True for _ in sub.parameters()):
                holds = any(n.startswith(prefix) for n in trained_names)
                mode = holds and not _under(full, stage.frozen)
            else:  # parameter-free (dropout, pooling): follows its parent
                parent = sub_name.rpartition(".")[0] if "." in sub_name else ""
                mode = modes.get(parent, False) if sub_name else False
                mode = mode and not _under(full, stage.frozen)
            modes[sub_name] = mode
            sub.training = mode
    for entry in stage.train:
        if not trained_parameters(modules, entry, stage.frozen):
            raise ValueError(f"stage {stage.name!r}: {entry!r} has no trainable parameter left")
    return counts


def build_optimizer(
    params: Sequence[nn.Parameter], config: OptimizerConfig
) -> torch.optim.Optimizer:
    """Adam or SGD over ``params`` with the configured hyper-parameters."""
    if config.kind == "adam":
        return torch.optim.Adam(
            params, lr=config.lr, betas=tuple(config.betas), weight_decay=config.weight_decay
        )
    return torch.optim.SGD(
        params,
        lr=config.lr,
        momentum=config.momentum,
        nesterov=config.nesterov,
        weight_decay=config.weight_decay,
    )
