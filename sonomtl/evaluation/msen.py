"""M-SEN runs on a data split: plane scores and attention maps, and their ``results.json`` sections.

:func:`predict_msen` is the one M-SEN prediction loop (``sonomtl evaluate`` and
the M-SEN experiment's folds both call it); :func:`saliency_section` scores a
model's maps as the paper's Table 2.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from sonomtl.errors import InputError

__all__ = [
    "frame_lines",
    "msen_results",
    "predict_msen",
    "saliency_section",
    "write_attention_examples",
]

_EXAMPLES = 4


def _msen_dataset(run: Any, split: str) -> Any:
    params = dict(run.config.data.params)
    if split in ("test", "val"):
        return run.task.build_datasets(root=str(run.data_root), params=dict(params, validate=True),
                                       seed=run.config.seed).val
    from sonomtl.data.manifest import load_dataset
    from sonomtl.training.msen_task import MSENFrames

    spec, records = load_dataset(run.data_root)
    indices = [i for i, r in enumerate(records)
               if r.attention or run.task.variant not in ("ss_cls", "sonoeyenet")]
    params = run.task.read_data_params(params)
    return MSENFrames(run.data_root, indices=indices, input_hw=params.input_hw,
                      augment=False, normalise=params.normalise,
                      seed=run.config.seed, loaded=(spec, records))


def predict_msen(
    task: Any, modules: Mapping[str, Any], dataset: Any, *, batch_size: int = 32
) -> dict[str, np.ndarray]:
    """Predictions of an M-SEN task's modules on every sample of ``dataset`` (no gradients).

    The modules stay on their device (the batches are moved there) and should be
    in eval mode.

    Returns
    -------
    dict
        ``label``, ``index``, ``subject`` ``(N,)``; ``image`` ``(N, H, W)`` (model input);
        ``scores`` ``(N, C)`` and/or ``attention`` ``(N, H, W)``; ``truth``
        (ground-truth maps) and ``fixation_map`` when the samples carry them;
        and ``seconds`` (wall time of the forward passes).
    """
    import torch
    from torch.utils.data import DataLoader

    if batch_size < 1:
        raise ValueError(f"batch_size: expected a positive integer, got {batch_size!r}")
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=task.collate)
    first = next(iter(modules.values()))
    device = next(first.parameters()).device
    parts: dict[str, list[np.ndarray]] = {}
    subjects: list[Any] = []
    seconds = 0.0
    with torch.no_grad():
        for batch in loader:
            subjects.extend(batch.get("subject", [None] * len(batch["label"])))
            batch = {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}
            tic = time.perf_counter()
            outputs = task.predict(modules, batch)
            seconds += time.perf_counter() - tic
            outputs = {k: v.detach().cpu().numpy() for k, v in outputs.items()}
            outputs["label"] = batch["label"].cpu().numpy()
            outputs["index"] = batch["index"].cpu().numpy()
            outputs["image"] = batch["image"][:, 0].cpu().numpy()
            for key, target in (("attention", "truth"), ("fixation_map", "fixation_map")):
                if key in batch and torch.is_tensor(batch[key]):
                    value = batch[key].cpu()
                    outputs[target] = (value[:, 0] if value.ndim == 4 else value).numpy()
            for key, value in outputs.items():
                parts.setdefault(key, []).append(np.asarray(value))
    out = {k: np.concatenate(v) for k, v in parts.items()}
    out["subject"] = np.asarray(subjects, dtype=object)
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
    run: Any, *, split: str = "test", batch_size: int = 32
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """results.json sections of an M-SEN task run, and its predictions with the dataset's
    ``records`` (their ``index`` are positions there)."""
    from sonomtl.data.manifest import load_dataset
    from sonomtl.metrics.results import build_results, model_figures
    spec, records = load_dataset(run.data_root)
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
    return results, {**pred, "records": records}


def write_attention_examples(folder: Path, pred: Mapping[str, np.ndarray], name: str) -> Path:
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


def frame_lines(pred: Mapping[str, Any], config: Any) -> list[dict[str, Any]]:
    """Each evaluated frame as ``sonomtl predict`` writes it: ``label`` and ``probabilities``.

    ``pred`` is :func:`msen_results`'s second value (its ``index`` are positions in
    its ``records``), ``config`` the run's
    :class:`~sonomtl.inference.config.InferenceConfig` (class names). The
    attention map is scored on the model's input grid, so its peak in frame
    pixels is left to ``predict``.
    """
    from sonomtl.decoding.classes import class_answer

    lines = []
    scores = pred.get("scores")
    for k, index in enumerate(pred["index"]):
        record = pred["records"][int(index)]
        line: dict[str, Any] = {"source": record.source, "frame": record.frame,
                                "row": record.row, "label": None, "probabilities": {}}
        if scores is not None:
            line["label"], line["probabilities"] = class_answer(scores[k], config.class_names)
        lines.append(line)
    return lines
