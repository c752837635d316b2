"""Dynamic batching: requests from many clients share one model call.

A :class:`DynamicBatcher` owns one model's ``predict_frames`` and one worker
thread, so the model is never called from two threads at once. Callers
:meth:`~DynamicBatcher.submit` their frames and get a future; the worker takes
the oldest request and every request already queued behind it, waits up to
``max_wait_ms`` (default 0: not at all) for more to arrive, and runs them
together while the total stays within ``max_batch_frames`` (a request is never
split). Without waiting, batches form by themselves under load: requests queue
while the model runs, and the next call takes them all; a wait only delays a
lone client (each of its frames pays it) and helps only when many independent
clients arrive in bursts. The queue is bounded: when it holds ``max_queue`` requests a new
one raises :class:`QueueFull` (the server answers 503). A request whose frames
fail (an :class:`~sonomtl.errors.InputError`) fails alone: the batch it was in
is run again one request at a time.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["QueueFull", "DynamicBatcher"]


class QueueFull(RuntimeError):
    """The batch queue holds ``max_queue`` requests already."""


@dataclass
class _Request:
    images: list[np.ndarray]
    spacings: list[Any]
    measure: bool
    file: Any
    future: Future = field(default_factory=Future)


_STOP = object()


class DynamicBatcher:
    """Serialise and batch calls of ``predict_frames`` across threads and clients.

    ``batching=False`` runs each request on its own (the baseline of the
    benchmark). ``on_batch(frame_count)`` is called after every model call.
    """

    def __init__(self, predict_frames: Callable[..., list[Any]], *, max_batch_frames: int = 16,
                 max_wait_ms: float = 0.0, max_queue: int = 64, batching: bool = True,
                 on_batch: Callable[[int], None] | None = None) -> None:
        if max_batch_frames < 1 or max_queue < 1 or max_wait_ms < 0:
            raise ValueError("max_batch_frames and max_queue must be >= 1 and max_wait_ms >= 0, "
                             f"got {max_batch_frames}, {max_queue}, {max_wait_ms}")
        self._predict = predict_frames
        self.max_batch_frames = int(max_batch_frames)
        self.max_wait_s = float(max_wait_ms) / 1000.0
        self.batching = bool(batching)
        self._on_batch = on_batch
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=int(max_queue))
        self._held: _Request | None = None  # taken from the queue but not fitting the last batch
        self._closed = False
        self._worker = threading.Thread(target=self._run, name="sonomtl-batcher", daemon=True)
        self._worker.start()

    def submit(self, images: Sequence[np.ndarray], *, spacings_mm: Sequence[Any] | None = None,
               measure: bool = True, file: Any = None) -> Future:
        """Queue frames for prediction; the future's result is ``predict_frames``'s list."""
        spacings = list(spacings_mm) if spacings_mm is not None else [None] * len(images)
        request = _Request(list(images), spacings, bool(measure), file)
        if self._closed:
            raise QueueFull("the server is shutting down")
        try:
            self._queue.put_nowait(request)
        except queue.Full:
            raise QueueFull(f"the queue holds {self._queue.maxsize} requests; "
                            "try again later") from None
        return request.future

    def predict_frames(self, images: Sequence[np.ndarray], *,
                       spacings_mm: Sequence[Any] | None = None, measure: bool = True,
                       file: Any = None) -> list[Any]:
        """:meth:`Predictor.predict_frames`'s signature, through the queue (blocks)."""
        return self.submit(images, spacings_mm=spacings_mm, measure=measure,
                           file=file).result()

    def close(self, timeout_s: float = 30.0) -> None:
        """Refuse new requests, finish the queued ones, then stop the worker."""
        self._closed = True
        self._queue.put(_STOP)
        self._worker.join(timeout_s)

    def _take(self, *, block: bool, timeout_s: float | None = None) -> Any:
        """The request held back from the last batch, else the queue's next item."""
        if self._held is not None:
            item, self._held = self._held, None
            return item
        return self._queue.get(timeout=timeout_s) if block else self._queue.get_nowait()

    def _run(self) -> None:
        stopping = False  # after close(): finish what is queued, then return
        while True:
            try:
                first = self._take(block=not stopping)
            except queue.Empty:
                return
            if first is _STOP:
                stopping = True
                continue
            batch, frames = [first], len(first.images)
            deadline = time.monotonic() + self.max_wait_s
            while self.batching and frames < self.max_batch_frames:
                left = deadline - time.monotonic()
                try:
                    item = self._take(block=left > 0 and not stopping, timeout_s=left)
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    continue
                if (frames + len(item.images) > self.max_batch_frames
                        or item.measure != first.measure):
                    self._held = item
                    break
                batch.append(item)
                frames += len(item.images)
            self._execute(batch)

    def _execute(self, batch: list[_Request]) -> None:
        live = [r for r in batch if r.future.set_running_or_notify_cancel()]
        if not live:
            return
        images = [image for r in live for image in r.images]
        spacings = [s for r in live for s in r.spacings]
        file = live[0].file if len(live) == 1 else None
        try:
            results = self._predict(images, spacings_mm=spacings, measure=live[0].measure,
                                    file=file)
        except Exception as error:  # handed to the caller(s)
            if len(live) == 1:
                live[0].future.set_exception(error)
                return
            for request in live:  # find the culprit: each request on its own
                self._execute_alone(request)
            return
        if self._on_batch is not None:
            self._on_batch(len(images))
        start = 0
        for request in live:
            request.future.set_result(results[start:start + len(request.images)])
            start += len(request.images)

    def _execute_alone(self, request: _Request) -> None:
        try:
            results = self._predict(request.images, spacings_mm=request.spacings,
                                    measure=request.measure, file=request.file)
        except Exception as error:  # handed to the caller
            request.future.set_exception(error)
            return
        if self._on_batch is not None:
            self._on_batch(len(request.images))
        request.future.set_result(results)
