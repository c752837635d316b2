"""Geometric ops that move images, maps and landmarks together (used via :mod:`.preprocess`).

Each op is a small frozen dataclass that knows its input size (``in_hw``) and
its ``output_hw``, warps arrays with ``apply_image`` (OpenCV), maps landmarks
with ``apply_points`` and maps outputs back to original pixels with
``invert_points``. All of them are affine maps of the plane, so the point
mapping is exact; ``to_dict()`` / :func:`op_from_dict` round-trip them through
YAML/JSON (checkpoints carry their preprocessing).

Conventions (``docs/data-format.md``): points are ``(x, y)``; the centre of
the pixel in row ``r``, column ``c`` is ``(x=c, y=r)``; resizing an axis of
length ``n`` to ``m`` maps ``x -> (x + 0.5) * m / n - 0.5`` (OpenCV's
``cv2.resize`` uses the same half-pixel convention, ``cv2.warpAffine`` the
pixel-centre one). Sizes are ``(rows, cols)``; spacing is ``(x, y)`` in mm.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

__all__ = [
    "GeometricOp", "Crop", "Resize", "ResampleToSpacing", "PadOrCrop", "HFlip", "Rotate",
    "op_from_dict", "rotation_matrix", "as_hw", "as_spacing_xy", "as_points", "INTERPOLATIONS",
]

INTERPOLATIONS = ("linear", "nearest", "area", "cubic")


# --------------------------------------------------------------------------- helpers

def as_hw(value: Any, name: str) -> tuple[int, int]:
    """Validate a ``(rows, cols)`` pair of positive ints named ``name``."""
    try:
        rows, cols = (int(v) for v in value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a (rows, cols) pair of ints, got {value!r}") from None
    if rows <= 0 or cols <= 0 or (rows, cols) != tuple(value):
        raise ValueError(f"{name} must be positive integers (rows, cols), got {value!r}")
    return rows, cols


def as_spacing_xy(value: Any, name: str) -> tuple[float, float]:
    """A pixel size: a positive scalar (isotropic) or an ``(x, y)`` pair, as floats."""
    if np.ndim(value) == 0:
        x = y = value
    else:
        try:
            x, y = value
        except (TypeError, ValueError):
            raise TypeError(f"{name} must be a number or an (x, y) pair, got {value!r}") from None
    x, y = float(x), float(y)
    if not (math.isfinite(x) and math.isfinite(y) and x > 0 and y > 0):
        raise ValueError(f"{name} must be finite and positive, got {value!r}")
    return x, y


def as_points(points_xy: Any) -> np.ndarray:
    pts = np.asarray(points_xy, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ValueError(f"points_xy must have shape (N, 2), got {pts.shape}")
    return pts


def _cv2_flag(interpolation: str, *, for_resize: bool) -> int:
    import cv2

    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}")
    if interpolation == "nearest":
        # INTER_NEAREST in cv2.resize floors; the _EXACT variant follows the half-pixel convention.
        return cv2.INTER_NEAREST_EXACT if for_resize else cv2.INTER_NEAREST
    if interpolation == "area" and not for_resize:
        return cv2.INTER_LINEAR  # warps of fixed scale have no area variant
    flags = {"linear": cv2.INTER_LINEAR, "area": cv2.INTER_AREA, "cubic": cv2.INTER_CUBIC}
    return flags[interpolation]


def _no_area_upscale(interpolation: str, scale_x: float, scale_y: float) -> str:
    """"area" averages when shrinking; when enlarging an axis it falls back to "linear"."""
    return "linear" if interpolation == "area" and max(scale_x, scale_y) > 1.0 else interpolation


_CV2_DTYPES = (np.uint8, np.uint16, np.int16, np.float32, np.float64)


def _warp_channels(image: np.ndarray, warp) -> np.ndarray:
    """Run an OpenCV ``warp`` on ``(H, W)`` or ``(H, W, C)``, keeping dtype and a trailing C."""
    arr = np.asarray(image)
    dtype = arr.dtype
    work = arr if dtype in _CV2_DTYPES else arr.astype(np.float32)
    if work.ndim == 3 and work.shape[2] > 512:  # OpenCV's channel limit
        chunks = range(0, work.shape[2], 512)
        out = np.concatenate([_warp_channels(work[..., i:i + 512], warp) for i in chunks], axis=2)
    else:
        out = warp(np.ascontiguousarray(work))
    if work.ndim == 3 and out.ndim == 2:  # OpenCV drops a single trailing channel
        out = out[..., None]
    if out.dtype != dtype:
        out = np.rint(out).astype(dtype) if dtype.kind in "biu" else out.astype(dtype)
    return out


def _check_image(image: Any, in_hw: tuple[int, int], op: str) -> np.ndarray:
    arr = np.asarray(image)
    if arr.ndim not in (2, 3):
        raise ValueError(f"{op}: image must be (H, W) or (H, W, C), got shape {arr.shape}")
    if tuple(arr.shape[:2]) != in_hw:
        raise ValueError(f"{op}: image must have in_hw {in_hw} rows x cols, got {arr.shape[:2]}")
    return arr


# --------------------------------------------------------------------------- geometric ops

class GeometricOp:
    """Base of the geometric ops: an affine point map ``x' = A @ [x, y, 1]``.

    Subclasses define ``in_hw``, ``output_hw``, ``matrix`` (2x3, input pixels
    to output pixels) and ``apply_image``.
    """

    kind: ClassVar[str] = ""
    in_hw: tuple[int, int]

    @property
    def output_hw(self) -> tuple[int, int]:  # pragma: no cover - every subclass overrides
        raise NotImplementedError

    @property
    def matrix(self) -> np.ndarray:  # pragma: no cover - every subclass overrides
        raise NotImplementedError

    def apply_image(self, image: np.ndarray, *, interpolation: str = "linear") -> np.ndarray:
        """Warp an ``(H, W)`` or ``(H, W, C)`` array (image, map or mask) into the output grid."""
        raise NotImplementedError  # pragma: no cover

    def apply_points(self, points_xy: np.ndarray) -> np.ndarray:
        """Map ``(N, 2)`` points ``(x, y)`` from input to output pixels (NaN passes through)."""
        pts = as_points(points_xy)
        m = self.matrix
        return pts @ m[:, :2].T + m[:, 2]

    def invert_points(self, points_xy: np.ndarray) -> np.ndarray:
        """Map ``(N, 2)`` points from output pixels back to input pixels."""
        pts = as_points(points_xy)
        m = self.matrix
        return (pts - m[:, 2]) @ np.linalg.inv(m[:, :2]).T

    def output_spacing_mm(self, spacing_mm: Any) -> tuple[float, float]:
        """The ``(x, y)`` pixel size after this op, given the input's."""
        return as_spacing_xy(spacing_mm, "spacing_mm")

    def to_dict(self) -> dict[str, Any]:
        """A plain dict (``{"op": kind, ...fields}``) for YAML/JSON; see :func:`op_from_dict`."""
        out: dict[str, Any] = {"op": self.kind}
        for item in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, item.name)
            out[item.name] = list(value) if isinstance(value, tuple) else value
        return out


