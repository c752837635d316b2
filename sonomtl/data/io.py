"""Readers: image files, DICOM (single/multi-frame), videos, and a manifest row's frame.

Every reader returns ``float32`` greyscale ``(H, W)`` arrays in ``[0, 255]``
(``docs/data-format.md``): colour is converted to the mean of the RGB
channels, 16-bit images are scaled by ``255 / 65535``. A missing, corrupt or
truncated file raises :class:`sonomtl.errors.InputError` naming the file.

DICOM (geometry, calibration, streamed frames) lives in :mod:`sonomtl.data.dicom`;
its public names are re-exported here.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sonomtl.data.dicom import (
    DicomCalibrationWarning,
    DicomImage,
    UltrasoundRegion,
    is_dicom,
    open_dicom,
    read_dicom,
)
from sonomtl.data.grey import grey_from_array
from sonomtl.errors import InputError, one_line

if TYPE_CHECKING:
    from sonomtl.data.manifest import FrameRecord

__all__ = [
    "DICOM_SUFFIXES",
    "IMAGE_SUFFIXES",
    "VIDEO_SUFFIXES",
    "DicomCalibrationWarning",
    "DicomImage",
    "UltrasoundRegion",
    "VideoFrame",
    "VideoInfo",
    "is_dicom",
    "iter_video_frames",
    "read_attention",
    "read_dicom",
    "read_frame",
    "read_image",
    "open_image",
    "read_video_frame",
    "video_info",
]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
DICOM_SUFFIXES = (".dcm", ".dicom")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".m4v")


# --------------------------------------------------------------------------- images


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a PNG/JPEG/TIFF/BMP (or the first frame of a DICOM) as float32 grey ``(H, W)``.

    8-bit images keep their values; 16-bit ones are scaled to ``[0, 255]``;
    colour (RGB, palette, CMYK) becomes the mean of the RGB channels and an
    alpha channel is ignored. Float TIFFs are returned as stored.

    Raises
    ------
    InputError
        The file is missing, not an image, or corrupt/truncated.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("image file not found", file=path)
    if _looks_like_dicom(path):
        return read_dicom(path).frame(0)
    from PIL import UnidentifiedImageError

    try:
        with open_image(path) as img:
            img.load()
            mode = img.mode
            if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
                return grey_from_array(np.asarray(img).astype(np.uint16), max_value=65535.0)
            if mode == "I":
                array = np.asarray(img)
                if array.min() < 0 or array.max() > 65535:
                    raise InputError("32-bit integer images are not supported", file=path)
                return grey_from_array(array, max_value=65535.0)
            if mode == "F":
                return np.asarray(img, dtype=np.float32).copy()
            if mode == "1":
                return np.asarray(img, dtype=np.float32) * np.float32(255.0)
            if mode in ("L", "LA", "RGB", "RGBA"):
                return grey_from_array(np.asarray(img), max_value=255.0)
            return grey_from_array(np.asarray(img.convert("RGB")), max_value=255.0)
    except InputError:
        raise
    except UnidentifiedImageError:
        raise InputError("cannot read image (corrupt, truncated or not an image)",
                         file=path) from None
    except (OSError, SyntaxError, ValueError, MemoryError) as error:
        raise InputError(f"cannot read image (corrupt, truncated or not an image): "
                         f"{one_line(error)}", file=path) from None


def open_image(path: Path) -> Any:
    """``PIL.Image.open`` refusing, from the header alone, images over ``LIMITS.image_pixels``.

    The one guarded entry point for decoding image files: PIL's
    decompression-bomb error and warning become an InputError naming the
    file; nothing is decoded before the size is known to be in bounds. A file
    PIL cannot identify raises PIL's own ``UnidentifiedImageError`` (an
    ``OSError``), for the caller to word.
    """
    import warnings

    from PIL import Image

    from sonomtl.untrusted import LIMITS

    try:
        with warnings.catch_warnings():  # Pillow warns before failing on damaged files
            warnings.simplefilter("ignore")
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InputError(f"image too large (a decompression bomb?): over "
                         f"{LIMITS.image_pixels} pixels, the most that is read "
                         "(docs/security.md)", file=path) from None
    width, height = image.size
    if width * height > LIMITS.image_pixels:
        image.close()
        raise InputError(f"image too large: {width}x{height} pixels; at most "
                         f"{LIMITS.image_pixels} are read (docs/security.md)", file=path)
    return image


def read_attention(path: str | os.PathLike[str]) -> np.ndarray:
    """An attention map as float32 ``(H, W)``: ``.npy`` (no pickles) or an image file.

    An image's grey levels (0-255 after :func:`read_image`) are read as
    attention in [0, 1]; a float TIFF is taken as stored, like a ``.npy``.
    """
    path = Path(path)
    if path.suffix.lower() != ".npy":
        image = read_image(path)
        with open_image(path) as handle:
            floating = handle.mode == "F"
        return image if floating else image / np.float32(255.0)
    if not path.is_file():
        raise InputError("attention map not found", file=path)
    from sonomtl.untrusted import load_npy

    array = np.squeeze(load_npy(path))
    if array.ndim != 2 or not np.issubdtype(array.dtype, np.number):
        raise InputError(f"expected a numeric 2-D map, got shape {array.shape} of "
                         f"{array.dtype}", file=path)
    array = array.astype(np.float32)
    if not np.all(np.isfinite(array)):
        raise InputError("attention map holds NaN or infinite values", file=path)
    return array


# --------------------------------------------------------------------------- video


@dataclass(frozen=True)
class VideoFrame:
    """One decoded video frame: 0-based index, time from the stream start, grey image."""

    index: int
    timestamp_ms: float
    image: np.ndarray


@dataclass(frozen=True)
class VideoInfo:
    """Size, frame count (as the container states it; 0 when unknown) and frame rate."""

    hw: tuple[int, int]
    n_frames: int
    fps: float | None
    duration_ms: float | None


def _open_video(path: Path) -> Any:
    import av

    if not path.is_file():
        raise InputError("video file not found", file=path)
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError, ValueError) as error:
        raise InputError(f"cannot open video (corrupt or not a video): {one_line(error)}",
                         file=path) from None
    if not container.streams.video:
        container.close()
        raise InputError("file holds no video stream", file=path)
    from sonomtl.untrusted import LIMITS

    context = container.streams.video[0].codec_context
    if (context.width or 0) * (context.height or 0) > LIMITS.image_pixels:
        container.close()
        raise InputError(f"image too large: {context.width}x{context.height} pixels a frame; at "
                         f"most {LIMITS.image_pixels} are read (docs/security.md)", file=path)
    return container


def video_info(path: str | os.PathLike[str]) -> VideoInfo:
    """Frame size, stated frame count and frame rate of a video file."""
    path = Path(path)
    with _open_video(path) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate) if stream.average_rate else None
        duration = None
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base) * 1000.0
        return VideoInfo(hw=(stream.codec_context.height, stream.codec_context.width),
                         n_frames=int(stream.frames or 0), fps=fps, duration_ms=duration)


def iter_video_frames(path: str | os.PathLike[str], *, start: int = 0,
                      stop: int | None = None) -> Iterator[VideoFrame]:
    """Decode frames ``start <= index < stop`` one at a time (memory stays bounded).

    ``index`` counts decoded frames from 0; ``timestamp_ms`` is the frame's
    presentation time from the stream start. Decoding errors mid-stream raise
    :class:`InputError` naming the file.
    """
    import av

    if start < 0 or (stop is not None and stop < start):
        raise ValueError(f"start/stop: expected 0 <= start <= stop, got {start}, {stop}")
    path = Path(path)
    with _open_video(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        origin = stream.start_time or 0
        time_base = float(stream.time_base) if stream.time_base else 0.0
        try:
            for index, frame in enumerate(container.decode(stream)):
                if stop is not None and index >= stop:
                    break
                if index < start:
                    continue
                pts = frame.pts if frame.pts is not None else origin
                yield VideoFrame(index, (pts - origin) * time_base * 1000.0,
                                 _video_grey(frame))
        except av.error.FFmpegError as error:
            raise InputError(f"cannot decode video (corrupt or truncated): {one_line(error)}",
                             file=path) from None


def _video_grey(frame: Any) -> np.ndarray:
    if frame.format.name in ("gray", "gray8"):
        return frame.to_ndarray().astype(np.float32)
    return grey_from_array(frame.to_ndarray(format="rgb24"), max_value=255.0)


def read_video_frame(path: str | os.PathLike[str], index: int) -> VideoFrame:
    """Decode frame ``index`` of a video by seeking to the key frame before it.

    Frame indices follow the stream's average frame rate; where seeking cannot
    place the frame (variable rate, missing timestamps) the video is decoded
    from the start.
    """
    import av

    path = Path(path)
    if not isinstance(index, (int, np.integer)) or index < 0:
        raise ValueError(f"index: expected a 0-based frame index, got {index!r}")
    with _open_video(path) as container:
        stream = container.streams.video[0]
        rate, time_base = stream.average_rate, stream.time_base
        origin = stream.start_time or 0
        if rate and time_base and index > 0:
            target_pts = origin + round(index / float(rate) / float(time_base))
            try:
                container.seek(int(target_pts), stream=stream, backward=True, any_frame=False)
                for frame in container.decode(stream):
                    if frame.pts is None:
                        break
                    found = round((frame.pts - origin) * float(time_base) * float(rate))
                    if found > index:
                        break  # overshot: fall back to decoding from the start
                    if found == index:
                        return VideoFrame(index, (frame.pts - origin) * float(time_base) * 1000,
                                          _video_grey(frame))
            except av.error.FFmpegError:
                pass  # fall back below; a truly corrupt file fails there too
    for frame in iter_video_frames(path, start=index, stop=index + 1):
        return frame
    raise InputError(f"frame {index} is beyond the end of the video", file=path, field="frame")


# --------------------------------------------------------------------------- manifest rows


def read_frame(folder: str | os.PathLike[str],
               record: FrameRecord) -> tuple[np.ndarray, tuple[float, float] | None]:
    """The grey frame of a manifest row and its pixel size ``(x, y)`` in mm (or ``None``).

    The manifest's ``spacing_mm`` wins over a DICOM file's own calibration.
    Errors name the manifest row (``row``) and the file.
    """
    folder = Path(folder)
    spacing = record.spacing_mm
    try:
        if record.image is not None:
            path = folder / record.image
            if _looks_like_dicom(path):
                dicom = open_dicom(path)
                image = dicom.frame(0)
                spacing = spacing or dicom.spacing_mm
            else:
                image = read_image(path)
        else:
            path = folder / str(record.video)
            frame = int(record.frame or 0)
            if _looks_like_dicom(path):
                dicom = open_dicom(path)
                image = dicom.frame(frame)
                spacing = spacing or dicom.spacing_mm
            else:
                image = read_video_frame(path, frame).image
    except InputError as error:
        field_name = "image" if record.image is not None else (
            "frame" if error.field == "frame" else "video")
        raise InputError(error.message, file=error.file, row=record.row,
                         field=field_name) from None
    return image, spacing


def _looks_like_dicom(path: Path) -> bool:
    """DICOM by suffix, or by content for names without an image/video suffix."""
    suffix = path.suffix.lower()
    if suffix in DICOM_SUFFIXES:
        return True
    return suffix not in IMAGE_SUFFIXES + VIDEO_SUFFIXES and is_dicom(path)
