"""Preprocessing: the geometric pipeline of a frame, intensity normalisation, overlay masking.

The geometric ops (:class:`Crop`, :class:`Resize`, :class:`ResampleToSpacing`,
:class:`PadOrCrop`, :class:`HFlip`, :class:`Rotate`) live in
:mod:`sonomtl.data.geometry` and are re-exported here; :class:`Pipeline`
chains them and :func:`plan_preprocessing` builds the chain a dataset asks for
(crop -> resize, or crop -> resample to isotropic spacing -> centred zero pad).
Every op maps images, maps and masks with OpenCV and landmarks exactly, and
inverts landmarks back to original pixels.

Examples
--------
>>> pipe = plan_preprocessing(
...     (540, 800), input_hw=(512, 512), spacing_mm=0.1, target_spacing_mm=0.5)
>>> [type(op).__name__ for op in pipe.ops], pipe.output_hw
(['ResampleToSpacing', 'PadOrCrop'], (512, 512))
>>> pipe.output_spacing_mm((0.1, 0.1))
(0.5, 0.5)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sonomtl.data.geometry import (
    Crop,
    GeometricOp,
    HFlip,
    PadOrCrop,
    ResampleToSpacing,
    Resize,
    Rotate,
    as_hw,
    as_points,
    as_spacing_xy,
    op_from_dict,
)

__all__ = [
    "GeometricOp", "Crop", "Resize", "ResampleToSpacing", "PadOrCrop", "HFlip", "Rotate",
    "Pipeline", "plan_preprocessing", "op_from_dict",
    "normalise", "normalise_intensity", "mask_rectangles", "static_overlay_mask", "auto_sector_box",
]


# --------------------------------------------------------------------------- pipeline

@dataclass(frozen=True)
class Pipeline:
    """A chain of geometric ops, with the same methods as one op.

    Examples
    --------
    >>> pipe = Pipeline([Crop((0, 100, 0, 200), (120, 200)), Resize((100, 200), (50, 100))])
    >>> pipe.output_hw, pipe.apply_points([[1.5, 1.5]]).tolist()
    ((50, 100), [[0.5, 0.5]])
    >>> Pipeline.from_dict(pipe.to_dict()) == pipe
    True
    """

    ops: tuple[GeometricOp, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        ops = tuple(self.ops)
        if not ops:
            raise ValueError("ops must hold at least one geometric op")
        for i, op in enumerate(ops):
            if not isinstance(op, GeometricOp):
                raise TypeError(f"ops[{i}] must be a geometric op, got {type(op).__name__}")
            if i and op.in_hw != ops[i - 1].output_hw:
                raise ValueError(
                    f"ops[{i}] ({op.kind}) expects in_hw {op.in_hw} but ops[{i - 1}] outputs "
                    f"{ops[i - 1].output_hw}"
                )
        object.__setattr__(self, "ops", ops)

    @property
    def in_hw(self) -> tuple[int, int]:
        return self.ops[0].in_hw

    @property
    def output_hw(self) -> tuple[int, int]:
        return self.ops[-1].output_hw

    @property
    def matrix(self) -> np.ndarray:
        """The composed 2x3 affine map, input pixels to output pixels."""
        total = np.eye(3)
        for op in self.ops:
            total = np.vstack([op.matrix, [0.0, 0.0, 1.0]]) @ total
        return total[:2]

    def apply_image(self, image: np.ndarray, *, interpolation: str = "linear") -> np.ndarray:
        """Run every op on an ``(H, W)`` or ``(H, W, C)`` array."""
        out = np.asarray(image)
        for op in self.ops:
            out = op.apply_image(out, interpolation=interpolation)
        return out

    def apply_points(self, points_xy: np.ndarray) -> np.ndarray:
        """Map ``(N, 2)`` points from input to output pixels (NaN passes through)."""
        pts = as_points(points_xy)
        for op in self.ops:
            pts = op.apply_points(pts)
        return pts

    def invert_points(self, points_xy: np.ndarray) -> np.ndarray:
        """Map ``(N, 2)`` points from output pixels back to input (original) pixels."""
        pts = as_points(points_xy)
        for op in reversed(self.ops):
            pts = op.invert_points(pts)
        return pts

    def output_spacing_mm(self, spacing_mm: Any) -> tuple[float, float]:
        """The ``(x, y)`` pixel size of the output given the input's."""
        spacing = as_spacing_xy(spacing_mm, "spacing_mm")
        for op in self.ops:
            spacing = op.output_spacing_mm(spacing)
        return spacing

    def to_dict(self) -> dict[str, Any]:
        """``{"ops": [op.to_dict(), ...]}``."""
        return {"ops": [op.to_dict() for op in self.ops]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Pipeline:
        """Rebuild a pipeline from :meth:`to_dict` output."""
        if not isinstance(data, dict) or not isinstance(data.get("ops"), list):
            raise ValueError(f"expected a dict with an 'ops' list, got {data!r}")
        return cls(tuple(op_from_dict(op) for op in data["ops"]))


def plan_preprocessing(
    in_hw: tuple[int, int],
    *,
    input_hw: tuple[int, int],
    crop_box_rc: Sequence[int] | None = None,
    spacing_mm: float | tuple[float, float] | None = None,
    target_spacing_mm: float | None = None,
) -> Pipeline:
    """The geometric pipeline for one frame: crop, then resize to ``input_hw``,
    or crop, resample to ``target_spacing_mm`` and centre-pad/crop to ``input_hw``.

    Parameters
    ----------
    in_hw : (rows, cols) of the original frame.
    input_hw : (rows, cols) of the model input.
    crop_box_rc : optional ``(row0, row1, col0, col1)`` half-open crop, applied first.
    spacing_mm : pixel size of the original frame, needed with ``target_spacing_mm``.
    target_spacing_mm : isotropic pixel size to resample to (paper 2: 0.5), or None to resize.
    """
    in_hw = as_hw(in_hw, "in_hw")
    input_hw = as_hw(input_hw, "input_hw")
    ops: list[GeometricOp] = []
    if crop_box_rc is not None:
        ops.append(Crop(tuple(crop_box_rc), in_hw))
    current = ops[-1].output_hw if ops else in_hw
    if target_spacing_mm is None:
        ops.append(Resize(current, input_hw))
    else:
        if spacing_mm is None:
            raise ValueError("spacing_mm is required when target_spacing_mm is given")
        spacing = as_spacing_xy(spacing_mm, "spacing_mm")
        resample = ResampleToSpacing(current, spacing, target_spacing_mm)
        ops.append(resample)
        ops.append(PadOrCrop(resample.output_hw, input_hw))
    return Pipeline(tuple(ops))


# --------------------------------------------------------------------------- intensity & overlays

NORMALISATIONS = ("zscore", "sononet", "minmax")


def normalise_intensity(image: np.ndarray, *, method: str) -> np.ndarray:
    """Per-image intensity normalisation, float32.

    ``"zscore"``: ``(x - mean) / std``; ``"sononet"``: ``255 * (x - mean) / std``
    (the SonoNet authors' variant); ``"minmax"``: ``(x - min) / (max - min)`` in
    ``[0, 1]``. A constant image (``std`` or range 0) becomes all zeros.

    Examples
    --------
    >>> normalise_intensity(np.array([1.0, 3.0]), method="zscore").tolist()
    [-1.0, 1.0]
    """
    if method not in NORMALISATIONS:
        raise ValueError(f"method must be one of {NORMALISATIONS}, got {method!r}")
    x = np.asarray(image, dtype=np.float64)
    if method == "minmax":
        lo, hi = (float(x.min()), float(x.max())) if x.size else (0.0, 0.0)
        out = (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)
    else:
        mean, std = (float(x.mean()), float(x.std())) if x.size else (0.0, 0.0)
        out = (x - mean) / std if std > 0 else np.zeros_like(x)
        if method == "sononet":
            out = 255.0 * out
    return out.astype(np.float32)


def normalise(values: Any, normalisation: str | Mapping[str, float] | None) -> Any:
    """Model input from grey levels: the one place intensities are normalised.

    ``normalisation`` is ``None`` (unchanged), a per-image method of
    :func:`normalise_intensity` (``"sononet"``, ``"zscore"``, ``"minmax"``), or a
    fixed ``{"mean", "std"}``: ``(x - mean) / std``, which keeps the zero padding
    at a known value. The fixed form works on numpy arrays and torch tensors alike
    (training normalises batches on the device), in the input's precision.

    Examples
    --------
    >>> normalise(np.array([0.0, 255.0], dtype=np.float32), {"mean": 0.0, "std": 255.0}).tolist()
    [0.0, 1.0]
    >>> normalise(np.array([1.0, 3.0]), "zscore").tolist()
    [-1.0, 1.0]
    """
    if normalisation is None:
        return values
    if isinstance(normalisation, Mapping):
        return (values - float(normalisation["mean"])) / float(normalisation["std"])
    return normalise_intensity(values, method=str(normalisation))


def mask_rectangles(image: np.ndarray, rects_xyxy: Sequence[Sequence[float]]) -> np.ndarray:
    """A copy of ``image`` with each rectangle ``[x0, y0, x1, y1]`` set to 0.

    Rectangles are half-open in pixel indices (columns ``x0:x1``, rows
    ``y0:y1``), like the crop box, and are clipped to the image.

    Examples
    --------
    >>> mask_rectangles(np.ones((2, 3)), [[1, 0, 3, 1]]).tolist()
    [[1.0, 0.0, 0.0], [1.0, 1.0, 1.0]]
    """
    out = np.array(image, copy=True)
    if out.ndim not in (2, 3):
        raise ValueError(f"image must be (H, W) or (H, W, C), got shape {out.shape}")
    rows, cols = out.shape[:2]
    for i, rect in enumerate(rects_xyxy):
        try:
            x0, y0, x1, y1 = (int(round(float(v))) for v in rect)
        except (TypeError, ValueError):
            raise ValueError(f"rects_xyxy[{i}] must be [x0, y0, x1, y1], got {rect!r}") from None
        if x1 < x0 or y1 < y0:
            raise ValueError(f"rects_xyxy[{i}] must have x0 <= x1 and y0 <= y1, got {rect!r}")
        out[max(0, y0):min(rows, y1), max(0, x0):min(cols, x1)] = 0
    return out


def static_overlay_mask(
    frames: np.ndarray, *, tolerance: float = 1.0, dilate_px: int = 0
) -> np.ndarray:
    """Pixels that stay constant across a clip's frames: icons, text, calipers, frame borders.

    Parameters
    ----------
    frames : ``(T, H, W)`` (or ``(T, H, W, C)``) frames of one clip, T >= 2.
    tolerance : a pixel is static when ``max - min`` over time is ``<= tolerance``
        (in every channel); 1.0 absorbs 8-bit rounding of a re-encoded video.
    dilate_px : grow the mask by this many pixels (anti-aliased text edges).

    Returns
    -------
    ``(H, W)`` bool mask, True where the pixel is static. Black background is
    static too; setting it to 0 is harmless.
    """
    arr = np.asarray(frames)
    if arr.ndim not in (3, 4) or arr.shape[0] < 2:
        raise ValueError(
            f"frames must be (T, H, W) or (T, H, W, C) with T >= 2, got shape {arr.shape}"
        )
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    spread = arr.max(axis=0).astype(np.float64) - arr.min(axis=0)
    if spread.ndim == 3:
        spread = spread.max(axis=2)
    mask = spread <= tolerance
    if dilate_px > 0:
        import cv2

        kernel = np.ones((2 * dilate_px + 1, 2 * dilate_px + 1), np.uint8)
        mask = cv2.dilate(mask.astype(np.uint8), kernel) > 0
    return mask


def auto_sector_box(
    image: np.ndarray, *, threshold: float = 10.0, min_texture: float = 2.0
) -> tuple[int, int, int, int]:
    """The box ``(r0, r1, c0, c1)`` (half-open) around the ultrasound field of view.

    A pixel is "image" when its local mean exceeds ``threshold`` (grey level)
    and its local standard deviation exceeds ``min_texture`` (speckle), which
    drops the black canvas and flat grey bars. A morphological opening removes
    thin overlays (text, icons, calipers, rulers: strokes a few pixels wide), a
    closing fills dark gaps inside the sector (fluid), and the bounding box of
    the largest remaining region is returned (the whole frame when none).

    Overlays that touch the field of view (a header bar drawn against the top of
    the sector, as on GE Voluson screens) are merged into it: use a fixed crop
    for such layouts.
    """
    import cv2

    from sonomtl.data.grey import grey_from_array

    grey = grey_from_array(image)
    rows, cols = grey.shape
    size = max(3, int(round(min(rows, cols) / 100)) * 2 + 1)  # ~2 % of the frame, odd
    window = (max(3, size * 2 // 3) | 1,) * 2
    mean = cv2.blur(grey, window)
    var = cv2.blur(grey * grey, window) - mean * mean
    textured = (mean > threshold) & (var > min_texture**2)
    kernel = np.ones((size, size), np.uint8)
    opened = cv2.morphologyEx(textured.astype(np.uint8), cv2.MORPH_OPEN, kernel)
    closed = cv2.morphologyEx(opened, cv2.MORPH_CLOSE, kernel)
    count, _, stats, _ = cv2.connectedComponentsWithStats(closed, connectivity=8)
    if count <= 1:  # nothing textured: keep the whole frame
        return 0, rows, 0, cols
    best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    x, y, w, h = (int(v) for v in stats[best, :4])
    return y, y + h, x, x + w