@dataclass(frozen=True)
class Crop(GeometricOp):
    """Keep rows ``r0:r1`` and columns ``c0:c1`` (half-open) of an image of size ``in_hw``.

    Examples
    --------
    >>> Crop((115, 734, 81, 874), (735, 975)).apply_points([[81.0, 115.0]]).tolist()
    [[0.0, 0.0]]
    """

    box_rc: tuple[int, int, int, int]
    in_hw: tuple[int, int]
    kind: ClassVar[str] = "crop"

    def __post_init__(self) -> None:
        object.__setattr__(self, "in_hw", as_hw(self.in_hw, "in_hw"))
        try:
            r0, r1, c0, c1 = (int(v) for v in self.box_rc)
        except (TypeError, ValueError):
            raise TypeError(
                f"box_rc must be (row0, row1, col0, col1) ints, got {self.box_rc!r}"
            ) from None
        rows, cols = self.in_hw
        if not (0 <= r0 < r1 <= rows and 0 <= c0 < c1 <= cols):
            raise ValueError(
                f"box_rc must satisfy 0 <= row0 < row1 <= {rows} and 0 <= col0 < col1 <= {cols}, "
                f"got {tuple(self.box_rc)}"
            )
        object.__setattr__(self, "box_rc", (r0, r1, c0, c1))

    @property
    def output_hw(self) -> tuple[int, int]:
        r0, r1, c0, c1 = self.box_rc
        return r1 - r0, c1 - c0

    @property
    def matrix(self) -> np.ndarray:
        r0, _, c0, _ = self.box_rc
        return np.array([[1.0, 0.0, -c0], [0.0, 1.0, -r0]])

    def apply_image(self, image: np.ndarray, *, interpolation: str = "linear") -> np.ndarray:
        arr = _check_image(image, self.in_hw, "Crop")
        r0, r1, c0, c1 = self.box_rc
        return arr[r0:r1, c0:c1].copy()


