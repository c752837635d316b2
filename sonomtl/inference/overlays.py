"""Overlay images for a sonographer: attention heat map on the frame, landmarks with calipers.

Drawn with OpenCV (colour map, blending, lines) and Pillow (text), on the
original frame in its own pixels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["blend_attention", "draw_landmarks", "to_rgb_uint8"]

_LANDMARK_RGB = (255, 220, 0)
_CALIPER_RGB = (0, 255, 255)
_TEXT_RGB = (255, 255, 255)


def to_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """A grey float frame in [0, 255] (or an RGB one) as ``uint8 (H, W, 3)`` (clipped)."""
    array = np.clip(np.rint(np.asarray(image, dtype=np.float64)), 0, 255).astype(np.uint8)
    if array.ndim == 2:
        return np.repeat(array[..., None], 3, axis=2)
    if array.ndim == 3 and array.shape[2] == 3:
        return array
    raise ValueError(f"image must be (H, W) or (H, W, 3), got shape {array.shape}")


def blend_attention(image: np.ndarray, attention: np.ndarray, *, alpha: float = 0.4) -> np.ndarray:
    """``(1 - alpha * a) * frame + alpha * a * jet(a)`` per pixel, ``a`` the attention in [0, 1].

    Where the attention is 0 the frame is unchanged; the heat map shows where
    it is high. Returns ``uint8 (H, W, 3)`` RGB.
    """
    import cv2

    frame = to_rgb_uint8(image).astype(np.float32)
    amap = np.clip(np.asarray(attention, dtype=np.float32), 0.0, 1.0)
    if amap.shape != frame.shape[:2]:
        raise ValueError(f"attention must have the frame's shape {frame.shape[:2]}, "
                         f"got {amap.shape}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
    colour = cv2.applyColorMap(np.rint(amap * 255).astype(np.uint8), cv2.COLORMAP_JET)
    colour = colour[..., ::-1].astype(np.float32)  # BGR -> RGB
    weight = (alpha * amap)[..., None]
    return np.clip(np.rint((1.0 - weight) * frame + weight * colour), 0, 255).astype(np.uint8)


def draw_landmarks(
    image: np.ndarray,
    landmarks: Mapping[str, Sequence[float] | None],
    *,
    measurements: Mapping[str, Mapping[str, Any]] | None = None,
    values_mm: Mapping[str, float] | None = None,
    marker_px: int = 4,
) -> np.ndarray:
    """Crosses at the landmarks, a caliper line per measurement and its value in mm.

    ``measurements``: ``{name: {"type", "landmarks"}}``; a ``distance`` draws
    a line between its two landmarks, an ellipse circumference draws both
    axes. ``values_mm`` gives the text (``"KL_LA 84.2 mm"``). Returns
    ``uint8 (H, W, 3)`` RGB.
    """
    import cv2
    from PIL import Image, ImageDraw

    canvas = np.ascontiguousarray(to_rgb_uint8(image))
    texts = []
    for name, definition in (measurements or {}).items():
        points = [landmarks.get(n) for n in definition["landmarks"]]
        if any(p is None for p in points):
            continue
        for first, second in zip(points[0::2], points[1::2]):
            cv2.line(canvas, _pt(first), _pt(second), _CALIPER_RGB, 1, cv2.LINE_8)
        if values_mm and name in values_mm and values_mm[name] is not None:
            texts.append((_pt(points[0]), f"{name} {values_mm[name]:.1f} mm"))
    for xy in landmarks.values():
        if xy is None:
            continue
        x, y = _pt(xy)
        cv2.line(canvas, (x - marker_px, y), (x + marker_px, y), _LANDMARK_RGB, 1)
        cv2.line(canvas, (x, y - marker_px), (x, y + marker_px), _LANDMARK_RGB, 1)
    if texts:
        picture = Image.fromarray(canvas)
        draw = ImageDraw.Draw(picture)
        for (x, y), text in texts:
            draw.text((x + 6, y + 6), text, fill=_TEXT_RGB)
        canvas = np.asarray(picture).copy()
    return canvas


def _pt(xy: Sequence[float]) -> tuple[int, int]:
    return int(round(float(xy[0]))), int(round(float(xy[1])))
