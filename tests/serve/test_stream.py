"""WebSocket /v1/stream: per-frame results, causal smoothing and the best frame so far."""

from __future__ import annotations

import json

import numpy as np
import pytest
from websockets.sync.client import connect

from sonomtl.inference.video import smooth_probabilities
from sonomtl.serve.schemas import StreamFrame
from tests.serve.conftest import blob_image, build_app, dot_predictor, png_bytes, running_server

LEVELS = (0, 30, 200, 250, 90, 0)


def _frames() -> list[np.ndarray]:
    return [np.full((48, 64), level, dtype=np.uint8) for level in LEVELS]


def _stream(url: str, frames, *, query: str = "model=msen", fmt: str = "raw",
            spacing=None) -> list[dict]:
    replies = []
    with connect(url.replace("http", "ws") + f"/v1/stream?{query}") as socket:
        for index, frame in enumerate(frames):
            header = {"format": fmt, "shape": list(frame.shape), "spacing_mm": spacing,
                      "timestamp_ms": 40.0 * index}
            socket.send(json.dumps(header))
            socket.send(frame.tobytes() if fmt == "raw" else png_bytes(frame))
            replies.append(json.loads(socket.recv(timeout=30)))
    return replies


def test_stream_smooths_causally_and_tracks_the_best_frame(server):
    url, _ = server
    replies = _stream(url, _frames())
    for reply in replies:
        StreamFrame.model_validate(reply)
    expected = dot_predictor("msen").predict_frames([f.astype(np.float32) for f in _frames()])
    raw = np.array([list(e.probabilities.values()) for e in expected])
    smoothed = smooth_probabilities(raw, alpha=0.8)  # the server's smoothing_alpha
    assert [r["frame"] for r in replies] == list(range(6))
    assert [r["timestamp_ms"] for r in replies] == [40.0 * i for i in range(6)]
    for reply, e, row in zip(replies, expected, smoothed):
        assert reply["probabilities"] == pytest.approx(e.probabilities, abs=1e-12)
        assert list(reply["smoothed_probabilities"].values()) == pytest.approx(row.tolist())
        assert reply["attention_peak_xy"] == pytest.approx(list(e.attention_peak_xy))
    # the causal curve first reaches the threshold 0.9 at frame 2 and peaks at frame 3
    peak = int(np.argmax(smoothed[:, 0]))
    assert peak == 3 and smoothed[1, 0] < 0.9 <= smoothed[2, 0]
    assert "plane" not in replies[1]["best_frames"]
    assert replies[2]["best_frames"]["plane"]["frame"] == 2
    assert [r["best_frames"]["plane"]["frame"] for r in replies[3:]] == [3, 3, 3]
    assert replies[-1]["best_frames"]["plane"]["smoothed_probability"] == pytest.approx(
        smoothed[3, 0])
    assert "BG" not in replies[-1]["best_frames"]  # background gets no best frame


def test_png_frames_with_a_pixel_size_get_landmarks_and_measurements(server):
    url, _ = server
    image = blob_image()
    reply = _stream(url, [image], query="model=abdominal", fmt="png", spacing=[0.4, 0.5])[0]
    expected = dot_predictor("abdominal").predict_frames([image.astype(np.float32)],
                                                         spacings_mm=[(0.4, 0.5)])[0]
    assert reply["landmarks"] == expected.landmarks
    assert reply["measurements_mm"] == pytest.approx(expected.measurements_mm)
    assert reply["spacing_mm"] == [0.4, 0.5]


def test_stream_refuses_an_unknown_model_and_a_missing_token():
    from websockets.exceptions import ConnectionClosed

    app, _ = build_app(token="s3cret")
    with running_server(app) as url:
        base = url.replace("http", "ws") + "/v1/stream"
        for query, code, words in (("?model=msen", 4401, "token"),
                                   ("?model=nope&token=s3cret", 4404, "no model 'nope'")):
            with connect(base + query) as socket:
                assert words in json.loads(socket.recv(timeout=30))["error"]
                with pytest.raises(ConnectionClosed) as closed:
                    socket.recv(timeout=30)
                assert closed.value.rcvd.code == code
        replies = _stream(url, _frames()[:2], query="model=msen&token=s3cret")
        assert [r["frame"] for r in replies] == [0, 1]
