"""Predictions of the abdominal networks: views, landmarks in original pixels, measurements in mm.

* :func:`decode_landmarks`: heat maps -> points (paper 2's thresholded weighted
  mean, k = 0.75; the brightest pixel where no pixel reaches a positive value).
* :func:`network_outputs`: a batch's outputs as arrays, from one forward pass
  (with the task's ``flip_test``, of the frames and their mirror images).
* :func:`predict_dataset`: one forward pass per batch over a dataset; view ids
  and landmark points mapped back to original-image pixels through each
  sample's preprocessing geometry.
* :func:`one_pass`: what the deployed network returns for each frame of a
  batch in one pass: the view, the landmarks of *that* view in original-image
  pixels, and the view's measurements in mm.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["decode_landmarks", "network_outputs", "predict_dataset", "one_pass", "truth_points"]


def decode_landmarks(
    heatmaps: Any, *, threshold: float = 0.75, ellipse_axes: Sequence[tuple[int, ...]] = ()
) -> np.ndarray:
    """``(N, L, H, W)`` heat maps -> ``(N, L, 2)`` points ``(x, y)`` in heat-map pixels.

    The weighted mean of the pixels above ``threshold``
    (:func:`sonomtl.data.heatmaps.decode_weighted_mean`); a map without a
    positive value (which that decoder leaves NaN) takes its brightest pixel,
    so a prediction always exists. The four channels of each of
    ``ellipse_axes`` are then chosen together
    (:func:`sonomtl.data.ellipse_axes.decode_ellipse_axes`).

    Examples
    --------
    >>> maps = np.zeros((1, 2, 3, 4)); maps[0, 0, 1, 2] = 1.0
    >>> maps[0, 1] = -1.0; maps[0, 1, 2, 3] = -0.5  # no positive value: brightest pixel
    >>> decode_landmarks(maps).tolist()
    [[[2.0, 1.0], [3.0, 2.0]]]
    """
    from sonomtl.data.heatmaps import decode_weighted_mean

    maps = np.asarray(heatmaps, dtype=np.float64)
    if maps.ndim != 4:
        raise ValueError(f"heatmaps must have shape (N, L, H, W), got {maps.shape}")
    points = decode_weighted_mean(maps, threshold=threshold)
    missing = np.isnan(points).any(axis=-1)
    if missing.any():
        flat = maps.reshape(*maps.shape[:2], -1).argmax(axis=-1)
        rows, cols = np.unravel_index(flat, maps.shape[-2:])
        fallback = np.stack([cols, rows], axis=-1).astype(np.float64)
        points[missing] = fallback[missing]
    if ellipse_axes:
        from sonomtl.data.ellipse_axes import decode_ellipse_axes

        points = decode_ellipse_axes(maps, points, ellipse_axes)
    return points


def network_outputs(module: Any, task: Any, batch: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """``module``'s outputs for ``batch`` as float arrays, from one forward pass without gradients.

    With the task's ``flip_test`` (``task.flip_permutation``) the pass takes
    the frames and their mirror images together; the heat maps are the mean of
    both (:func:`sonomtl.data.heatmaps.merge_mirrored`), the other outputs the
    frames' own.
    """
    import torch

    from sonomtl.data.heatmaps import merge_mirrored

    permutation = task.flip_permutation
    count = len(batch["image"])
    if permutation is not None:
        batch = {**batch, "image": torch.cat([batch["image"], batch["image"].flip(-1)])}
    with torch.no_grad():
        raw = task.forward({task.generator: module}, batch)
    outputs = {name: value[:count].float().numpy() for name, value in raw.items()}
    if permutation is not None and "heatmaps" in raw:
        maps = raw["heatmaps"].float().numpy()
        outputs["heatmaps"] = merge_mirrored(maps[:count], maps[count:], permutation)
    return outputs


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
        ``None``), ``points_input`` (``(N, L, 2)`` model-input pixels or ``None``)
        and ``points`` (the same in original-image pixels).
    """
    from sonomtl.data.preprocess import Pipeline

    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    was_training = module.training
    module.eval()
    indices, views, points_in, points_orig = [], [], [], []
    try:
        for start in range(0, len(dataset), batch_size):
            batch = task.collate([dataset[k] for k in range(start, min(start + batch_size,
                                                                         len(dataset)))])
            outputs = network_outputs(module, task, batch)
            indices.extend(int(i) for i in batch["index"])
            if "view_logits" in outputs:
                views.extend(outputs["view_logits"].argmax(1).tolist())
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
    from sonomtl.metrics.landmarks import measurement_values_mm

    module.eval()
    outputs = network_outputs(module, task, batch)
    names = list(spec.landmarks)
    found = decode_landmarks(outputs["heatmaps"], threshold=task.threshold,
                             ellipse_axes=task.ellipse_axes)
    if "view_logits" in outputs:
        views = outputs["view_logits"].argmax(1).tolist()
    else:
        views = [0] * len(found)
    answers = []
    for k, view_id in enumerate(views):
        view = spec.classes[view_id]
        wanted = set(spec.view_landmarks.get(view, ()))
        original = Pipeline.from_dict(batch["geometry"][k]).invert_points(found[k])
        landmarks = {n: [float(v) for v in original[i]] for i, n in enumerate(names)
                     if n in wanted}
        definitions = {m: {"type": d.type, "landmarks": list(d.landmarks)}
                       for m, d in spec.measurements.items() if set(d.landmarks) <= wanted}
        values = (measurement_values_mm(original[None], landmark_names=names,
                                        measurements=definitions,
                                        spacing_mm=np.asarray(spacing_mm[k], dtype=np.float64))
                  if definitions else {})
        answers.append({"view": view, "landmarks": landmarks,
                        "measurements_mm": {m: float(v[0]) for m, v in values.items()}})
    return answers
