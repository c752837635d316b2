"""DICOM files (single and multi-frame ultrasound): geometry, timing and grey frames.

Frames are ``float32`` greyscale ``(H, W)`` in ``[0, 255]``, as every reader
of :mod:`sonomtl.data.io` returns them. Pixel size comes from ``PixelSpacing``
or, for ultrasound, from the 2D tissue region of ``SequenceOfUltrasoundRegions``
(``PhysicalDeltaX/Y``; units 3 = cm are converted to mm). When that region's
bounds lie outside the frame, the calibration does not describe this pixel grid
(the file was resized after calibration): :func:`read_dicom` warns with
:class:`DicomCalibrationWarning`, sets ``spacing_mm`` to ``None`` and keeps the
calibrated value in ``region_spacing_mm`` (``trust_out_of_frame_regions=True``
uses it anyway).

Files are read in bounded memory: :func:`read_dicom` parses the header only (it
stops before the pixel data), and frames are decoded from the file one at a
time (:meth:`DicomImage.frame`, :meth:`DicomImage.iter_frames`), so a long
multi-frame cine never sits in memory whole. ``RescaleSlope`` /
``RescaleIntercept`` map stored values linearly; since grey images span the
full stored range, a positive slope leaves them unchanged and a negative slope
inverts them (as ``MONOCHROME1`` does).
"""

from __future__ import annotations

import functools
import math
import os
import struct
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sonomtl.data.grey import grey_from_array
from sonomtl.errors import InputError, one_line

__all__ = [
    "DicomCalibrationWarning",
    "DicomImage",
    "UltrasoundRegion",
    "is_dicom",
    "open_dicom",
    "read_dicom",
]


class DicomCalibrationWarning(UserWarning):
    """A DICOM pixel-size calibration that does not fit the frame it comes with."""


def is_dicom(path: str | os.PathLike[str]) -> bool:
    """Whether the file starts with a DICOM preamble (``DICM`` at byte 128)."""
    try:
        with open(path, "rb") as f:
            f.seek(128)
            return f.read(4) == b"DICM"
    except OSError:
        return False


@dataclass(frozen=True)
class UltrasoundRegion:
    """One entry of ``SequenceOfUltrasoundRegions`` (bounds in pixels, inclusive)."""

    x0: int
    y0: int
    x1: int
    y1: int
    spatial_format: int
    data_type: int
    units_xy: tuple[int, int]
    delta_xy: tuple[float, float]

    @property
    def spacing_mm(self) -> tuple[float, float] | None:
        """Pixel size in mm when both axes are calibrated in cm (units 3); else ``None``."""
        if self.units_xy != (3, 3) or not all(d > 0 and math.isfinite(d) for d in self.delta_xy):
            return None
        return (self.delta_xy[0] * 10.0, self.delta_xy[1] * 10.0)

    def inside(self, hw: tuple[int, int]) -> bool:
        """Whether the region lies within a frame of ``hw`` = (rows, cols)."""
        return 0 <= self.x0 <= self.x1 < hw[1] and 0 <= self.y0 <= self.y1 < hw[0]


