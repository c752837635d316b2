"""The FastAPI application of ``sonomtl serve``: :func:`create_app`.

(This module imports FastAPI: import it only where the ``serve`` extra is installed.)

Endpoints: ``POST /v1/predict``, ``GET /v1/models``, ``GET /healthz`` (always
open: the process answers), ``GET /readyz`` (open: models loaded and not
shutting down), ``GET /metrics`` (Prometheus text), WebSocket ``/v1/stream``
(:mod:`sonomtl.serve.stream`) and the page at ``/``. With a token every
endpoint but ``/healthz``, ``/readyz`` and the static page needs
``Authorization: Bearer TOKEN`` (the WebSocket also takes ``?token=``, as a
browser cannot set its headers). Every refusal is a JSON
:class:`~sonomtl.serve.schemas.ErrorBody`.
"""

from __future__ import annotations

import hmac
import tempfile
import time
from collections.abc import Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from sonomtl.errors import InputError
from sonomtl.serve.batching import QueueFull
from sonomtl.serve.metrics import CONTENT_TYPE, Metrics
from sonomtl.serve.results import ServeError, parse_spacing_mm, predict_file

__all__ = ["ServeSettings", "create_app"]

_UPLOAD_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".dcm", ".dicom",
                    ".mp4", ".avi", ".mov", ".mkv", ".webm")


@dataclass(frozen=True)
class ServeSettings:
    """Limits and defaults of one server."""

    token: str | None = None
    max_upload_bytes: int = 64 * 1024 * 1024
    max_frames: int = 600
    max_batch_frames: int = 16
    threshold: float = 0.5
    smoothing_alpha: float = 0.3
    max_frame_pixels: int = 4096 * 4096


class BodyTooLarge(Exception):
    """The request body passed ``max_upload_bytes``."""


