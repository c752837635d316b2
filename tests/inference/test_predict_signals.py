"""``sonomtl predict`` stopped by SIGINT/SIGTERM: the finished files are kept, the rest leaves
nothing; and an ``--out`` holding an earlier run is refused unless ``--overwrite``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sonomtl.cli import main
from sonomtl.inference.predict_files import predict_files
from tests.inference.test_video import write_mp4

ROOT = Path(__file__).resolve().parents[2]


def _png(path: Path, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (48, 64), dtype=np.uint8)).save(path)
    return path


def _all_files(folder: Path) -> list[str]:
    return sorted(os.fspath(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def _records(out: Path) -> list[dict]:
    return [json.loads(s) for s in (out / "predictions.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def long_video(tmp_path_factory) -> Path:
    """3,000 frames: far more than a run gets through before the test's signal arrives."""
    levels = tuple(int(v) for v in np.linspace(0, 250, 3000))
    return write_mp4(tmp_path_factory.mktemp("video") / "long.mp4", levels=levels, fps=30)


@pytest.mark.slow
@pytest.mark.parametrize("signal_number, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_keeps_the_finished_file_and_removes_the_unfinished_ones_outputs(
    msen_run, long_video, tmp_path, signal_number, status
):
    good = _png(tmp_path / "good.png")
    out = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-m", "sonomtl", "predict", str(msen_run), str(good), str(long_video),
         "--out", str(out), "--no-progress"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first_video_png = out / "attention" / "long_mp4_f00000.png"
    try:
        deadline = time.monotonic() + 120
        while not first_video_png.exists():  # good.png is done once the video has begun
            assert process.poll() is None, process.communicate()[1]
            assert time.monotonic() < deadline, "the video's first frame never appeared"
            time.sleep(0.005)
        process.send_signal(signal_number)
        _, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == status, err
    assert "Traceback" not in err and "sonomtl: interrupted: 1 file(s) done" in err
    records = _records(out)
    assert [(Path(r["source"]).name, r["frame"]) for r in records] == [("good.png", 0)]
    files = _all_files(out)
    assert files == sorted(["predictions.jsonl", records[0]["attention_png"],
                            records[0]["overlay_png"]])  # no video PNG, no best_frames.json
    assert not [f for f in files if Path(f).name.startswith(".")]  # no temporary file


def test_a_stop_between_frames_writes_the_files_done_and_nothing_of_the_unfinished_one(
    msen_run, tmp_path
):
    from sonomtl.inference.predictor import load_predictor

    first, second = _png(tmp_path / "a.png", 1), _png(tmp_path / "b.png", 2)
    clip = write_mp4(tmp_path / "clip.mp4", levels=(10, 60, 110, 160, 210), fps=10)
    checks = []

    def stop_at_the_clips_fourth_frame() -> bool:  # checked before each file and each frame
        checks.append(1)
        # a and b: a file and a frame check each (4); the clip: its start and frames 0-2 (4);
        # frames 0 and 1 were written as a batch of 2 by then: their PNGs must go again
        return len(checks) > 8

    out = tmp_path / "out"
    summary = predict_files(load_predictor(msen_run), [first, second, clip, first],
                            out_dir=out, batch_size=2, should_stop=stop_at_the_clips_fourth_frame)
    assert summary.interrupted and summary.files_ok == 2 and summary.frames == 2
    assert len(checks) == 9
    assert [Path(r["source"]).name for r in _records(out)] == ["a.png", "b.png"]
    assert not [f for f in _all_files(out) if "clip" in f or Path(f).name.startswith(".")]
    assert not (out / "best_frames.json").exists()

    whole = predict_files(load_predictor(msen_run), [first, second, clip], out_dir=tmp_path / "w",
                          batch_size=2, should_stop=lambda: False)
    assert not whole.interrupted and whole.files_ok == 3 and whole.frames == 7


def test_an_out_folder_with_an_earlier_run_is_refused_unless_overwrite(
    msen_run, tmp_path, capsys
):
    image = _png(tmp_path / "frame.png")
    clip = write_mp4(tmp_path / "clip.mp4", levels=(10, 200, 220), fps=10)
    out = tmp_path / "out"
    assert main(["predict", str(msen_run), str(image), str(clip), "--out", str(out),
                 "--no-progress"]) == 0
    assert (out / "best_frames.json").is_file()
    (out / "notes.txt").write_text("mine")  # the user's files are never removed
    (out / "attention" / "README").write_text("mine too")
    before = _all_files(out)
    capsys.readouterr()

    assert main(["predict", str(msen_run), str(image), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"sonomtl: error: {out}: --out already holds")
    assert "--overwrite" in err[0]
    assert _all_files(out) == before  # refused: nothing changed

    assert main(["predict", str(msen_run), str(image), "--out", str(out), "--no-progress",
                 "--overwrite"]) == 0
    # the new run alone: one image, no best frames of the earlier clip, no clip PNGs
    assert [Path(r["source"]).name for r in _records(out)] == ["frame.png"]
    assert _all_files(out) == sorted(["attention/README", "attention/frame_png_f00000.png",
                                      "notes.txt", "overlays/frame_png_f00000.png",
                                      "predictions.jsonl"])
    assert not (out / "best_frames").exists()  # emptied, so removed
