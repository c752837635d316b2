"""WebSocket ``/v1/stream``: live frames in, per-frame results out.

Connect to ``/v1/stream?model=NAME`` (``&token=T`` when the server has a
token, ``&attention=1`` for attention maps as PNG data URLs, ``&measure=0`` to
skip measurements). Then, for each frame, send two messages:

1. a text message, JSON: ``{"format": "raw" | "png", "shape": [H, W],
   "spacing_mm": 0.3 | [x, y] | null, "timestamp_ms": t}`` (``shape`` is
   needed for ``raw``: ``H * W`` grey ``uint8`` bytes, row by row);
2. a binary message: the frame's bytes.

Each frame is answered, in order, with a text message: the frame's
:class:`~sonomtl.serve.schemas.StreamFrame` (probabilities, causally smoothed
probabilities, attention peak or landmarks, measurements, the best frame per
plane so far), or ``{"error": ..., "field": ..., "status": 4xx, "frame": i}``
for a frame that cannot be read; the connection stays open after a bad frame.
An unknown model or a missing token closes the connection (codes 4404, 4401)
after an error message.
"""

from __future__ import annotations

import asyncio
import hmac
import io
import json
from typing import Any

import numpy as np
from fastapi import WebSocket, WebSocketDisconnect

from sonomtl.errors import InputError
from sonomtl.serve.batching import QueueFull
from sonomtl.serve.results import LiveSession, ServeError, parse_spacing_mm

__all__ = ["decode_frame", "add_stream_route"]


def decode_frame(header: dict[str, Any], payload: bytes, *, max_pixels: int) -> np.ndarray:
    """The grey frame ``(H, W)`` float32 of one stream message pair; :class:`ServeError` 400
    naming the problem when the header and the bytes do not describe a frame.

    Examples
    --------
    >>> decode_frame({"format": "raw", "shape": [2, 3]}, bytes(range(6)), max_pixels=100)
    array([[0., 1., 2.],
           [3., 4., 5.]], dtype=float32)
    """
    kind = header.get("format", "raw")
    if kind == "raw":
        shape = header.get("shape")
        if (not isinstance(shape, list) or len(shape) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0
                           for v in shape)):
            raise ServeError(400, f"shape must be [H, W] of positive integers, got {shape!r}",
                             field="shape")
        if shape[0] * shape[1] > max_pixels:
            raise ServeError(413, f"a frame of {shape[0]}x{shape[1]} is over the limit of "
                                  f"{max_pixels} pixels", field="shape")
        if len(payload) != shape[0] * shape[1]:
            raise ServeError(400, f"shape {shape} needs {shape[0] * shape[1]} bytes of grey "
                                  f"uint8, got {len(payload)}", field="shape")
        return np.frombuffer(payload, dtype=np.uint8).reshape(shape).astype(np.float32)
    if kind == "png":
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(io.BytesIO(payload)) as image:
                if image.width * image.height > max_pixels:
                    raise ServeError(413, f"a frame of {image.height}x{image.width} is over the "
                                          f"limit of {max_pixels} pixels", field="payload")
                grey = np.asarray(image.convert("L"), dtype=np.float32)
        except (UnidentifiedImageError, OSError, ValueError) as error:
            raise ServeError(400, f"cannot read the frame as PNG: {error}",
                             field="payload") from None
        return grey
    raise ServeError(400, f"format must be 'raw' or 'png', got {kind!r}", field="format")


def add_stream_route(app: Any, *, settings: Any, metrics: Any, model_named: Any) -> None:
    """Add ``/v1/stream`` to ``app`` (see the module doc for the protocol)."""
    @app.websocket("/v1/stream")
    async def stream(websocket: WebSocket) -> None:
        query = websocket.query_params
        await websocket.accept()
        if settings.token is not None:
            given = query.get("token") or websocket.headers.get("authorization", "").partition(
                " ")[2]
            if not hmac.compare_digest(given.strip().encode(), settings.token.encode()):
                await websocket.send_json({"error": "missing or wrong token (?token=...)",
                                           "field": "token", "status": 401})
                await websocket.close(code=4401)
                return
        try:
            model = model_named(query.get("model"))
        except ServeError as error:
            await websocket.send_json({"error": error.message, "field": error.field,
                                       "status": error.status})
            await websocket.close(code=4000 + error.status)
            return
        session = LiveSession(model, threshold=settings.threshold,
                              smoothing_alpha=settings.smoothing_alpha,
                              attention=query.get("attention", "0") in ("1", "true"))
        measure = query.get("measure", "1") not in ("0", "false")
        try:
            while True:
                await _one_frame(websocket, session, model, measure=measure,
                                 settings=settings, metrics=metrics)
        except WebSocketDisconnect:
            return

    async def _one_frame(websocket: Any, session: LiveSession, model: Any, *, measure: bool,
                         settings: Any, metrics: Any) -> None:
        header_text = (await _receive(websocket)).get("text")
        if header_text is None:
            await _refuse(websocket, metrics, ServeError(400, "expected a JSON text header "
                                                              "before each frame's bytes",
                                                         field="header"), session.frames)
            return
        try:
            header = json.loads(header_text)
            if not isinstance(header, dict):
                raise ValueError("not an object")
        except ValueError as error:
            await _refuse(websocket, metrics, ServeError(400, f"the frame header must be a JSON "
                                                              f"object: {error}", field="header"),
                          session.frames)
            return
        payload = (await _receive(websocket)).get("bytes")
        if payload is None:
            await _refuse(websocket, metrics, ServeError(400, "expected the frame as a binary "
                                                              "message after its header",
                                                         field="payload"), session.frames)
            return
        try:
            image = decode_frame(header, payload, max_pixels=settings.max_frame_pixels)
            spacing = parse_spacing_mm(header.get("spacing_mm"))
            future = model.batcher.submit([image], spacings_mm=[spacing], measure=measure,
                                          file="stream")
            result = (await asyncio.wrap_future(future))[0]
        except ServeError as error:
            await _refuse(websocket, metrics, error, session.frames)
            return
        except InputError as error:
            await _refuse(websocket, metrics, ServeError(400, error.message,
                                                         field=error.field), session.frames)
            return
        except QueueFull as error:
            metrics.rejected.inc()
            await _refuse(websocket, metrics, ServeError(503, str(error)), session.frames)
            return
        timestamp = header.get("timestamp_ms")
        timestamp = float(timestamp) if isinstance(timestamp, (int, float)) else None
        record = session.record(result, timestamp_ms=timestamp)
        metrics.frames.inc(model=model.name)
        metrics.requests.inc(endpoint="/v1/stream", status="200")
        await websocket.send_json(record)

    async def _receive(websocket: Any) -> dict:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        return message

    async def _refuse(websocket: Any, metrics: Any, error: ServeError, frame: int) -> None:
        metrics.requests.inc(endpoint="/v1/stream", status=str(error.status))
        await websocket.send_json({"error": error.message, "field": error.field,
                                   "status": error.status, "frame": frame})
