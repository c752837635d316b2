"""Streams, temporal smoothing and best-frame selection on real decoded files."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from sonomtl.inference.predict_files import predict_files
from sonomtl.inference.predictor import Predictor, TorchRunner
from sonomtl.inference.video import (
    BestFrameTracker,
    ExponentialSmoother,
    iter_source_frames,
    smooth_probabilities,
)
from tests.inference.helpers import DotModel, dot_config

GREY_LEVELS = (0, 30, 200, 250, 90, 0, 0)


def write_mp4(path, levels=GREY_LEVELS, hw=(64, 64), fps=10):
    """An H.264 MP4 (PyAV) whose frame t is the constant grey level ``levels[t]``."""
    import av

    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = hw[1], hw[0], "yuv420p"
        stream.options = {"qp": "0"}
        if not levels:
            container.start_encoding()  # header only: a video without frames
        for level in levels:
            rgb = np.full((*hw, 3), level, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def test_exponential_smoothing_matches_hand_computation():
    p = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    # alpha 0.25: 0.25*0 + 0.75*1 = 0.75; 0.25*0.5 + 0.75*0.75 = 0.6875
    expected = [[1.0, 0.0], [0.75, 0.25], [0.6875, 0.3125]]
    assert smooth_probabilities(p, alpha=0.25).tolist() == expected
    with pytest.raises(ValueError, match="alpha"):
        ExponentialSmoother(alpha=0.0)


def test_best_frame_is_highest_smoothed_above_threshold_and_ignores_background():
    tracker = BestFrameTracker(threshold=0.6, ignore=["BG"])
    image = np.zeros((2, 2))
    for index, p in enumerate([0.5, 0.7, 0.9, 0.8]):
        tracker.update(smoothed={"ACP": p, "BG": 1 - p + 0.5}, frame_index=index,
                       timestamp_ms=None, image=image, record={})
    assert set(tracker.best) == {"ACP"}
    assert tracker.best["ACP"].frame_index == 2
    assert tracker.best["ACP"].smoothed_probability == 0.9
    low = BestFrameTracker(threshold=0.95)
    low.update(smoothed={"ACP": 0.9}, frame_index=0, timestamp_ms=None, image=image, record={})
    assert low.best == {}


def test_video_frames_stream_with_timestamps(tmp_path):
    frames = list(iter_source_frames(write_mp4(tmp_path / "clip.mp4")))
    assert [f.index for f in frames] == list(range(len(GREY_LEVELS)))
    assert [f.timestamp_ms for f in frames] == pytest.approx([100.0 * i for i in range(7)])
    assert [round(float(f.image.mean())) for f in frames] == pytest.approx(GREY_LEVELS, abs=2)


def test_multiframe_dicom_streams_every_frame():
    from pydicom.data import get_testdata_file

    path = get_testdata_file("examples_ybr_color.dcm")
    with pytest.warns(UserWarning, match="calibration"):
        frames = list(iter_source_frames(path, spacing_mm=(0.3, 0.3)))
    assert len(frames) == 30 and frames[0].image.shape == (240, 320)
    assert frames[2].timestamp_ms == pytest.approx(2 * 33.333, abs=1e-3)
    assert all(f.spacing_mm == (0.3, 0.3) for f in frames)


def test_sweep_best_frame_and_predictions_jsonl(tmp_path):
    clip = write_mp4(tmp_path / "sweep.mp4")
    config = dot_config("msen")
    predictor = Predictor(TorchRunner(DotModel(config.outputs), output_names=config.outputs),
                          config)
    summary = predict_files(predictor, [clip], out_dir=tmp_path / "out", threshold=0.9,
                            smoothing_alpha=0.8, batch_size=3)
    assert summary.failures == [] and summary.frames == 7
    lines = [json.loads(s) for s in (tmp_path / "out/predictions.jsonl").read_text().splitlines()]
    assert [r["frame"] for r in lines] == list(range(7))
    # independent truth: p = sigmoid(10 * mean / 255) of the decoded frames, smoothed by hand
    decoded = [f.image for f in iter_source_frames(clip)]
    smoothed, best, best_p = None, None, -1.0
    for index, image in enumerate(decoded):
        p = 1 / (1 + math.exp(-10 * float(image.mean()) / 255))
        smoothed = p if smoothed is None else 0.8 * p + 0.2 * smoothed
        assert lines[index]["smoothed_probabilities"]["plane"] == pytest.approx(smoothed, abs=1e-4)
        if smoothed >= 0.9 and smoothed > best_p:
            best, best_p = index, smoothed
    report = json.loads((tmp_path / "out/best_frames.json").read_text())
    plane = report[str(clip)]["planes"]["plane"]
    assert plane["frame"] == best == 3
    assert (tmp_path / "out" / plane["image_png"]).is_file()
    assert "BG" not in report[str(clip)]["planes"]
    assert (tmp_path / "out" / lines[0]["attention_png"]).is_file()
