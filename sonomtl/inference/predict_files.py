"""``sonomtl predict`` as a function: many input files -> predictions.jsonl, overlays, best frames.

Each input is processed on its own: a bad file (unsupported, corrupt, no
frames, pixel size unknown when measuring, a frame the model cannot take) is
recorded as a failure with one line, and the run goes on with the next file.

Outputs in ``out_dir``:

* ``predictions.jsonl``: one JSON object per frame: ``source``, ``frame``,
  ``timestamp_ms``, ``label``, ``probabilities``, and ``attention_png`` +
  ``attention_peak_xy`` (M-SEN) or ``landmarks`` + ``measurements_mm``
  (abdominal network), ``overlay_png``; plus ``smoothed_probabilities`` for
  multi-frame sources: zero-phase smoothed over the whole sweep
  (:func:`~sonomtl.inference.video.smooth_probabilities_zero_phase`), so they
  do not lag behind the frames.
* ``attention/`` and ``overlays/``: PNGs per frame, named
  ``<source>_f<frame>.png`` where ``<source>`` is the file's path below the
  folder it was found in (or its name), with every character other than
  ASCII letters, digits, ``-`` and ``_`` replaced by ``_`` (``a/img.png`` ->
  ``a_img_png``); where two sources would get the same name, each gets
  ``-<8 hex digits of the SHA-1 of its path>`` appended (as does a name cut
  to 160 characters).
* ``best_frames.json`` (when a multi-frame source was given): per source, per
  plane, the frame where the smoothed probability peaks (if it reaches the
  threshold), its measurements, and that frame saved under ``best_frames/``.

Stopping: ``should_stop`` (e.g. :class:`sonomtl.signals.StopOnSignals`) is
checked before every file and every frame. Once it is true the run stops at
that frame boundary: the files finished so far are written
(``predictions.jsonl``, ``best_frames.json``), the unfinished file counts as
not done (its PNGs are removed, its lines not written) and
``PredictSummary.interrupted`` is set. A video is not finished first: that
could take minutes.

Memory per source stays bounded by the batch: frames are decoded one at a
time, each frame leaves only its JSON line and class probabilities behind,
and the best frames are decoded again once the sweep is done.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sonomtl.data.spec import is_background_class
from sonomtl.errors import InputError
from sonomtl.fileio import atomic_path, write_json

__all__ = ["PredictSummary", "output_stems", "predict_files", "prediction_record"]

#: Longer source names are cut and end in their path's hash (file names stay < 255 bytes).
_MAX_STEM_CHARS = 160


@dataclass
class PredictSummary:
    """What a run did: frames written, failures ``(file, message)``, output paths."""

    frames: int = 0
    files_ok: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    predictions: Path | None = None
    best_frames: Path | None = None
    seconds: float = 0.0
    interrupted: bool = False


def prediction_record(source: str, frame_index: int, timestamp_ms: float | None,
                      result: Any) -> dict[str, Any]:
    """The ``predictions.jsonl`` line of one frame (before its PNG paths are added).

    ``source`` names the input, ``result`` is a
    :class:`~sonomtl.inference.predictor.FramePrediction`; ``sonomtl serve``
    answers with the same dicts.
    """
    record: dict[str, Any] = {"source": source, "frame": frame_index,
                              "timestamp_ms": timestamp_ms}
    record.update(result.record())
    return record


def _save_png(path: Path, array: np.ndarray) -> None:
    from PIL import Image

    with atomic_path(path) as tmp:
        Image.fromarray(array).save(tmp, format="PNG")


def predict_files(
    predictor: Any,
    inputs: Sequence[str | os.PathLike[str]],
    *,
    out_dir: str | os.PathLike[str],
    spacing_mm: float | Sequence[float] | None = None,
    measure: bool = True,
    threshold: float = 0.5,
    smoothing_alpha: float = 0.3,
    overlays: bool = True,
    batch_size: int = 8,
    progress: Callable[[int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> PredictSummary:
    """Predict every frame of ``inputs`` (files or folders) with ``predictor`` into ``out_dir``.

    ``progress`` is called with the number of frames just finished (for a
    progress bar). ``should_stop`` is checked between files and frames (see
    the module doc). Returns a :class:`PredictSummary`; failures do not raise.
    """
    from sonomtl.inference.predictor import _spacing_xy
    from sonomtl.inference.video import expand_inputs

    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    spacing = None if spacing_mm is None else _spacing_xy(spacing_mm)
    summary = PredictSummary(predictions=out / "predictions.jsonl")
    best_all: dict[str, dict[str, Any]] = {}
    start = time.perf_counter()
    files = expand_inputs(inputs)
    if not files:
        raise InputError("no input files found (give images, DICOMs, videos or folders)")
    stems = output_stems(files)
    with atomic_path(summary.predictions) as tmp, open(tmp, "w", encoding="utf-8") as sink:
        stop = should_stop or (lambda: False)
        for input_file, stem in zip(files, stems):
            path = input_file.path
            lines: list[str] = []
            if stop():
                summary.interrupted = True
                break
            try:
                best = _predict_one(predictor, path, stem=stem, out=out, spacing=spacing,
                                    measure=measure, threshold=threshold,
                                    alpha=smoothing_alpha, overlays=overlays,
                                    batch_size=batch_size, lines=lines, progress=progress,
                                    stop=stop)
            except _Stopped:
                summary.interrupted = True
                _remove_images(out, lines)  # the unfinished file leaves no outputs behind
                break
            except InputError as error:
                message = str(error) if error.file else f"{path}: {error}"
                summary.failures.append((os.fspath(path), message))
                _remove_images(out, lines)  # a failed file leaves no outputs behind
                continue
            sink.write("".join(lines))
            summary.frames += len(lines)
            summary.files_ok += 1
            if best is not None:
                best_all[os.fspath(path)] = best
    if best_all:
        summary.best_frames = write_json(out / "best_frames.json", best_all)
    summary.seconds = time.perf_counter() - start
    return summary


class _Stopped(Exception):
    """Raised inside one file's frame loop when ``should_stop`` turned true."""


