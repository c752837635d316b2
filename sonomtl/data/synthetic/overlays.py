"""Vendor-style screen overlays: text band, grey bar, depth scale, body-mark (view) icon.

Overlays sit outside the region a model should see (the crop or the mask
rectangles declared in ``dataset.yaml``), as on real scanner screen
captures. The view icon is a body mark: a torso outline with a probe bar
whose place and direction encode the view, so it *does* leak the label when
it is not masked (the tests show a classifier exploiting it).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

__all__ = ["draw_text", "draw_grey_bar", "draw_depth_scale", "draw_view_icon", "ICON_SIZE_PX"]

ICON_SIZE_PX = 56

_FONT = cv2.FONT_HERSHEY_SIMPLEX

# (probe bar centre (x, y) in torso units [-1, 1], bar angle deg) per view family
_ICON_PROBES = {
    "liver_right_long": ((-0.45, -0.35), 90.0),
    "liver_right_trans": ((-0.45, -0.35), 0.0),
    "liver_left_long": ((0.05, -0.55), 90.0),
    "liver_left_trans": ((0.05, -0.55), 0.0),
    "kidney_right_long": ((-0.55, 0.05), 70.0),
    "kidney_right_trans": ((-0.55, 0.05), -20.0),
    "kidney_left_long": ((0.55, 0.05), 110.0),
    "kidney_left_trans": ((0.55, 0.05), 20.0),
    "spleen_long": ((0.65, -0.4), 60.0),
    "spleen_trans": ((0.65, -0.4), -30.0),
}


def draw_text(
    canvas: np.ndarray,
    text: str,
    origin_px: tuple[int, int],
    *,
    scale: float = 0.4,
    value: int = 220,
) -> None:
    """Draw ``text`` with its baseline starting at ``origin_px`` (in place)."""
    cv2.putText(canvas, text, origin_px, _FONT, scale, int(value), 1, cv2.LINE_AA)


def draw_grey_bar(canvas: np.ndarray, box_px: tuple[int, int, int, int]) -> None:
    """A vertical grey-scale bar (white at the top) in ``box_px = (x0, y0, x1, y1)`` (in place)."""
    x0, y0, x1, y1 = box_px
    ramp = np.linspace(255, 0, y1 - y0).astype(np.uint8)[:, None]
    canvas[y0:y1, x0:x1] = ramp


def draw_depth_scale(
    canvas: np.ndarray,
    *,
    x_px: int,
    top_px: float,
    mm_per_px: float,
    depth_mm: float,
    value: int = 200,
) -> None:
    """Tick marks every 10 mm (longer every 50 mm) along column ``x_px`` (in place)."""
    for depth in range(0, int(depth_mm) + 1, 10):
        y = int(round(top_px + depth / mm_per_px))
        if y >= canvas.shape[0]:
            break
        length = 7 if depth % 50 == 0 else 3
        cv2.line(canvas, (x_px, y), (x_px + length, y), int(value), 1)


def draw_view_icon(
    canvas: np.ndarray, view: str, origin_px: tuple[int, int], *, size_px: int = ICON_SIZE_PX
) -> None:
    """A body-mark icon for ``view`` with its top-left corner at ``origin_px`` (in place).

    Views without a body mark (e.g. ``others``) get the torso only.
    """
    x0, y0 = origin_px
    half = size_px / 2
    cx, cy = x0 + half, y0 + half
    canvas[y0 : y0 + size_px, x0 : x0 + size_px] = 30
    cv2.ellipse(
        canvas,
        (int(cx), int(cy)),
        (int(half * 0.55), int(half * 0.85)),
        0,
        0,
        360,
        170,
        1,
        cv2.LINE_AA,
    )
    cv2.circle(canvas, (int(cx), int(y0 + 3)), 3, 170, 1, cv2.LINE_AA)
    if view in _ICON_PROBES:
        (px, py), angle = _ICON_PROBES[view]
        bx, by = cx + px * half * 0.55, cy + py * half * 0.85
        dx, dy = (
            math.cos(math.radians(angle)) * half * 0.3,
            math.sin(math.radians(angle)) * half * 0.3,
        )
        cv2.line(
            canvas,
            (int(round(bx - dx)), int(round(by - dy))),
            (int(round(bx + dx)), int(round(by + dy))),
            255,
            3,
            cv2.LINE_AA,
        )
