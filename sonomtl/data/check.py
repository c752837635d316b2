"""Validate a whole dataset folder and list every problem (``sonomtl data check``).

Errors: an unreadable ``dataset.yaml``; manifest rows that break the contract
(unknown labels or landmarks, NaN or non-positive pixel size, ...); missing,
corrupt or truncated images, videos, DICOM files and attention maps; attention
maps of neither the dataset's ``input_size`` nor the frame's size; frame
indices past the end of a clip; landmarks outside the image; no pixel size
where ``target_spacing_mm`` needs one; gaze logs named in ``dataset.yaml``
that do not exist; subjects (or frames) in more than one split.
Warnings: DICOM calibrations that do not fit their frame; landmarks given on
frames whose class ``view_landmarks`` does not list them; fixation points off
the frame (the data layer drops them).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sonomtl.errors import InputError

__all__ = ["CheckReport", "Problem", "check_dataset"]


@dataclass(frozen=True)
class Problem:
    """One finding: ``severity`` is ``"error"`` or ``"warning"``."""

    severity: str
    message: str
    file: str | None = None
    row: int | None = None
    field: str | None = None

    @classmethod
    def from_error(cls, error: InputError, severity: str = "error") -> Problem:
        return cls(severity, error.message, error.file, error.row, error.field)

    def __str__(self) -> str:
        where = str(InputError(self.message, file=self.file, row=self.row, field=self.field))
        return f"{self.severity}: {where}"


@dataclass(frozen=True)
class CheckReport:
    """What :func:`check_dataset` found; ``ok`` when there are no errors."""

    dataset: str
    frames: int
    subjects: int
    labels: dict[str, int]
    problems: tuple[Problem, ...] = field(default_factory=tuple)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "ok": self.ok, "frames": self.frames,
                "subjects": self.subjects, "labels": dict(self.labels),
                "errors": len(self.errors),
                "warnings": len(self.problems) - len(self.errors),
                "problems": [asdict(p) for p in self.problems]}


def check_dataset(folder: str | os.PathLike[str], *,
                  splits: str | os.PathLike[str] | Mapping[str, Sequence[int]] | None = None,
                  decode: bool = True) -> CheckReport:
    """Check a dataset folder; never raises for problems in the data, it lists them.

    Parameters
    ----------
    folder
        The dataset folder (``dataset.yaml`` + manifest).
    splits
        A splits file (see :mod:`sonomtl.data.splits`) or ``name -> positions``;
        subjects in more than one split are errors.
    decode
        Decode every referenced frame (finds corrupt files); ``False`` only
        checks that files exist.
    """
    from sonomtl.data.manifest import find_manifest, load_spec, read_manifest

    folder = Path(folder)
    problems: list[Problem] = []
    if not folder.is_dir():
        problems.append(Problem("error", "dataset folder not found", str(folder)))
        return CheckReport(str(folder), 0, 0, {}, tuple(problems))
    try:
        spec = load_spec(folder)
        manifest = find_manifest(folder)
        errors: list[InputError] = []
        records = read_manifest(manifest, spec, problems=errors)
    except InputError as error:
        return CheckReport(str(folder), 0, 0, {}, (Problem.from_error(error),))
    problems += [Problem.from_error(e) for e in errors]
    if not records and not errors:
        problems.append(Problem("error", "the manifest lists no frames", str(manifest)))
    if spec.gaze is not None:
        for sequence, log in spec.gaze.logs.items():
            if not (folder / log).is_file():
                problems.append(Problem("error", f"gaze log of sequence {sequence!r} not found",
                                        str(folder / log), field=f"gaze.logs.{sequence}"))
    problems += _check_duplicates(records, manifest)
    checker = _FileChecker(folder, manifest, decode=decode)
    for record in records:
        problems += checker.check(record, spec)
    if splits is not None:
        problems += _check_splits(splits, records)
    labels: dict[str, int] = {}
    for record in records:
        key = record.label if record.label is not None else "(unlabelled)"
        labels[key] = labels.get(key, 0) + 1
    return CheckReport(str(folder), len(records), len({r.subject for r in records}), labels,
                       tuple(problems))


def _check_duplicates(records: Sequence[Any], manifest: Path) -> list[Problem]:
    """Rows identical to an earlier row in every column (the frame would count twice)."""
    import json

    from sonomtl.data.manifest import record_to_row

    first: dict[str, int] = {}
    problems = []
    for record in records:
        key = json.dumps(record_to_row(record), sort_keys=True, default=str)
        if key in first:
            problems.append(Problem("error", f"duplicate of row {first[key]}: the same row "
                                    "listed twice", str(manifest), record.row,
                                    "image" if record.image is not None else "video"))
        else:
            first[key] = record.row
    return problems


def _check_splits(splits: Any, records: Sequence[Any]) -> list[Problem]:
    from sonomtl.data.splits import find_leakage, read_splits

    file = None
    if not isinstance(splits, Mapping):
        file = str(splits)
        try:
            splits = read_splits(splits, records)
        except InputError as error:
            return [Problem.from_error(error)]
    return [Problem("error", f"{leak}: every split must be by subject", file, field="subject")
            for leak in find_leakage(splits, records)]


class _FileChecker:
    """Per-row file checks, opening each video/DICOM file once."""

    def __init__(self, folder: Path, manifest: Path, *, decode: bool) -> None:
        self.folder, self.manifest, self.decode = folder, manifest, decode
        self.sources: dict[str, Any] = {}
        self.crop_misfits: set[tuple[int, ...]] = set()  # frame sizes the crop was refused on

    def _source(self, name: str) -> Any:
        """Opened DICOM/video metadata, or the InputError that opening raised."""
        from sonomtl.data import io

        if name not in self.sources:
            path = self.folder / name
            try:
                if path.suffix.lower() in io.DICOM_SUFFIXES or io.is_dicom(path):
                    with warnings.catch_warnings(record=True) as caught:
                        warnings.simplefilter("always", io.DicomCalibrationWarning)
                        self.sources[name] = io.read_dicom(path)
                    self.sources[name + "\0warnings"] = [str(w.message) for w in caught]
                else:
                    self.sources[name] = io.video_info(path)
            except InputError as error:
                self.sources[name] = error
        return self.sources[name]

    def check(self, record: Any, spec: Any) -> list[Problem]:
        from sonomtl.data import io

        problems: list[Problem] = []
        row = record.row
        source_field = "image" if record.image is not None else "video"
        hw, spacing = None, record.spacing_mm
        try:
            if record.image is not None and not self._is_multi(record.image):
                path = self.folder / record.image
                if not path.is_file():
                    raise InputError("file not found", file=path)
                hw = io.read_image(path).shape if self.decode else None
            else:
                name = record.image if record.image is not None else str(record.video)
                source = self._source(name)
                if isinstance(source, InputError):
                    raise source
                frame = int(record.frame or 0)
                if isinstance(source, io.DicomImage):
                    for message in self.sources.get(name + "\0warnings", []):
                        problems.append(Problem("warning", message, str(source.path), row,
                                                source_field))
                        self.sources[name + "\0warnings"] = []  # once per file
                    spacing = spacing or source.spacing_mm
                    hw = source.frame(frame).shape if self.decode else source.hw
                else:
                    hw = source.hw
                    if source.n_frames and frame >= source.n_frames:
                        raise InputError(f"frame {frame} is beyond the end of the video "
                                         f"({source.n_frames} frames)",
                                         file=self.folder / name, field="frame")
                    if self.decode:
                        hw = io.read_video_frame(self.folder / name, frame).image.shape
        except InputError as error:
            field_name = "frame" if error.field == "frame" else source_field
            problems.append(Problem("error", error.message, error.file, row, field_name))
        if hw is not None and isinstance(spec.crop, tuple) and (
                spec.crop[1] > hw[0] or spec.crop[3] > hw[1]) and hw not in self.crop_misfits:
            self.crop_misfits.add(hw)  # once per frame size, not once per frame
            problems.append(Problem(
                "error", f"frame is {hw[1]}x{hw[0]} (width x height); dataset.yaml crop "
                f"{list(spec.crop)} needs at least {spec.crop[3]}x{spec.crop[1]}",
                str(self.folder / record.source), row, source_field))
        if record.attention is not None:
            path = self.folder / record.attention
            try:
                if not path.is_file():
                    raise InputError("attention map not found", file=path)
                if self.decode:
                    shape = io.read_attention(path).shape
                    allowed = {tuple(spec.input_size)} | ({tuple(hw[:2])} if hw else set())
                    if shape not in allowed:
                        sizes = " or ".join(f"{c}x{r}" for r, c in sorted(allowed))
                        raise InputError(f"attention map is {shape[1]}x{shape[0]}; expected "
                                         f"{sizes} (the input size or the frame's size)",
                                         file=self.manifest)
            except InputError as error:
                problems.append(Problem("error", error.message, error.file, row, "attention"))
        if record.fixations and hw is not None:
            off = [(x, y) for x, y in record.fixations
                   if not (-0.5 <= x <= hw[1] - 0.5 and -0.5 <= y <= hw[0] - 0.5)]
            if off:
                problems.append(Problem(
                    "warning", f"{len(off)} fixation point(s) lie off the {hw[1]}x{hw[0]} frame, "
                    f"e.g. ({off[0][0]:g}, {off[0][1]:g}); they are ignored",
                    str(self.manifest), row, "fixations"))
        if spec.target_spacing_mm is not None and spacing is None:
            problems.append(Problem("error", "pixel size unknown but dataset.yaml resamples to "
                                    "target_spacing_mm", str(self.manifest), row, "spacing_mm"))
        problems += self._check_landmarks(record, spec, hw)
        return problems

    def _is_multi(self, name: str) -> bool:
        from sonomtl.data import io

        return Path(name).suffix.lower() in io.DICOM_SUFFIXES

    def _check_landmarks(self, record: Any, spec: Any, hw: Any) -> list[Problem]:
        problems = []
        expected = None
        if spec.view_landmarks and record.label is not None:
            expected = {spec.landmarks[i] for i in spec.landmarks_for_label(record.label)}
        for column in ("landmarks", "landmarks_2"):
            for name, (x, y) in getattr(record, column).items():
                if hw is not None and not (-0.5 <= x <= hw[1] - 0.5 and -0.5 <= y <= hw[0] - 0.5):
                    problems.append(Problem(
                        "error", f"landmark {name!r} at ({x:g}, {y:g}) lies outside the "
                        f"{hw[1]}x{hw[0]} image", str(self.manifest), record.row, column))
                if expected is not None and name not in expected:
                    problems.append(Problem(
                        "warning", f"landmark {name!r} is not listed in view_landmarks for "
                        f"class {record.label!r}", str(self.manifest), record.row, column))
        return problems