def _remove_images(out: Path, lines: Sequence[str]) -> None:
    """Delete the PNGs named by the JSON ``lines`` of a file that then failed."""
    for line in lines:
        record = json.loads(line)
        for key in ("attention_png", "overlay_png"):
            if record.get(key):
                (out / record[key]).unlink(missing_ok=True)


def output_stems(files: Sequence[Any]) -> list[str]:
    """A unique, stable output file stem per input file (see the module doc).

    ``files`` are :class:`~sonomtl.inference.video.InputFile` items. The stem
    depends only on the file's own names, and on the others only to detect a
    clash (compared case-insensitively, for case-insensitive file systems).

    Examples
    --------
    >>> from pathlib import Path
    >>> from sonomtl.inference.video import InputFile
    >>> output_stems([InputFile(Path("f/a/img.png"), "a/img.png"),
    ...               InputFile(Path("f/b/img.png"), "b/img.png")])
    ['a_img_png', 'b_img_png']
    >>> output_stems([InputFile(Path("x/img.png"), "img.png"),
    ...               InputFile(Path("y/img.png"), "img.png")])
    ['img_png-7880138d', 'img_png-6ee2468f']
    """
    def path_hash(input_file: Any) -> str:
        return hashlib.sha1(os.fspath(input_file.path).encode()).hexdigest()[:8]

    plain = [_safe(f.relative_name) for f in files]
    plain = [stem if len(stem) <= _MAX_STEM_CHARS else
             f"{stem[:_MAX_STEM_CHARS - 9]}-{path_hash(f)}" for stem, f in zip(plain, files)]
    counts: dict[str, int] = {}
    for stem in plain:
        counts[stem.casefold()] = counts.get(stem.casefold(), 0) + 1
    return [stem if counts[stem.casefold()] == 1 else f"{stem}-{path_hash(f)}"
            for stem, f in zip(plain, files)]