@dataclass(frozen=True)
class DicomImage:
    """A DICOM file opened for reading: metadata now, frames decoded on demand.

    Only the header is held in memory; every frame is decoded from the file
    when asked for, so memory does not grow with the number of frames.

    Attributes
    ----------
    n_frames, hw
        Number of frames and their size (rows, cols).
    spacing_mm
        Pixel size ``(x, y)`` in mm, or ``None`` when unknown or untrustworthy.
    spacing_source
        ``"PixelSpacing"``, ``"SequenceOfUltrasoundRegions"`` or ``None``.
    region_spacing_mm
        The ultrasound region calibration, even when not trusted.
    region_outside_frame
        The calibrated tissue region's bounds exceed the frame (see module doc).
    frame_time_ms
        Time between frames (``FrameTime``, else ``1000 / CineRate``), or ``None``.
    header
        The pydicom data set up to (not including) the pixel data.
    """

    path: Path
    n_frames: int
    hw: tuple[int, int]
    photometric: str
    spacing_mm: tuple[float, float] | None
    spacing_source: str | None
    region_spacing_mm: tuple[float, float] | None
    region_outside_frame: bool
    regions: tuple[UltrasoundRegion, ...]
    frame_time_ms: float | None
    frame_times_ms: tuple[float, ...] | None
    header: Any = field(repr=False, compare=False)

    def frame(self, index: int) -> np.ndarray:
        """Decode frame ``index`` (0-based) to float32 grey ``(H, W)`` in [0, 255].

        Only that frame's pixel data is read from the file.
        """
        if not isinstance(index, (int, np.integer)) or not 0 <= index < self.n_frames:
            raise InputError(f"frame {index} out of range: the file has {self.n_frames} "
                             "frame(s)", file=self.path, field="frame")
        from pydicom.pixels import pixel_array

        try:
            array = pixel_array(self.path, index=int(index) if self.n_frames > 1 else None)
            return self._grey(self._colour_looked_up(array))
        except Exception as error:  # decoders raise many types for damaged pixel data
            raise InputError(f"cannot decode DICOM pixel data (frame {index}): "
                             f"{one_line(error)}", file=self.path) from None

    def iter_frames(self) -> Iterator[np.ndarray]:
        """Decode the frames in order, one at a time (memory holds one frame, not the file).

        Yields the same images as :meth:`frame` for ``0 .. n_frames - 1``.
        """
        from pydicom.pixels import iter_pixels

        arrays = iter_pixels(self.path)
        for index in range(self.n_frames):
            try:
                image = self._grey(self._colour_looked_up(next(arrays)))
            except StopIteration:
                raise InputError(f"pixel data ends after {index} of {self.n_frames} frames",
                                 file=self.path) from None
            except Exception as error:  # decoders raise many types for damaged pixel data
                raise InputError(f"cannot decode DICOM pixel data (frame {index}): "
                                 f"{one_line(error)}", file=self.path) from None
            yield image

    def frames(self) -> np.ndarray:
        """All frames as float32 ``(N, H, W)`` (holds everything: mind long clips)."""
        return np.stack(list(self.iter_frames()))

    def timestamp_ms(self, index: int) -> float | None:
        """Time of frame ``index`` from the first frame, or ``None`` when unknown."""
        if self.frame_times_ms is not None:
            return float(sum(self.frame_times_ms[1:index + 1]))
        return None if self.frame_time_ms is None else index * self.frame_time_ms

    def _colour_looked_up(self, array: np.ndarray) -> np.ndarray:
        if self.photometric != "PALETTE COLOR":
            return array
        from pydicom.pixels import apply_color_lut

        return apply_color_lut(array, self.header)

    def _grey(self, array: np.ndarray) -> np.ndarray:
        """Decoded pixels (after any palette look-up) -> float32 grey in [0, 255]."""
        header = self.header
        if self.photometric == "PALETTE COLOR":
            max_value = 65535.0 if array.dtype.itemsize > 1 else 255.0
        else:
            bits = int(header.get("BitsStored", 8) or 8)
            if int(header.get("PixelRepresentation", 0) or 0) == 1:
                array = array.astype(np.int64) + (1 << (bits - 1))
            max_value = float((1 << bits) - 1)
        image = grey_from_array(array, max_value=max_value)
        inverted = self.photometric == "MONOCHROME1"
        slope = header.get("RescaleSlope")
        if array.ndim == 2 and slope is not None and float(slope) < 0:
            inverted = not inverted  # higher stored values mean lower modality values
        if inverted:
            image = np.float32(255.0) - image
        return image


