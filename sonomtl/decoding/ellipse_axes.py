"""Decode the four end points of an ellipse's two diameters together (HC18's OFD and BPD).

A head's heat maps often have several peaks of similar height per landmark;
decoded one map at a time, a point can take the wrong one, and the head
circumference from the four points is then centimetres off. The two diameters
of an ellipse bisect each other at right angles, so the four points are chosen
together: among each map's point decoded on its own and its other brightest
local maxima, the combination with the highest sum of peak heights (each relative to
its map's maximum) minus the crossing penalty, the distance between the two
midpoints over the mean half-diameter plus ``|cos|`` of the angle between them.

Used for every ``ellipse_circumference`` measurement (its landmarks
``[major_1, major_2, minor_1, minor_2]``) whose four landmarks a network
predicts; other landmarks are decoded one by one as before.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["ellipse_axes", "decode_ellipse_axes"]

_PEAKS = 3  # local maxima per map considered, besides the point decoded on its own
_NEIGHBOURHOOD_PX = 9  # a local maximum is the largest value of its 9x9 neighbourhood
_MIN_RELATIVE_PEAK = 0.3  # ... and at least this fraction of the map's maximum
_REFINE_RADIUS_PX = 7  # a peak's position: weighted mean of its pixels above half its height


def ellipse_axes(
    measurements: Mapping[str, Any], channel_names: Sequence[str]
) -> list[tuple[int, int, int, int]]:
    """Channel positions ``(major_1, major_2, minor_1, minor_2)`` of each ellipse measurement.

    ``measurements`` maps names to objects or dicts with ``type`` and
    ``landmarks``; only ``ellipse_circumference`` ones whose four landmarks are
    all among ``channel_names`` count.

    Examples
    --------
    >>> hc = {"type": "ellipse_circumference", "landmarks": ["o1", "o2", "b1", "b2"]}
    >>> ellipse_axes({"HC": hc, "BPD": {"type": "distance", "landmarks": ["b1", "b2"]}},
    ...              ["b1", "b2", "o1", "o2"])
    [(2, 3, 0, 1)]
    """
    index = {name: k for k, name in enumerate(channel_names)}
    found = []
    for definition in measurements.values():
        kind = definition["type"] if isinstance(definition, Mapping) else definition.type
        names = list(definition["landmarks"] if isinstance(definition, Mapping)
                     else definition.landmarks)
        if kind == "ellipse_circumference" and len(names) == 4 and all(n in index for n in names):
            found.append(tuple(index[n] for n in names))
    return found


def decode_ellipse_axes(
    heatmaps: np.ndarray, points: np.ndarray, axes: Sequence[tuple[int, int, int, int]], *,
    penalty_weight: float = 1.0,
) -> np.ndarray:
    """Points ``(..., L, 2)`` with each ellipse's four channels chosen together.

    ``heatmaps`` ``(..., L, H, W)``; ``points`` the same maps decoded one by
    one (kept where the crossing is already the best choice, and wherever a
    map of the ellipse has no positive value).

    Examples
    --------
    >>> maps = np.zeros((4, 41, 41))
    >>> for c, (x, y) in enumerate([(5, 20), (35, 20), (20, 8), (20, 32)]):
    ...     maps[c, y, x] = 1.0
    >>> maps[2, 30, 5] = 1.2  # a brighter peak for the first minor end, off the crossing
    >>> alone = np.array([[5.0, 20.0], [35.0, 20.0], [5.0, 30.0], [20.0, 32.0]])
    >>> decode_ellipse_axes(maps, alone, [(0, 1, 2, 3)])[2].tolist()
    [20.0, 8.0]
    """
    maps = np.asarray(heatmaps, dtype=np.float64)
    out = np.array(points, dtype=np.float64, copy=True)
    if maps.ndim == 3:
        for axis in axes:
            _choose(maps, out, axis, penalty_weight)
        return out
    for k in range(maps.shape[0]):
        out[k] = decode_ellipse_axes(maps[k], out[k], axes, penalty_weight=penalty_weight)
    return out


def _choose(maps: np.ndarray, points: np.ndarray, axis: tuple[int, int, int, int],
            penalty_weight: float) -> None:
    if not all(np.isfinite(points[c]).all() and maps[c].max() > 0 for c in axis):
        return
    # a map's own point, or one of its other peaks (the peak the point lies on is not
    # re-positioned: where the crossing needs no other peak, the points stay as decoded)
    options = [[(p, _height(maps[c], p))
                for p in (points[c], *(p for p in _peaks(maps[c])
                                       if np.linalg.norm(p - points[c]) > _REFINE_RADIUS_PX))]
               for c in axis]
    best, best_score = None, -np.inf
    for combo in itertools.product(*options):
        (a1, _), (a2, _), (b1, _), (b2, _) = combo
        major, minor = float(np.linalg.norm(a2 - a1)), float(np.linalg.norm(b2 - b1))
        if major < 1.0 or minor < 1.0:
            continue
        apart = float(np.linalg.norm((a1 + a2) / 2 - (b1 + b2) / 2)) / (0.25 * (major + minor))
        skew = abs(float(np.dot(a2 - a1, b2 - b1))) / (major * minor)
        score = sum(height for _, height in combo) - penalty_weight * (apart + skew)
        if score > best_score + 1e-9:  # ties keep the earlier option (the map's own point)
            best, best_score = combo, score
    if best is not None:
        for c, (p, _) in zip(axis, best):
            points[c] = p


def _peaks(heatmap: np.ndarray) -> list[np.ndarray]:
    """The brightest local maxima ``(x, y)``, each refined to a sub-pixel position."""
    from scipy import ndimage

    top = heatmap.max()
    local = heatmap == ndimage.maximum_filter(heatmap, size=_NEIGHBOURHOOD_PX)
    rows, cols = np.nonzero(local & (heatmap > _MIN_RELATIVE_PEAK * top))
    order = np.argsort(-heatmap[rows, cols], kind="stable")[:_PEAKS]
    found = []
    r = _REFINE_RADIUS_PX
    for row, col in zip(rows[order], cols[order]):
        y0, x0 = max(0, row - r), max(0, col - r)
        window = heatmap[y0:row + r + 1, x0:col + r + 1]
        weights = np.where(window >= 0.5 * heatmap[row, col], window, 0.0)
        yy, xx = np.mgrid[y0:y0 + window.shape[0], x0:x0 + window.shape[1]]
        found.append(np.array([(weights * xx).sum(), (weights * yy).sum()]) / weights.sum())
    return found


def _height(heatmap: np.ndarray, point: np.ndarray) -> float:
    """The map's value at ``point`` (nearest pixel) relative to its maximum."""
    rows, cols = heatmap.shape
    x = int(round(min(max(float(point[0]), 0.0), cols - 1)))
    y = int(round(min(max(float(point[1]), 0.0), rows - 1)))
    return float(heatmap[y, x] / heatmap.max())
