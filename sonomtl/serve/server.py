"""Load the models and run the server: what ``sonomtl serve`` does, as functions.

:func:`load_models` turns ``MODEL`` arguments into served models, each with
its dynamic batcher; :func:`run_server` runs uvicorn until SIGINT/SIGTERM,
which stop new connections, let the requests in flight finish (uvicorn's
graceful shutdown), close the batchers and return.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["BatchSettings", "load_models", "run_server"]


@dataclass(frozen=True)
class BatchSettings:
    """Dynamic batching of one model (see :class:`~sonomtl.serve.batching.DynamicBatcher`)."""

    max_batch_frames: int = 16
    max_wait_ms: float = 0.0
    max_queue: int = 64
    batching: bool = True


def load_models(specs: Sequence[str], *, backend: str | None = None, threads: int | None = None,
                device: Any = None, batch: BatchSettings | None = None,
                metrics: Any = None) -> list[Any]:
    """Served models for ``[NAME=]SOURCE`` specs; an :class:`~sonomtl.errors.InputError`
    naming the model that cannot be loaded (or a name given twice)."""
    from sonomtl.errors import InputError
    from sonomtl.inference.predictor import load_predictor
    from sonomtl.serve.batching import DynamicBatcher
    from sonomtl.serve.models import ServedModel, model_card, parse_model_spec

    batch = batch or BatchSettings()
    served: list[Any] = []
    for spec in specs:
        name, source = parse_model_spec(spec)
        if any(m.name == name for m in served):
            raise InputError(f"two models are named {name!r}; name them NAME=SOURCE",
                             field="MODEL")
        chosen = backend or ("onnx" if source.lower().endswith(".onnx") else "torch")
        try:
            predictor = load_predictor(source, backend=chosen, threads=threads, device=device)
        except InputError as error:
            raise InputError(f"model {name!r} cannot be loaded: {error}") from None
        on_batch = _batch_observer(metrics, name)
        batcher = DynamicBatcher(predictor.predict_frames,
                                 max_batch_frames=batch.max_batch_frames,
                                 max_wait_ms=batch.max_wait_ms, max_queue=batch.max_queue,
                                 batching=batch.batching, on_batch=on_batch)
        served.append(ServedModel(name, predictor, model_card(name, predictor), batcher))
    return served


def _batch_observer(metrics: Any, name: str) -> Callable[[int], None] | None:
    if metrics is None:
        return None
    return lambda frames: metrics.batch_frames.observe(frames, model=name)


def run_server(app: Any, *, host: str = "127.0.0.1", port: int = 8000,
               log_level: str = "warning", graceful_timeout_s: float | None = 60.0,
               on_started: Callable[[int], None] | None = None) -> None:
    """Serve ``app`` with uvicorn until SIGINT/SIGTERM; in-flight requests finish first
    (up to ``graceful_timeout_s``). Returns normally after a signal (exit status 0).
    ``on_started(port)`` is called with the bound port once the server listens."""
    import uvicorn

    config = uvicorn.Config(app, host=host, port=port, log_level=log_level,
                            timeout_graceful_shutdown=graceful_timeout_s, lifespan="on",
                            ws_max_size=64 * 1024 * 1024)
    server = uvicorn.Server(config)
    # uvicorn sends a caught signal again once it has drained; this no-op handler takes it,
    # so that a drained SIGTERM ends the process with status 0 instead of death by signal.
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: None)
    try:
        if on_started is not None:
            _call_when_started(server, on_started)
        server.run()
    finally:
        signal.signal(signal.SIGTERM, previous)


def _call_when_started(server: Any, callback: Callable[[int], None]) -> None:
    import threading
    import time

    def watch() -> None:
        while not server.started and not server.should_exit:
            time.sleep(0.05)
        if server.started:
            callback(server.servers[0].sockets[0].getsockname()[1])

    threading.Thread(target=watch, daemon=True).start()
