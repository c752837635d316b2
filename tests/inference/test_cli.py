"""The predict, export and bench commands end to end, with real files and bad inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from sonomtl.cli import main
from tests.inference.test_video import write_mp4


def _png(path, array):
    Image.fromarray(np.asarray(array, dtype=np.uint8)).save(path)
    return path


def test_predict_writes_every_frame_and_lists_bad_inputs_at_the_end(msen_run, tmp_path, capsys):
    rng = np.random.default_rng(0)
    good = _png(tmp_path / "frame.png", rng.integers(0, 255, (90, 120)))
    tiff = tmp_path / "frame.tiff"
    Image.fromarray(rng.integers(0, 255, (70, 70), dtype=np.uint8)).save(tiff)
    corrupt = tmp_path / "broken.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    unsupported = tmp_path / "notes.txt"
    unsupported.write_text("hello")
    empty_video = write_mp4(tmp_path / "empty.mp4", levels=())
    clip = write_mp4(tmp_path / "clip.mp4", levels=(10, 200, 220))
    out = tmp_path / "out"
    status = main(["predict", str(msen_run), str(good), str(corrupt), str(tiff),
                   str(unsupported), str(empty_video), str(clip), "--out", str(out),
                   "--no-progress"])
    err = capsys.readouterr().err
    assert status == 2
    assert "3 input(s) failed" in err and "Traceback" not in err
    assert "broken.png: cannot read image" in err
    assert "notes.txt: unsupported input type '.txt'" in err
    assert "empty.mp4: file holds no video stream" in err  # what a 0-frame MP4 looks like
    records = [json.loads(s) for s in (out / "predictions.jsonl").read_text().splitlines()]
    assert [(r["source"].split("/")[-1], r["frame"]) for r in records] == [
        ("frame.png", 0), ("frame.tiff", 0), ("clip.mp4", 0), ("clip.mp4", 1), ("clip.mp4", 2)]
    first = records[0]
    assert set(first["probabilities"]) == {"ACP", "BG"}
    assert Image.open(out / first["attention_png"]).size == (120, 90)
    x, y = first["attention_peak_xy"]
    assert 0 <= x < 120 and 0 <= y < 90
    assert Image.open(out / first["overlay_png"]).size == (120, 90)
    assert str(clip) in json.loads((out / "best_frames.json").read_text())


@pytest.mark.slow
def test_predict_on_dicom_refuses_measurements_without_pixel_size(tmp_path, capsys):
    from pydicom.data import get_testdata_file

    from sonomtl.models.abdominal import abdominal_mfcn
    from tests.inference.helpers import write_checkpoint

    kwargs = {"num_classes": 11, "num_landmarks": 14}
    run = write_checkpoint(tmp_path / "abd", {"G": ("abdominal_mfcn", kwargs,
                                                    abdominal_mfcn(**kwargs).eval())},
                           preprocessing={"input_hw": [64, 64], "target_spacing_mm": 4.0})
    dicom = get_testdata_file("examples_ybr_color.dcm")  # calibration does not fit its frames
    status = main(["predict", str(run), dicom, "--out", str(tmp_path / "o1"), "--no-progress"])
    assert status == 2
    assert "pixel size unknown" in capsys.readouterr().err
    status = main(["predict", str(run), dicom, "--spacing-mm", "0.5", "--batch", "16",
                   "--out", str(tmp_path / "o2"), "--no-progress", "--no-overlays"])
    assert status == 0
    records = [json.loads(s) for s in (tmp_path / "o2/predictions.jsonl").read_text().splitlines()]
    assert len(records) == 30 and records[29]["frame"] == 29
    assert records[1]["timestamp_ms"] == pytest.approx(33.333, abs=1e-3)
    assert records[0]["spacing_mm"] == [0.5, 0.5]
    assert len(records[0]["probabilities"]) == 11


def _dataset(folder, rng, n=6):
    from sonomtl.data.manifest import write_dataset
    from sonomtl.data.spec import DatasetSpec

    folder.mkdir()
    rows = []
    for i in range(n):
        _png(folder / f"f{i}.png", rng.integers(0, 255, (64, 64)))
        rows.append({"image": f"f{i}.png", "subject": f"s{i}", "label": ["ACP", "BG"][i % 2]})
    write_dataset(folder, DatasetSpec(name="calib", classes=("ACP", "BG"), input_size=(64, 64)),
                  rows)
    return folder


@pytest.mark.slow
def test_export_int8_reports_accuracy_change_and_predicts_with_onnx(msen_run, tmp_path, capsys):
    data = _dataset(tmp_path / "data", np.random.default_rng(0))
    model = tmp_path / "msen-int8.onnx"
    status = main(["export", str(msen_run), "--dtype", "int8", "--calibration", str(data),
                   "--validation", str(data), "--out", str(model)])
    assert status == 0
    report = json.loads(capsys.readouterr().out)
    validation = report["validation"]
    assert validation["frames"] == 6 and validation["labelled"] == 6
    assert validation["accuracy_change"] == pytest.approx(
        validation["accuracy_exported"] - validation["accuracy_fp32"])
    assert report["size_mb"] < 0.5 * _fp32_size(msen_run, tmp_path)
    status = main(["predict", str(model), str(data / "f0.png"), "--out", str(tmp_path / "p"),
                   "--no-progress"])
    assert status == 0
    capsys.readouterr()
    # bench runs the file as exported and says so; another --dtype is refused
    assert main(["bench", str(model), "--iters", "1", "--warmup", "0", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["dtype"] == "int8"
    assert main(["bench", str(model), "--dtype", "fp32", "--iters", "1"]) == 2
    assert "field --dtype: this ONNX file was exported as int8" in capsys.readouterr().err


def _fp32_size(run, tmp_path):
    assert main(["export", str(run), "--out", str(tmp_path / "fp32.onnx")]) == 0
    return (tmp_path / "fp32.onnx").stat().st_size / 1e6


def test_export_refuses_int8_without_calibration(msen_run, tmp_path, capsys):
    status = main(["export", str(msen_run), "--dtype", "int8", "--out", str(tmp_path / "m.onnx")])
    assert status == 2
    assert "--calibration" in capsys.readouterr().err


def test_bench_registry_model_reports_its_figures(capsys):
    import torch

    from sonomtl.models.registry import build_model

    status = main(["bench", "msen", "--input-size", "64", "64", "--iters", "3", "--warmup", "1",
                   "--threads", "1", "--json"])
    assert status == 0
    result = json.loads(capsys.readouterr().out)
    model = build_model("msen")
    params = sum(p.numel() for p in model.parameters())
    assert result["parameters"] == params
    nbytes = sum(t.numel() * 4 for t in [*model.parameters(), *model.buffers()]
                 if t.dtype == torch.float32)
    assert result["size_mb"] == pytest.approx(nbytes / 1e6, rel=1e-3)
    lat = result["latency_ms"]
    assert 0 < lat["min"] <= lat["p50"] <= lat["p95"]
    assert result["throughput_fps"] == pytest.approx(1000 / lat["mean"])


def test_bench_refuses_an_input_size_the_model_cannot_take(capsys):
    assert main(["bench", "msen", "--input-size", "8", "8", "--iters", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert "cannot take a 8x8 input" in err and len(err.splitlines()) == 1


def test_a_file_that_fails_part_way_leaves_no_images_behind(msen_run, tmp_path, capsys):
    # a cine whose pixel data ends early: its first frames were predicted and drawn, then
    # decoding fails; its images go with its lines, the other file's stay
    from tests.data.test_io import write_dicom

    rng = np.random.default_rng(2)
    cine = write_dicom(tmp_path / "cine.dcm", rng.integers(0, 255, (12, 40, 40)), bits=8)
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(cine.read_bytes()[:-2000])  # the last frame and a half are missing
    good = _png(tmp_path / "frame.png", rng.integers(0, 255, (40, 40)))
    out = tmp_path / "out"
    assert main(["predict", str(msen_run), str(cut), str(good), "--out", str(out),
                 "--batch", "4", "--no-progress"]) == 2
    assert "cut.dcm" in capsys.readouterr().err
    assert sorted(p.name for p in (out / "attention").iterdir()) == ["frame_png_f00000.png"]
    assert sorted(p.name for p in (out / "overlays").iterdir()) == ["frame_png_f00000.png"]
