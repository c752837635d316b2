"""``sonomtl experiment abdominal``: paper 004's comparison, Table 1, Figs. 3-4, sizes and timing.

For a dataset with views and landmark tasks (``sonomtl synth abdominal``, or
HC18 as a one-view dataset) this trains, on the same seeded subject split:

* ``STL``: the single-task view classifier (``sonomtl/configs/abdominal/stl_classifier.yaml``)
  and ``SFCN``: one single-task FCN per landmark task (``sfcn.yaml``),
* ``MFCN``, ``MGCN`` and ``MGCN_R`` (the full model) (``mfcn.yaml``, ``mgcn.yaml``,
  ``mgcn_r.yaml``),

then predicts the held-out subjects and writes into ``out``:

* ``<model>/`` (``SFCN/<task>/``): the run folders;
* ``results.json``: ``models`` {name: ``landmarks`` / ``classification`` /
  ``model``}, ``human`` (second annotator vs first), ``tables`` (``table1``:
  measurement errors in mm, ``views``: accuracies, ``model_size``, ``timing``),
  the split and the wall time;
* ``tables.md``: the same tables in Markdown;
* ``figures/fig3_confusion.png`` (STL, MTL, between annotators),
  ``figures/landmark_examples.json`` + ``figures/fig4_overlays.png`` (MGCN vs
  MGCN_R on the same test frames).

Table 1 scores landmarks on the channels of each image's *true* view (landmark
detection alone, as the paper's table); :func:`~sonomtl.evaluation.abdominal.one_pass`
is the deployed path (predicted view, its landmarks, its measurements).

A model whose run folder already holds a finished checkpoint is not trained
again (its saved config is used): an interrupted experiment continues, and a
run trained with ``sonomtl train ... out_dir=OUT name=MODEL`` is evaluated.

Scales: ``paper`` runs the configs as written (0.5 mm, 512x512, ResNet-50,
30 + 5 epochs, SGD 1e-6); ``quick`` (:data:`QUICK_OVERRIDES`) trains at 64x64
(the same field of view, 4 mm pixels on the simulator's data) on a ResNet with one
bottleneck per stage, Adam 1e-3, 15 landmark and 5 view epochs, and trains the views
of MGCN_R only (Fig. 3 compares STL with the full model; MFCN and MGCN are scored on
landmarks).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sonomtl.errors import InputError
from sonomtl.experiments.threads import QUICK_THREADS, torch_threads

__all__ = [
    "ABDOMINAL_MODELS",
    "QUICK_INPUT_SIZE",
    "QUICK_OVERRIDES",
    "QUICK_THREADS",
    "SCALES",
    "default_config_dir",
    "run_abdominal_experiment",
]

#: ``(model name, config file)`` in the order of the paper's Table 1.
ABDOMINAL_MODELS: tuple[tuple[str, str], ...] = (
    ("STL", "stl_classifier.yaml"),
    ("SFCN", "sfcn.yaml"),
    ("MFCN", "mfcn.yaml"),
    ("MGCN", "mgcn.yaml"),
    ("MGCN_R", "mgcn_r.yaml"),
)
SCALES = ("quick", "paper")
#: Model input side of ``--scale quick`` (the field of view is kept: the pixels grow).
QUICK_INPUT_SIZE = 64
#: What ``--scale quick`` changes in every config (dotted overrides; stages that a config
#: lacks are skipped).
QUICK_OVERRIDES: tuple[str, ...] = (
    "data.num_workers=0",
    "data.val_batch_size=16",
    "trainer.accelerator=cpu",
    "trainer.progress_bar=false",
    "trainer.log_every_n_steps=5",
    "checkpoint.every_n_steps=null",
    "checkpoint.keep_last=1",
    "modules.net.kwargs.encoder_layers=[1,1,1,1]",
    "modules.net.kwargs.gcn_kernel=7",
    "modules.D.kwargs.base_chans=16",
    "stages.landmarks.epochs=15",
    "stages.landmarks.optimizers.net.kind=adam",
    "stages.landmarks.optimizers.net.lr=1.0e-3",
    "stages.landmarks.optimizers.net.momentum=0.0",
    "stages.views.epochs=5",
    "stages.views.optimizers.net.lr=1.0e-3",
)

def default_config_dir() -> Path:
    """The packaged ``sonomtl/configs/abdominal`` folder."""
    from sonomtl.resources import config_dir

    return config_dir("abdominal")


def _applicable(raw: Mapping[str, Any], override: str) -> bool:
    """Whether an override applies to this config: not when it names a stage or a module
    the config lacks (``stages.views.*`` for a landmark-only model, ``modules.D.*`` for one
    without a discriminator). Any other key is applied, so a typo is refused by the config.
    """
    key = override.partition("=")[0].split(".")
    if len(key) < 3 or key[0] not in ("stages", "modules"):
        return True
    if key[0] == "modules":
        return key[1] in (raw.get("modules") or {})
    return any(isinstance(s, dict) and s.get("name") == key[1] for s in raw.get("stages") or ())


def _configure(
    raw: dict[str, Any],
    *,
    spec: Any,
    data: Path,
    name: str,
    out_dir: Path,
    seed: int,
    scale: str,
    overrides: Sequence[str],
    landmark_task: str | None = None,
) -> Any:
    """The run config of one model: the YAML, the dataset's sizes, the scale, the overrides."""
    from sonomtl.config import apply_overrides, config_from_dict

    items = [f"name={name}", f"out_dir={out_dir}", f"seed={seed}", f"data.root={data}",
             f"data.params.split_seed={seed}"]
    kwargs = raw.get("modules", {}).get("net", {}).get("kwargs", {})
    model = raw.get("modules", {}).get("net", {}).get("model", "")
    if landmark_task is not None:
        names = list(spec.landmark_tasks[landmark_task])
        raw = {**raw, "modules": {**raw["modules"], "net": {
            "model": model, "kwargs": {k: v for k, v in kwargs.items() if k != "task"}}}}
        items += [f"task.params.landmark_task={landmark_task}",
                  f"modules.net.kwargs.num_landmarks={len(names)}",
                  f"modules.net.kwargs.landmark_names={names}"]
    elif model != "resnet50_classifier":
        items += [f"modules.net.kwargs.num_landmarks={len(spec.landmarks)}",
                  f"modules.net.kwargs.landmark_names={list(spec.landmarks)}"]
        if "D" in raw.get("modules", {}):
            items.append(f"modules.D.kwargs.in_chans={1 + len(spec.landmarks)}")
    if "num_classes" in kwargs and kwargs["num_classes"]:
        items += [f"modules.net.kwargs.num_classes={len(spec.classes)}",
                  f"modules.net.kwargs.class_names={list(spec.classes)}"]
    if scale == "quick":
        size = QUICK_INPUT_SIZE
        items.append(f"data.params.input_size=[{size},{size}]")
        if spec.target_spacing_mm is not None:
            spacing = spec.target_spacing_mm * spec.input_size[0] / size
            items.append(f"data.params.target_spacing_mm={spacing:.6f}")
        items += [o for o in QUICK_OVERRIDES if _applicable(raw, o)]
    items += [o for o in overrides if _applicable(raw, o)]
    return config_from_dict(apply_overrides(raw, items))


