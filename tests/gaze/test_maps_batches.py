"""``sonomtl gaze maps`` with some bad gaze logs: the good sequences are written and recorded,
the bad ones listed at the end (exit 2) and left exactly as they were."""

from __future__ import annotations

import csv
import json

import numpy as np
from PIL import Image

from sonomtl.cli import main
from sonomtl.data.manifest import update_manifest_column
from sonomtl.gaze.dataset_maps import write_dataset_attention_maps
from tests.gaze.test_cli_gaze import _eyetribe_log

SEQUENCES = ("good1", "missing", "empty", "garbage", "unsorted", "good2")


def _dataset(tmp_path):
    """Six sequences of two frames; logs of four of them are bad in different ways."""
    folder = tmp_path / "ds"
    (folder / "images").mkdir(parents=True)
    (folder / "gaze").mkdir()
    rows = ["image,subject,sequence,label,timestamp_ms"]
    for sequence in SEQUENCES:
        for i in range(2):
            name = f"images/{sequence}_{i}.png"
            Image.fromarray(np.full((300, 400), 80, np.uint8)).save(folder / name)
            rows.append(f"{name},{sequence},{sequence},acp,{i * 132}")
    (folder / "manifest.csv").write_text("\n".join(rows) + "\n")
    logs = ", ".join(f"{s}: gaze/{s}.jsonl" for s in SEQUENCES)
    (folder / "dataset.yaml").write_text(
        "format_version: 1\nname: gaze-test\nclasses: [acp, bg]\ninput_size: [240, 240]\n"
        "crop: [0, 300, 0, 300]\n"
        "gaze:\n  screen_px: [1920, 1200]\n  screen_cm: [33.2, 20.7]\n  distance_cm: 50\n"
        f"  image_rect_px: [100, 200, 800, 600]\n  format: eyetribe\n  logs: {{{logs}}}\n")
    for sequence in ("good1", "good2"):
        _eyetribe_log(folder / f"gaze/{sequence}.jsonl", [400.5] * 12, [500.5] * 12)
    (folder / "gaze/empty.jsonl").write_text("")
    (folder / "gaze/garbage.jsonl").write_bytes(b"\x00\xff{not json at all\n")
    _eyetribe_log(folder / "gaze/unsorted.jsonl", [400.5] * 12, [500.5] * 12,
                  start_ms=1000.0, step_ms=-33.0)
    return folder


def _manifest(folder):
    with open(folder / "manifest.csv", newline="") as handle:
        return {row["image"]: row for row in csv.DictReader(handle)}


def test_the_good_sequences_are_written_and_the_bad_ones_listed(tmp_path, capsys):
    folder = _dataset(tmp_path)
    # an earlier run's map of a sequence that now fails: kept, and its manifest cell too
    earlier = folder / "attention/empty/row000006.npy"
    earlier.parent.mkdir(parents=True)
    np.save(earlier, np.ones((240, 240), np.float32), allow_pickle=False)
    update_manifest_column(folder, "attention", {6: "attention/empty/row000006.npy"})
    before_earlier = earlier.read_bytes()

    status = main(["gaze", "maps", str(folder), "--smooth", "1"])
    captured = capsys.readouterr()
    assert status == 2 and "Traceback" not in captured.err
    errors = [line for line in captured.err.splitlines() if "warning" not in line]
    assert len(errors) == 5, errors
    for sequence, line in zip(("missing", "empty", "garbage", "unsorted"), errors):
        assert line.startswith(f"sonomtl: error: {folder / 'gaze' / sequence}.jsonl: "), line
    assert errors[-1] == "sonomtl: error: 4 input(s) failed (of 6)"
    assert "4 attention maps for 6 sequences" in captured.out

    rows = _manifest(folder)
    for sequence in SEQUENCES:
        for i in range(2):
            row = rows[f"images/{sequence}_{i}.png"]
            if sequence.startswith("good"):
                attention = np.load(folder / row["attention"], allow_pickle=False)
                assert attention.shape == (240, 240) and attention.max() == 1.0
                assert len(json.loads(row["fixations"])) == 1  # one fixation per frame
            elif (sequence, i) == ("empty", 0):
                assert row["attention"] == "attention/empty/row000006.npy"
            else:
                assert row["attention"] == "" and row["fixations"] == ""
    written = sorted(str(p.relative_to(folder)) for p in (folder / "attention").rglob("*.npy"))
    assert written == ["attention/empty/row000006.npy",
                       "attention/good1/row000002.npy", "attention/good1/row000003.npy",
                       "attention/good2/row000012.npy", "attention/good2/row000013.npy"]
    assert earlier.read_bytes() == before_earlier


def test_the_library_reports_failures_instead_of_raising(tmp_path):
    folder = _dataset(tmp_path)
    summary = write_dataset_attention_maps(folder, sigma_deg=1.5)
    assert summary.maps_written == 4 and summary.sequences == 6
    assert [line.split(":")[0].rsplit("/", 1)[-1] for line in summary.failures] == [
        "missing.jsonl", "empty.jsonl", "garbage.jsonl", "unsorted.jsonl"]