@dataclass(frozen=True)
class Resize(GeometricOp):
    """Resize ``in_hw`` to ``out_hw`` (``x -> (x + 0.5) * m / n - 0.5`` per axis).

    Examples
    --------
    >>> Resize((10, 10), (20, 5)).apply_points([[0.0, 0.0], [9.0, 9.0]]).tolist()
    [[-0.25, 0.5], [4.25, 18.5]]
    """

    in_hw: tuple[int, int]
    out_hw: tuple[int, int]
    kind: ClassVar[str] = "resize"

    def __post_init__(self) -> None:
        object.__setattr__(self, "in_hw", as_hw(self.in_hw, "in_hw"))
        object.__setattr__(self, "out_hw", as_hw(self.out_hw, "out_hw"))

    @property
    def output_hw(self) -> tuple[int, int]:
        return self.out_hw

    @property
    def scale_xy(self) -> tuple[float, float]:
        return self.out_hw[1] / self.in_hw[1], self.out_hw[0] / self.in_hw[0]

    @property
    def matrix(self) -> np.ndarray:
        sx, sy = self.scale_xy
        return np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5]])

    def apply_image(self, image: np.ndarray, *, interpolation: str = "linear") -> np.ndarray:
        import cv2

        arr = _check_image(image, self.in_hw, "Resize")
        if self.out_hw == self.in_hw:
            return arr.copy()
        flag = _cv2_flag(_no_area_upscale(interpolation, *self.scale_xy), for_resize=True)
        size_wh = (self.out_hw[1], self.out_hw[0])
        return _warp_channels(arr, lambda a: cv2.resize(a, size_wh, interpolation=flag))

    def output_spacing_mm(self, spacing_mm: Any) -> tuple[float, float]:
        x, y = as_spacing_xy(spacing_mm, "spacing_mm")
        sx, sy = self.scale_xy
        return x / sx, y / sy


