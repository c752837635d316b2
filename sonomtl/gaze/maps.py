"""Attention maps from fixations: binary fixation map, Gaussian blur, normalisation.

The paper (M-SEN): a 240x240 binary map with 1 at the fixation points, convolved
with a 2-D Gaussian whose sigma is 1.5 deg of visual angle (30 px in its setting).
:func:`attention_map` computes exactly ``scipy.ndimage.gaussian_filter`` of that
binary map (``mode='constant'``, ``truncate=4``), but as a sum of separable
kernels over the points, which is what makes 100 frames take milliseconds.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from sonomtl.gaze._validation import check_1d, check_non_negative, check_positive
from sonomtl.gaze.fixations import Fixations
from sonomtl.gaze.geometry import ScreenGeometry
from sonomtl.gaze.samples import warn

__all__ = [
    "attention_map", "fixations_per_frame", "screen_to_frame", "sigma_px_for",
    "Normalisation",
]

Normalisation = Literal["max", "sum", "none"]


def _kernel_1d(sigma: float, truncate: float) -> tuple[np.ndarray, int]:
    """scipy.ndimage's discrete Gaussian: exp(-x^2 / 2 sigma^2) over |x| <= r, sum 1."""
    radius = int(truncate * float(sigma) + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    weights = np.exp(-0.5 / (sigma * sigma) * x * x)
    return weights / weights.sum(), radius


def _axis_profiles(centres: np.ndarray, length: int, sigma: float, truncate: float) -> np.ndarray:
    """(len(centres), length): the 1-D kernel of each point, cut at the array's edges."""
    weights, radius = _kernel_1d(sigma, truncate)
    offset = np.arange(length)[None, :] - centres[:, None] + radius
    inside = (offset >= 0) & (offset <= 2 * radius)
    return np.where(inside, weights[np.clip(offset, 0, 2 * radius)], 0.0)


def attention_map(
    points_xy: np.ndarray, *, output_hw: tuple[int, int], sigma_px: float | tuple[float, float],
    normalise: Normalisation = "max", weights: np.ndarray | None = None, truncate: float = 4.0,
) -> np.ndarray:
    """A blurred fixation map of ``output_hw`` (rows, cols), float32.

    Each point ``(x, y)`` (model-input pixels) is rounded to the nearest pixel; points
    outside the map are ignored. Without ``weights`` the fixation map is binary (a pixel
    hit twice is still 1, as in the paper); with ``weights`` (e.g. fixation durations)
    the weights of points on the same pixel add up. The map is then blurred with a
    Gaussian of ``sigma_px`` (one value, or ``(sigma_x, sigma_y)``), zero outside the map.
    ``normalise``: ``"max"`` (peak 1, targets for BCE), ``"sum"`` (sum 1, a distribution)
    or ``"none"``. A map without points is all zeros whatever the normalisation.

    Examples
    --------
    >>> m = attention_map(np.array([[2.0, 1.0]]), output_hw=(3, 5), sigma_px=0.5)
    >>> m.shape, m.dtype, float(m.max()), [int(i) for i in np.unravel_index(m.argmax(), m.shape)]
    ((3, 5), dtype('float32'), 1.0, [1, 2])
    """
    rows, cols = (int(output_hw[0]), int(output_hw[1]))
    if rows < 1 or cols < 1:
        raise ValueError(f"output_hw must be two sizes >= 1, got {output_hw!r}")
    if isinstance(sigma_px, (tuple, list)):
        sigma_x, sigma_y = (check_positive("sigma_px[0]", sigma_px[0]),
                            check_positive("sigma_px[1]", sigma_px[1]))
    else:
        sigma_x = sigma_y = check_positive("sigma_px", sigma_px)
    if normalise not in ("max", "sum", "none"):
        raise ValueError(f"normalise must be 'max', 'sum' or 'none', got {normalise!r}")
    points = np.asarray(points_xy, dtype=np.float64).reshape(-1, 2)
    with np.errstate(invalid="ignore"):
        col = np.floor(points[:, 0] + 0.5)
        row = np.floor(points[:, 1] + 0.5)
        inside = (col >= 0) & (col < cols) & (row >= 0) & (row < rows)
    col = col[inside].astype(np.int64)
    row = row[inside].astype(np.int64)
    if weights is None:
        flat = np.unique(row * cols + col)
        value = np.ones(len(flat))
    else:
        w = check_1d("weights", weights)[inside]
        flat, where = np.unique(row * cols + col, return_inverse=True)
        value = np.bincount(where, weights=w, minlength=len(flat))
    out = np.zeros((rows, cols), dtype=np.float64)
    if len(flat):
        gy = _axis_profiles(flat // cols, rows, sigma_y, truncate)
        gx = _axis_profiles(flat % cols, cols, sigma_x, truncate)
        out = (gy * value[:, None]).T @ gx
    if normalise == "max" and out.max() > 0:
        out /= out.max()
    elif normalise == "sum" and out.sum() > 0:
        out /= out.sum()
    return out.astype(np.float32)


def sigma_px_for(
    *, geometry: ScreenGeometry, sigma_deg: float, model_px_per_screen_px: tuple[float, float],
) -> tuple[float, float]:
    """Gaussian sigma in model-input pixels, ``(x, y)``, for ``sigma_deg`` of visual angle.

    ``sigma_deg`` at the screen centre in screen pixels (``distance_px * tan(sigma_deg)``),
    times the frame's on-screen scale (model-input pixels per screen pixel, along x and y).

    Examples
    --------
    The paper's setting: 1.5 deg at 50 cm from a 33.2 x 20.7 cm, 1920x1200 screen is
    75.7 screen px; a frame shown 605.8 px wide and resized to 240 px gives 30 px (the
    screen's pixels are very slightly taller than wide).

    >>> g = ScreenGeometry(screen_px=(1920, 1200), screen_cm=(33.2, 20.7), distance_cm=50)
    >>> [round(s, 1) for s in sigma_px_for(geometry=g, sigma_deg=1.5,
    ...                                    model_px_per_screen_px=(240 / 605.8, 240 / 605.8))]
    [30.0, 30.1]
    """
    sigma_deg = check_positive("sigma_deg", sigma_deg)
    per_deg_x, per_deg_y = geometry.pixels_per_degree(sigma_deg)
    scale_x = check_positive("model_px_per_screen_px[0]", model_px_per_screen_px[0])
    scale_y = check_positive("model_px_per_screen_px[1]", model_px_per_screen_px[1])
    return (per_deg_x * sigma_deg * scale_x, per_deg_y * sigma_deg * scale_y)


def screen_to_frame(
    points_xy: np.ndarray, *, image_rect_px: tuple[float, float, float, float],
    frame_hw: tuple[int, int],
) -> np.ndarray:
    """Screen pixels to pixels of the (uncropped) frame drawn in ``image_rect_px``.

    ``image_rect_px = (x0, y0, width, height)``: the frame's ``frame_hw`` pixels cover
    screen pixels ``x0 .. x0 + width - 1``. Pixel centres map like a resize:
    ``x_frame = (x_screen - x0 + 0.5) * cols / width - 0.5``.

    Examples
    --------
    >>> screen_to_frame(np.array([[100.0, 50.0], [299.5, 149.5]]),
    ...                 image_rect_px=(100, 50, 400, 200), frame_hw=(100, 200)).tolist()
    [[-0.25, -0.25], [99.5, 49.5]]
    """
    x0, y0, width, height = (float(v) for v in image_rect_px)
    check_positive("image_rect_px width", width)
    check_positive("image_rect_px height", height)
    rows, cols = frame_hw
    points = np.asarray(points_xy, dtype=np.float64).reshape(-1, 2)
    x = (points[:, 0] - x0 + 0.5) * cols / width - 0.5
    y = (points[:, 1] - y0 + 0.5) * rows / height - 0.5
    return np.stack([x, y], axis=1)


def fixations_per_frame(
    frame_times_ms: np.ndarray, fixations: Fixations, *, end_ms: float,
    window_ms: float = 0.0,
) -> list[np.ndarray]:
    """Which fixations belong to each frame of a sequence: indices into ``fixations``.

    Frame ``i`` is on screen from ``frame_times_ms[i]`` until the next frame appears (the
    last one until ``end_ms``, the end of the gaze log). A fixation belongs to a frame when
    ``[onset_ms, offset_ms]`` overlaps the frame's time on screen, widened by
    ``window_ms / 2`` on each side (``window_ms=0``: only the frame's own time). Frames
    that appear after the log ends get no fixation, with one warning.

    Examples
    --------
    >>> f = Fixations(np.array([0., 150]), np.array([90., 400]), np.zeros(2), np.zeros(2))
    >>> [a.tolist() for a in fixations_per_frame(np.array([0., 100, 200]), f, end_ms=500)]
    [[0], [1], [1]]
    >>> [a.tolist() for a in fixations_per_frame(np.array([0., 100, 200]), f, end_ms=500,
    ...                                          window_ms=40)]
    [[0], [0, 1], [1]]
    """
    times = check_1d("frame_times_ms", frame_times_ms)
    if len(times) > 1 and not (np.diff(times) > 0).all():
        raise ValueError("frame_times_ms must be strictly increasing")
    window_ms = check_non_negative("window_ms", window_ms)
    ends = np.append(times[1:], max(float(end_ms), times[-1]) if len(times) else end_ms)
    late = int(np.count_nonzero(times > end_ms))
    if late:
        warn(f"{late} of {len(times)} frames appear after the gaze log ends "
             f"({end_ms:g} ms): their maps are empty")
    lo = times - window_ms / 2
    hi = ends + window_ms / 2
    onset, offset = fixations.onset_ms, fixations.offset_ms
    # Fixations are in time order and do not overlap: a frame's fixations are a
    # contiguous run, found by binary search on the offsets and onsets.
    first = np.searchsorted(offset, lo, side="left")
    last = np.searchsorted(onset, hi, side="left")  # onset < hi (the frame's end is exclusive)
    result = []
    for i in range(len(times)):
        if times[i] > end_ms:
            result.append(np.zeros(0, dtype=np.int64))
        else:
            result.append(np.arange(first[i], max(first[i], last[i]), dtype=np.int64))
    return result
