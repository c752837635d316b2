"""Pixels of any reader to the toolkit's grey frames: ``float32`` ``(H, W)`` in ``[0, 255]``."""

from __future__ import annotations

import numpy as np

__all__ = ["grey_from_array"]


def grey_from_array(array: np.ndarray, *, max_value: float) -> np.ndarray:
    """(H, W) or (H, W, C) integer/float pixels -> float32 grey in [0, 255]."""
    image = np.asarray(array)
    if image.ndim == 3:
        if image.shape[2] in (2, 4):  # drop alpha
            image = image[..., :-1]
        image = image.mean(axis=2, dtype=np.float64) if image.shape[2] > 1 else image[..., 0]
    if image.ndim != 2:
        raise ValueError(f"expected an (H, W) or (H, W, C) image, got shape {array.shape}")
    image = image.astype(np.float32)
    if max_value != 255.0:
        image *= np.float32(255.0 / max_value)
    return image
