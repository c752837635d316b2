"""Abdominal runs on a data split: views, landmarks in original pixels, measurements in mm.

* :func:`network_outputs`: a batch's outputs as arrays, from one forward pass
  (with the task's ``flip_test``, of the frames and their mirror images,
  merged by :func:`sonomtl.decoding.landmarks.merge_flip_outputs`).
* :func:`predict_dataset`: one forward pass per batch over a dataset; view ids
  and landmark points (:func:`sonomtl.decoding.landmarks.decode_landmarks`, the
  decoding ``sonomtl predict`` uses) mapped back to original-image pixels
  through each sample's preprocessing geometry.
* :func:`one_pass`: what the deployed network returns for each frame of a
  batch in one pass: the view, the landmarks of *that* view in original-image
  pixels, and the view's measurements in mm
  (:func:`sonomtl.decoding.landmarks.frame_answer`, as ``sonomtl predict``).
* :func:`abdominal_results`: the ``results.json`` sections of a run on a split.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sonomtl.errors import InputError

__all__ = [
    "abdominal_results",
    "network_outputs",
    "one_pass",
    "predict_dataset",
    "frame_lines",
    "truth_points",
    "write_landmark_examples",
]

_LANDMARK_EXAMPLES = 3


def network_outputs(module: Any, task: Any, batch: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """``module``'s outputs for ``batch`` as float arrays, from one forward pass without gradients.

    With the task's ``flip_test`` (``task.flip_permutation``) the pass takes
    the frames and their mirror images together; the heat maps are the mean of
    both, the other outputs the frames' own
    (:func:`sonomtl.decoding.landmarks.merge_flip_outputs`).
    """
    import torch

    from sonomtl.decoding.landmarks import merge_flip_outputs

    permutation = task.flip_permutation
    count = len(batch["image"])
    if permutation is not None:
        batch = {**batch, "image": torch.cat([batch["image"], batch["image"].flip(-1)])}
    with torch.no_grad():
        raw = task.forward({task.generator: module}, batch)
    outputs = {name: value.float().numpy() for name, value in raw.items()}
    if permutation is None:
        return outputs
    return merge_flip_outputs(outputs, count=count, permutation=permutation)


def truth_points(
    records: Sequence[Any], landmark_names: Sequence[str], *, second: bool = False
) -> np.ndarray:
    """``(N, L, 2)`` annotated points in original pixels (NaN where absent).

    ``second=True`` reads the second annotator's ``landmarks_2``.
    """
    out = np.full((len(records), len(landmark_names), 2), np.nan)
    for i, record in enumerate(records):
        source = record.landmarks_2 if second else record.landmarks
        for k, name in enumerate(landmark_names):
            if name in source:
                out[i, k] = source[name]
    return out


def predict_dataset(
    module: Any, task: Any, dataset: Any, *, batch_size: int = 8
) -> dict[str, Any]:
    """Run ``module`` (eval mode, no gradients) over every sample of ``dataset``.

    Parameters
    ----------
    module
        A trained abdominal network (``view_logits`` and/or ``heatmaps`` outputs).
    task
        The :class:`~sonomtl.training.abdominal_task.AbdominalTask` it was trained
        with (intensity normalisation, coordinate threshold).
    dataset
        An :class:`~sonomtl.data.dataset.UltrasoundDataset` without augmentation.

    Returns
    -------
    dict
        ``index`` (record positions, ``(N,)``), ``view`` (``(N,)`` class ids or
        ``None``), ``probabilities`` (``(N, C)`` view probabilities or ``None``),
        ``points_input`` (``(N, L, 2)`` model-input pixels or ``None``)
        and ``points`` (the same in original-image pixels).
    """
    from sonomtl.data.preprocess import Pipeline
    from sonomtl.decoding.classes import softmax
    from sonomtl.decoding.landmarks import decode_landmarks

    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    was_training = module.training
    module.eval()
    indices, views, probabilities, points_in, points_orig = [], [], [], [], []
    try:
        for start in range(0, len(dataset), batch_size):
            batch = task.collate([dataset[k] for k in range(start, min(start + batch_size,
                                                                         len(dataset)))])
            outputs = network_outputs(module, task, batch)
            indices.extend(int(i) for i in batch["index"])
            if "view_logits" in outputs:
                views.extend(outputs["view_logits"].argmax(1).tolist())
                probabilities.append(softmax(outputs["view_logits"]))
            if "heatmaps" in outputs:
                found = decode_landmarks(outputs["heatmaps"], threshold=task.threshold,
                                         ellipse_axes=task.ellipse_axes)
                points_in.append(found)
                for k, geometry in enumerate(batch["geometry"]):
                    points_orig.append(Pipeline.from_dict(geometry).invert_points(found[k]))
    finally:
        module.train(was_training)
    return {
        "index": np.asarray(indices, dtype=np.int64),
        "view": np.asarray(views, dtype=np.int64) if views else None,
        "probabilities": np.concatenate(probabilities) if probabilities else None,
        "points_input": np.concatenate(points_in) if points_in else None,
        "points": np.stack(points_orig) if points_orig else None,
    }


def one_pass(
    module: Any, task: Any, batch: Mapping[str, Any], *, spec: Any,
    spacing_mm: Sequence[Sequence[float]],
) -> list[dict[str, Any]]:
    """The deployed network's answer for each frame of ``batch``, from ONE forward pass.

    Parameters
    ----------
    module, task
        A trained multi-task network and its task.
    batch
        A collated batch of :class:`~sonomtl.data.dataset.UltrasoundDataset` samples.
    spec
        The dataset spec (class names, ``view_landmarks``, ``measurements``).
    spacing_mm
        ``(x, y)`` pixel size of each *original* frame.

    Returns
    -------
    list of dict
        Per frame: ``view`` (name), ``landmarks`` ``{name: [x, y]}`` in
        original-image pixels (only the landmarks of the predicted view) and
        ``measurements_mm`` ``{name: value}`` (the measurements those landmarks define).
    """
    from sonomtl.data.preprocess import Pipeline
    from sonomtl.decoding.landmarks import decode_landmarks, frame_answer, shown_landmarks

    module.eval()
    outputs = network_outputs(module, task, batch)
    names = list(spec.landmarks)
    found = decode_landmarks(outputs["heatmaps"], threshold=task.threshold,
                             ellipse_axes=task.ellipse_axes)
    if "view_logits" in outputs:
        views = outputs["view_logits"].argmax(1).tolist()
    else:
        views = [0] * len(found)
    definitions = {m: {"type": d.type, "landmarks": list(d.landmarks)}
                   for m, d in spec.measurements.items()}
    answers = []
    for k, view_id in enumerate(views):
        view = spec.classes[view_id]
        original = Pipeline.from_dict(batch["geometry"][k]).invert_points(found[k])
        landmarks, values = frame_answer(
            original, names=names, shown=shown_landmarks(view, spec.view_landmarks, names),
            measurements=definitions, spacing_mm=spacing_mm[k])
        answers.append({"view": view, "landmarks": landmarks, "measurements_mm": values})
    return answers


def abdominal_results(
    run: Any, *, split: str = "test", batch_size: int = 8
) -> tuple[dict[str, Any], dict[str, Any]]:
    """results.json sections of an abdominal task run and its predictions.

    Landmarks are scored in original-image pixels and mm on the channels
    annotated on each frame (the frame's true view), as paper 004's Table 1.
    """
    from sonomtl.evaluation.abdominal_scoring import landmark_report, score_human
    from sonomtl.metrics.results import build_results, model_figures
    from sonomtl.training.abdominal_task import load_split_datasets

    config, task = run.config, run.task
    spec, records, datasets = load_split_datasets(str(run.data_root), params=config.data.params,
                                                  seed=config.seed, augment_train=False)
    task.bind_dataset(spec, config.data.params)
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
    probabilities = None
    if parts[0]["probabilities"] is not None:
        probabilities = np.concatenate([p["probabilities"] for p in parts])
    return results, {"index": index, "points": points, "landmark_names": names,
                     "probabilities": probabilities, "records": split_records, "spec": spec}


def write_landmark_examples(folder: Path, data_root: Path, pred: Mapping[str, Any],
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


def frame_lines(pred: Mapping[str, Any], config: Any) -> list[dict[str, Any]]:
    """Each evaluated frame as ``sonomtl predict`` writes it: a ``predictions.jsonl`` record.

    ``pred`` is :func:`abdominal_results`'s second value, ``config`` the run's
    :class:`~sonomtl.inference.config.InferenceConfig`: the class and landmark
    names, the landmarks each view shows and the measurements are the ones the
    deployed model uses, and so is the decoding (:mod:`sonomtl.decoding.landmarks`).
    """
    from sonomtl.decoding.classes import class_answer
    from sonomtl.decoding.landmarks import frame_answer, shown_landmarks

    names = list(pred["landmark_names"])
    lines = []
    for k, record in enumerate(pred["records"]):
        line: dict[str, Any] = {"source": record.source, "frame": record.frame,
                                "row": record.row}
        label, probabilities = None, {}
        if pred["probabilities"] is not None:
            label, probabilities = class_answer(pred["probabilities"][k], config.class_names)
        line.update(label=label, probabilities=probabilities)
        if pred["points"] is not None and names:
            landmarks, measurements = frame_answer(
                pred["points"][k], names=names,
                shown=shown_landmarks(label, config.view_landmarks, names),
                measurements=config.measurements, spacing_mm=record.spacing_mm)
            line["landmarks"] = {name: landmarks.get(name) for name in names}
            if measurements:
                line["measurements_mm"] = measurements
        if record.spacing_mm is not None:
            line["spacing_mm"] = [float(v) for v in record.spacing_mm]
        lines.append(line)
    return lines
