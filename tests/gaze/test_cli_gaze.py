"""``sonomtl gaze fixations`` and ``sonomtl gaze maps`` end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from sonomtl.cli import main
from sonomtl.gaze import read_fixations_csv

GEOMETRY_ARGS = ["--screen-px", "1920", "1200", "--screen-cm", "33.2", "20.7",
                 "--distance-cm", "50"]


def _eyetribe_log(path, xs, ys, *, start_ms=0.0, step_ms=33.0):
    lines = []
    for i, (x, y) in enumerate(zip(xs, ys)):
        lost = np.isnan(x)
        frame = {"time": start_ms + i * step_ms, "state": 0x10 if lost else 7,
                 "raw": {"x": 0.0 if lost else x, "y": 0.0 if lost else y},
                 "avg": {"x": 0.0, "y": 0.0}}
        lines.append(json.dumps({"category": "tracker", "values": {"frame": frame}}))
    path.write_text("\n".join(lines) + "\n")


def test_fixations_command_writes_the_fixation_list(tmp_path, capsys):
    log = tmp_path / "g.jsonl"
    _eyetribe_log(log, [700.0] * 8 + [1300.0] * 8, [500.0] * 16)
    out = tmp_path / "fix.csv"
    assert main(["gaze", "fixations", str(log), *GEOMETRY_ARGS, "--smooth", "1",
                 "--out", str(out)]) == 0
    fix = read_fixations_csv(out)
    assert fix.onset_ms.tolist() == [33.0, 297.0]
    assert fix.offset_ms.tolist() == [231.0, 495.0]
    assert fix.x_px.tolist() == [700.0, 1300.0]
    assert "2 fixations from 16 samples" in capsys.readouterr().out


@pytest.mark.parametrize(("args", "message"), [
    (["--screen-cm", "0", "20.7"], "screen_cm"),
    (["--smooth", "2"], "smooth_window"),
])
def test_fixations_command_rejects_bad_options_with_status_2(tmp_path, capsys, args, message):
    log = tmp_path / "g.jsonl"
    _eyetribe_log(log, [700.0] * 8, [500.0] * 8)
    status = main(["gaze", "fixations", str(log), *GEOMETRY_ARGS, *args,
                   "--out", str(tmp_path / "f.csv")])
    err = capsys.readouterr().err
    assert status == 2 and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_fixations_command_names_the_bad_line(tmp_path, capsys):
    log = tmp_path / "g.csv"
    log.write_text("time_ms,x_px,y_px\n0,1,2\n33,1,2\n33,1,2\n")
    status = main(["gaze", "fixations", str(log), "--format", "csv", *GEOMETRY_ARGS,
                   "--out", str(tmp_path / "f.csv")])
    assert status == 2
    assert f"{log}: row 4: field time_ms: time 33 is duplicate" in capsys.readouterr().err


def _dataset(tmp_path, *, log_frames=16):
    folder = tmp_path / "ds"
    (folder / "images").mkdir(parents=True)
    (folder / "gaze").mkdir()
    rows = ["image,subject,sequence,label,timestamp_ms"]
    for i in range(4):
        Image.fromarray(np.full((300, 400), 80, np.uint8)).save(folder / f"images/f{i}.png")
        rows.append(f"images/f{i}.png,s1,clip1,acp,{i * 132}")
    (folder / "manifest.csv").write_text("\n".join(rows) + "\n")
    (folder / "dataset.yaml").write_text(
        "format_version: 1\nname: gaze-test\nclasses: [acp, bg]\ninput_size: [240, 240]\n"
        "crop: [0, 300, 0, 300]\n"
        "gaze:\n  screen_px: [1920, 1200]\n  screen_cm: [33.2, 20.7]\n  distance_cm: 50\n"
        "  image_rect_px: [100, 200, 800, 600]\n  format: eyetribe\n"
        "  logs: {clip1: gaze/clip1.jsonl}\n")
    # Frame pixel (x=150, y=150) is screen pixel (100 + 2*150 + 0.5, 200 + 2*150 + 0.5);
    # after the crop to 300x300 and the resize to 240x240 it is model pixel (119.9, 119.9).
    x = [400.5] * 8 + [700.5] * 8
    _eyetribe_log(folder / "gaze/clip1.jsonl", x[:log_frames], [500.5] * log_frames)
    return folder


def test_maps_command_writes_maps_and_fills_the_attention_column(tmp_path, capsys):
    folder = _dataset(tmp_path)
    assert main(["gaze", "maps", str(folder), "--smooth", "1"]) == 0
    import csv

    rows = list(csv.DictReader((folder / "manifest.csv").open()))
    maps = [np.load(folder / row["attention"], allow_pickle=False) for row in rows]
    assert all(m.shape == (240, 240) and m.dtype == np.float32 for m in maps)
    # First fixation (samples 1-7, 33-231 ms) on frames 0 and 1 (0-132, 132-264 ms);
    # the second (297-495 ms) on frames 2 (264-396) and 3 (396-end).
    peaks = [np.unravel_index(m.argmax(), m.shape) for m in maps]
    assert peaks[0] == peaks[1] == (120, 120)
    # x = 700.5 on screen -> frame x 300 -> outside the 300-px crop: maps 2, 3 are empty.
    assert not maps[2].any() and not maps[3].any()
    assert maps[0].max() == pytest.approx(1.0)
    # sigma: 1.5 deg = 75.7 screen px; * 400/800 frame px per screen px * 240/300 = 30.3 px.
    row = maps[0][120]
    sigma_measured = np.sqrt(np.sum(row * (np.arange(240) - 120.0) ** 2) / row.sum())
    assert sigma_measured == pytest.approx(75.72 * 0.5 * 0.8, rel=0.01)
    assert "4 attention maps for 1 sequences" in capsys.readouterr().out


def test_maps_command_without_a_gaze_block_fails_with_status_2(tmp_path, capsys):
    folder = _dataset(tmp_path)
    text = (folder / "dataset.yaml").read_text()
    (folder / "dataset.yaml").write_text(text[: text.index("gaze:")])
    assert main(["gaze", "maps", str(folder)]) == 2
    assert "gaze" in capsys.readouterr().err
