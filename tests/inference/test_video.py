"""Streams, temporal smoothing and best-frame selection on real decoded files."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from PIL import Image

from sonomtl.errors import InputError
from sonomtl.inference.predict_files import predict_files
from sonomtl.inference.predictor import Predictor, TorchRunner
from sonomtl.inference.video import (
    ExponentialSmoother,
    expand_inputs,
    iter_source_frames,
    read_source_frames,
    select_best_frames,
    smooth_probabilities,
    smooth_probabilities_zero_phase,
)
from tests.data.test_io import write_dicom
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


def _causal(values, alpha):
    out, state = [], None
    for value in values:
        state = value if state is None else alpha * value + (1 - alpha) * state
        out.append(state)
    return out


def _zero_phase(values, alpha):
    """By hand: the causal exponential forwards, then again backwards over its output."""
    return _causal(_causal(values, alpha)[::-1], alpha)[::-1]


def _predictor(kind: str, **changes) -> Predictor:
    config = dot_config(kind, **changes)
    return Predictor(TorchRunner(DotModel(config.outputs), output_names=config.outputs), config)


def test_zero_phase_smoothing_matches_hand_computation_and_keeps_the_peak():
    p = np.array([[0.0, 1.0], [0.0, 1.0], [0.5, 0.5], [1.0, 0.0], [0.5, 0.5], [0.0, 1.0]])
    # alpha 0.5 forwards: 0, 0, .25, .625, .5625, .28125; backwards from the end:
    # .28125, .421875, .5234375, .38671875, .193359375, .0966796875
    zero_phase = smooth_probabilities_zero_phase(p, alpha=0.5)
    assert zero_phase[:, 0].tolist() == [0.0966796875, 0.193359375, 0.38671875, 0.5234375,
                                         0.421875, 0.28125]
    assert zero_phase[:, 1].tolist() == pytest.approx(1 - zero_phase[:, 0], abs=1e-12)
    assert int(np.argmax(smooth_probabilities(p, alpha=0.5)[:, 0])) == 3
    assert int(np.argmax(zero_phase[:, 0])) == 3
    assert select_best_frames(zero_phase, ["ACP", "BG"], threshold=0.5, ignore=["BG"]) == {
        "ACP": 3}
    assert select_best_frames(zero_phase, ["ACP", "BG"], threshold=0.6, ignore=["BG"]) == {}
    with pytest.raises(ValueError, match="smoothed must be"):
        select_best_frames(zero_phase, ["ACP"], threshold=0.5)


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
    raw = [1 / (1 + math.exp(-10 * float(image.mean()) / 255)) for image in decoded]
    smoothed = _zero_phase(raw, 0.8)
    for index in range(7):
        assert lines[index]["smoothed_probabilities"]["plane"] == pytest.approx(
            smoothed[index], abs=1e-4)
    best = int(np.argmax(smoothed))
    assert smoothed[best] >= 0.9
    report = json.loads((tmp_path / "out/best_frames.json").read_text())
    plane = report[str(clip)]["planes"]["plane"]
    assert plane["frame"] == best == 3
    assert (tmp_path / "out" / plane["image_png"]).is_file()
    assert "BG" not in report[str(clip)]["planes"]
    assert (tmp_path / "out" / lines[0]["attention_png"]).is_file()
    assert plane["smoothed_probability"] == pytest.approx(smoothed[3], abs=1e-4)


# ----------------------------------------------------------------------------- DICOM streaming


def test_long_dicom_streams_in_memory_of_a_few_frames_with_the_whole_file_values(tmp_path):
    import tracemalloc

    import pydicom

    frames = np.zeros((120, 256, 256), np.uint8)
    frames[:, 50:100, 60:200] = np.arange(120, dtype=np.uint8)[:, None, None]
    path = write_dicom(tmp_path / "long.dcm", frames, bits=8, frame_time_ms=33.0)
    frame_bytes = 256 * 256 * 4  # one float32 grey frame; the file holds 7.8 MB of pixels
    next(iter_source_frames(path))  # imports and decoder set-up outside the measurement
    tracemalloc.start()
    try:
        streamed = [(f.index, f.timestamp_ms, float(f.image[60, 100]), float(f.image.sum()))
                    for f in iter_source_frames(path)]
        peak_bytes = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert path.stat().st_size > 7_800_000
    assert peak_bytes < 4 * frame_bytes  # the old reader held the whole file: > 7.8 MB
    whole = pydicom.dcmread(path).pixel_array.astype(np.float64)  # not streamed
    assert streamed == [(i, 33.0 * i, whole[i, 60, 100], whole[i].sum()) for i in range(120)]


def test_frames_are_read_again_by_index_as_they_were_streamed(tmp_path):
    frames = np.stack([np.full((8, 10), 10 * i, np.uint8) for i in range(6)])
    dicom = write_dicom(tmp_path / "c.dcm", frames, bits=8, frame_time_ms=40.0)
    again = read_source_frames(dicom, [4, 1])
    assert sorted(again) == [1, 4]
    assert again[4].timestamp_ms == 160.0 and float(again[4].image.mean()) == 40.0
    clip = write_mp4(tmp_path / "clip.mp4")
    streamed = list(iter_source_frames(clip))
    for index, frame in read_source_frames(clip, [3, 5]).items():
        assert frame.timestamp_ms == streamed[index].timestamp_ms
        np.testing.assert_array_equal(frame.image, streamed[index].image)
    with pytest.raises(InputError, match="frame 7 is beyond the end"):
        read_source_frames(clip, [7])


# ----------------------------------------------------------------------------- best frame


def _sweep_frames(n_frames: int, peak: int) -> np.ndarray:
    """A 64x64 sweep: the grey level rises and falls symmetrically around ``peak`` (so the
    plane probability does), landmark a_1 stays at (10, 20), a_2 is at (36 + t, 44)."""
    frames = np.zeros((n_frames, 64, 64), np.uint8)
    for t in range(n_frames):
        frames[t] = round(153 * max(0.0, 1 - abs(t - peak) / 6))
        frames[t, 19:22, 9:12] = 255
        frames[t, 43:46, 35 + t:38 + t] = 255
    return frames


def test_best_frame_of_a_sweep_is_where_the_probability_peaks_not_later(tmp_path):
    frames = _sweep_frames(24, peak=9)
    path = write_dicom(tmp_path / "sweep.dcm", frames, bits=8, pixel_spacing=[0.5, 0.5],
                       frame_time_ms=40.0)
    summary = predict_files(_predictor("abdominal"), [path], out_dir=tmp_path / "out",
                            threshold=0.8, smoothing_alpha=0.3, overlays=False, batch_size=5)
    assert summary.failures == [] and summary.frames == 24
    lines = [json.loads(s) for s in (tmp_path / "out/predictions.jsonl").read_text().splitlines()]
    raw = [line["probabilities"]["plane"] for line in lines]
    assert int(np.argmax(raw)) == 9
    causal = _causal(raw, 0.3)
    assert int(np.argmax(causal)) == 12  # what the causal smoother reported before
    smoothed = _zero_phase(raw, 0.3)
    assert [line["smoothed_probabilities"]["plane"] for line in lines] == pytest.approx(
        smoothed, abs=1e-9)
    assert int(np.argmax(smoothed)) == 9
    plane = json.loads((tmp_path / "out/best_frames.json").read_text())[str(path)]["planes"][
        "plane"]
    assert plane["frame"] == 9 and plane["timestamp_ms"] == 360.0
    assert plane["smoothed_probability"] == pytest.approx(smoothed[9], abs=1e-9)
    # a_2 of frame 9 is at (45, 44), a_1 at (10, 20): 35 x 24 px of 0.5 mm
    assert plane["landmarks"] == lines[9]["landmarks"]
    assert plane["landmarks"]["a_2"] == pytest.approx([45.0, 44.0], abs=1e-6)
    assert plane["measurements_mm"]["A"] == pytest.approx(0.5 * math.hypot(35, 24), abs=1e-6)
    saved = np.asarray(Image.open(tmp_path / "out" / plane["image_png"]))
    assert plane["image_png"] == "best_frames/sweep_dcm_plane_f00009.png"
    np.testing.assert_array_equal(saved[..., 0], frames[9])
    assert not np.array_equal(saved[..., 0], frames[12])


# ----------------------------------------------------------------------------- input folders


def test_same_named_files_in_different_folders_keep_their_own_outputs(tmp_path):
    folder = tmp_path / "fold"
    for sub, level in (("a", 40), ("b", 200)):
        (folder / sub).mkdir(parents=True)
        Image.fromarray(np.full((64, 64), level, np.uint8)).save(folder / sub / "img.png")
        write_dicom(folder / sub / "sweep.dcm", np.stack(
            [np.full((64, 64), level + 5 * t, np.uint8) for t in range(3)]), bits=8)
    summary = predict_files(_predictor("msen"), [folder], out_dir=tmp_path / "out",
                            threshold=0.5, batch_size=4)
    assert summary.failures == [] and summary.files_ok == 4 and summary.frames == 8
    lines = [json.loads(s) for s in (tmp_path / "out/predictions.jsonl").read_text().splitlines()]
    assert [(line["source"], line["frame"]) for line in lines] == [
        (str(folder / "a/img.png"), 0), (str(folder / "a/sweep.dcm"), 0),
        (str(folder / "a/sweep.dcm"), 1), (str(folder / "a/sweep.dcm"), 2),
        (str(folder / "b/img.png"), 0), (str(folder / "b/sweep.dcm"), 0),
        (str(folder / "b/sweep.dcm"), 1), (str(folder / "b/sweep.dcm"), 2)]
    assert [line["overlay_png"] for line in lines[:2]] == [
        "overlays/a_img_png_f00000.png", "overlays/a_sweep_dcm_f00000.png"]
    for key in ("overlay_png", "attention_png"):
        assert len({line[key] for line in lines}) == 8  # one file per frame, none shared
    for line in lines:
        # the attention map of the stand-in model is its input: each PNG shows its own source
        level = (40 if "/a/" in line["source"] else 200) + (
            5 * line["frame"] if line["source"].endswith(".dcm") else 0)
        attention = np.asarray(Image.open(tmp_path / "out" / line["attention_png"]))
        assert abs(float(attention.mean()) - level) <= 1
    best = json.loads((tmp_path / "out/best_frames.json").read_text())
    pngs = {source: report["planes"]["plane"]["image_png"] for source, report in best.items()}
    assert pngs == {str(folder / "a/sweep.dcm"): "best_frames/a_sweep_dcm_plane_f00002.png",
                    str(folder / "b/sweep.dcm"): "best_frames/b_sweep_dcm_plane_f00002.png"}
    for source, png in pngs.items():
        level = (40 if "/a/" in source else 200) + 10
        assert np.asarray(Image.open(tmp_path / "out" / png)).mean() == level
    # the same file name given twice from different folders: a hash of the path tells them apart
    summary = predict_files(_predictor("msen"), [folder / "a/img.png", folder / "b/img.png"],
                            out_dir=tmp_path / "out2", overlays=False)
    lines = [json.loads(s) for s in (tmp_path / "out2/predictions.jsonl").read_text().splitlines()]
    names = [line["attention_png"] for line in lines]
    assert len(set(names)) == 2 and all(n.startswith("attention/img_png-") for n in names)


def test_folders_take_dicom_files_without_a_suffix_by_their_content(tmp_path):
    import tracemalloc

    folder = tmp_path / "noext"
    folder.mkdir()
    frames = np.stack([np.full((64, 64), 60 * t, np.uint8) for t in range(3)])
    write_dicom(folder / "IM_0001", frames, bits=8, frame_time_ms=20.0)
    write_dicom(folder / "IM_0002.1", frames[:2], bits=8)
    write_dicom(tmp_path / "DICOMDIR", frames[:1], bits=8)  # DICM preamble, not an image
    (tmp_path / "DICOMDIR").rename(folder / "DICOMDIR")
    (folder / "notes").write_text("not an image")
    with open(folder / "big_scan_without_suffix", "wb") as f:
        f.truncate(50_000_000)  # a large file that is not DICOM: only its bytes 128..131 are read
    Image.fromarray(frames[1]).save(folder / "frame.png")
    tracemalloc.start()
    try:
        found = expand_inputs([folder])
        peak_bytes = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [(f.path.name, f.relative_name) for f in found] == [
        ("IM_0001", "IM_0001"), ("IM_0002.1", "IM_0002.1"), ("frame.png", "frame.png")]
    assert peak_bytes < 1_000_000
    summary = predict_files(_predictor("msen"), [folder], out_dir=tmp_path / "out",
                            overlays=False)
    assert summary.failures == [] and summary.files_ok == 3 and summary.frames == 6
    lines = [json.loads(s) for s in (tmp_path / "out/predictions.jsonl").read_text().splitlines()]
    assert [(line["source"], line["timestamp_ms"]) for line in lines[:3]] == [
        (str(folder / "IM_0001"), 0.0), (str(folder / "IM_0001"), 20.0),
        (str(folder / "IM_0001"), 40.0)]
    assert lines[0]["attention_png"] == "attention/IM_0001_f00000.png"


def test_a_single_frame_dicom_is_not_a_sweep(tmp_path):
    # one frame: no smoothing over time and no best frame of a sweep
    path = write_dicom(tmp_path / "one.dcm", np.full((1, 64, 64), 90, np.uint8), bits=8)
    summary = predict_files(_predictor("msen"), [path], out_dir=tmp_path / "out", threshold=0.0)
    assert summary.files_ok == 1 and summary.frames == 1 and summary.best_frames is None
    [line] = [json.loads(s) for s in (tmp_path / "out/predictions.jsonl").read_text().splitlines()]
    assert "smoothed_probabilities" not in line
