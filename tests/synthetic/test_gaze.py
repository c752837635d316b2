"""Simulated review gaze: EyeTribe format, screen geometry and eye-movement statistics."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from sonomtl.data.manifest import load_dataset
from sonomtl.data.synthetic.gaze import STATE_FAIL, STATE_LOST, review_screen
from sonomtl.data.synthetic.sweeps import SWEEP_CANVAS_HW


def _read(sweeps_dir: Path, clip: str):
    frames = [
        json.loads(line)["values"]["frame"] for line in (sweeps_dir / f"gaze/{clip}.jsonl").open()
    ]
    with open(sweeps_dir / f"gaze/{clip}_fixations.csv", newline="") as handle:
        fixations = list(csv.DictReader(handle))
    return frames, fixations


def test_screen_maps_1_5_degrees_to_30_pixels_at_the_240_input():
    screen = review_screen(SWEEP_CANVAS_HW)
    # 1.5 deg at 50 cm = 2 * 50 * tan(0.75 deg) = 1.309 cm; 1680 px / 33.2 cm = 50.6 px/cm
    assert screen.px_per_deg * 1.5 == pytest.approx(
        1.309 * (1680 / 33.2 + 1050 / 20.7) / 2, rel=1e-3
    )
    assert screen.px_per_deg * 1.5 / screen.scale == pytest.approx(
        30.0, abs=0.1
    )  # canvas px = input px
    x0, y0, w, h = screen.image_rect_px
    assert 0 <= x0 and x0 + w <= 1680 and 0 <= y0 and y0 + h <= 1050


def test_eyetribe_lines_have_the_api_fields_and_lost_samples_are_zero(sweeps_dir: Path):
    frames, _ = _read(sweeps_dir, "clip_001")
    times = [f["time"] for f in frames]
    assert np.allclose(np.diff(times), 1000 / 30, atol=1)  # 30 Hz
    lost = [f for f in frames if f["state"] & (STATE_FAIL | STATE_LOST)]
    ok = [f for f in frames if f["state"] == 7]
    assert len(lost) > 0 and len(ok) > 0.9 * len(frames)
    for f in lost:
        assert f["raw"] == {"x": 0.0, "y": 0.0} and f["avg"] == {"x": 0.0, "y": 0.0}
    for f in ok[:50]:
        assert set(f) == {"timestamp", "time", "fix", "state", "raw", "avg", "lefteye", "righteye"}
        assert set(f["lefteye"]) == {"avg", "raw", "psize", "pcenter"}
    assert frames[1]["timestamp"].startswith("2017-03-01 12:00:00.0")


def test_csv_log_matches_the_eyetribe_log(sweeps_dir: Path):
    frames, _ = _read(sweeps_dir, "clip_003")
    with open(sweeps_dir / "gaze/clip_003.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(frames)
    for row, frame in zip(rows, frames):
        assert int(row["time_ms"]) == frame["time"]
        if frame["state"] == 7:
            assert float(row["x_px"]) == pytest.approx(frame["raw"]["x"], abs=0.01)
        else:
            assert row["x_px"] == "" and row["y_px"] == ""


def _velocities_deg_s(frames, ppd: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    t = np.array([f["time"] for f in frames], float)
    valid = np.array([f["state"] == 7 for f in frames])
    xy = np.array([[f["raw"]["x"], f["raw"]["y"]] for f in frames], float)
    v = np.hypot(*np.diff(xy, axis=0).T) / ppd / (np.diff(t) / 1000)
    ok = valid[1:] & valid[:-1]
    return t[1:], np.where(ok, v, np.nan), ok


def test_fixations_are_150_to_600_ms_and_saccades_exceed_30_deg_s(sweeps_dir: Path):
    spec, _ = load_dataset(sweeps_dir)
    screen = review_screen(SWEEP_CANVAS_HW)
    durations, peak_saccade, within_fixation = [], [], []
    for clip in spec.gaze.logs:
        frames, fixations = _read(sweeps_dir, clip)
        t, v, ok = _velocities_deg_s(frames, screen.px_per_deg)
        on = np.array([int(f["onset_ms"]) for f in fixations])
        off = np.array([int(f["offset_ms"]) for f in fixations])
        durations += list(off - on)
        for i in range(len(fixations)):
            inside = (t > on[i] + 34) & (t <= off[i]) & ok
            within_fixation += list(v[inside])
            if i + 1 < len(fixations):
                gap = (t > off[i]) & (t <= on[i + 1] + 34)
                amplitude = math.hypot(
                    float(fixations[i + 1]["x_px"]) - float(fixations[i]["x_px"]),
                    float(fixations[i + 1]["y_px"]) - float(fixations[i]["y_px"]),
                )
                if gap.any() and ok[gap].all() and amplitude / screen.px_per_deg >= 1.5:
                    peak_saccade.append(np.nanmax(v[gap]))
    durations = np.asarray(durations)
    assert len(durations) > 100
    assert np.mean((durations >= 150) & (durations <= 600)) > 0.85
    assert 220 <= np.median(durations) <= 420
    assert len(peak_saccade) > 50
    assert np.mean(np.asarray(peak_saccade) > 30) > 0.95
    assert np.median(peak_saccade) > 60
    assert (
        np.mean(np.asarray(within_fixation) < 30) > 0.97
    )  # noise + drift stay below the I-VT threshold


def test_fixations_are_consistent_near_the_acp_and_diffuse_on_background(sweeps_dir: Path):
    spec, records = load_dataset(sweeps_dir)
    on_target = {"ACP": [], "far": []}
    for clip in spec.gaze.logs:
        _, fixations = _read(sweeps_dir, clip)
        clip_records = [r for r in records if r.subject == clip]
        for fixation in fixations[1:]:
            record = clip_records[int(fixation["frame"])]
            level = float(record.extra["sweep_level"])
            key = "ACP" if record.label == "ACP" else ("far" if abs(level - 0.575) > 0.2 else None)
            if key:
                on_target[key].append(fixation["target"] != "")
    assert len(on_target["ACP"]) >= 15 and len(on_target["far"]) >= 30
    assert np.mean(on_target["ACP"]) > 0.75
    assert np.mean(on_target["far"]) < 0.45