@dataclass(frozen=True)
class ResampleToSpacing(GeometricOp):
    """Resample to an isotropic pixel size ``target_spacing_mm`` (exact scale, rounded size).

    The scale per axis is exactly ``spacing / target`` (so the output spacing is
    exactly the target); the output size is ``round(n * scale)``.

    Examples
    --------
    >>> op = ResampleToSpacing((540, 800), (0.1, 0.1), 0.5)
    >>> op.output_hw, op.apply_points([[2.0, 7.0]]).tolist()
    ((108, 160), [[0.0, 1.0]])
    """

    in_hw: tuple[int, int]
    spacing_mm: tuple[float, float]
    target_spacing_mm: float
    kind: ClassVar[str] = "resample_to_spacing"

    def __post_init__(self) -> None:
        object.__setattr__(self, "in_hw", as_hw(self.in_hw, "in_hw"))
        object.__setattr__(self, "spacing_mm", as_spacing_xy(self.spacing_mm, "spacing_mm"))
        target = as_spacing_xy(self.target_spacing_mm, "target_spacing_mm")
        if np.ndim(self.target_spacing_mm) != 0:
            raise TypeError(f"target_spacing_mm must be one number, got {self.target_spacing_mm!r}")
        object.__setattr__(self, "target_spacing_mm", target[0])
        rows, cols = self.output_hw
        if rows < 1 or cols < 1:
            raise ValueError(
                f"resampling {self.in_hw} to {self.target_spacing_mm} mm leaves no pixels"
            )

    @property
    def scale_xy(self) -> tuple[float, float]:
        target = self.target_spacing_mm
        return self.spacing_mm[0] / target, self.spacing_mm[1] / target

    @property
    def output_hw(self) -> tuple[int, int]:
        sx, sy = self.scale_xy
        return int(round(self.in_hw[0] * sy)), int(round(self.in_hw[1] * sx))

    @property
    def matrix(self) -> np.ndarray:
        sx, sy = self.scale_xy
        return np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5]])

    def apply_image(self, image: np.ndarray, *, interpolation: str = "linear") -> np.ndarray:
        import cv2

        arr = _check_image(image, self.in_hw, "ResampleToSpacing")
        sx, sy = self.scale_xy
        flag = _cv2_flag(_no_area_upscale(interpolation, sx, sy), for_resize=True)
        # With dsize=(0, 0) OpenCV uses exactly fx, fy (an explicit dsize would use m / n).
        return _warp_channels(
            arr, lambda a: cv2.resize(a, (0, 0), fx=sx, fy=sy, interpolation=flag)
        )

    def output_spacing_mm(self, spacing_mm: Any) -> tuple[float, float]:
        return self.target_spacing_mm, self.target_spacing_mm


@dataclass(frozen=True)
class PadOrCrop(GeometricOp):
    """Centre ``in_hw`` in ``out_hw``: zero-pad short axes, crop long ones (centred).

    Paper 2 resamples to 0.5 mm and then pads to 512 x 512.

    Examples
    --------
    >>> PadOrCrop((4, 10), (8, 6)).apply_points([[0.0, 0.0]]).tolist()
    [[-2.0, 2.0]]
    """

    in_hw: tuple[int, int]
    out_hw: tuple[int, int]
    kind: ClassVar[str] = "pad_or_crop"

    def __post_init__(self) -> None:
        object.__setattr__(self, "in_hw", as_hw(self.in_hw, "in_hw"))
        object.__setattr__(self, "out_hw", as_hw(self.out_hw, "out_hw"))

    @property
    def output_hw(self) -> tuple[int, int]:
        return self.out_hw

    @property
    def offset_rc(self) -> tuple[int, int]:
        """Where input row/col 0 lands in the output (negative when cropped).

        Padding puts ``floor(d / 2)`` zeros before and the rest after; cropping
        removes ``floor(d / 2)`` pixels before and the rest after.
        """
        def offset(n_in: int, n_out: int) -> int:
            return (n_out - n_in) // 2 if n_out >= n_in else -((n_in - n_out) // 2)

        return offset(self.in_hw[0], self.out_hw[0]), offset(self.in_hw[1], self.out_hw[1])

    @property
    def matrix(self) -> np.ndarray:
        dr, dc = self.offset_rc
        return np.array([[1.0, 0.0, float(dc)], [0.0, 1.0, float(dr)]])

    def apply_image(self, image: np.ndarray, *, interpolation: str = "linear") -> np.ndarray:
        arr = _check_image(image, self.in_hw, "PadOrCrop")
        out = np.zeros(self.out_hw + arr.shape[2:], dtype=arr.dtype)
        dr, dc = self.offset_rc
        src_r0, dst_r0 = max(0, -dr), max(0, dr)
        src_c0, dst_c0 = max(0, -dc), max(0, dc)
        rows = min(self.in_hw[0] - src_r0, self.out_hw[0] - dst_r0)
        cols = min(self.in_hw[1] - src_c0, self.out_hw[1] - dst_c0)
        source = arr[src_r0:src_r0 + rows, src_c0:src_c0 + cols]
        out[dst_r0:dst_r0 + rows, dst_c0:dst_c0 + cols] = source
        return out


