"""Joint augmentation: one random draw moves the image, attention map, heat maps and landmarks.

:class:`RandJointAugment` is a dictionary transform (MONAI style, ``Rand``
prefix): it draws its parameters once from the given ``numpy`` generator and
applies them to every key of the sample, so the same generator state gives
the same result.

Implementation choice (checked by ``tests/data/test_augment.py``):
albumentations 2.0.8's ``HorizontalFlip`` (``x -> W - 1 - x``) and ``Rotate``
(about ``((W - 1) / 2, (H - 1) / 2)``, counter-clockwise for positive angles)
agree with this project's pixel-centre convention, but its ``Resize`` moves
key points by ``x * m / n`` instead of ``(x + 0.5) * m / n - 0.5``, and
composing flip and rotation there costs two warps per array. So the flip and
the rotation are composed into ONE affine matrix (the matrices of
:class:`~sonomtl.data.geometry.HFlip` and :class:`~sonomtl.data.geometry.Rotate`)
and applied with one ``cv2.warpAffine`` per array (heat maps: one call for all
channels), and exactly to the landmarks; the image is interpolated once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from sonomtl.data.geometry import HFlip, rotation_matrix

__all__ = ["RandJointAugment"]


@dataclass(frozen=True, kw_only=True)
class RandJointAugment:
    """Random horizontal flip + rotation (+ optional brightness, contrast, speckle) of a sample.

    Parameters
    ----------
    flip_prob : probability of a horizontal flip.
    rotate_deg : rotation angle drawn uniformly in ``[-rotate_deg, rotate_deg]``
        (degrees, about the image centre, zero fill; counter-clockwise positive).
    brightness : additive offset drawn in ``[-brightness, brightness] * 255``
        (images are grey levels in [0, 255]).
    contrast : gain drawn in ``[1 - contrast, 1 + contrast]``, about the image mean.
    speckle_std : multiplicative noise ``image * (1 + speckle_std * N(0, 1))`` per pixel.
    flip_pairs : pairs of landmark channel indices (left, right) swapped by a flip.

    Notes
    -----
    Called as ``aug(sample, rng)`` on a dict with ``image`` ``(H, W)`` float32 and
    optionally ``attention`` ``(H, W)``, ``heatmaps`` ``(L, H, W)``, ``landmarks``
    ``(L, 2)`` (NaN = absent) and ``landmark_mask`` ``(L,)``. Other keys pass
    through unchanged; the input is not modified. A landmark that the rotation
    moves out of the image becomes absent (NaN, mask False, heat map zeros).
    Intensity changes touch only ``image`` and are not clipped.

    Examples
    --------
    >>> aug = RandJointAugment(flip_prob=1.0, rotate_deg=0.0)
    >>> sample = {"image": np.zeros((4, 6), np.float32), "landmarks": np.array([[1.0, 2.0]])}
    >>> aug(sample, np.random.default_rng(0))["landmarks"].tolist()
    [[4.0, 2.0]]
    """

    flip_prob: float = 0.5
    rotate_deg: float = 15.0
    brightness: float = 0.0
    contrast: float = 0.0
    speckle_std: float = 0.0
    flip_pairs: tuple[tuple[int, int], ...] = ()

    def __post_init__(self) -> None:
        for name in ("flip_prob", "rotate_deg", "brightness", "contrast", "speckle_std"):
            value = float(getattr(self, name))
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(
                    f"{name} must be a finite number >= 0, got {getattr(self, name)!r}"
                )
            object.__setattr__(self, name, value)
        if self.flip_prob > 1:
            raise ValueError(f"flip_prob must be in [0, 1], got {self.flip_prob}")
        if self.contrast > 1:
            raise ValueError(f"contrast must be in [0, 1], got {self.contrast}")
        pairs = []
        for pair in self.flip_pairs:
            try:
                left, right = (int(v) for v in pair)
            except (TypeError, ValueError):
                raise TypeError(f"flip_pairs must hold (int, int) pairs, got {pair!r}") from None
            if left < 0 or right < 0 or left == right:
                raise ValueError(f"flip_pairs must hold two distinct indices >= 0, got {pair!r}")
            pairs.append((left, right))
        object.__setattr__(self, "flip_pairs", tuple(pairs))

    def draw(self, rng: np.random.Generator) -> dict[str, float | bool]:
        """The random parameters of one call (always drawn in the same order)."""
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        return {
            "flip": bool(rng.random() < self.flip_prob),
            "angle_deg": float(rng.uniform(-self.rotate_deg, self.rotate_deg)),
            "offset": float(rng.uniform(-self.brightness, self.brightness)) * 255.0,
            "gain": 1.0 + float(rng.uniform(-self.contrast, self.contrast)),
        }

    def __call__(self, sample: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        """Augment ``sample`` with one draw from ``rng``; returns a new dict."""
        if not isinstance(sample, Mapping) or "image" not in sample:
            raise ValueError("sample must be a dict with an 'image' key")
        params = self.draw(rng)
        image = np.asarray(sample["image"])
        if image.ndim != 2:
            raise ValueError(f"sample['image'] must be (H, W), got shape {image.shape}")
        hw = image.shape
        out = dict(sample)
        matrix = self._matrix(hw, params)
        out["image"] = _warp(image, matrix, hw, flip_only=params["flip"])
        if sample.get("attention") is not None:
            attention = np.asarray(sample["attention"])
            if attention.shape != hw:
                raise ValueError(f"sample['attention'] must be {hw}, got {attention.shape}")
            out["attention"] = _warp(attention, matrix, hw, flip_only=params["flip"])
        self._move_landmarks(sample, out, matrix, hw, flip=params["flip"])
        out["image"] = self._intensity(out["image"], params, rng)
        return out

    # -- pieces --------------------------------------------------------------------------
    def _matrix(self, hw: tuple[int, int], params: dict[str, Any]) -> np.ndarray | None:
        """The 2x3 map input -> output pixels, or None for the identity."""
        if not params["flip"] and params["angle_deg"] == 0.0:
            return None
        total = np.eye(3)
        if params["flip"]:
            total = np.vstack([HFlip(hw).matrix, [0.0, 0.0, 1.0]])
        if params["angle_deg"] != 0.0:
            total = np.vstack([rotation_matrix(hw, params["angle_deg"]), [0.0, 0.0, 1.0]]) @ total
        return total[:2]

    def _move_landmarks(self, sample: Mapping[str, Any], out: dict[str, Any],
                        matrix: np.ndarray | None, hw: tuple[int, int], *, flip: bool) -> None:
        heatmaps = sample.get("heatmaps")
        landmarks = sample.get("landmarks")
        mask = sample.get("landmark_mask")
        counts = {len(np.asarray(a)) for a in (heatmaps, landmarks, mask) if a is not None}
        if len(counts) > 1:
            raise ValueError(
                f"heatmaps, landmarks and landmark_mask disagree on L: {sorted(counts)}"
            )
        if not counts:
            return
        n_landmarks = counts.pop()
        for left, right in self.flip_pairs if flip else ():
            if max(left, right) >= n_landmarks:
                raise ValueError(
                    f"flip_pairs index {max(left, right)} out of range for L={n_landmarks}"
                )
        order = np.arange(n_landmarks)
        if flip:
            for left, right in self.flip_pairs:
                order[left], order[right] = right, left
        outside = np.zeros(n_landmarks, dtype=bool)
        if landmarks is not None:
            pts = np.asarray(landmarks, dtype=np.float64)
            if pts.shape != (n_landmarks, 2):
                raise ValueError(f"sample['landmarks'] must be (L, 2), got {pts.shape}")
            if matrix is not None:
                pts = pts @ matrix[:, :2].T + matrix[:, 2]
            rows, cols = hw
            with np.errstate(invalid="ignore"):
                inside = ((pts[:, 0] >= -0.5) & (pts[:, 0] <= cols - 0.5)
                          & (pts[:, 1] >= -0.5) & (pts[:, 1] <= rows - 0.5))
            outside = np.isfinite(pts).all(axis=1) & ~inside
            pts[outside] = np.nan
            out["landmarks"] = pts[order].astype(np.asarray(landmarks).dtype, copy=False)
        if mask is not None:
            out["landmark_mask"] = (np.asarray(mask, dtype=bool) & ~outside)[order]
        if heatmaps is not None:
            maps = np.asarray(heatmaps)
            if maps.ndim != 3 or maps.shape[1:] != hw:
                raise ValueError(
                    f"sample['heatmaps'] must be (L, {hw[0]}, {hw[1]}), got {maps.shape}"
                )
            moved = np.zeros_like(maps)
            for target, source in enumerate(order):
                # One warp per channel: cheaper than transposing (L, H, W) to (H, W, L) and
                # back; all-zero channels (absent landmarks) stay zero without a warp.
                if not outside[source] and maps[source].any():
                    moved[target] = _warp(maps[source], matrix, hw, flip_only=flip)
            out["heatmaps"] = moved

    def _intensity(self, image: np.ndarray, params: dict[str, Any],
                   rng: np.random.Generator) -> np.ndarray:
        gain, offset = params["gain"], params["offset"]
        if gain != 1.0 or offset != 0.0:
            mean = float(image.mean()) if gain != 1.0 else 0.0
            image = ((image - mean) * gain + (mean + offset)).astype(image.dtype, copy=False)
        if self.speckle_std > 0:
            noise = rng.standard_normal(image.shape, dtype=np.float32)
            noise *= self.speckle_std
            noise += 1.0
            image = (image * noise).astype(image.dtype, copy=False)
        return image


def _warp(array: np.ndarray, matrix: np.ndarray | None, hw: tuple[int, int], *,
          flip_only: bool) -> np.ndarray:
    """Warp ``(H, W)`` or ``(H, W, C)`` with a 2x3 matrix (bilinear, zero fill)."""
    import cv2

    if matrix is None:
        return np.array(array, copy=True)
    if flip_only and matrix[0, 0] == -1.0 and matrix[1, 1] == 1.0 and matrix[0, 1] == 0.0:
        return np.ascontiguousarray(array[:, ::-1])  # exact, no interpolation
    work = np.ascontiguousarray(array, dtype=np.float32)
    warped = cv2.warpAffine(work, matrix, (hw[1], hw[0]), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return warped.astype(array.dtype, copy=False)
