"""A trained run rebuilt for evaluation: its config, task, generator module and data folder."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sonomtl.errors import InputError

__all__ = ["LoadedRun", "load_run"]


@dataclass
class LoadedRun:
    """A run rebuilt for evaluation: its config, task, generator module and checkpoint."""

    run_dir: Path
    config: Any
    task: Any
    module: Any
    module_name: str
    step: int
    data_root: Path
    preprocessing: dict[str, Any]


def load_run(
    run_dir: str | os.PathLike[str], *, data: str | os.PathLike[str] | None = None
) -> LoadedRun:
    """Rebuild a run's task and trained generator (eval mode) from its folder.

    The generator is rebuilt by
    :func:`sonomtl.training.checkpoint.load_checkpoint_modules` (through the
    task's own ``build_module``) and loaded strictly.

    Parameters
    ----------
    run_dir
        The run folder (``config.yaml`` and ``checkpoints/``).
    data
        A dataset folder replacing the config's ``data.root``.

    Raises
    ------
    InputError
        The folder, its config, its checkpoint or the dataset is missing.
    """
    from sonomtl.config import load_config
    from sonomtl.training.checkpoint import latest_checkpoint, load_checkpoint_modules
    from sonomtl.training.tasks import build_task

    folder = Path(run_dir)
    if not folder.is_dir():
        raise InputError("run folder not found", file=folder)
    if not (folder / "config.yaml").is_file():
        raise InputError("not a run folder (config.yaml missing)", file=folder)
    config = load_config(folder / "config.yaml")
    paths = latest_checkpoint(folder)
    if paths is None:
        raise InputError("the run has no checkpoint (checkpoints/last.json missing): train it "
                         "first", file=folder)
    if data is not None:
        config.data.root = os.fspath(data)
    root = config.data.root
    if root is None or not Path(root).is_dir():
        raise InputError("dataset folder not found (give --data DATASET)", file=root or folder,
                         field="data.root")
    try:
        task = build_task(config.task.name, params=config.task.params)
    except ValueError as error:
        raise InputError(str(error), file=folder / "config.yaml", field="task") from None
    name = str(getattr(task, "generator", "G"))
    if name not in config.modules:
        raise InputError(f"the config has no module {name!r} (the task's generator)",
                         file=folder / "config.yaml", field="modules")
    try:
        modules, metadata = load_checkpoint_modules(paths.weights, names=[name])
    except RuntimeError as error:
        raise InputError(f"the checkpoint does not fit the config's {name!r} module: "
                         f"{' '.join(str(error).split())[:300]}", file=paths.weights) from None
    module = modules[name]
    return LoadedRun(run_dir=folder, config=config, task=task, module=module, module_name=name,
                     step=int(metadata.get("step", paths.step)), data_root=Path(root),
                     preprocessing=dict(metadata.get("preprocessing") or {}))
