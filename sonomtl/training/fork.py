"""Start a run from another run's finished stages (``sonomtl train CONFIG --start-from RUN``).

Paper 1 pre-trains the generator and then adds the adversarial stage; its
"M-SEN BCE" and "M-SEN BCE + GAN" rows share the whole pre-training. A run whose
first stages are those of a finished run (same task, data, seed, trainer,
modules and stage settings) can start where that run's last checkpoint stands,
at a stage boundary, instead of training them again: the fork writes that
checkpoint into the new run folder (the source's weights, the new modules'
seeded initial weights, the source's optimiser-free training state, its
metrics rows and TensorBoard events; ``started_from.json`` names the source),
and the run then resumes from it. On a CPU with the same seed the result is
the same as training the whole config (tests/training/test_fork.py), so only
the time is saved.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch.nn as nn

from sonomtl.config import TrainConfig, config_to_dict, flatten_config, load_config
from sonomtl.errors import InputError
from sonomtl.fileio import write_json
from sonomtl.training.checkpoint import (
    CheckpointPaths,
    latest_checkpoint,
    load_training_state,
    load_weights,
    save_checkpoint,
)

__all__ = ["STARTED_FROM", "ForkSource", "check_fork_source", "started_from", "write_fork"]

#: The file in a forked run's folder that names the run and step it started from.
STARTED_FROM = "started_from.json"

# settings that do not change what is trained (loading is seeded per sample: docs/training.md)
_IGNORED = ("name", "out_dir", "checkpoint", "trainer.progress_bar", "data.num_workers")


@dataclass(frozen=True)
class ForkSource:
    """A run's last checkpoint at a stage boundary, checked against a new config."""

    run_dir: Path
    paths: CheckpointPaths
    state: dict[str, Any]
    stages_done: int  # the new run starts with stage ``stages_done`` (0-based)
    modules: tuple[str, ...]  # the modules whose weights come from the source


def check_fork_source(config: TrainConfig, source: str | os.PathLike[str]) -> ForkSource:
    """Check that ``config`` may start from the run in ``source``; raises :class:`InputError`.

    The source's last checkpoint must lie at the end of a stage; every setting
    except the run's name, folder, checkpoint settings, progress bar and loader
    workers must be the same, and so must the stages it finished and the
    modules it has (the new config may add modules that those stages do not
    train, and stages after them).
    """
    source = Path(source)
    saved = source / "config.yaml"
    if not saved.is_file():
        raise InputError("not a run folder (config.yaml missing)", file=source)
    paths = latest_checkpoint(source)
    if paths is None:
        raise InputError("the run has no checkpoint to start from", file=source)
    state = load_training_state(paths)
    position = state.get("position", {})
    done = int(position.get("stage", 0))
    inside = any(int(position.get(k, 0)) for k in ("epoch", "batch", "stage_step"))
    before = load_config(saved)
    if inside or done == 0:
        at = before.stages[min(done, len(before.stages) - 1)].name
        raise InputError(f"its last checkpoint (step {paths.step}) is inside stage {at!r}; "
                         "start from a run that finished a stage", file=source)
    old, new = config_to_dict(before), config_to_dict(config)
    flat_old, flat_new = flatten_config(old), flatten_config(new)
    differing = [k for k in sorted(flat_old.keys() | flat_new.keys())
                 if k != "stages" and not k.startswith("modules.") and not _ignored(k)
                 and flat_old.get(k) != flat_new.get(k)]
    differing += [f"stages.{stage['name']}" for stage in old["stages"][:done]
                  if stage not in new["stages"][:done]]
    differing += [f"modules.{name}" for name, spec in old["modules"].items()
                  if new["modules"].get(name) != spec]
    if differing:
        raise InputError(f"its run differs in {', '.join(differing)}; only later stages "
                         "and new modules may differ", file=saved)
    if len(config.stages) <= done:
        raise InputError(f"the config has {len(config.stages)} stage(s) and the run "
                         f"finished {done}: nothing is left to train", file=source)
    return ForkSource(run_dir=source, paths=paths, state=state, stages_done=done,
                      modules=tuple(old["modules"]))


def write_fork(run_dir: Path, source: ForkSource, *, modules: Mapping[str, nn.Module],
               metadata: Mapping[str, Any], config: TrainConfig) -> CheckpointPaths:
    """Write the checkpoint the new run resumes from (rank 0 only).

    ``modules`` are the new run's freshly built modules; those of the source
    get its weights, the others keep their initial weights.
    """
    load_weights(source.paths.weights, {name: modules[name] for name in source.modules})
    for part in ("metrics.csv", "tensorboard"):
        origin, target = source.run_dir / part, run_dir / part
        if origin.is_dir():
            shutil.copytree(origin, target, dirs_exist_ok=True)
        elif origin.is_file():
            shutil.copy2(origin, target)
    step = int(source.state["position"]["global_step"])
    write_json(run_dir / STARTED_FROM, {"run": str(source.run_dir), "step": step})
    return save_checkpoint(
        run_dir / "checkpoints",
        step=step,
        modules=modules,
        metadata={**metadata, "step": step, "finished": False,
                  "stage": config.stages[source.stages_done].name},
        state=source.state,
        keep_last=config.checkpoint.keep_last,
    )


def started_from(run_dir: str | os.PathLike[str]) -> Path | None:
    """The run folder a forked run started from (``None``: it trained all its stages)."""
    import json

    path = Path(run_dir) / STARTED_FROM
    if not path.is_file():
        return None
    return Path(json.loads(path.read_text(encoding="utf-8"))["run"])


def _ignored(key: str) -> bool:
    return any(key == k or key.startswith(k + ".") for k in _IGNORED)

