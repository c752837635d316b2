"""Classify frames with SonoNet the way its authors did (the reference pipeline).

Preprocessing of Baumgartner et al.'s example code, reproduced exactly so that
the official weights give the published probabilities: crop the RGB screen
capture (rows 115:734, columns 81:874), resize the cropped RGB image to 224
rows x 288 columns with Pillow's BICUBIC filter, convert to grey by averaging
the channels, then ``x = 255 * (x - mean(x)) / std(x)`` per image.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sonomtl.errors import InputError
from sonomtl.models.sononet import SONONET_CLASS_NAMES, SONONET_CROP, SONONET_INPUT_HW

__all__ = ["parse_crop", "read_rgb", "preprocess_sononet_frame", "classify_images",
           "iter_classify_images"]

Crop = tuple[int, int, int, int]


def parse_crop(text: str) -> Crop | None:
    """Parse ``"ROW0:ROW1,COL0:COL1"`` (half-open pixel ranges); ``"none"`` means no crop.

    >>> parse_crop("115:734,81:874")
    (115, 734, 81, 874)
    """
    if text.strip().lower() == "none":
        return None
    try:
        rows, cols = text.split(",")
        row0, row1 = (int(v) for v in rows.split(":"))
        col0, col1 = (int(v) for v in cols.split(":"))
    except ValueError:
        raise InputError(
            f"expected ROW0:ROW1,COL0:COL1 (e.g. 115:734,81:874) or none, got {text!r}",
            field="--crop",
        ) from None
    if not (0 <= row0 < row1 and 0 <= col0 < col1):
        raise InputError(f"crop ranges must satisfy 0 <= start < stop, got {text!r}",
                         field="--crop")
    return row0, row1, col0, col1


def read_rgb(path: str | os.PathLike[str]) -> np.ndarray:
    """An image file as a ``uint8`` RGB array ``(H, W, 3)``; :class:`InputError` if unreadable."""
    from PIL import UnidentifiedImageError

    from sonomtl.data.io import open_image

    path = Path(path)
    if not path.is_file():
        raise InputError("image not found", file=path)
    try:
        with open_image(path) as image, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow warns before failing on damaged files
            return np.asarray(image.convert("RGB"))
    except InputError:
        raise
    except UnidentifiedImageError:
        raise InputError("cannot read as an image (corrupt, truncated or not an image)",
                         file=path) from None
    except (OSError, ValueError, MemoryError) as error:
        raise InputError(f"cannot read as an image ({error})", file=path) from None


def preprocess_sononet_frame(
    image: np.ndarray,
    *,
    crop: Crop | None = SONONET_CROP,
    input_hw: tuple[int, int] = SONONET_INPUT_HW,
) -> np.ndarray:
    """The authors' preprocessing of one RGB (or grey) ``uint8`` frame -> ``float32 (H, W)``.

    Grey conversion and normalisation are :func:`sonomtl.data.grey.grey_from_array`
    and :func:`sonomtl.data.preprocess.normalise` with ``"sononet"`` (a constant image becomes
    zeros). Raises ``ValueError`` when the crop lies outside the image.
    """
    from PIL import Image

    from sonomtl.data.grey import grey_from_array
    from sonomtl.data.preprocess import normalise

    array = np.asarray(image)
    if array.dtype != np.uint8 or array.ndim not in (2, 3):
        raise ValueError(f"image must be a uint8 (H, W) or (H, W, 3) array, got {array.dtype} "
                         f"{array.shape}")
    if crop is not None:
        row0, row1, col0, col1 = crop
        if row1 > array.shape[0] or col1 > array.shape[1]:
            raise ValueError(f"crop {crop} (row0, row1, col0, col1) lies outside the image of "
                             f"{array.shape[0]} rows x {array.shape[1]} columns")
        array = array[row0:row1, col0:col1]
    rows, cols = input_hw
    resized = np.asarray(Image.fromarray(np.ascontiguousarray(array)).resize(
        (cols, rows), Image.Resampling.BICUBIC))
    return normalise(grey_from_array(resized), "sononet")


def classify_images(
    paths: Sequence[str | os.PathLike[str]],
    *,
    weights: str | os.PathLike[str],
    crop: Crop | None = SONONET_CROP,
    batch_size: int = 8,
) -> list[dict[str, Any]]:
    """Classify image files with SonoNet weights (official ``.npz`` or our ``.safetensors``).

    Returns one dict per image: ``file``, ``label`` (the most probable class)
    and ``probabilities`` (``{label: p}`` in the published label order).
    The width (16/32/64) and class count are read from the weights file.
    Raises the first image's :class:`InputError`; :func:`iter_classify_images`
    goes on past bad images instead.
    """
    results = []
    for outcome in iter_classify_images(paths, weights=weights, crop=crop,
                                        batch_size=batch_size):
        if isinstance(outcome, InputError):
            raise outcome
        results.append(outcome)
    return results


def iter_classify_images(
    paths: Sequence[str | os.PathLike[str]],
    *,
    weights: str | os.PathLike[str],
    crop: Crop | None = SONONET_CROP,
    batch_size: int = 8,
) -> Iterator[dict[str, Any] | InputError]:
    """Classify image files one batch at a time, yielding as soon as a batch is done.

    Yields, in the order of ``paths``, the result dict of each image (as
    :func:`classify_images`) or the :class:`InputError` of an image that
    cannot be read or cropped; the images after a bad one are still
    classified. A bad weights file raises before anything is yielded.
    """
    import torch

    from sonomtl.models.sononet import SonoNet
    from sonomtl.models.weights import load_weights, sononet_file_config, weights_file

    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    weights = weights_file(weights)
    config = sononet_file_config(weights)
    names = SONONET_CLASS_NAMES if config["num_classes"] == len(SONONET_CLASS_NAMES) else tuple(
        f"class_{i}" for i in range(config["num_classes"]))
    model = SonoNet(width=config["width"], num_classes=config["num_classes"],
                    in_chans=config["in_chans"], class_names=names)
    load_weights(model, weights)
    model.eval()

    pending: list[tuple[str | os.PathLike[str], np.ndarray]] = []

    def classify_pending() -> list[dict[str, Any]]:
        if not pending:
            return []
        batch = torch.from_numpy(np.stack([frame for _, frame in pending]))[:, None]
        if config["in_chans"] != 1:
            batch = batch.expand(-1, config["in_chans"], -1, -1)
        with torch.inference_mode():
            probabilities = torch.softmax(model(batch), dim=1).numpy().astype(np.float64)
        results = [{"file": os.fspath(path), "label": names[int(row.argmax())],
                    "probabilities": {name: float(p) for name, p in zip(names, row)}}
                   for (path, _), row in zip(pending, probabilities)]
        pending.clear()
        return results

    for path in paths:
        try:
            pending.append((path, preprocess_sononet_frame(read_rgb(path), crop=crop)))
        except ValueError as error:
            yield from classify_pending()  # the images before it keep their order
            yield error if isinstance(error, InputError) else InputError(str(error), file=path)
            continue
        if len(pending) >= batch_size:
            yield from classify_pending()
    yield from classify_pending()