@dataclass(frozen=True)
class HFlip(GeometricOp):
    """Mirror left-right: ``x -> W - 1 - x``.

    Examples
    --------
    >>> HFlip((3, 5)).apply_points([[0.0, 1.0]]).tolist()
    [[4.0, 1.0]]
    """

    hw: tuple[int, int]
    kind: ClassVar[str] = "hflip"

    def __post_init__(self) -> None:
        object.__setattr__(self, "hw", as_hw(self.hw, "hw"))

    @property
    def in_hw(self) -> tuple[int, int]:  # type: ignore[override]
        return self.hw

    @property
    def output_hw(self) -> tuple[int, int]:
        return self.hw

    @property
    def matrix(self) -> np.ndarray:
        return np.array([[-1.0, 0.0, self.hw[1] - 1.0], [0.0, 1.0, 0.0]])

    def apply_image(self, image: np.ndarray, *, interpolation: str = "linear") -> np.ndarray:
        arr = _check_image(image, self.hw, "HFlip")
        return arr[:, ::-1].copy()


@dataclass(frozen=True)
class Rotate(GeometricOp):
    """Rotate by ``angle_deg`` about the image centre, keeping the size (corners cut, zero fill).

    Positive angles turn the image counter-clockwise as displayed (OpenCV's and
    albumentations' convention); the centre is ``((W - 1) / 2, (H - 1) / 2)``.

    Examples
    --------
    >>> Rotate((5, 5), 90.0).apply_points([[4.0, 2.0]]).round(6).tolist()
    [[2.0, 0.0]]
    """

    hw: tuple[int, int]
    angle_deg: float
    kind: ClassVar[str] = "rotate"

    def __post_init__(self) -> None:
        object.__setattr__(self, "hw", as_hw(self.hw, "hw"))
        angle = float(self.angle_deg)
        if not math.isfinite(angle):
            raise ValueError(f"angle_deg must be finite, got {self.angle_deg!r}")
        object.__setattr__(self, "angle_deg", angle)

    @property
    def in_hw(self) -> tuple[int, int]:  # type: ignore[override]
        return self.hw

    @property
    def output_hw(self) -> tuple[int, int]:
        return self.hw

    @property
    def matrix(self) -> np.ndarray:
        return rotation_matrix(self.hw, self.angle_deg)

    def apply_image(self, image: np.ndarray, *, interpolation: str = "linear") -> np.ndarray:
        import cv2

        arr = _check_image(image, self.hw, "Rotate")
        flag = _cv2_flag(interpolation, for_resize=False)
        m = self.matrix
        size_wh = (self.hw[1], self.hw[0])
        return _warp_channels(
            arr, lambda a: cv2.warpAffine(a, m, size_wh, flags=flag, borderMode=cv2.BORDER_CONSTANT)
        )


def rotation_matrix(hw: tuple[int, int], angle_deg: float) -> np.ndarray:
    """The 2x3 matrix of a counter-clockwise rotation about the centre of an ``hw`` image."""
    cx, cy = (hw[1] - 1) / 2.0, (hw[0] - 1) / 2.0
    a = math.radians(angle_deg)
    cos, sin = math.cos(a), math.sin(a)
    # Same as cv2.getRotationMatrix2D((cx, cy), angle_deg, 1.0): y points down, so CCW on screen.
    return np.array([[cos, sin, (1 - cos) * cx - sin * cy], [-sin, cos, sin * cx + (1 - cos) * cy]])


_OPS: dict[str, type[GeometricOp]] = {
    cls.kind: cls for cls in (Crop, Resize, ResampleToSpacing, PadOrCrop, HFlip, Rotate)
}


def op_from_dict(data: dict[str, Any]) -> GeometricOp:
    """Rebuild one op from :meth:`GeometricOp.to_dict` output."""
    if not isinstance(data, dict) or data.get("op") not in _OPS:
        raise ValueError(f"expected a dict with 'op' in {sorted(_OPS)}, got {data!r}")
    fields = {k: v for k, v in data.items() if k != "op"}
    try:
        return _OPS[data["op"]](**fields)
    except TypeError as error:
        raise ValueError(f"bad fields for op {data['op']!r}: {error}") from None
