"""Anatomical scenes: named shapes in millimetres, rendered through a :class:`Scanner`.

A scene is an ordered list of shapes (painter's order: later shapes cover
earlier ones) over a background tissue, plus specular interface lines.
Shapes are "wobbly ellipses": an ellipse whose radius is modulated by a few
low-order Fourier terms, so organs are irregular but their boundary is known
exactly. Landmarks on an organ are boundary points, so they lie on the
rendered organ outline by construction (tested).

Rendering draws the shapes' indices into one ``uint8`` canvas with
``cv2.fillPoly`` (shape ``i`` gets value ``i + 1``; 0 is the background), so
the same map tells both the tissue of every pixel and which organ it
belongs to (:attr:`Rendered.shape_map`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from sonomtl.data.synthetic.formation import Scanner
from sonomtl.data.synthetic.tissues import tissue

__all__ = ["Blob", "SpecularLine", "Scene", "Rendered", "render_scene"]

_POLYGON_VERTICES = 96


@dataclass(frozen=True)
class Blob:
    """A wobbly ellipse of one tissue.

    Parameters
    ----------
    name
        Organ/structure name (used for gaze targets and landmark checks).
    tissue
        Tissue name (:data:`sonomtl.data.synthetic.tissues.TISSUES`).
    centre_mm
        ``(x, z)`` centre (lateral, depth).
    axes_mm
        Semi-axes ``(a, b)``: ``a`` along ``angle_deg``, ``b`` across it.
    angle_deg
        Rotation of the ``a`` axis from the +x (lateral) direction towards +z.
    wobble
        ``((amplitude, phase_rad), ...)`` for harmonics 2, 3, ... of the radius.
    capsule
        Amplitude of a specular echo drawn along the boundary (0: none).
    """

    name: str
    tissue: str
    centre_mm: tuple[float, float]
    axes_mm: tuple[float, float]
    angle_deg: float = 0.0
    wobble: tuple[tuple[float, float], ...] = ()
    capsule: float = 0.0

    def radius_factor(self, phi: np.ndarray) -> np.ndarray:
        """Radial modulation ``1 + sum_k amp_k cos(k phi + phase_k)``, ``k = 2, 3, ...``."""
        out = np.ones_like(phi, dtype=np.float64)
        for k, (amplitude, phase) in enumerate(self.wobble, start=2):
            out = out + amplitude * np.cos(k * phi + phase)
        return out

    def boundary_mm(self, phi: np.ndarray | float) -> np.ndarray:
        """Boundary points ``(n, 2)`` (x, z) at ellipse parameters ``phi``."""
        phi = np.atleast_1d(np.asarray(phi, dtype=np.float64))
        r = self.radius_factor(phi)
        u = self.axes_mm[0] * r * np.cos(phi)
        v = self.axes_mm[1] * r * np.sin(phi)
        angle = math.radians(self.angle_deg)
        c, s = math.cos(angle), math.sin(angle)
        return np.stack(
            [self.centre_mm[0] + c * u - s * v, self.centre_mm[1] + s * u + c * v], axis=1
        )

    def axis_endpoints_mm(self, axis: str) -> np.ndarray:
        """The two boundary points ``(2, 2)`` on the ``"long"`` (a) or ``"short"`` (b) axis."""
        if axis == "long":
            return self.boundary_mm(np.array([0.0, math.pi]))
        if axis == "short":
            return self.boundary_mm(np.array([math.pi / 2, 3 * math.pi / 2]))
        raise ValueError(f"axis must be 'long' or 'short', got {axis!r}")


@dataclass(frozen=True)
class SpecularLine:
    """A bright interface drawn as a polyline (bone surface, diaphragm, wall)."""

    points_mm: tuple[tuple[float, float], ...]
    amplitude: float
    thickness_mm: float = 1.0
    tissue: str | None = None  # also paint this tissue under the line (e.g. bone: shadow)


@dataclass
class Scene:
    """A background tissue, shapes in painter's order and specular lines."""

    background: str
    shapes: list[Blob] = field(default_factory=list)
    lines: list[SpecularLine] = field(default_factory=list)

    def shape(self, name: str) -> Blob:
        """The first shape called ``name``."""
        for blob in self.shapes:
            if blob.name == name:
                return blob
        raise KeyError(name)

    def names(self) -> list[str]:
        """Names of the shapes, in drawing order."""
        return [blob.name for blob in self.shapes]


