"""Dynamic batching: concurrent requests share model calls; a bad request fails alone."""

from __future__ import annotations

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest

from sonomtl.errors import InputError
from sonomtl.serve.batching import DynamicBatcher, QueueFull
from tests.serve.conftest import blob_image, build_app, png_bytes, running_server


class GatedModel:
    """``predict_frames`` that records each call's frames and blocks until released."""

    def __init__(self) -> None:
        self.calls: list[list[float]] = []
        self.started = threading.Event()
        self.release = threading.Event()

    def __call__(self, images, *, spacings_mm=None, measure=True, file=None):
        self.started.set()
        self.release.wait(10)
        values = [float(np.asarray(i).flat[0]) for i in images]
        self.calls.append(values)
        if any(v < 0 for v in values):
            raise InputError("negative frame", file=file)
        return [v * 10 for v in values]


def _frames(*values: float) -> list[np.ndarray]:
    return [np.full((2, 2), v) for v in values]


def test_requests_that_arrive_while_the_model_runs_share_the_next_call():
    model = GatedModel()
    batcher = DynamicBatcher(model, max_batch_frames=8, max_wait_ms=50)
    first = batcher.submit(_frames(1))
    assert model.started.wait(5)  # the model is busy with the first request
    later = [batcher.submit(_frames(2, 3)), batcher.submit(_frames(4)),
             batcher.submit(_frames(5, 6, 7))]
    model.release.set()
    assert first.result(10) == [10]
    assert [f.result(10) for f in later] == [[20, 30], [40], [50, 60, 70]]
    assert model.calls == [[1], [2, 3, 4, 5, 6, 7]]
    batcher.close()


def test_a_batch_never_passes_max_batch_frames_nor_splits_a_request():
    model = GatedModel()
    batcher = DynamicBatcher(model, max_batch_frames=3, max_wait_ms=50)
    batcher.submit(_frames(1))
    assert model.started.wait(5)
    futures = [batcher.submit(_frames(2, 3)), batcher.submit(_frames(4, 5)),
               batcher.submit(_frames(6))]
    model.release.set()
    assert [f.result(10) for f in futures] == [[20, 30], [40, 50], [60]]
    assert model.calls == [[1], [2, 3], [4, 5, 6]]
    batcher.close()


def test_without_batching_each_request_is_its_own_call():
    model = GatedModel()
    batcher = DynamicBatcher(model, max_wait_ms=50, batching=False)
    batcher.submit(_frames(1))
    assert model.started.wait(5)
    futures = [batcher.submit(_frames(2)), batcher.submit(_frames(3))]
    model.release.set()
    assert [f.result(10) for f in futures] == [[20], [30]]
    assert model.calls == [[1], [2], [3]]
    batcher.close()


def test_a_bad_request_fails_alone_and_its_batch_mates_get_their_results():
    model = GatedModel()
    batcher = DynamicBatcher(model, max_batch_frames=8, max_wait_ms=50)
    batcher.submit(_frames(1))
    assert model.started.wait(5)
    good, bad, other = (batcher.submit(_frames(2)), batcher.submit(_frames(-1), file="bad.png"),
                        batcher.submit(_frames(3)))
    model.release.set()
    assert good.result(10) == [20] and other.result(10) == [30]
    with pytest.raises(InputError, match="bad.png: negative frame"):
        bad.result(10)
    assert model.calls == [[1], [2, -1, 3], [2], [-1], [3]]
    batcher.close()


def test_a_full_queue_refuses_new_requests():
    model = GatedModel()
    batcher = DynamicBatcher(model, max_queue=2, max_wait_ms=0)
    batcher.submit(_frames(1))
    assert model.started.wait(5)
    batcher.submit(_frames(2))
    batcher.submit(_frames(3))
    with pytest.raises(QueueFull, match="2 requests"):
        batcher.submit(_frames(4))
    model.release.set()
    batcher.close()
    assert model.calls == [[1], [2, 3]]


def test_concurrent_http_clients_are_batched_together():
    app, _ = build_app(max_wait_ms=200)
    image = png_bytes(blob_image())
    with running_server(app) as url:
        def post(_):
            return httpx.post(f"{url}/v1/predict", files={"file": ("f.png", image)},
                              data={"model": "msen"}, timeout=60)

        with ThreadPoolExecutor(6) as pool:
            responses = list(pool.map(post, range(6)))
        assert [r.status_code for r in responses] == [200] * 6
        assert len({json_probs(r) for r in responses}) == 1  # same frame, same numbers
        text = httpx.get(f"{url}/metrics").text
    count = _series(text, 'sonomtl_batch_frames_count{model="msen"}')
    single = _series(text, 'sonomtl_batch_frames_bucket{model="msen",le="1"}')
    total = _series(text, 'sonomtl_batch_frames_sum{model="msen"}')
    assert total == 6 and single < count  # some model call held more than one frame
    assert _series(text, 'sonomtl_frames_total{model="msen"}') == 6


def json_probs(response: httpx.Response) -> float:
    return response.json()["predictions"][0]["probabilities"]["plane"]


def _series(text: str, name: str) -> float:
    match = re.search(re.escape(name) + r" (\S+)", text)
    assert match, f"{name} not in /metrics"
    return float(match.group(1))


def test_close_finishes_the_queued_requests_then_refuses_new_ones():
    model = GatedModel()
    batcher = DynamicBatcher(model, max_batch_frames=2, max_queue=4)
    batcher.submit(_frames(1))
    assert model.started.wait(5)
    queued = [batcher.submit(_frames(v)) for v in (2, 3, 4)]
    closer = threading.Thread(target=batcher.close)
    closer.start()
    model.release.set()
    closer.join(10)
    assert not closer.is_alive()
    assert [f.result(0) for f in queued] == [[20], [30], [40]]
    assert model.calls == [[1], [2, 3], [4]]
    with pytest.raises(QueueFull, match="shutting down"):
        batcher.submit(_frames(5))


def test_a_full_queue_is_a_503_and_the_queued_requests_still_complete():
    from sonomtl.serve.app import ServeSettings, create_app
    from sonomtl.serve.metrics import Metrics
    from sonomtl.serve.models import ServedModel, model_card
    from tests.serve.conftest import dot_predictor

    predictor = dot_predictor("msen")
    started, release = threading.Event(), threading.Event()

    def gated(images, **kwargs):
        started.set()
        release.wait(30)
        return predictor.predict_frames(images, **kwargs)

    metrics = Metrics()
    model = ServedModel("msen", predictor, model_card("msen", predictor),
                        DynamicBatcher(gated, max_queue=1))
    app = create_app([model], ServeSettings(), metrics=metrics)
    image = png_bytes(blob_image())
    with running_server(app) as url, ThreadPoolExecutor(2) as pool:
        def post():
            return httpx.post(f"{url}/v1/predict", files={"file": ("f.png", image)}, timeout=60)

        running = pool.submit(post)
        assert started.wait(30)  # the model is busy with the first request
        queued = pool.submit(post)
        end = time.monotonic() + 30
        while model.batcher._queue.qsize() < 1 and time.monotonic() < end:
            time.sleep(0.01)  # until the second request waits in the queue
        refused = post()
        release.set()
        assert refused.status_code == 503
        assert refused.json() == {"error": "the queue holds 1 requests; try again later",
                                  "field": None}
        assert running.result().status_code == 200 and queued.result().status_code == 200
        assert "sonomtl_queue_rejections_total 1" in httpx.get(f"{url}/metrics").text
