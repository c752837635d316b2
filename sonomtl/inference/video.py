"""Streams of frames from files, temporal smoothing of plane probabilities, best frame per plane.

:func:`expand_inputs` lists the input files of folders: images, DICOMs and
videos by suffix, plus DICOMs without a known suffix (``IM_0001``) by their
``DICM`` preamble. :func:`iter_source_frames` yields the frames of an image, a
(multi-frame) DICOM or a video one at a time, so a long sweep is never held in
memory; :func:`read_source_frames` decodes chosen frames again.

Two smoothers of class probabilities: :class:`ExponentialSmoother` is causal
(it works on a live stream), ``s_t = alpha * p_t + (1 - alpha) * s_{t-1}``,
``s_0 = p_0``, and lags a peak by about ``1 / alpha - 1`` frames;
:func:`smooth_probabilities_zero_phase` runs it forwards and then backwards
over a finished sequence, so a symmetric peak stays where it is. For a
finished sweep, :func:`select_best_frames` picks per plane the frame where the
zero-phase smoothed probability peaks.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sonomtl.errors import InputError

__all__ = [
    "SourceFrame",
    "InputFile",
    "ExponentialSmoother",
    "smooth_probabilities",
    "smooth_probabilities_zero_phase",
    "select_best_frames",
    "iter_source_frames",
    "read_source_frames",
    "source_kind",
    "expand_inputs",
]

#: A scanner's DICOM directory: a DICOM file holding no image, skipped in folders.
_DICOMDIR_NAME = "DICOMDIR"


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
        raise InputError("not a regular file (a device, folder or pipe); expected an image, "
                         "DICOM or video file" if path.exists() else "input file not found",
                         file=path)
    if suffix in dicoms or (suffix not in images + videos and is_dicom(path)):
        return "dicom"
    if suffix in images:
        return "image"
    if suffix in videos:
        return "video"
    raise InputError(f"unsupported input type {suffix or '(no suffix)'!r}: expected an image "
                     f"({', '.join(images)}), DICOM or video ({', '.join(videos)})", file=path)


@dataclass(frozen=True)
class InputFile:
    """An input file and its name relative to the folder it was found in.

    ``relative_name`` is the POSIX path below the folder given on the command
    line (``a/img.png``), or the file name for a file given directly.
    """

    path: Path
    relative_name: str


def expand_inputs(inputs: Sequence[str | os.PathLike[str]]) -> list[InputFile]:
    """Files given and, for folders, the images/DICOMs/videos inside them (recursive, sorted).

    Inside folders, a file with a known image/DICOM/video suffix is taken; a
    file with no or another suffix is taken when its content is DICOM (the
    ``DICM`` preamble at byte 128: only those 4 bytes are read), except a
    ``DICOMDIR``. Paths that do not exist are kept, so that reading them
    reports the error; a path listed twice is kept once.
    """
    from sonomtl.data.io import is_dicom

    images, dicoms, videos = _suffixes()
    known = images + dicoms + videos
    out: list[InputFile] = []
    seen: set[Path] = set()
    for item in inputs:
        folder = Path(item)
        if folder.is_dir():
            found = [InputFile(p, p.relative_to(folder).as_posix())
                     for p in sorted(folder.rglob("*")) if p.is_file() and (
                         p.suffix.lower() in known
                         or (p.name != _DICOMDIR_NAME and is_dicom(p)))]
        else:
            found = [InputFile(folder, folder.name)]
        for input_file in found:
            if input_file.path not in seen:
                seen.add(input_file.path)
                out.append(input_file)
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
        for index, image in enumerate(dicom.iter_frames()):
            yield SourceFrame(index, dicom.timestamp_ms(index), image, spacing)
        return
    count = 0
    for frame in iter_video_frames(path):
        count += 1
        yield SourceFrame(frame.index, frame.timestamp_ms, frame.image, spacing_mm)
    if count == 0:
        raise InputError("video holds no frames", file=path)


def read_source_frames(
    path: str | os.PathLike[str], indices: Iterable[int], *,
    spacing_mm: tuple[float, float] | None = None,
) -> dict[int, SourceFrame]:
    """Decode the frames ``indices`` of one input file again, as :func:`iter_source_frames` did.

    A DICOM frame is decoded on its own; a video is decoded from the start up to
    the last index asked for (frames counted as in :func:`iter_source_frames`).
    An index the file does not hold raises :class:`InputError`.
    """
    from sonomtl.data.io import iter_video_frames, read_dicom

    path = Path(path)
    wanted = {int(i) for i in indices}
    if not wanted:
        return {}
    kind = source_kind(path)
    found: dict[int, SourceFrame] = {}
    if kind == "dicom":
        dicom = read_dicom(path)
        spacing = spacing_mm or dicom.spacing_mm
        found = {i: SourceFrame(i, dicom.timestamp_ms(i), dicom.frame(i), spacing)
                 for i in sorted(wanted)}
    elif kind == "video":
        for frame in iter_video_frames(path, stop=max(wanted) + 1):
            if frame.index in wanted:
                found[frame.index] = SourceFrame(frame.index, frame.timestamp_ms, frame.image,
                                                 spacing_mm)
    else:
        found = {0: next(iter_source_frames(path, spacing_mm=spacing_mm))} if 0 in wanted else {}
    missing = sorted(wanted - set(found))
    if missing:
        raise InputError(f"frame {missing[0]} is beyond the end of the file", file=path,
                         field="frame")
    return found


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


def smooth_probabilities_zero_phase(probabilities: np.ndarray, *, alpha: float) -> np.ndarray:
    """Smooth a finished ``(T, C)`` sequence without lag: exponential forwards, then backwards.

    ``f = smooth_probabilities(p)``, then ``b_t = alpha f_t + (1 - alpha) b_{t+1}``
    with ``b_{T-1} = f_{T-1}``. The combined kernel is symmetric, so a peak that
    is symmetric in time stays at its frame (the causal smoother moves it later).

    Examples
    --------
    A peak at frame 3: the causal curve peaks at frame 4, the zero-phase one at 3.

    >>> p = np.array([0.0, 0.0, 0.5, 1.0, 0.5, 0.0, 0.0, 0.0, 0.0])[:, None]
    >>> smooth_probabilities(p, alpha=0.3)[:, 0].round(3).tolist()
    [0.0, 0.0, 0.15, 0.405, 0.434, 0.303, 0.212, 0.149, 0.104]
    >>> smooth_probabilities_zero_phase(p, alpha=0.3)[:, 0].round(3).tolist()
    [0.127, 0.182, 0.26, 0.307, 0.265, 0.193, 0.146, 0.117, 0.104]
    """
    forwards = smooth_probabilities(probabilities, alpha=alpha)
    return smooth_probabilities(forwards[::-1], alpha=alpha)[::-1].copy()


def select_best_frames(smoothed: np.ndarray, class_names: Sequence[str], *, threshold: float,
                       ignore: Sequence[str] = ()) -> dict[str, int]:
    """Per class, the frame with the highest smoothed probability, if it reaches ``threshold``.

    ``smoothed`` is ``(T, C)`` with columns in the order of ``class_names``;
    classes in ``ignore`` (e.g. background) get no best frame. Ties go to the
    earliest frame.

    Examples
    --------
    >>> s = np.array([[0.2, 0.8], [0.7, 0.3], [0.9, 0.1], [0.6, 0.4]])
    >>> select_best_frames(s, ["ACP", "BG"], threshold=0.5, ignore=["BG"])
    {'ACP': 2}
    """
    array = np.asarray(smoothed, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != len(class_names):
        raise ValueError(f"smoothed must be (T, {len(class_names)}), got shape {array.shape}")
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold!r}")
    best: dict[str, int] = {}
    if not len(array):
        return best
    for column, name in enumerate(class_names):
        index = int(np.argmax(array[:, column]))
        if name not in ignore and array[index, column] >= threshold:
            best[name] = index
    return best