class _BodyLimit:
    """ASGI middleware: a body over ``limit`` bytes (by Content-Length or as it arrives) ends
    in 413."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, int(limit)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or ()).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            await _send_json(send, 413, {"error": f"upload of {int(length)} bytes is over the "
                                                  f"limit of {self.limit} bytes",
                                         "field": "file"})
            return
        received = 0

        async def counted() -> dict:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                raise BodyTooLarge()
            return message

        await self.app(scope, counted, send)


class _RequestMetrics:
    """ASGI middleware: count each HTTP request by route and status, and time it."""

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 500}

        async def send_status(message: dict) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:  # the router put the matched route into the scope
            endpoint = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.requests.inc(endpoint=endpoint, status=str(status["code"]))
            self.metrics.latency_s.observe(time.perf_counter() - start, endpoint=endpoint)


async def _send_json(send: Any, status: int, body: dict) -> None:
    import json

    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})


def _error(status: int, message: str, field: str | None = None) -> Any:
    return JSONResponse({"error": message, "field": field}, status_code=status)


def _safe_suffix(filename: str | None) -> str:
    suffix = Path(filename or "").suffix.lower()
    return suffix if suffix in _UPLOAD_SUFFIXES else ""


def create_app(models: Sequence[Any], settings: ServeSettings | None = None, *,
               metrics: Metrics | None = None) -> Any:
    """The FastAPI app serving ``models`` (:class:`~sonomtl.serve.models.ServedModel` with
    their batchers started); the batchers are closed when the app shuts down."""
    from sonomtl import __version__
    from sonomtl.serve import schemas
    from sonomtl.serve.stream import add_stream_route

    settings = settings or ServeSettings()
    metrics = metrics or Metrics()
    by_name = {m.name: m for m in models}
    if not by_name or len(by_name) != len(models):
        raise ValueError(f"need one or more models with distinct names, got {list(by_name)}")
    state = {"ready": False}

    @asynccontextmanager
    async def lifespan(app: Any):
        state["ready"] = True
        yield
        state["ready"] = False
        for model in models:
            model.batcher.close()

    app = FastAPI(title="sonomtl serve", version=__version__, lifespan=lifespan,
                  description="Ultrasound plane detection, attention maps, landmarks and "
                              "measurements over HTTP and WebSocket.")
    app.state.metrics = metrics
    app.state.settings = settings
    app.state.models = by_name
    app.add_middleware(_BodyLimit, limit=settings.max_upload_bytes)

    app.add_middleware(_RequestMetrics, metrics=metrics)

    @app.exception_handler(ServeError)
    async def serve_error(request: Request, error: ServeError) -> Any:
        return _error(error.status, error.message, error.field)

    @app.exception_handler(InputError)
    async def input_error(request: Request, error: InputError) -> Any:
        # the message without the file: an upload's temporary path means nothing to a client
        return _error(400, error.message, error.field or ("file" if error.file else None))

    @app.exception_handler(BodyTooLarge)
    async def body_too_large(request: Request, error: BodyTooLarge) -> Any:
        return _error(413, f"upload is over the limit of {settings.max_upload_bytes} bytes",
                      "file")

    @app.exception_handler(QueueFull)
    async def queue_full(request: Request, error: QueueFull) -> Any:
        metrics.rejected.inc()
        return _error(503, str(error))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> Any:
        first = error.errors()[0] if error.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query"))
        return _error(422, str(first.get("msg", "invalid request")), where or None)

    def check_token(request: Request) -> None:
        if settings.token is None:
            return
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(),
                                                                 settings.token.encode()):
            raise ServeError(401, "missing or wrong bearer token (Authorization: Bearer ...)",
                             field="authorization")

    def model_named(name: str | None) -> Any:
        if not name:
            if len(by_name) == 1:
                return next(iter(by_name.values()))
            raise ServeError(400, f"several models are served; name one of {sorted(by_name)}",
                             field="model")
        if name not in by_name:
            raise ServeError(404, f"no model {name!r}; served: {sorted(by_name)}", field="model")
        return by_name[name]

    @app.get("/healthz", response_model=schemas.HealthBody, tags=["health"])
    async def healthz() -> dict:
        """The process answers (no token needed)."""
        return {"status": "ok"}

    @app.get("/readyz", response_model=schemas.HealthBody, tags=["health"],
             responses={503: {"model": schemas.ErrorBody}})
    async def readyz() -> Any:
        """Models loaded and not shutting down (no token needed)."""
        if not state["ready"]:
            return _error(503, "not ready (starting or shutting down)")
        return {"status": "ready"}

    @app.get("/metrics", response_class=PlainTextResponse, tags=["health"],
             dependencies=[Depends(check_token)])
    async def prometheus() -> Any:
        """Counters and histograms in the Prometheus text format."""
        return PlainTextResponse(metrics.render(), media_type=CONTENT_TYPE)

    @app.get("/v1/models", response_model=schemas.ModelsResponse, tags=["models"],
             dependencies=[Depends(check_token)])
    async def list_models() -> dict:
        """The served models, each with its card."""
        return {"models": [m.card.as_dict() for m in models]}

    @app.post("/v1/predict", response_model=schemas.PredictResponse, tags=["predict"],
              dependencies=[Depends(check_token)],
              responses={code: {"model": schemas.ErrorBody}
                         for code in (400, 401, 404, 413, 415, 422, 503)},
              openapi_extra={"requestBody": {"required": True, "content": {
                  "multipart/form-data": {"schema": {"type": "object", "required": ["file"],
                                                     "properties": {
                      "file": {"type": "string", "format": "binary"},
                      "model": {"type": "string"},
                      "spacing_mm": {"type": "string", "description": "x[,y] in mm"},
                      "measure": {"type": "boolean"},
                      "attention": {"type": "boolean"},
                      "images": {"type": "boolean"}}}}}}})
    async def predict(request: Request) -> Any:
        """One image, a DICOM (single- or multi-frame) or a video, as multipart form data."""
        content_type = request.headers.get("content-type", "")
        if not content_type.startswith("multipart/form-data"):
            raise ServeError(415, f"send multipart/form-data with a 'file' part, not "
                                  f"{content_type or 'no content type'!r}", field="content-type")
        try:
            form = await request.form(max_files=1, max_fields=16)
        except BodyTooLarge:
            raise
        except Exception as error:  # starlette's multipart parser raises several types
            raise ServeError(400, f"malformed multipart body: {error}", field="file") from None
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise ServeError(400, "no 'file' part in the form", field="file")
        model = model_named(str(form.get("model") or ""))
        spacing = parse_spacing_mm(form.get("spacing_mm"))
        flags = {key: str(form.get(key, "")).lower() in ("1", "true", "yes", "on")
                 for key in ("attention", "images")}
        measure = str(form.get("measure", "true")).lower() not in ("0", "false", "no", "off")
        data = await upload.read()
        if not data:
            raise ServeError(400, "the uploaded file is empty", field="file")
        name = Path(upload.filename or "upload").name
        # the project's readers take paths: one temporary file (not a folder) per upload
        with tempfile.NamedTemporaryFile(prefix="sonomtl-serve-", suffix=_safe_suffix(name),
                                         delete=False) as handle:
            handle.write(data)
        path = Path(handle.name)
        del data
        try:
            body = await run_in_threadpool(
                predict_file, model, path, source=name, spacing_mm=spacing, measure=measure,
                max_frames=settings.max_frames, chunk_frames=settings.max_batch_frames,
                threshold=settings.threshold, smoothing_alpha=settings.smoothing_alpha, **flags)
        except InputError as error:  # a decoder's message may hold the temporary path
            raise InputError(error.message.replace(str(path), name),
                             field=error.field or "file") from None
        finally:
            path.unlink(missing_ok=True)
        metrics.frames.inc(body["frames"], model=model.name)
        return JSONResponse(body)

    add_stream_route(app, settings=settings, metrics=metrics, model_named=model_named)

    static = resources.files("sonomtl.serve") / "static"

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> Any:
        return HTMLResponse((static / "index.html").read_text(encoding="utf-8"))

    app.mount("/static", StaticFiles(directory=str(static)), name="static")
    return app
