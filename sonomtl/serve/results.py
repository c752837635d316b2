"""From frames to the server's answers, in ``predict``'s JSON-line schema.

:func:`predict_file` handles one upload (an image, a single- or multi-frame
DICOM, a video): its frames go through the model's batcher in chunks, each
frame becomes :func:`~sonomtl.inference.predict_files.prediction_record`'s
dict, and a multi-frame upload also gets zero-phase smoothed probabilities and
its best frame per plane, as ``sonomtl predict`` writes them.
:class:`LiveSession` does the same for a live stream, one frame at a time,
with the causal smoother (a live stream cannot look ahead).
"""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from sonomtl.errors import InputError

__all__ = ["ServeError", "png_data_url", "parse_spacing_mm", "predict_file", "LiveSession"]


class ServeError(Exception):
    """A request the server refuses: HTTP ``status`` and a message naming the problem."""

    def __init__(self, status: int, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.field = int(status), message, field


def png_data_url(array: np.ndarray, *, full_scale: float = 1.0) -> str:
    """A ``data:image/png;base64,...`` URL of a grey image: ``uint8`` as it is, else values
    in ``[0, full_scale]`` (1 for a map in [0, 1], 255 for a frame's grey levels)."""
    from PIL import Image

    image = np.asarray(array)
    if image.dtype != np.uint8:
        image = np.clip(np.rint(image * (255.0 / full_scale)), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def parse_spacing_mm(value: Any) -> tuple[float, float] | None:
    """A pixel size from a form field or JSON: ``"0.3"``, ``"0.3,0.4"``, ``0.3``, ``[0.3, 0.4]``.

    Examples
    --------
    >>> parse_spacing_mm("0.3, 0.4")
    (0.3, 0.4)
    >>> parse_spacing_mm("")  # not given
    >>> parse_spacing_mm("wide")
    Traceback (most recent call last):
    ...
    sonomtl.errors.InputError: field spacing_mm: must be one or two positive numbers ...
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    parts: Sequence[Any]
    if isinstance(value, str):
        parts = value.replace(",", " ").split()
    elif isinstance(value, (list, tuple)):
        parts = value
    else:
        parts = [value]
    try:
        numbers = [float(p) for p in parts]
    except (TypeError, ValueError):
        numbers = []
    if len(numbers) == 1:
        numbers *= 2
    if len(numbers) != 2 or not all(np.isfinite(numbers)) or min(numbers) <= 0:
        raise InputError(f"must be one or two positive numbers (mm), got {value!r}",
                         field="spacing_mm")
    return numbers[0], numbers[1]


def _chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def predict_file(model: Any, path: str | os.PathLike[str], *, source: str,
                 spacing_mm: tuple[float, float] | None, measure: bool, max_frames: int,
                 chunk_frames: int, threshold: float, smoothing_alpha: float,
                 attention: bool = False, images: bool = False) -> dict[str, Any]:
    """Predict every frame of the file at ``path`` with ``model`` (a ServedModel); blocks.

    ``source`` is the name the records carry (the upload's file name). More
    than ``max_frames`` frames raise :class:`ServeError` 413. ``attention``
    adds each frame's attention map as a PNG data URL under ``attention_png``;
    ``images`` adds the first frame's picture (as decoded here) to its record and
    the best frames' pictures to theirs, under ``image_png``.
    """
    from sonomtl.data.spec import is_background_class
    from sonomtl.inference.predict_files import prediction_record
    from sonomtl.inference.video import (
        iter_source_frames,
        read_source_frames,
        select_best_frames,
        smooth_probabilities_zero_phase,
        source_kind,
    )

    multi = source_kind(path) in ("dicom", "video")
    frames = []
    for frame in iter_source_frames(path, spacing_mm=spacing_mm):
        if len(frames) == max_frames:
            raise ServeError(413, f"more than {max_frames} frames in one request; send a "
                                  "shorter clip or stream it over /v1/stream", field="file")
        frames.append(frame)
    futures = [model.batcher.submit([f.image for f in chunk],
                                    spacings_mm=[f.spacing_mm for f in chunk],
                                    measure=measure, file=source)
               for chunk in _chunks(frames, chunk_frames)]
    results = [r for future in futures for r in future.result()]
    records = []
    for frame, result in zip(frames, results):
        record = prediction_record(source, frame.index, frame.timestamp_ms, result)
        if attention and result.attention is not None:
            record["attention_png"] = png_data_url(result.attention)
        records.append(record)
    if images and records:  # the first frame as decoded here: browsers cannot show TIFF or DICOM
        records[0]["image_png"] = png_data_url(frames[0].image, full_scale=255.0)
    best = None
    class_names = tuple(results[0].probabilities) if results else ()
    if multi and len(records) >= 2 and class_names:
        probabilities = np.asarray([list(r.probabilities.values()) for r in results])
        smoothed = smooth_probabilities_zero_phase(probabilities, alpha=smoothing_alpha)
        for record, row in zip(records, smoothed):
            record["smoothed_probabilities"] = dict(zip(class_names, row.tolist()))
        ignore = [n for n in class_names if is_background_class(n)]
        chosen = select_best_frames(smoothed, class_names, threshold=threshold, ignore=ignore)
        pictures = read_source_frames(path, chosen.values()) if images and chosen else {}
        planes = {}
        for label, index in sorted(chosen.items()):
            record = records[index]
            planes[label] = {
                "frame": index, "timestamp_ms": record["timestamp_ms"],
                "smoothed_probability": record["smoothed_probabilities"][label],
                "landmarks": record.get("landmarks"),
                "measurements_mm": record.get("measurements_mm"),
            }
            if index in pictures:
                planes[label]["image_png"] = png_data_url(pictures[index].image,
                                                          full_scale=255.0)
        best = {"frames": len(records), "threshold": threshold,
                "smoothing_alpha": smoothing_alpha, "planes": planes}
    return {"model": model.name, "source": source, "frames": len(records),
            "predictions": records, "best_frames": best}


class LiveSession:
    """One client's live stream: causal smoothing and the best frame per plane so far."""

    def __init__(self, model: Any, *, threshold: float, smoothing_alpha: float,
                 attention: bool = False) -> None:
        from sonomtl.data.spec import is_background_class
        from sonomtl.inference.video import ExponentialSmoother

        self.model = model
        self.threshold = float(threshold)
        self.attention = bool(attention)
        self.smoother = ExponentialSmoother(alpha=smoothing_alpha)
        self.ignore = {n for n in model.card.class_names if is_background_class(n)}
        self.best: dict[str, dict[str, Any]] = {}
        self.frames = 0

    def record(self, result: Any, *, timestamp_ms: float | None) -> dict[str, Any]:
        """The answer to one frame's :class:`FramePrediction` (call in frame order)."""
        from sonomtl.inference.predict_files import prediction_record

        index = self.frames
        self.frames += 1
        record = prediction_record("stream", index, timestamp_ms, result)
        if self.attention and result.attention is not None:
            record["attention_png"] = png_data_url(result.attention)
        if result.probabilities:
            names = list(result.probabilities)
            smoothed = self.smoother.update(list(result.probabilities.values()))
            record["smoothed_probabilities"] = dict(zip(names, smoothed.tolist()))
            for name, value in zip(names, smoothed.tolist()):
                held = self.best.get(name)
                if (name not in self.ignore and value >= self.threshold
                        and (held is None or value > held["smoothed_probability"])):
                    self.best[name] = {"frame": index, "timestamp_ms": timestamp_ms,
                                       "smoothed_probability": value,
                                       "landmarks": record.get("landmarks"),
                                       "measurements_mm": record.get("measurements_mm")}
        record["best_frames"] = {k: dict(v) for k, v in sorted(self.best.items())}
        return record