def _fit_batch_size(config: Any, records: Sequence[Any], names: Sequence[str],
                    log: Callable[[str], None]) -> None:
    """Shrink the batch of a single-task run whose training images are fewer than one batch."""
    from sonomtl.data.splits import split_records
    from sonomtl.schema import parse_params
    from sonomtl.training.abdominal_task import AbdominalDataParams

    params = parse_params(AbdominalDataParams, config.data.params, key="data.params")
    seed = config.seed if params.split_seed is None else params.split_seed
    train = split_records(records, test_fraction=params.test_fraction,
                          val_fraction=params.val_fraction, seed=seed)["train"]
    count = sum(1 for i in train if set(names) & set(records[i].landmarks))
    for stage in config.stages:
        size = stage.batch_size or config.data.batch_size
        if 0 < count < size:
            log(f"  {config.name}: {count} training images, batch size {size} -> {count}")
            stage.batch_size = count


def _read_raw(path: Path) -> dict[str, Any]:
    """A row's YAML config as plain data (``configs/...`` also names a packaged config)."""
    import yaml

    from sonomtl.resources import resolve_config_path
    from sonomtl.yaml_files import load_yaml

    path = resolve_config_path(path)
    if not path.is_file():
        raise InputError("config file not found", file=path)
    try:
        raw = load_yaml(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as error:
        raise InputError(f"not UTF-8 text ({error.reason})", file=path) from None
    except yaml.YAMLError as error:
        raise InputError(f"invalid YAML: {' '.join(str(error).split())}", file=path) from None
    if not isinstance(raw, dict):
        raise InputError("a config must be a mapping of keys to values", file=path)
    return raw


def _train_or_reuse(
    config: Any, run_dir: Path, log: Callable[[str], None]
) -> tuple[Any, Any, Any]:
    """``(module, task, config)`` of a finished run in ``run_dir``, training it first if needed.

    A run folder holding another config (changed file or ``--set``) is refused
    (:func:`~sonomtl.experiments.reuse.check_reusable`); an unfinished run of
    this config is resumed.
    """
    from sonomtl.config import load_config
    from sonomtl.experiments.reuse import check_reusable
    from sonomtl.training.checkpoint import latest_checkpoint, load_weights
    from sonomtl.training.run import train
    from sonomtl.training.tasks import build_task

    started_before = check_reusable(run_dir, config)
    paths = latest_checkpoint(run_dir) if started_before else None
    finished = paths is not None and bool(_checkpoint_finished(paths))
    if not finished:
        started = time.perf_counter()
        log(f"train {run_dir}")
        result = train(config, run_dir=run_dir, resume=started_before)
        log(f"  done in {time.perf_counter() - started:.0f} s")
        return result.modules["net"], result.task, config
    log(f"reuse the finished run {run_dir}")
    config = load_config(run_dir / "config.yaml")
    task = build_task(config.task.name, params=config.task.params)
    modules = {name: task.build_module(name, model=m.model, kwargs=m.kwargs)
               for name, m in config.modules.items()}
    load_weights(paths.weights, modules)
    task.build_datasets(root=config.data.root, params=config.data.params, seed=config.seed)
    return modules["net"], task, config


def _checkpoint_finished(paths: Any) -> bool:
    from sonomtl.training.checkpoint import read_metadata

    return bool(read_metadata(paths.weights).get("finished"))


def _test_dataset(config: Any) -> tuple[Any, Any]:
    from sonomtl.training.abdominal_task import load_split_datasets

    spec, _, datasets = load_split_datasets(config.data.root, params=config.data.params,
                                            seed=config.seed, augment_train=False)
    return spec, datasets["test"]


def run_abdominal_experiment(
    *,
    data: str | os.PathLike[str],
    out: str | os.PathLike[str],
    scale: str = "quick",
    models: Sequence[str] | None = None,
    configs: Mapping[str, str | os.PathLike[str]] | None = None,
    seed: int = 0,
    overrides: Sequence[str] = (),
    timing_iters: int = 3,
    threads: int | None = None,
    log: Callable[[str], None] = lambda line: None,
) -> dict[str, Any]:
    """Train and evaluate paper 004's models; write ``out/results.json``, tables and figures.

    Parameters
    ----------
    data
        A dataset folder with ``landmark_tasks`` and ``measurements`` in ``dataset.yaml``.
    out
        The experiment folder.
    scale
        ``"quick"`` or ``"paper"`` (see the module documentation).
    models
        Names of :data:`ABDOMINAL_MODELS` to run (default all; ``STL`` needs two
        or more classes).
    configs
        ``{model name: config file}`` replacing the default of a model (and
        selecting it when ``models`` is not given), e.g. ``{"MGCN_R":
        "sonomtl/configs/abdominal/hc18_mgcn_r_cpu.yaml"}``.
    seed
        Split and training seed.
    overrides
        Extra ``key=value`` config overrides for every run.
    timing_iters
        Timed one-pass 512x512 CPU forward passes (median reported).
    threads
        torch CPU threads for training and scoring (restored for the timing and
        afterwards); default :data:`QUICK_THREADS` for ``quick``, torch's own for ``paper``.
    log
        Receives progress lines.

    Returns
    -------
    dict
        The contents of ``results.json``.
    """
    from sonomtl.data.manifest import load_dataset
    from sonomtl.experiments.abdominal_tables import write_outputs

    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
    started = time.perf_counter()
    data, out = Path(data), Path(out)
    for path in (configs or {}).values():  # the user's own files first, each named if bad
        _read_raw(Path(path))
    spec, records = load_dataset(data)
    if not spec.landmark_tasks:
        raise InputError("dataset.yaml defines no landmark_tasks", file=data / "dataset.yaml",
                         field="landmark_tasks")
    known = [name for name, _ in ABDOMINAL_MODELS]
    configs = {str(k): Path(v) for k, v in (configs or {}).items()}
    for name in [*(models or []), *configs]:
        if name not in known:
            raise InputError(f"unknown model {name!r}; known: {', '.join(known)}",
                             field="--model")
    selected = list(models) if models else (list(configs) if configs else known)
    if len(spec.classes) < 2 and "STL" in selected:
        log("skip STL: the dataset has a single class")
        selected.remove("STL")
    files = {name: configs.get(name, default_config_dir() / file)
             for name, file in ABDOMINAL_MODELS}
    with torch_threads(threads, scale=scale):
        trained, evaluations = _train_and_score(
            spec=spec, records=records, data=data, out=out, scale=scale, seed=seed,
            selected=selected, files=files, overrides=overrides, log=log)
    results = write_outputs(
        out=out, spec=spec, records=records, trained=trained, evaluations=evaluations,
        scale=scale, seed=seed, data=data, timing_iters=timing_iters, log=log,
        wall_time_s=time.perf_counter() - started, overrides=overrides,
    )
    from sonomtl.report import write_report

    write_report([out], out=out / "report.html")
    log(f"report {out / 'report.html'}")
    return results


def _train_and_score(
    *, spec: Any, records: Sequence[Any], data: Path, out: Path, scale: str, seed: int,
    selected: Sequence[str], files: Mapping[str, Path], overrides: Sequence[str],
    log: Callable[[str], None],
) -> tuple[dict[str, Any], dict[str, Any]]:
    from sonomtl.experiments.abdominal_scoring import score_models

    known = [name for name, _ in ABDOMINAL_MODELS]
    trained: dict[str, dict[str, Any]] = {}
    for name in [n for n in known if n in selected]:
        raw = _read_raw(files[name])
        jobs = ([(task, out / name, task) for task in spec.landmark_tasks] if name == "SFCN"
                else [(None, out, name)])
        for landmark_task, run_root, run_name in jobs:
            config = _configure(raw, spec=spec, data=data, name=run_name, out_dir=run_root,
                                seed=seed, scale=scale, overrides=overrides,
                                landmark_task=landmark_task)
            if len(spec.classes) < 2 or (scale == "quick" and name in ("MFCN", "MGCN")):
                # quick: only the full model's views are scored (Fig. 3 compares STL and MTL)
                config.stages = [s for s in config.stages if "view" not in s.losses]
            if not any("view" in s.losses for s in config.stages):
                config.task.params["annotated_only"] = True
            if landmark_task is not None:
                _fit_batch_size(config, records, spec.landmark_tasks[landmark_task], log)
            module, task, config = _train_or_reuse(config, run_root / run_name, log)
            run_spec, test = _test_dataset(config)
            trained.setdefault(name, {})[landmark_task or name] = {
                "module": module, "task": task, "config": config, "spec": run_spec,
                "test": test}
    return trained, score_models(trained, spec=spec, records=records, log=log)
