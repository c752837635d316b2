"""Pixels of any reader to the toolkit's grey frames: ``float32`` ``(H, W)`` in ``[0, 255]``.

The one grey conversion: image files, video frames, DICOM frames, SonoNet's
reference pipeline and the overlay detection all call :func:`grey_from_array`.
"""

from __future__ import annotations

import numpy as np

__all__ = ["grey_from_array"]


def grey_from_array(array: np.ndarray, *, max_value: float = 255.0) -> np.ndarray:
    """(H, W) or (H, W, C) integer/float pixels -> float32 grey in [0, 255].

    Colour is the mean of the channels (in float64), an alpha channel (the
    last of 2 or 4) ignored; ``max_value`` is the pixels' full scale (65535
    for 16-bit images).

    Examples
    --------
    >>> rgba = np.array([[[10, 20, 60, 255], [0, 0, 3, 0]]], dtype=np.uint8)
    >>> grey_from_array(rgba).tolist()
    [[30.0, 1.0]]
    >>> grey_from_array(np.array([[65535]], dtype=np.uint16), max_value=65535.0).tolist()
    [[255.0]]
    """
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
