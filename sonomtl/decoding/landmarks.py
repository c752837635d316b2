"""Heat maps -> landmark points, flip-test merging, and a frame's landmarks and measurements.

The one decoding that ``sonomtl evaluate``, the paper experiments, ``sonomtl
predict``, ONNX files and the server share:

* :func:`decode_landmarks`: paper 2's thresholded weighted mean (k = 0.75) of
  each map; **a map with no pixel above the threshold takes its brightest
  pixel, and so does a map with no positive value at all**: a network that
  predicts a landmark always places it (pixels tied with the brightest to
  rounding give their centroid: :func:`brightest_pixel`), and
  :func:`peak_heights` says how sure it was (the map's maximum; a target peak
  is 1). Then the four channels of each ellipse measurement are chosen
  together (:mod:`sonomtl.decoding.ellipse_axes`).
* :func:`merge_flip_outputs`: the outputs of a batch of frames followed by their
  mirror images, as the frames' outputs with the heat maps merged
  (:func:`sonomtl.data.heatmaps.merge_mirrored`).
* :func:`shown_landmarks` and :func:`frame_answer`: the landmarks a frame's
  predicted view shows, in original-frame pixels, and the measurements in mm
  those landmarks define.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "brightest_pixel",
    "decode_landmarks",
    "peak_heights",
    "merge_flip_outputs",
    "shown_landmarks",
    "frame_answer",
]


#: Pixels within this fraction of a map's range of its maximum tie for the brightest.
_TIE_FRACTION = 1e-5


def decode_landmarks(
    heatmaps: Any, *, threshold: float = 0.75, ellipse_axes: Sequence[tuple[int, ...]] = ()
) -> np.ndarray:
    """``(..., L, H, W)`` heat maps -> ``(..., L, 2)`` points ``(x, y)`` in heat-map pixels.

    Never NaN: a map without a pixel above ``threshold`` (and one without a
    positive value) takes its brightest pixel (:func:`brightest_pixel`).

    Examples
    --------
    >>> maps = np.zeros((1, 2, 3, 4)); maps[0, 0, 1, 2] = 1.0
    >>> maps[0, 1] = -1.0; maps[0, 1, 2, 3] = -0.5  # no positive value: brightest pixel
    >>> decode_landmarks(maps).tolist()
    [[[2.0, 1.0], [3.0, 2.0]]]
    """
    from sonomtl.data.heatmaps import decode_weighted_mean

    maps = np.asarray(heatmaps, dtype=np.float64)
    if maps.ndim < 3:
        raise ValueError(f"heatmaps must have shape (..., L, H, W), got {maps.shape}")
    points = decode_weighted_mean(maps, threshold=threshold)
    none_above = ~(maps > threshold).any(axis=(-2, -1))
    if none_above.any():
        points[none_above] = brightest_pixel(maps)[none_above]
    if ellipse_axes:
        from sonomtl.decoding.ellipse_axes import decode_ellipse_axes

        points = decode_ellipse_axes(maps, points, ellipse_axes)
    return points


def brightest_pixel(heatmaps: Any) -> np.ndarray:
    """Each map's brightest pixel ``(x, y)``, ``(..., L, H, W) -> (..., L, 2)``.

    Pixels within ``1e-5`` of the map's range of its maximum count as tied and
    their centroid is taken: a smooth (upsampled) map can have neighbours equal
    to 1e-7, and which of them a batched convolution, ONNX Runtime or another
    batch size makes the larger is rounding, not the network.

    Examples
    --------
    >>> maps = np.zeros((2, 2, 4)); maps[0] -= 1.0; maps[0, 1, 2] = -0.5
    >>> maps[1, 0, 1] = maps[1, 0, 2] = 0.3; maps[1, 0, 2] += 1e-9  # a tie to rounding
    >>> brightest_pixel(maps).tolist()
    [[2.0, 1.0], [1.5, 0.0]]
    """
    maps = np.asarray(heatmaps, dtype=np.float64)
    if maps.ndim < 3:
        raise ValueError(f"heatmaps must have shape (..., L, H, W), got {maps.shape}")
    rows, cols = maps.shape[-2:]
    flat = maps.reshape(*maps.shape[:-2], rows * cols)
    top = flat.max(axis=-1, keepdims=True)
    span = top - flat.min(axis=-1, keepdims=True)
    tied = (flat >= top - _TIE_FRACTION * span).astype(np.float64)
    count = tied.sum(axis=-1)
    index = np.arange(rows * cols)
    x = (tied * (index % cols)).sum(axis=-1) / count
    y = (tied * (index // cols)).sum(axis=-1) / count
    return np.stack([x, y], axis=-1)


def peak_heights(heatmaps: Any) -> np.ndarray:
    """Each map's maximum, ``(..., L, H, W) -> (..., L)``: how sure the network is of a point.

    Examples
    --------
    >>> maps = np.zeros((2, 2, 2)); maps[0, 1, 1] = 0.9; maps[1] = -0.2
    >>> peak_heights(maps).tolist()
    [0.9, -0.2]
    """
    maps = np.asarray(heatmaps, dtype=np.float64)
    if maps.ndim < 3:
        raise ValueError(f"heatmaps must have shape (..., L, H, W), got {maps.shape}")
    return maps.max(axis=(-2, -1))


def merge_flip_outputs(
    raw: Mapping[str, Any], *, count: int, permutation: Sequence[int]
) -> dict[str, np.ndarray]:
    """Outputs of ``count`` frames followed by their mirror images -> the frames' outputs.

    The heat maps are the mean of the frame's and its mirror image's, mirrored
    back with the left/right channels swapped (``permutation``); every other
    output is the frame's own.

    Examples
    --------
    >>> maps = np.zeros((2, 2, 1, 3)); maps[0, 0, 0, 0] = 1.0; maps[1, 1, 0, 2] = 0.5
    >>> merged = merge_flip_outputs({"heatmaps": maps, "logits": np.eye(2)}, count=1,
    ...                             permutation=[1, 0])
    >>> merged["heatmaps"][0, 0, 0].tolist(), merged["logits"].tolist()
    ([0.75, 0.0, 0.0], [[1.0, 0.0]])
    """
    from sonomtl.data.heatmaps import merge_mirrored

    outputs = {name: np.asarray(value)[:count] for name, value in raw.items()}
    if "heatmaps" in raw:
        maps = np.asarray(raw["heatmaps"])
        outputs["heatmaps"] = merge_mirrored(maps[:count], maps[count:], permutation)
    return outputs


def shown_landmarks(
    label: str | None, view_landmarks: Mapping[str, Sequence[str]], names: Sequence[str]
) -> set[str]:
    """The landmarks a frame of predicted view ``label`` shows.

    All of ``names`` where the model has no view classification or no
    ``view_landmarks``; else those of the label's view (none for a view
    without landmarks, such as a background class).

    Examples
    --------
    >>> sorted(shown_landmarks("head", {"head": ["a", "b"], "bg": []}, ["a", "b", "c"]))
    ['a', 'b']
    >>> sorted(shown_landmarks(None, {}, ["a", "b"]))
    ['a', 'b']
    """
    if label is None or not view_landmarks:
        return set(names)
    return set(view_landmarks.get(label, ())) & set(names)


def frame_answer(
    points_xy: Any,
    *,
    names: Sequence[str],
    shown: set[str],
    measurements: Mapping[str, Mapping[str, Any]],
    spacing_mm: Sequence[float] | None,
) -> tuple[dict[str, list[float]], dict[str, float]]:
    """One frame's landmarks ``{name: [x, y]}`` (original pixels) and measurements in mm.

    ``points_xy`` ``(L, 2)`` are the decoded points of ``names`` in
    original-frame pixels; only the ``shown`` ones are returned, and a
    measurement (``{type, landmarks}``, as in ``dataset.yaml``) only where all
    its landmarks are shown and ``spacing_mm`` ``(x, y)`` is known.

    Examples
    --------
    >>> marks, mm = frame_answer([[0.0, 0.0], [3.0, 4.0]], names=["a", "b"], shown={"a", "b"},
    ...                          measurements={"AB": {"type": "distance",
    ...                                                "landmarks": ["a", "b"]}},
    ...                          spacing_mm=(0.5, 0.5))
    >>> marks["b"], mm
    ([3.0, 4.0], {'AB': 2.5})
    """
    from sonomtl.metrics.landmarks import measurement_values_mm

    points = np.asarray(points_xy, dtype=np.float64)
    landmarks = {name: [float(points[k, 0]), float(points[k, 1])]
                 for k, name in enumerate(names) if name in shown}
    if spacing_mm is None:
        return landmarks, {}
    wanted = {name: {"type": d["type"], "landmarks": list(d["landmarks"])}
              for name, d in measurements.items() if set(d["landmarks"]) <= set(landmarks)}
    if not wanted:
        return landmarks, {}
    values = measurement_values_mm(points[None], landmark_names=list(names), measurements=wanted,
                                   spacing_mm=np.asarray(spacing_mm, dtype=np.float64))
    return landmarks, {name: float(v[0]) for name, v in values.items()}
