"""Evaluate a trained run on its held-out data: ``results.json`` and the report's figure inputs.

:func:`evaluate_run` is what ``sonomtl evaluate RUN_DIR`` does. It reads the
run's resolved ``config.yaml`` and last checkpoint, rebuilds the task and the
held-out split the run trained with (fold / test fraction / seed from the
config), predicts, and writes (docs/data-format.md, "Run and experiment folders"):

* ``results.json`` (:func:`sonomtl.metrics.results.build_results`):
  ``classification``; ``saliency`` for attention models (against the
  samples' recorded ``fixation_map`` when the dataset has fixation points, see
  :func:`saliency_section`);
  ``landmarks`` with point errors and measurement errors in mm for the
  abdominal task, and ``human`` (second annotator against the first) when the
  split has second annotations; ``timing``; ``model``; plus ``evaluation``
  (run, checkpoint step, split, dataset, frames);
* ``figures/attention_examples.npz`` (M-SEN) or ``figures/landmark_examples.json``
  and its frame PNGs (abdominal), beside ``results.json``.

Splits: ``test`` and ``val`` of an M-SEN run are both its held-out fold (the
task has no third split); an abdominal run's ``test`` is its held-out subjects
and ``val`` its validation subjects (``val_fraction`` > 0); ``all`` is every row.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sonomtl.errors import InputError

__all__ = [
    "SPLITS",
    "LoadedRun",
    "abdominal_results",
    "evaluate_run",
    "load_run",
    "msen_results",
    "predict_msen",
    "saliency_section",
]

SPLITS: tuple[str, ...] = ("test", "val", "all")
_EXAMPLES = 4
_LANDMARK_EXAMPLES = 3


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


# ---- M-SEN ------------------------------------------------------------------------------------
def _msen_dataset(run: LoadedRun, split: str) -> Any:
    params = dict(run.config.data.params)
    if split in ("test", "val"):
        return run.task.build_datasets(root=str(run.data_root), params=dict(params, validate=True),
                                       seed=run.config.seed).val
    from sonomtl.data.manifest import load_dataset
    from sonomtl.training.msen_task import MSENFrames

    spec, records = load_dataset(run.data_root)
    indices = [i for i, r in enumerate(records)
               if r.attention or run.task.variant not in ("ss_cls", "sonoeyenet")]
    return MSENFrames(run.data_root, indices=indices, input_hw=params.get("input_hw"),
                      augment=False, normalise=params.get("normalise", "sononet"),
                      seed=run.config.seed, loaded=(spec, records))


def predict_msen(
    task: Any, modules: Mapping[str, Any], dataset: Any, *, batch_size: int = 32
) -> dict[str, np.ndarray]:
    """Predictions of an M-SEN task's modules on every sample of ``dataset`` (no gradients).

    Returns
    -------
    dict
        ``label``, ``index`` ``(N,)``; ``image`` ``(N, H, W)`` (model input);
        ``scores`` ``(N, C)`` and/or ``attention`` ``(N, H, W)``; ``truth``
        (ground-truth maps) and ``fixation_map`` when the samples carry them;
        and ``seconds`` (wall time of the forward passes).
    """
    import torch
    from torch.utils.data import DataLoader

    if batch_size < 1:
        raise ValueError(f"batch_size: expected a positive integer, got {batch_size!r}")
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=task.collate)
    parts: dict[str, list[np.ndarray]] = {}
    seconds = 0.0
    with torch.no_grad():
        for batch in loader:
            tic = time.perf_counter()
            outputs = task.predict(modules, batch)
            seconds += time.perf_counter() - tic
            outputs = {k: v.detach().cpu().numpy() for k, v in outputs.items()}
            outputs["label"] = batch["label"].numpy()
            outputs["index"] = batch["index"].numpy()
            outputs["image"] = batch["image"][:, 0].numpy()
            for key, target in (("attention", "truth"), ("fixation_map", "fixation_map")):
                if key in batch and torch.is_tensor(batch[key]):
                    value = batch[key]
                    outputs[target] = (value[:, 0] if value.ndim == 4 else value).numpy()
            for key, value in outputs.items():
                parts.setdefault(key, []).append(np.asarray(value))
    out = {k: np.concatenate(v) for k, v in parts.items()}
    out["seconds"] = np.asarray(seconds)
    return out


def saliency_section(
    *, predicted: np.ndarray, truth: np.ndarray, fixation_map: np.ndarray | None = None
) -> dict[str, Any]:
    """The ``saliency`` section of one model's maps ``(N, H, W)``, as the M-SEN Table 2.

    CC, SIM and KLD compare with the ground-truth maps over the frames whose
    map is not empty (``n_images``). With ``fixation_map`` (the recorded
    fixated pixels, the data layer's ``fixation_map``) IG (against the centre
    bias), NSS and the AUCs score the frames with at least one fixation
    (``n_fixated``; ``fixations``: ``"fixation_map"``); without it (a dataset
    without fixation points) they are NaN (``fixations``: ``"none"``).
    """
    from sonomtl.metrics.saliency import (
        centre_bias_map,
        compute_cc,
        compute_kld,
        compute_saliency_metrics,
        compute_sim,
        summarise_saliency,
    )

    maps = np.asarray(predicted, dtype=np.float32)
    truth = np.asarray(truth, dtype=np.float32)
    if maps.shape != truth.shape or maps.ndim != 3:
        raise ValueError(f"predicted and truth: expected the same (N, H, W) shape, got "
                         f"{maps.shape} and {truth.shape}")
    keep = truth.reshape(len(truth), -1).max(axis=1) > 0
    nan = float("nan")
    out: dict[str, Any] = {key: nan for key in ("IG", "CC", "NSS", "SIM", "AUC_Judd",
                                                "AUC_Borji", "KLD", "sAUC")}
    if keep.any():
        out["CC"] = float(np.nanmean(compute_cc(maps[keep], truth[keep])))
        out["SIM"] = float(np.nanmean(compute_sim(maps[keep], truth[keep])))
        out["KLD"] = float(np.nanmean(compute_kld(maps[keep], truth[keep])))
    out.update(n_images=int(keep.sum()), n_fixated=0, fixations="none")
    if fixation_map is not None:
        fixations = np.asarray(fixation_map, dtype=np.float32)
        if fixations.shape != maps.shape:
            raise ValueError(f"fixation_map: expected shape {maps.shape}, got {fixations.shape}")
        fixated = fixations.reshape(len(fixations), -1).max(axis=1) > 0
        if fixated.any():
            summary = summarise_saliency(compute_saliency_metrics(
                maps[fixated], fixations[fixated], attention_maps=truth[fixated],
                baseline_map=centre_bias_map(maps.shape[1:])))
            out.update({key: summary[key] for key in ("IG", "NSS", "AUC_Judd", "AUC_Borji",
                                                      "sAUC") if key in summary})
            out.update(n_fixated=int(fixated.sum()), fixations="fixation_map")
    return out


def msen_results(
    run: LoadedRun, *, split: str = "test", batch_size: int = 32
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """results.json sections of an M-SEN task run and its predictions."""
    from sonomtl.data.manifest import load_dataset
    from sonomtl.metrics.results import build_results, model_figures
    spec, _ = load_dataset(run.data_root)
    dataset = _msen_dataset(run, split)
    if dataset is None or len(dataset) == 0:
        raise InputError(f"the {split} split of this run is empty", file=run.data_root)
    pred = predict_msen(run.task, {run.module_name: run.module}, dataset, batch_size=batch_size)
    frames = int(len(pred["label"]))
    inputs: dict[str, Any] = {}
    if "scores" in pred:
        inputs.update(labels=list(spec.classes), y_true=pred["label"],
                      y_pred=pred["scores"].argmax(axis=1))
    timing = {"ms_per_frame": 1000.0 * float(pred["seconds"]) / max(frames, 1),
              "frames": frames, "batch_size": batch_size}
    results = build_results(timing=timing, model=model_figures(run.module), **inputs)
    if "attention" in pred and "truth" in pred:
        results["saliency"] = saliency_section(predicted=pred["attention"], truth=pred["truth"],
                                               fixation_map=pred.get("fixation_map"))
    return results, pred


def _write_attention_examples(folder: Path, pred: Mapping[str, np.ndarray], name: str) -> Path:
    from sonomtl.fileio import atomic_path

    truth = pred["truth"]
    ranked = sorted(range(len(truth)), key=lambda i: (-float(truth[i].max()), i))[:_EXAMPLES]
    path = folder / "attention_examples.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, frames=pred["image"][ranked].astype(np.float32),
                 ground_truth=truth[ranked].astype(np.float32),
                 predictions=pred["attention"][ranked][None].astype(np.float32),
                 model_names=np.array([name]))
    return path


# ---- abdominal ---------------------------------------------------------------------------------
def abdominal_results(
    run: LoadedRun, *, split: str = "test", batch_size: int = 8
) -> tuple[dict[str, Any], dict[str, Any]]:
    """results.json sections of an abdominal task run and its predictions.

    Landmarks are scored in original-image pixels and mm on the channels
    annotated on each frame (the frame's true view), as paper 004's Table 1.
    """
    from sonomtl.experiments.abdominal_eval import predict_dataset
    from sonomtl.experiments.abdominal_scoring import landmark_report, score_human
    from sonomtl.metrics.results import build_results, model_figures
    from sonomtl.training.abdominal_task import load_split_datasets

    config, task = run.config, run.task
    task.build_datasets(root=str(run.data_root), params=config.data.params, seed=config.seed)
    spec, records, datasets = load_split_datasets(str(run.data_root), params=config.data.params,
                                                  seed=config.seed, augment_train=False)
    chosen = [datasets[n] for n in ("train", "val", "test")] if split == "all" \
        else [datasets[split]]
    chosen = [d for d in chosen if d is not None and len(d)]
    if not chosen:
        raise InputError(f"the {split} split of this run is empty (data.params: test_fraction, "
                         "val_fraction)", file=run.data_root)
    tic = time.perf_counter()
    parts = [predict_dataset(run.module, task, d, batch_size=batch_size) for d in chosen]
    seconds = time.perf_counter() - tic
    index = np.concatenate([p["index"] for p in parts])
    split_records = [records[int(i)] for i in index]
    # the landmarks this network predicts: all of the dataset's, or one task's (SFCN, STL)
    names = [spec.landmarks[c] for c in task.channels or ()]
    inputs: dict[str, Any] = {}
    points = None
    if parts[0]["points"] is not None and names:
        points = np.concatenate([p["points"] for p in parts])
    trains_views = any("view" in s.losses for s in config.stages)
    if parts[0]["view"] is not None and trains_views and len(spec.classes) > 1:
        inputs.update(labels=list(spec.classes),
                      y_true=np.array([spec.class_index(r.label) for r in split_records]),
                      y_pred=np.concatenate([p["view"] for p in parts]))
    timing = {"ms_per_frame": 1000.0 * seconds / max(len(index), 1), "frames": int(len(index)),
              "batch_size": batch_size}
    results = build_results(timing=timing, model=model_figures(run.module), **inputs)
    if points is not None:
        results["landmarks"] = landmark_report(points, split_records, spec, landmarks=names)
        results["landmarks"]["n_images"] = int(sum(any(n in r.landmarks for n in names)
                                                   for r in split_records))
    human = score_human(spec=spec, records=split_records)
    if human:
        results["human"] = human
    return results, {"index": index, "points": points, "landmark_names": names,
                     "records": split_records, "spec": spec}


def _write_landmark_examples(folder: Path, data_root: Path, pred: Mapping[str, Any],
                             title: str) -> Path | None:
    import io

    from PIL import Image

    from sonomtl.data.io import read_frame
    from sonomtl.fileio import write_bytes, write_json

    spec, records, points = pred["spec"], pred["records"], pred["points"]
    names = pred["landmark_names"]
    if points is None:
        return None
    picks = [k for k, r in enumerate(records)
             if any(n in r.landmarks for n in names)][:_LANDMARK_EXAMPLES]
    examples = []
    for k in picks:
        record = records[k]
        image, _ = read_frame(data_root, record)
        buffer = io.BytesIO()
        Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(buffer, format="PNG")
        name = f"landmarks_{k}.png"
        write_bytes(folder / name, buffer.getvalue())
        annotated = [n for n in names if n in record.landmarks]
        examples.append({
            "image": name,
            "title": f"{title}: {record.label}",
            "spacing_mm": list(record.spacing_mm) if record.spacing_mm is not None else 1.0,
            "truth": {n: [float(v) for v in record.landmarks[n]] for n in annotated},
            "prediction": {n: [float(v) for v in points[k, names.index(n)]]
                           for n in annotated},
            "measurements": {m: {"landmarks": list(d.landmarks)}
                             for m, d in spec.measurements.items()
                             if set(d.landmarks) <= set(annotated)},
        })
    if not examples:
        return None
    return write_json(folder / "landmark_examples.json", {"examples": examples})


# ---- the command --------------------------------------------------------------------------------
def evaluate_run(
    run_dir: str | os.PathLike[str],
    *,
    data: str | os.PathLike[str] | None = None,
    split: str = "test",
    out: str | os.PathLike[str] | None = None,
    batch_size: int | None = None,
    flip_test: bool | None = None,
    log: Callable[[str], None] = lambda line: None,
) -> dict[str, Any]:
    """Evaluate a run; write ``results.json`` and ``figures/`` beside it; return the results.

    Parameters
    ----------
    run_dir
        The run folder.
    data
        Dataset folder replacing the config's ``data.root``.
    split
        ``"test"``, ``"val"`` or ``"all"`` (see the module docstring).
    out
        The results file (default ``RUN_DIR/results.json``); ``figures/`` goes beside it.
    batch_size
        Frames per forward pass (default the config's ``data.val_batch_size`` or
        ``data.batch_size``).
    flip_test
        Abdominal runs: average each frame's heat maps with its mirror image's
        (``task.params.flip_test``; default: the run's config).
    log
        Receives one progress line.
    """
    from sonomtl.fileio import write_json
    from sonomtl.training.abdominal_task import AbdominalTask
    from sonomtl.training.msen_task import MSENTask

    if split not in SPLITS:
        raise InputError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}",
                         field="--split")
    run = load_run(run_dir, data=data)
    size = int(batch_size or run.config.data.val_batch_size or run.config.data.batch_size)
    target = Path(out) if out is not None else run.run_dir / "results.json"
    figures = target.parent / "figures"
    title = run.run_dir.resolve().name
    if flip_test is not None and not isinstance(run.task, AbdominalTask):
        raise InputError("flip testing is for abdominal (landmark) runs", field="--flip-test")
    if isinstance(run.task, MSENTask):
        results, pred = msen_results(run, split=split, batch_size=size)
        if "attention" in pred and "truth" in pred:
            _write_attention_examples(figures, pred, title)
    elif isinstance(run.task, AbdominalTask):
        if flip_test is not None:
            run.task.params["flip_test"] = bool(flip_test)
        results, pred = abdominal_results(run, split=split, batch_size=size)
        _write_landmark_examples(figures, run.data_root, pred, title)
    else:
        raise InputError(f"sonomtl evaluate knows the msen and abdominal tasks, not "
                         f"{run.config.task.name!r}", file=run.run_dir / "config.yaml",
                         field="task.name")
    results["evaluation"] = {"run": str(run.run_dir), "task": run.config.task.name,
                             "checkpoint_step": run.step, "split": split,
                             "dataset": str(run.data_root),
                             "frames": results["timing"]["frames"],
                             "flip_test": getattr(run.task, "flip_permutation", None) is not None}
    write_json(target, results)
    log(f"{target}: {_headline(results)}")
    return results


def _headline(results: Mapping[str, Any]) -> str:
    parts: list[str] = []
    if "classification" in results:
        parts.append(f"accuracy {results['classification']['accuracy']:.3f}")
    if "saliency" in results:
        parts.append(f"NSS {results['saliency']['NSS']:.2f}")
    if "landmarks" in results:
        parts.append(f"point error {results['landmarks']['point_error_mm']['mean']['mean']:.2f} mm")
    return ", ".join(parts) or "no scores"