@dataclass(frozen=True)
class Rendered:
    """A rendered frame: the grey canvas and which shape covers every pixel.

    ``shape_map[r, c] == i + 1`` where shape ``i`` of the scene is on top, 0
    where only the background is; line tissues get indices after the shapes.
    """

    image: np.ndarray
    shape_map: np.ndarray


def render_scene(
    scene: Scene,
    scanner: Scanner,
    *,
    rng: np.random.Generator,
    gain_db: float = -6.0,
    dynamic_range_db: float = 50.0,
    tgc_error_db: float = 0.0,
) -> Rendered:
    """Draw ``scene`` and form its B-mode canvas (``uint8``, zero outside the field of view)."""
    layout = scanner.layout
    rows, cols = layout.canvas_hw
    shape_map = np.zeros((rows, cols), dtype=np.uint8)
    spec_map = np.zeros((rows, cols), dtype=np.float32)
    tissues = [tissue(scene.background)]
    shift = 4  # fixed-point sub-pixel polygon vertices
    scale = float(1 << shift)
    phi = np.linspace(0.0, 2 * math.pi, _POLYGON_VERTICES, endpoint=False)
    for blob in scene.shapes:
        tissues.append(tissue(blob.tissue))
        pts = _to_px(blob.boundary_mm(phi), layout)
        poly = np.rint(pts * scale).astype(np.int32)
        cv2.fillPoly(shape_map, [poly], len(tissues) - 1, lineType=cv2.LINE_8, shift=shift)
        if blob.capsule > 0:
            cv2.polylines(
                spec_map,
                [poly],
                True,
                float(blob.capsule),
                thickness=1,
                lineType=cv2.LINE_AA,
                shift=shift,
            )
    for line in scene.lines:
        poly = np.rint(_to_px(np.asarray(line.points_mm, dtype=np.float64), layout) * scale).astype(
            np.int32
        )
        thickness = max(1, int(round(line.thickness_mm / layout.spacing_mm)))
        if line.tissue is not None:
            tissues.append(tissue(line.tissue))
            cv2.polylines(
                shape_map,
                [poly],
                False,
                len(tissues) - 1,
                thickness=thickness,
                lineType=cv2.LINE_8,
                shift=shift,
            )
        cv2.polylines(
            spec_map,
            [poly],
            False,
            float(line.amplitude),
            thickness=thickness,
            lineType=cv2.LINE_AA,
            shift=shift,
        )
    if len(tissues) > 255:
        raise ValueError(f"a scene holds at most 254 shapes and lines, got {len(tissues) - 1}")
    backscatter_lut = np.array([t.backscatter for t in tissues], dtype=np.float32)
    attenuation_lut = np.array([t.attenuation_db_cm_mhz for t in tissues], dtype=np.float32)
    fine_lut = np.array([t.fine_texture for t in tissues], dtype=np.float32)
    coarse_lut = np.array([t.coarse_texture for t in tissues], dtype=np.float32)

    beam_labels = scanner.to_beam(shape_map, nearest=True)
    n_samples, n_lines = beam_labels.shape
    fine = _smooth_noise(rng, (n_samples, n_lines), cell=(4, 3))
    coarse = _smooth_noise(rng, (n_samples, n_lines), cell=(24, 12))
    texture = 1.0 + fine_lut[beam_labels] * fine + coarse_lut[beam_labels] * coarse
    backscatter = backscatter_lut[beam_labels] * np.maximum(texture, np.float32(0.05))
    attenuation = attenuation_lut[beam_labels]
    specular = scanner.to_beam(spec_map)
    image = scanner.frame(
        backscatter,
        attenuation,
        rng=rng,
        specular=specular,
        gain_db=gain_db,
        dynamic_range_db=dynamic_range_db,
        tgc_error_db=tgc_error_db,
    )
    return Rendered(image=image, shape_map=shape_map)


def _to_px(points_mm: np.ndarray, layout) -> np.ndarray:
    x_px, y_px = layout.mm_to_px(points_mm[:, 0], points_mm[:, 1])
    return np.stack([x_px, y_px], axis=1)


def _smooth_noise(
    rng: np.random.Generator, shape_hw: tuple[int, int], *, cell: tuple[int, int]
) -> np.ndarray:
    """Zero-mean, unit-variance-ish smooth random field (bicubic upsampling of white noise)."""
    small = rng.standard_normal(
        (max(2, shape_hw[0] // cell[0] + 2), max(2, shape_hw[1] // cell[1] + 2)), dtype=np.float32
    )
    return cv2.resize(small, (shape_hw[1], shape_hw[0]), interpolation=cv2.INTER_CUBIC)
