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


@pytest.mark.parametrize("out_dir", ["../escape", "/tmp/elsewhere", ""])
def test_maps_are_written_inside_the_dataset_only(tmp_path, capsys, out_dir):
    # the manifest names files relative to the dataset folder
    folder = _dataset(tmp_path)
    assert main(["gaze", "maps", str(folder), "--out-dir", out_dir]) == 2
    assert "field out_dir: must be a folder inside the dataset" in capsys.readouterr().err
    assert not (tmp_path / "escape").exists()


def test_maps_command_fills_fixations_with_exact_frame_pixels(tmp_path, capsys):
    folder = _dataset(tmp_path)
    assert main(["gaze", "maps", str(folder), "--smooth", "1"]) == 0
    import csv

    rows = list(csv.DictReader((folder / "manifest.csv").open()))
    points = [json.loads(row["fixations"]) for row in rows]
    # screen (400.5, 500.5) -> frame ((400.5 - 100 + 0.5) * 400 / 800 - 0.5, ...) = (150, 150);
    # screen x 700.5 -> frame x 300: on the frame, though the crop leaves it out of the map
    assert points == [[[150.0, 150.0]], [[150.0, 150.0]], [[300.0, 150.0]], [[300.0, 150.0]]]
    # mapped back to the screen they are exactly the fixation centroids of 'gaze fixations'
    out = tmp_path / "fix.csv"
    assert main(["gaze", "fixations", str(folder / "gaze/clip1.jsonl"), "--screen-px", "1920",
                 "1200", "--screen-cm", "33.2", "20.7", "--distance-cm", "50", "--smooth", "1",
                 "--out", str(out)]) == 0
    fix = read_fixations_csv(out)
    back = [[(x + 0.5) * 800 / 400 - 0.5 + 100, (y + 0.5) * 600 / 300 - 0.5 + 200]
            for (x, y), in points[1:3]]
    assert back == np.stack([fix.x_px, fix.y_px], axis=1).tolist()


def test_fixations_and_maps_agree_in_the_data_layer(tmp_path):
    from sonomtl.data.dataset import UltrasoundDataset

    folder = _dataset(tmp_path)
    assert main(["gaze", "maps", str(folder), "--smooth", "1"]) == 0
    dataset = UltrasoundDataset(folder, normalise=None)
    first, third = dataset[0], dataset[2]
    # model pixel (119.9, 119.9): the map's peak and the one fixated pixel coincide
    assert np.argwhere(first["fixation_map"][0].numpy() == 1).tolist() == [[120, 120]]
    attention = first["attention"][0].numpy()
    assert np.unravel_index(attention.argmax(), attention.shape) == (120, 120)
    # frame x 300 is cropped away: no fixated pixel, empty map, but fixation data present
    assert float(third["fixation_map"].sum()) == 0.0 and float(third["attention"].sum()) == 0.0


def test_fixations_off_the_frame_are_left_out_with_a_warning(tmp_path, capsys):
    folder = _dataset(tmp_path)
    # second fixation at screen y 150.5, above the frame drawn from y = 200
    _eyetribe_log(folder / "gaze/clip1.jsonl", [400.5] * 8 + [700.5] * 8,
                  [500.5] * 8 + [150.5] * 8)
    assert main(["gaze", "maps", str(folder), "--smooth", "1"]) == 0
    import csv

    rows = list(csv.DictReader((folder / "manifest.csv").open()))
    assert [row["fixations"] for row in rows] == ["[[150.0, 150.0]]"] * 2 + ["[]"] * 2
    assert "2 fixation-frame pairs fell off the frame" in capsys.readouterr().err


def test_maps_with_an_automatic_crop_align_with_the_data_layers_frames(tmp_path):
    # crop: auto is found after the overlay rectangles are blanked, as the data layer does;
    # on the raw frame the overlay band shifted the box and every map by 8-10 model pixels
    from sonomtl.data.dataset import UltrasoundDataset
    from sonomtl.data.preprocess import Pipeline
    from sonomtl.data.synthetic import generate_sweeps
    from sonomtl.gaze.dataset_maps import write_dataset_attention_maps
    from sonomtl.gaze.geometry import ScreenGeometry
    from sonomtl.gaze.maps import attention_map, sigma_px_for

    # seed 0: the sector reaches into the overlay band at the top of the frame
    folder = generate_sweeps(tmp_path / "sw", subjects=1, frames_per_clip=8, seed=0, video=False)
    spec_file = folder / "dataset.yaml"
    text = spec_file.read_text()
    assert "crop: [50, 290, 80, 320]" in text and "mask_rects: []" in text
    spec_file.write_text(text.replace("crop: [50, 290, 80, 320]", "crop: auto")
                         .replace("mask_rects: []", "mask_rects: [[0, 0, 400, 28]]"))
    with pytest.warns(UserWarning):  # fixations cropped away
        write_dataset_attention_maps(folder)
    dataset = UltrasoundDataset(folder, normalise=None)
    gaze = dataset.spec.gaze
    screen = ScreenGeometry(screen_px=gaze.screen_px, screen_cm=gaze.screen_cm,
                            distance_cm=gaze.distance_cm)
    worst = 0.0
    for k in range(len(dataset)):
        # each stored map equals the map redrawn at the data layer's fixation pixels
        sample = dataset[k]
        points = np.argwhere(sample["fixation_map"][0].numpy() > 0)[:, ::-1].astype(float)
        matrix = Pipeline.from_dict(sample["geometry"]).matrix
        frame_h, frame_w = 300, 400  # the simulator's frames, shown in image_rect_px
        scale = (matrix[0, 0] * frame_w / gaze.image_rect_px[2],
                 matrix[1, 1] * frame_h / gaze.image_rect_px[3])
        sigma = sigma_px_for(geometry=screen, sigma_deg=1.5, model_px_per_screen_px=scale)
        stored = sample["attention"][0].numpy()
        redrawn = attention_map(points, output_hw=stored.shape, sigma_px=sigma)
        worst = max(worst, float(np.abs(redrawn - stored).max()))
    assert worst < 0.01
