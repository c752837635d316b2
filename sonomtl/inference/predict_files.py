"""``sonomtl predict`` as a function: many input files -> predictions.jsonl, overlays, best frames.

Each input is processed on its own: a bad file (unsupported, corrupt, no
frames, pixel size unknown when measuring, a frame the model cannot take) is
recorded as a failure with one line, and the run goes on with the next file.

Outputs in ``out_dir``:

* ``predictions.jsonl``: one JSON object per frame: ``source``, ``frame``,
  ``timestamp_ms``, ``label``, ``probabilities``, and ``attention_png`` +
  ``attention_peak_xy`` (M-SEN) or ``landmarks`` + ``measurements_mm``
  (abdominal network), ``overlay_png``; plus ``smoothed_probabilities`` for
  multi-frame sources.
* ``attention/`` and ``overlays/``: PNGs per frame (named ``<file name>_f<frame>.png``).
* ``best_frames.json`` (when a multi-frame source was given): per source, per
  plane, the frame with the highest smoothed probability above the threshold,
  its measurements, and the frame saved under ``best_frames/``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sonomtl.errors import InputError
from sonomtl.fileio import atomic_path, write_json

__all__ = ["PredictSummary", "predict_files"]

_BACKGROUND_NAMES = ("BG", "Background", "background", "others")


@dataclass
class PredictSummary:
    """What a run did: frames written, failures ``(file, message)``, output paths."""

    frames: int = 0
    files_ok: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    predictions: Path | None = None
    best_frames: Path | None = None
    seconds: float = 0.0


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
) -> PredictSummary:
    """Predict every frame of ``inputs`` (files or folders) with ``predictor`` into ``out_dir``.

    ``progress`` is called with the number of frames just finished (for a
    progress bar). Returns a :class:`PredictSummary`; failures do not raise.
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
    with atomic_path(summary.predictions) as tmp, open(tmp, "w", encoding="utf-8") as sink:
        for path in files:
            lines: list[str] = []
            try:
                best = _predict_one(predictor, path, out=out, spacing=spacing, measure=measure,
                                    threshold=threshold, alpha=smoothing_alpha,
                                    overlays=overlays, batch_size=batch_size, lines=lines,
                                    progress=progress)
            except InputError as error:
                message = str(error) if error.file else f"{path}: {error}"
                summary.failures.append((os.fspath(path), message))
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


def _predict_one(predictor: Any, path: Path, *, out: Path, spacing: Any, measure: bool,
                 threshold: float, alpha: float, overlays: bool, batch_size: int,
                 lines: list[str], progress: Callable[[int], None] | None,
                 ) -> dict[str, Any] | None:
    from sonomtl.inference.video import (
        BestFrameTracker,
        ExponentialSmoother,
        iter_source_frames,
        source_kind,
    )

    multi = source_kind(path) in ("dicom", "video")
    smoother = ExponentialSmoother(alpha=alpha)
    names = predictor.config.class_names or ()
    tracker = BestFrameTracker(threshold=threshold,
                               ignore=[n for n in names if n in _BACKGROUND_NAMES])
    seen_multi = 0
    pending: list[Any] = []

    def flush() -> None:
        nonlocal seen_multi
        if not pending:
            return
        results = predictor.predict_frames([f.image for f in pending],
                                           spacings_mm=[f.spacing_mm for f in pending],
                                           measure=measure, file=path)
        for frame, result in zip(pending, results):
            record: dict[str, Any] = {"source": os.fspath(path), "frame": frame.index,
                                      "timestamp_ms": frame.timestamp_ms}
            record.update(result.record())
            stem = f"{_safe(path.name)}_f{frame.index:05d}"
            if result.attention is not None:
                png = out / "attention" / f"{stem}.png"
                _save_png(png, np.clip(np.rint(result.attention * 255), 0, 255).astype(np.uint8))
                record["attention_png"] = os.fspath(png.relative_to(out))
            if overlays:
                png = out / "overlays" / f"{stem}.png"
                _save_png(png, _overlay(frame.image, result, predictor.config))
                record["overlay_png"] = os.fspath(png.relative_to(out))
            if multi and result.probabilities:
                smoothed = smoother.update(list(result.probabilities.values()))
                smoothed_map = dict(zip(result.probabilities, smoothed.tolist()))
                record["smoothed_probabilities"] = smoothed_map
                tracker.update(smoothed=smoothed_map, frame_index=frame.index,
                               timestamp_ms=frame.timestamp_ms, image=frame.image,
                               record=record)
            seen_multi += 1
            lines.append(json.dumps(record) + "\n")
        if progress is not None:
            progress(len(pending))
        pending.clear()

    for frame in iter_source_frames(path, spacing_mm=spacing):
        pending.append(frame)
        if len(pending) >= batch_size:
            flush()
    flush()
    if not multi:
        return None
    best: dict[str, Any] = {}
    for label, item in sorted(tracker.best.items()):
        png = out / "best_frames" / f"{_safe(path.name)}_{_safe(label)}_f{item.frame_index:05d}.png"
        from sonomtl.inference.overlays import to_rgb_uint8

        _save_png(png, to_rgb_uint8(item.image))
        best[label] = {
            "frame": item.frame_index, "timestamp_ms": item.timestamp_ms,
            "smoothed_probability": item.smoothed_probability,
            "image_png": os.fspath(png.relative_to(out)),
            "landmarks": item.record.get("landmarks"),
            "measurements_mm": item.record.get("measurements_mm"),
        }
    return {"frames": seen_multi, "threshold": threshold, "smoothing_alpha": alpha,
            "planes": best}


def _safe(label: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in label)


def _overlay(image: np.ndarray, result: Any, config: Any) -> np.ndarray:
    from sonomtl.inference.overlays import blend_attention, draw_landmarks, to_rgb_uint8

    if result.attention is not None:
        return blend_attention(image, result.attention)
    if result.landmarks:
        return draw_landmarks(image, result.landmarks, measurements=config.measurements,
                              values_mm=result.measurements_mm)
    return to_rgb_uint8(image)