def read_dicom(path: str | os.PathLike[str], *,
               trust_out_of_frame_regions: bool = False) -> DicomImage:
    """Open a DICOM file (single- or multi-frame) and read its geometry and timing.

    Only the header is read (pydicom stops before the pixel data); frames are
    decoded later, one at a time.

    Parameters
    ----------
    path
        The file.
    trust_out_of_frame_regions
        Use an ultrasound region calibration even when its bounds lie outside
        the frame (default: warn and leave ``spacing_mm`` as ``None``).

    Raises
    ------
    InputError
        The file is missing, not DICOM, truncated, or holds no image.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("DICOM file not found", file=path)
    ds = _read_header(path)
    try:
        return _interpret_header(path, ds, trust_out_of_frame_regions=trust_out_of_frame_regions)
    except InputError:
        raise
    except (TypeError, ValueError, OverflowError, AttributeError, IndexError, KeyError) as error:
        # a tag the reader interprets holds a value of the wrong type or out of range
        raise InputError(f"malformed DICOM header: {one_line(error)}"[:300], file=path) from None


def _interpret_header(path: Path, ds: Any, *, trust_out_of_frame_regions: bool) -> DicomImage:
    """:func:`read_dicom` once the header is read: sizes, calibration, timing."""
    rows, cols = int(ds.Rows), int(ds.Columns)
    if rows < 1 or cols < 1:
        raise InputError(f"image of {cols}x{rows} pixels (width x height): nothing to read",
                         file=path, field="Rows/Columns")
    try:
        n_frames = int(ds.get("NumberOfFrames", 1) or 1)
    except (TypeError, ValueError):
        raise InputError(f"expected a whole number, got {ds.get('NumberOfFrames')!r}",
                         file=path, field="NumberOfFrames") from None
    if n_frames < 1:
        raise InputError(f"expected at least 1 frame, got {n_frames}", file=path,
                         field="NumberOfFrames")
    from sonomtl.untrusted import LIMITS, check_size

    check_size(n_frames, LIMITS.frame_count, file=path, field="NumberOfFrames")
    if rows * cols > LIMITS.image_pixels:
        raise InputError(f"image too large: {cols}x{rows} pixels a frame; at most "
                         f"{LIMITS.image_pixels} are read (docs/security.md)", file=path,
                         field="Rows")
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2"))
    regions = tuple(_region(r) for r in ds.get("SequenceOfUltrasoundRegions", []) or [])
    tissue = [r for r in regions if r.spatial_format == 1 and r.spacing_mm is not None]
    tissue.sort(key=lambda r: (r.x1 - r.x0) * (r.y1 - r.y0), reverse=True)
    region = tissue[0] if tissue else None
    outside = region is not None and not region.inside((rows, cols))
    spacing, source = None, None
    pixel_spacing = ds.get("PixelSpacing")
    if pixel_spacing is not None and len(pixel_spacing) == 2:
        # PixelSpacing is (row spacing, column spacing) = (y, x).
        sy, sx = float(pixel_spacing[0]), float(pixel_spacing[1])
        if sx > 0 and sy > 0 and math.isfinite(sx) and math.isfinite(sy):
            spacing, source = (sx, sy), "PixelSpacing"
    if spacing is None and region is not None:
        if outside:
            warnings.warn(
                f"{path}: the ultrasound region ({region.x0}..{region.x1} x {region.y0}.."
                f"{region.y1}) lies outside the {cols}x{rows} frame, so its calibration "
                f"({region.spacing_mm[0]:.4f} mm/px) does not describe these pixels (file "
                "resized after calibration?); "
                + ("using it anyway" if trust_out_of_frame_regions else
                   "pixel size left unknown: give spacing_mm in the manifest"),
                DicomCalibrationWarning, stacklevel=2)
        if not outside or trust_out_of_frame_regions:
            spacing, source = region.spacing_mm, "SequenceOfUltrasoundRegions"
    return DicomImage(
        path=path, n_frames=n_frames, hw=(rows, cols), photometric=photometric,
        spacing_mm=spacing, spacing_source=source,
        region_spacing_mm=None if region is None else region.spacing_mm,
        region_outside_frame=outside, regions=regions,
        frame_time_ms=_frame_time_ms(ds), frame_times_ms=_frame_time_vector(ds, n_frames),
        header=ds,
    )


def _read_header(path: Path) -> Any:
    """The data set before the pixel data; checks that Rows, Columns and PixelData exist."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        with open(path, "rb") as f:
            ds = pydicom.dcmread(f, stop_before_pixels=True)
            tag = f.read(4)  # pydicom stops at the tag of the pixel data, if there is one
    except InvalidDicomError as error:
        raise InputError(f"not a DICOM file: {one_line(error)}", file=path) from None
    except Exception as error:  # truncated files raise EOFError, OSError, ValueError...
        raise InputError(f"cannot read DICOM (corrupt or truncated): {one_line(error)}",
                         file=path) from None
    endian = ">" if ds.original_encoding[1] is False else "<"
    pixel_data = len(tag) == 4 and struct.unpack(f"{endian}HH", tag) == (0x7FE0, 0x0010)
    if ds.get("Rows") is None or ds.get("Columns") is None or not pixel_data:
        raise InputError("DICOM file holds no image (no Rows/Columns/PixelData)", file=path)
    return ds


def _region(item: Any) -> UltrasoundRegion:
    def get(name: str, default: Any = 0) -> Any:
        value = item.get(name, default)
        return default if value is None else value

    return UltrasoundRegion(
        x0=int(get("RegionLocationMinX0")), y0=int(get("RegionLocationMinY0")),
        x1=int(get("RegionLocationMaxX1")), y1=int(get("RegionLocationMaxY1")),
        spatial_format=int(get("RegionSpatialFormat")), data_type=int(get("RegionDataType")),
        units_xy=(int(get("PhysicalUnitsXDirection")), int(get("PhysicalUnitsYDirection"))),
        delta_xy=(float(get("PhysicalDeltaX", 0.0)), float(get("PhysicalDeltaY", 0.0))),
    )


def _frame_time_ms(ds: Any) -> float | None:
    frame_time = ds.get("FrameTime")
    if frame_time is not None and float(frame_time) > 0:
        return float(frame_time)
    for rate_tag in ("CineRate", "RecommendedDisplayFrameRate"):
        rate = ds.get(rate_tag)
        if rate is not None and float(rate) > 0:
            return 1000.0 / float(rate)
    return None


def _frame_time_vector(ds: Any, n_frames: int) -> tuple[float, ...] | None:
    vector = ds.get("FrameTimeVector")
    if vector is None or len(vector) != n_frames:
        return None
    return tuple(float(v) for v in vector)


@functools.lru_cache(maxsize=8)
def _cached_dicom(path: str, mtime_ns: int) -> DicomImage:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DicomCalibrationWarning)
        return read_dicom(path)


def open_dicom(path: Path) -> DicomImage:
    """:func:`read_dicom` of a manifest's file, cached by path and modification time."""
    if not path.is_file():
        raise InputError("DICOM file not found", file=path)
    return _cached_dicom(str(path), path.stat().st_mtime_ns)