def _predict_one(predictor: Any, path: Path, *, stem: str, out: Path, spacing: Any,
                 measure: bool, threshold: float, alpha: float, overlays: bool,
                 batch_size: int, lines: list[str], progress: Callable[[int], None] | None,
                 stop: Callable[[], bool]) -> dict[str, Any] | None:
    """Predict one file into ``lines``; returns its best frames (multi-frame sources)."""
    from sonomtl.inference.video import iter_source_frames, source_kind

    multi = source_kind(path) in ("dicom", "video")
    probabilities: list[list[float]] = []
    class_names: tuple[str, ...] = ()
    pending: list[Any] = []

    def flush() -> None:
        nonlocal class_names
        if not pending:
            return
        results = predictor.predict_frames([f.image for f in pending],
                                           spacings_mm=[f.spacing_mm for f in pending],
                                           measure=measure, file=path)
        for frame, result in zip(pending, results):
            record = prediction_record(os.fspath(path), frame.index, frame.timestamp_ms, result)
            frame_stem = f"{stem}_f{frame.index:05d}"
            if result.attention is not None:
                png = out / "attention" / f"{frame_stem}.png"
                _save_png(png, np.clip(np.rint(result.attention * 255), 0, 255).astype(np.uint8))
                record["attention_png"] = os.fspath(png.relative_to(out))
            if overlays:
                png = out / "overlays" / f"{frame_stem}.png"
                _save_png(png, _overlay(frame.image, result, predictor.config))
                record["overlay_png"] = os.fspath(png.relative_to(out))
            if multi and result.probabilities:
                class_names = tuple(result.probabilities)
                probabilities.append(list(result.probabilities.values()))
            lines.append(json.dumps(record) + "\n")
        if progress is not None:
            progress(len(pending))
        pending.clear()

    for frame in iter_source_frames(path, spacing_mm=spacing):
        if stop():
            raise _Stopped
        pending.append(frame)
        if len(pending) >= batch_size:
            flush()
    flush()
    if not multi or len(lines) < 2:  # a single frame (image, one-frame DICOM): no sweep
        return None
    best: dict[str, Any] = {}
    if class_names and len(probabilities) == len(lines):
        best = _best_frames(path, stem=stem, out=out, lines=lines,
                            probabilities=np.asarray(probabilities), class_names=class_names,
                            threshold=threshold, alpha=alpha, ignore=[
                                n for n in predictor.config.class_names or ()
                                if is_background_class(n)])
    return {"frames": len(lines), "threshold": threshold, "smoothing_alpha": alpha,
            "planes": best}


def _best_frames(path: Path, *, stem: str, out: Path, lines: list[str],
                 probabilities: np.ndarray, class_names: tuple[str, ...], threshold: float,
                 alpha: float, ignore: Sequence[str]) -> dict[str, Any]:
    """Add zero-phase smoothed probabilities to ``lines``; save and describe the best frames."""
    from sonomtl.inference.overlays import to_rgb_uint8
    from sonomtl.inference.video import (
        read_source_frames,
        select_best_frames,
        smooth_probabilities_zero_phase,
    )

    smoothed = smooth_probabilities_zero_phase(probabilities, alpha=alpha)
    chosen = select_best_frames(smoothed, class_names, threshold=threshold, ignore=ignore)
    records: dict[int, dict[str, Any]] = {}
    for i, line in enumerate(lines):
        record = json.loads(line)
        record["smoothed_probabilities"] = dict(zip(class_names, smoothed[i].tolist()))
        lines[i] = json.dumps(record) + "\n"
        if i in chosen.values():
            records[i] = record
    frames = read_source_frames(path, chosen.values())
    for index in chosen.values():  # all checked before any PNG is saved: a failure leaves none
        if frames[index].timestamp_ms != records[index]["timestamp_ms"]:
            raise InputError(f"frame {index} decoded differently the second time "
                             "(file changed while predicting?)", file=path)
    best: dict[str, Any] = {}
    for label, index in sorted(chosen.items()):
        record, frame = records[index], frames[index]
        png = out / "best_frames" / f"{stem}_{_safe(label)}_f{index:05d}.png"
        _save_png(png, to_rgb_uint8(frame.image))
        best[label] = {
            "frame": index, "timestamp_ms": record["timestamp_ms"],
            "smoothed_probability": record["smoothed_probabilities"][label],
            "image_png": os.fspath(png.relative_to(out)),
            "landmarks": record.get("landmarks"),
            "measurements_mm": record.get("measurements_mm"),
        }
    return best


def _safe(label: str) -> str:
    return "".join(c if (c.isascii() and c.isalnum()) or c in "-_" else "_" for c in label)


def _overlay(image: np.ndarray, result: Any, config: Any) -> np.ndarray:
    from sonomtl.inference.overlays import blend_attention, draw_landmarks, to_rgb_uint8

    if result.attention is not None:
        return blend_attention(image, result.attention)
    if result.landmarks:
        return draw_landmarks(image, result.landmarks, measurements=config.measurements,
                              values_mm=result.measurements_mm)
    return to_rgb_uint8(image)
