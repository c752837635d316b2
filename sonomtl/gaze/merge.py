"""Merging of fixations that are close in space and time."""

from __future__ import annotations

import math

import numpy as np

from sonomtl.gaze._validation import check_1d, check_non_negative
from sonomtl.gaze.geometry import ScreenGeometry, pix2deg

__all__ = ["merge_fixations"]


def merge_fixations(
    starts: np.ndarray, stops: np.ndarray, *, time_ms: np.ndarray, x_px: np.ndarray,
    y_px: np.ndarray, geometry: ScreenGeometry, max_distance_deg: float, max_gap_ms: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Merge consecutive fixations closer than ``max_distance_deg`` and ``max_gap_ms``.

    Fixations are visited in time order; the next one joins the current (possibly
    already merged) fixation when the distance between their centroids is strictly
    less than ``max_distance_deg`` (per-axis degrees, :func:`pix2deg`) and the time
    from the current one's last sample to the next one's first sample is strictly
    less than ``max_gap_ms``. A merged fixation runs from the first one's first sample
    to the last one's last sample; its centroid is the mean of the samples of the
    fixations it joins (the saccade samples between them do not count).
    ``max_distance_deg=0`` merges nothing.

    Returns ``(starts, stops, x_px, y_px)``: the merged sample ranges and centroids.

    Examples
    --------
    >>> g = ScreenGeometry(screen_px=(1920, 1080), screen_cm=(53, 30), distance_cm=60)
    >>> t = np.arange(8) * 33.0
    >>> x = np.array([100., 100, 500, 102, 102, 102, 900, 900])
    >>> merge_fixations(np.array([0, 3, 6]), np.array([2, 6, 8]), time_ms=t, x_px=x,
    ...                 y_px=np.zeros(8), geometry=g, max_distance_deg=0.5, max_gap_ms=75)
    (array([0, 6]), array([6, 8]), array([101.2, 900. ]), array([0., 0.]))
    """
    starts = check_1d("starts", starts, dtype=np.int64)
    stops = check_1d("stops", stops, dtype=np.int64)
    max_distance_deg = check_non_negative("max_distance_deg", max_distance_deg)
    max_gap_ms = check_non_negative("max_gap_ms", max_gap_ms)
    time_ms = check_1d("time_ms", time_ms)
    sum_x, sum_y, count = _range_sums(starts, stops, x_px, y_px)
    if max_distance_deg == 0 or len(starts) < 2:
        return starts, stops, sum_x / count, sum_y / count

    # A plain-float loop: merging is sequential (a merged centroid meets the next fixation).
    width, height = geometry.screen_px
    dist_x, dist_y = geometry.distance_px
    half_w, half_h = (width - 1) / 2, (height - 1) / 2
    cx_deg, cy_deg = (a.tolist() for a in pix2deg(sum_x / count, sum_y / count, geometry=geometry))
    first_t = time_ms[starts].tolist()
    last_t = time_ms[stops - 1].tolist()
    sx, sy, counts = sum_x.tolist(), sum_y.tolist(), count.tolist()
    out_start, out_stop = [int(starts[0])], [int(stops[0])]
    out_sx, out_sy, out_n = [sx[0]], [sy[0]], [counts[0]]
    out_last_t = last_t[0]
    cur_x_deg, cur_y_deg = cx_deg[0], cy_deg[0]
    starts_list, stops_list = starts.tolist(), stops.tolist()
    for i in range(1, len(starts_list)):
        gap = first_t[i] - out_last_t
        if gap < max_gap_ms and math.hypot(cx_deg[i] - cur_x_deg,
                                           cy_deg[i] - cur_y_deg) < max_distance_deg:
            out_stop[-1] = stops_list[i]
            out_sx[-1] += sx[i]
            out_sy[-1] += sy[i]
            out_n[-1] += counts[i]
            cur_x_deg = math.degrees(math.atan2(out_sx[-1] / out_n[-1] - half_w, dist_x))
            cur_y_deg = math.degrees(math.atan2(out_sy[-1] / out_n[-1] - half_h, dist_y))
        else:
            out_start.append(starts_list[i])
            out_stop.append(stops_list[i])
            out_sx.append(sx[i])
            out_sy.append(sy[i])
            out_n.append(counts[i])
            cur_x_deg, cur_y_deg = cx_deg[i], cy_deg[i]
        out_last_t = last_t[i]
    n = np.asarray(out_n)
    return (np.asarray(out_start, dtype=np.int64), np.asarray(out_stop, dtype=np.int64),
            np.asarray(out_sx) / n, np.asarray(out_sy) / n)


def _range_sums(
    starts: np.ndarray, stops: np.ndarray, x_px: np.ndarray, y_px: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sums of x and y and sample counts over each half-open range (no NaN inside)."""
    cx = np.concatenate([[0.0], np.cumsum(np.nan_to_num(x_px))])
    cy = np.concatenate([[0.0], np.cumsum(np.nan_to_num(y_px))])
    return cx[stops] - cx[starts], cy[stops] - cy[starts], (stops - starts).astype(np.float64)
