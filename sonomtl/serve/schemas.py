"""Pydantic models of the server's answers: the OpenAPI schema FastAPI generates reads them.

:class:`FrameRecord` is one line of ``predict``'s ``predictions.jsonl``
(without the PNG paths of files the server does not write; ``attention_png``
is a ``data:`` URL when asked for).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["ErrorBody", "FrameRecord", "BestFrame", "BestFrames", "PredictResponse",
           "ModelCardBody", "ModelsResponse", "HealthBody", "StreamFrame"]


class ErrorBody(BaseModel):
    """Every 4xx/5xx answer: what went wrong, and the field or part at fault."""

    error: str
    field: str | None = None


class FrameRecord(BaseModel):
    """One frame's results, as a line of ``predictions.jsonl``."""

    model_config = ConfigDict(extra="forbid")

    source: str
    frame: int
    timestamp_ms: float | None
    label: str | None
    probabilities: dict[str, float]
    attention_peak_xy: list[float] | None = None
    landmarks: dict[str, list[float] | None] | None = None
    measurements_mm: dict[str, float | None] | None = None
    spacing_mm: list[float] | None = None
    smoothed_probabilities: dict[str, float] | None = None
    attention_png: str | None = None
    #: the frame as the server decoded it (first frame, when ``images`` is asked for)
    image_png: str | None = None


class BestFrame(BaseModel):
    """The frame of a plane where its smoothed probability peaks."""

    frame: int
    timestamp_ms: float | None
    smoothed_probability: float
    landmarks: dict[str, list[float] | None] | None = None
    measurements_mm: dict[str, float | None] | None = None
    image_png: str | None = None


class BestFrames(BaseModel):
    """A clip's best frames, as one source's entry of ``best_frames.json``."""

    frames: int
    threshold: float
    smoothing_alpha: float
    planes: dict[str, BestFrame]


class PredictResponse(BaseModel):
    """``POST /v1/predict``: every frame of the upload, and its best frames for a clip."""

    model: str
    source: str
    frames: int
    predictions: list[FrameRecord]
    best_frames: BestFrames | None = None


class ModelCardBody(BaseModel):
    """A served model's card."""

    name: str
    kind: str
    architecture: str
    class_names: list[str]
    landmark_names: list[str]
    measurements: dict[str, list[str]]
    input_hw: list[int]
    needs_spacing: bool
    source: str
    backend: str
    version: str


class ModelsResponse(BaseModel):
    """``GET /v1/models``."""

    models: list[ModelCardBody]


class HealthBody(BaseModel):
    """``GET /healthz`` and ``GET /readyz``."""

    status: str


class StreamFrame(FrameRecord):
    """One answer on ``/v1/stream``: the frame's record, causally smoothed, and the best
    frame per plane so far."""

    best_frames: dict[str, BestFrame]
