"""Streams of frames from files, temporal smoothing of plane probabilities, best frame per plane.

:func:`iter_source_frames` yields the frames of an image, a (multi-frame)
DICOM or a video one at a time, so a long sweep is never held in memory.
:class:`ExponentialSmoother` smooths class probabilities causally (it works
on a live stream): ``s_t = alpha * p_t + (1 - alpha) * s_{t-1}``, ``s_0 = p_0``.
:class:`BestFrameTracker` keeps, for each plane, the frame with the highest
smoothed probability above a threshold (only the current best frame per plane
is kept in memory).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sonomtl.errors import InputError

__all__ = [
    "SourceFrame",
    "ExponentialSmoother",
    "BestFrame",
    "BestFrameTracker",
    "smooth_probabilities",
    "iter_source_frames",
    "source_kind",
    "expand_inputs",
]



@dataclass(frozen=True)
class SourceFrame:
    """One frame of an input file: 0-based index, time (ms, or ``None``), grey image, pixel size."""

    index: int
    timestamp_ms: float | None
    image: np.ndarray
    spacing_mm: tuple[float, float] | None


def _suffixes() -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    from sonomtl.data.io import DICOM_SUFFIXES, IMAGE_SUFFIXES, VIDEO_SUFFIXES

    return IMAGE_SUFFIXES, DICOM_SUFFIXES, VIDEO_SUFFIXES


def source_kind(path: str | os.PathLike[str]) -> str:
    """``"image"``, ``"dicom"`` or ``"video"``; :class:`InputError` for anything else."""
    from sonomtl.data.io import is_dicom

    path = Path(path)
    images, dicoms, videos = _suffixes()
    suffix = path.suffix.lower()
    if not path.is_file():
        raise InputError("input file not found", file=path)
    if suffix in dicoms or (suffix not in images + videos and is_dicom(path)):
        return "dicom"
    if suffix in images:
        return "image"
    if suffix in videos:
        return "video"
    raise InputError(f"unsupported input type {suffix or '(no suffix)'!r}: expected an image "
                     f"({', '.join(images)}), DICOM or video ({', '.join(videos)})", file=path)


def expand_inputs(inputs: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Files given and, for folders, the images/DICOMs/videos inside them (recursive, sorted).

    Paths that do not exist are kept, so that reading them reports the error.
    """
    images, dicoms, videos = _suffixes()
    known = images + dicoms + videos
    out: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            out.extend(sorted(p for p in path.rglob("*")
                              if p.is_file() and p.suffix.lower() in known))
        else:
            out.append(path)
    return out


def iter_source_frames(
    path: str | os.PathLike[str], *, spacing_mm: tuple[float, float] | None = None
) -> Iterator[SourceFrame]:
    """The frames of one input file, decoded one at a time.

    ``spacing_mm`` (the user's ``--spacing-mm``) wins over a DICOM's own
    calibration. A video or DICOM without frames raises :class:`InputError`.
    """
    from sonomtl.data.io import iter_video_frames, read_dicom, read_image

    path = Path(path)
    kind = source_kind(path)
    if kind == "image":
        yield SourceFrame(0, None, read_image(path), spacing_mm)
        return
    if kind == "dicom":
        dicom = read_dicom(path)
        if dicom.n_frames < 1:
            raise InputError("DICOM file holds no frames", file=path)
        spacing = spacing_mm or dicom.spacing_mm
        for index in range(dicom.n_frames):
            yield SourceFrame(index, dicom.timestamp_ms(index), dicom.frame(index), spacing)
        return
    count = 0
    for frame in iter_video_frames(path):
        count += 1
        yield SourceFrame(frame.index, frame.timestamp_ms, frame.image, spacing_mm)
    if count == 0:
        raise InputError("video holds no frames", file=path)


class ExponentialSmoother:
    """Causal exponential smoothing of probability vectors.

    Examples
    --------
    >>> smoother = ExponentialSmoother(alpha=0.5)
    >>> [smoother.update([1.0, 0.0]).tolist(), smoother.update([0.0, 1.0]).tolist()]
    [[1.0, 0.0], [0.5, 0.5]]
    """

    def __init__(self, *, alpha: float) -> None:
        if not 0.0 < alpha <= 1.0:
            raise ValueError(f"alpha must be in (0, 1], got {alpha!r}")
        self.alpha = float(alpha)
        self.state: np.ndarray | None = None

    def update(self, probabilities: Sequence[float] | np.ndarray) -> np.ndarray:
        """Add one frame's probabilities; returns the smoothed vector."""
        p = np.asarray(probabilities, dtype=np.float64)
        self.state = p.copy() if self.state is None else (
            self.alpha * p + (1.0 - self.alpha) * self.state)
        return self.state.copy()


def smooth_probabilities(probabilities: np.ndarray, *, alpha: float) -> np.ndarray:
    """Smooth a ``(T, C)`` sequence with :class:`ExponentialSmoother` (whole-array form)."""
    array = np.asarray(probabilities, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"probabilities must be (T, C), got shape {array.shape}")
    smoother = ExponentialSmoother(alpha=alpha)
    return np.stack([smoother.update(row) for row in array]) if len(array) else array.copy()


@dataclass
class BestFrame:
    """The best frame of one plane so far."""

    label: str
    frame_index: int
    timestamp_ms: float | None
    smoothed_probability: float
    image: np.ndarray = field(repr=False)
    record: dict[str, Any] = field(default_factory=dict)


class BestFrameTracker:
    """For each plane, the frame with the highest smoothed probability above ``threshold``.

    ``ignore`` names classes (e.g. background) that never get a best frame.
    """

    def __init__(self, *, threshold: float, ignore: Sequence[str] = ()) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {threshold!r}")
        self.threshold = float(threshold)
        self.ignore = set(ignore)
        self.best: dict[str, BestFrame] = {}

    def update(self, *, smoothed: dict[str, float], frame_index: int,
               timestamp_ms: float | None, image: np.ndarray,
               record: dict[str, Any]) -> list[str]:
        """Offer one frame; returns the planes for which it became the best frame."""
        improved = []
        for label, probability in smoothed.items():
            if label in self.ignore or probability < self.threshold:
                continue
            current = self.best.get(label)
            if current is None or probability > current.smoothed_probability:
                self.best[label] = BestFrame(label, frame_index, timestamp_ms, float(probability),
                                             image, dict(record))
                improved.append(label)
        return improved
