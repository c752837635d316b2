"""Fixtures of the server tests: tiny models, a real server on a loopback port, and the DICOM
node's head checkpoint and archive (helpers live in helpers.py)."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the serve extra is not installed")
pytest.importorskip("uvicorn", reason="the serve extra is not installed")

from sonomtl.inference.predictor import Predictor, TorchRunner
from sonomtl.serve.app import ServeSettings, create_app
from sonomtl.serve.batching import DynamicBatcher
from sonomtl.serve.metrics import Metrics
from sonomtl.serve.models import ServedModel, model_card
from tests.inference.helpers import DotModel, dot_config
from tests.serve.helpers import HEAD_MEASUREMENTS, Archive


def dot_predictor(kind: str) -> Predictor:
    """A predictor whose outputs are known functions of the frame (tests.inference.helpers)."""
    config = dot_config(kind)
    return Predictor(TorchRunner(DotModel(config.outputs), output_names=config.outputs), config,
                     source=f"dot_{kind}")


def served_model(name: str, predictor: Predictor, metrics: Metrics, *,
                 max_wait_ms: float = 5.0, max_queue: int = 64, batching: bool = True,
                 max_batch_frames: int = 16) -> ServedModel:
    batcher = DynamicBatcher(predictor.predict_frames, max_batch_frames=max_batch_frames,
                             max_wait_ms=max_wait_ms, max_queue=max_queue, batching=batching,
                             on_batch=lambda n: metrics.batch_frames.observe(n, model=name))
    return ServedModel(name, predictor, model_card(name, predictor), batcher)


@contextmanager
def running_server(app) -> Iterator[str]:
    """``app`` served by uvicorn on a free 127.0.0.1 port in a thread; yields the base URL."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                                           lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


def build_app(*, token: str | None = None, max_upload_bytes: int = 2_000_000,
              max_frames: int = 20, **batch):
    """An app serving the dot M-SEN (``msen``) and the dot abdominal model (``abdominal``)."""
    metrics = Metrics()
    models = [served_model("msen", dot_predictor("msen"), metrics, **batch),
              served_model("abdominal", dot_predictor("abdominal"), metrics, **batch)]
    settings = ServeSettings(token=token, max_upload_bytes=max_upload_bytes,
                             max_frames=max_frames, threshold=0.9, smoothing_alpha=0.8)
    return create_app(models, settings, metrics=metrics), models


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, list[ServedModel]]]:
    """A running server of the two dot models (no token); ``(base URL, models)``."""
    app, models = build_app()
    with running_server(app) as url:
        yield url, models


def png_bytes(image: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def blob_image(hw=(60, 80), dots=((15, 20), (60, 40))) -> np.ndarray:
    """A dark frame with a bright 3x3 dot at each ``(x, y)``: one per half -> two landmarks."""
    image = np.full(hw, 10, dtype=np.uint8)
    for x, y in dots:
        image[y - 1:y + 2, x - 1:x + 2] = 250
    return image


def write_tiny_msen_run(folder: Path) -> Path:
    """An M-SEN generator (SonoNet-4 trunk) checkpoint at 64x64 input in ``folder``."""
    from sonomtl.models.msen import msen_generator
    from tests.inference.helpers import scaled_init_, write_checkpoint

    folder.mkdir(parents=True, exist_ok=True)
    kwargs = {"sononet_width": 4}
    model = scaled_init_(msen_generator(**kwargs)).eval()
    return write_checkpoint(folder, {"G": ("msen", kwargs, model)},
                            preprocessing={"input_hw": [64, 64]})


@pytest.fixture(scope="session")
def clip_mp4(tmp_path_factory) -> Path:
    from tests.inference.test_video import write_mp4

    return write_mp4(tmp_path_factory.mktemp("clip") / "sweep.mp4")


@pytest.fixture(scope="session")
def head_run(tmp_path_factory) -> Path:
    """A fetal-head landmark checkpoint (abdominal MFCN, 2 classes, OFD/BPD/HC) at 48x64.

    Untrained: He-initialised with seed 5, which on pydicom's ultrasound frames
    puts a positive peak in each of the four heat maps, so every frame gets all
    three measurements (other seeds leave some maps without one).
    """
    from sonomtl.models.abdominal import abdominal_mfcn
    from tests.inference.helpers import scaled_init_, write_checkpoint

    kwargs = {"num_classes": 2, "num_landmarks": 4}
    model = scaled_init_(abdominal_mfcn(**kwargs), seed=5).eval()
    preprocessing = {"input_hw": [48, 64], "class_names": ["fetal_head", "BG"],
                     "landmark_names": ["ofd_1", "ofd_2", "bpd_1", "bpd_2"],
                     "measurements": HEAD_MEASUREMENTS}
    return write_checkpoint(tmp_path_factory.mktemp("head_run"),
                            {"G": ("abdominal_mfcn", kwargs, model)},
                            preprocessing=preprocessing)


@pytest.fixture(scope="session")
def head_predictor(head_run):
    from sonomtl.inference.predictor import load_predictor

    return load_predictor(head_run)


@pytest.fixture
def archive():
    node = Archive()
    yield node
    node.stop()
