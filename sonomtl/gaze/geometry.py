"""Screen geometry: pixels on the screen to degrees of visual angle.

The default convention is pymovements' ``pix2deg``: per axis, from the screen
centre, ``deg = atan2(px - (res - 1) / 2, distance_cm * res / size_cm)``.
:func:`angle_between_deg` gives the exact 3-D angle between two gaze points
(the angle at the eye between the two lines of sight) when that is wanted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sonomtl.gaze._validation import check_pair, check_positive

__all__ = ["ScreenGeometry", "pix2deg", "angle_between_deg"]


@dataclass(frozen=True)
class ScreenGeometry:
    """A screen and the viewer's distance from it.

    Parameters
    ----------
    screen_px
        Resolution ``(width, height)`` in pixels.
    screen_cm
        Visible size ``(width, height)`` in centimetres.
    distance_cm
        Eye-to-screen distance in centimetres (perpendicular, to the screen centre).

    Examples
    --------
    The paper's setting: a 33.2 x 20.7 cm screen at 50 cm.

    >>> geometry = ScreenGeometry(screen_px=(1920, 1200), screen_cm=(33.2, 20.7), distance_cm=50)
    >>> round(geometry.pixels_per_degree()[0], 2)
    50.47
    """

    screen_px: tuple[float, float]
    screen_cm: tuple[float, float]
    distance_cm: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "screen_px", check_pair("screen_px", self.screen_px))
        object.__setattr__(self, "screen_cm", check_pair("screen_cm", self.screen_cm))
        object.__setattr__(self, "distance_cm", check_positive("distance_cm", self.distance_cm))

    @property
    def distance_px(self) -> tuple[float, float]:
        """Viewing distance expressed in screen pixels along x and along y."""
        return (
            self.distance_cm * self.screen_px[0] / self.screen_cm[0],
            self.distance_cm * self.screen_px[1] / self.screen_cm[1],
        )

    def pixels_per_degree(self, angle_deg: float = 1.0) -> tuple[float, float]:
        """Screen pixels spanned by ``angle_deg`` of visual angle at the screen centre, (x, y).

        ``distance_px * tan(angle_deg)``: the exact inverse of :func:`pix2deg` for a
        point ``angle_deg`` away from the centre along one axis, divided by ``angle_deg``.
        """
        angle_deg = check_positive("angle_deg", angle_deg)
        scale = math.tan(math.radians(angle_deg)) / angle_deg
        dx, dy = self.distance_px
        return (dx * scale, dy * scale)


def pix2deg(
    x_px: np.ndarray, y_px: np.ndarray, *, geometry: ScreenGeometry
) -> tuple[np.ndarray, np.ndarray]:
    """Screen pixels (origin upper left) to degrees of visual angle per axis from the centre.

    Identical to pymovements' ``pix2deg(origin='upper left')``. NaN stays NaN.

    Examples
    --------
    >>> geometry = ScreenGeometry(screen_px=(101, 101), screen_cm=(10, 10), distance_cm=10)
    >>> x, y = pix2deg(np.array([50.0, 100.0]), np.array([50.0, 50.0]), geometry=geometry)
    >>> x.round(4).tolist(), y.tolist()
    ([0.0, 26.3377], [0.0, 0.0])
    """
    width, height = geometry.screen_px
    dx, dy = geometry.distance_px
    x_deg = np.degrees(np.arctan2(np.asarray(x_px, dtype=np.float64) - (width - 1) / 2, dx))
    y_deg = np.degrees(np.arctan2(np.asarray(y_px, dtype=np.float64) - (height - 1) / 2, dy))
    return x_deg, y_deg


def angle_between_deg(
    x1_px: np.ndarray, y1_px: np.ndarray, x2_px: np.ndarray, y2_px: np.ndarray,
    *, geometry: ScreenGeometry,
) -> np.ndarray:
    """Exact angle in degrees at the eye between the lines of sight to two screen points.

    The eye sits on the perpendicular through the screen centre. Unlike the
    per-axis convention, this is the true visual angle anywhere on the screen.

    Examples
    --------
    >>> geometry = ScreenGeometry(screen_px=(101, 101), screen_cm=(10, 10), distance_cm=10)
    >>> float(angle_between_deg(50.0, 50.0, 100.0, 50.0, geometry=geometry).round(4))
    26.3377
    """
    width, height = geometry.screen_px
    cm_x = geometry.screen_cm[0] / width
    cm_y = geometry.screen_cm[1] / height

    def ray(x_px: np.ndarray, y_px: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rx = (np.asarray(x_px, dtype=np.float64) - (width - 1) / 2) * cm_x
        ry = (np.asarray(y_px, dtype=np.float64) - (height - 1) / 2) * cm_y
        return rx, ry

    ax, ay = ray(x1_px, y1_px)
    bx, by = ray(x2_px, y2_px)
    d = geometry.distance_cm
    dot = ax * bx + ay * by + d * d
    cross = np.sqrt((ay * d - d * by) ** 2 + (d * bx - ax * d) ** 2 + (ax * by - ay * bx) ** 2)
    return np.degrees(np.arctan2(cross, dot))
