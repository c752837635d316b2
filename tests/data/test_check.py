"""check_dataset lists every problem of a dataset with its file, row and field."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sonomtl.data.check import check_dataset
from sonomtl.data.manifest import DatasetSpec, write_dataset

SPEC = DatasetSpec(name="c", classes=("a", "b"), landmarks=("p", "q"),
                   view_landmarks={"a": ("p",)})


def _png(path: Path, hw=(10, 20)) -> None:
    Image.fromarray(np.full(hw, 80, np.uint8)).save(path)


def _write_video(path: Path, n_frames: int) -> None:
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width, stream.height = 32, 16
        stream.pix_fmt = "yuv420p"
        for _ in range(n_frames):
            frame = av.VideoFrame.from_ndarray(np.zeros((16, 32, 3), np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _clean(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    _png(folder / "ok.png")
    _png(folder / "ok2.png")
    return write_dataset(folder, SPEC, [
        {"image": "ok.png", "subject": "s1", "label": "a", "landmarks": {"p": (19.5, 9.5)}},
        {"image": "ok2.png", "subject": "s2", "label": "b"},
    ])


def test_a_clean_dataset_has_no_problems(tmp_path):
    report = check_dataset(_clean(tmp_path / "d"))
    assert report.ok and report.problems == ()
    assert (report.frames, report.subjects, report.labels) == (2, 2, {"a": 1, "b": 1})


def test_every_problem_is_listed_with_file_row_and_field(tmp_path):
    folder = tmp_path / "d"
    folder.mkdir()
    _png(folder / "ok.png")
    (folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    _write_video(folder / "clip.mp4", 5)
    (folder / "dataset.yaml").write_text(
        "name: c\nclasses: [a, b]\nlandmarks: [p, q]\nview_landmarks: {a: [p]}\n")
    (folder / "manifest.csv").write_text(
        "image,video,frame,subject,label,landmarks,attention,spacing_mm\n"
        "missing.png,,,s1,a,,,\n"                                   # row 2
        "corrupt.png,,,s1,a,,,\n"                                   # row 3
        'ok.png,,,s2,a,"{""p"": [20.6, 3]}",,\n'                    # row 4
        "ok.png,,,s2,c,,,\n"                                        # row 5
        ",clip.mp4,7,s3,b,,,\n"                                     # row 6
        'ok.png,,,s3,a,"{""q"": [1, 1]}",att.npy,\n'                # row 7
        "ok.png,,,s4,b,,,-1\n"                                      # row 8
        ",clip.mp4,4,s4,b,,,\n"                                     # row 9 (fine)
    )
    report = check_dataset(folder)
    found = {(p.severity, p.row, p.field) for p in report.problems}
    assert found == {
        ("error", 2, "image"), ("error", 3, "image"), ("error", 4, "landmarks"),
        ("error", 5, "label"), ("error", 6, "frame"), ("error", 7, "attention"),
        ("warning", 7, "landmarks"), ("error", 8, "spacing_mm"),
    }
    by_row = {p.row: p for p in report.problems if p.severity == "error"}
    assert by_row[2].file == str(folder / "missing.png") and "not found" in by_row[2].message
    assert "outside the 20x10 image" in by_row[4].message  # x = 20.6 > 19.5
    assert "beyond the end" in by_row[6].message and "5 frames" in by_row[6].message
    assert by_row[5].file == str(folder / "manifest.csv")
    assert not report.ok and report.frames == 6  # two bad rows are not frames


def test_leaking_splits_are_errors(tmp_path):
    folder = _clean(tmp_path / "d")
    (folder / "splits.yaml").write_text("train: {rows: [2, 3]}\ntest: {subjects: [s2]}\n")
    report = check_dataset(folder, splits=folder / "splits.yaml")
    assert [str(p) for p in report.problems] == [
        f"error: {folder / 'splits.yaml'}: field subject: subject 's2' appears in splits train, "
        "test: every split must be by subject",
        f"error: {folder / 'splits.yaml'}: field subject: the frame at manifest row 3 (subject "
        "'s2') appears in splits train, test: every split must be by subject",
    ]
    assert check_dataset(folder, splits={"train": [0], "test": [1]}).ok


def test_dicom_calibration_outside_the_frame_is_a_warning(tmp_path):
    from pydicom.data import get_testdata_file

    path = get_testdata_file("examples_ybr_color.dcm")
    if path is None:
        pytest.skip("pydicom test file examples_ybr_color.dcm not bundled")
    folder = tmp_path / "d"
    folder.mkdir()
    shutil.copy(path, folder / "cine.dcm")
    write_dataset(folder, DatasetSpec(name="d"), [
        {"video": "cine.dcm", "frame": f, "subject": "s"} for f in (0, 29, 30)])
    report = check_dataset(folder)
    assert [(p.severity, p.row, p.field) for p in report.problems] == [
        ("warning", 2, "video"), ("error", 4, "frame")]
    assert "lies outside the 320x240 frame" in report.problems[0].message


def test_unreadable_spec_or_missing_folder_is_one_error(tmp_path):
    report = check_dataset(tmp_path / "nope")
    assert [p.message for p in report.problems] == ["dataset folder not found"]
    (tmp_path / "dataset.yaml").write_text("name: x\nclasses: a\n")
    (report_problem,) = check_dataset(tmp_path).problems
    assert report_problem.field == "classes"


def test_no_decode_only_checks_existence(tmp_path):
    folder = _clean(tmp_path / "d")
    (folder / "ok2.png").write_bytes(b"junk")
    assert check_dataset(folder, decode=False).ok
    assert not check_dataset(folder).ok


def test_attention_maps_of_a_third_size_are_errors_and_off_frame_fixations_warnings(tmp_path):
    folder = tmp_path / "d"
    folder.mkdir()
    _png(folder / "ok.png")  # 20 columns x 10 rows; input size 4x6
    for name, hw in (("input.npy", (4, 6)), ("frame.npy", (10, 20)), ("half.npy", (5, 10))):
        np.save(folder / name, np.zeros(hw, np.float32))
    spec = DatasetSpec(name="c", classes=("a", "b"), input_size=(4, 6))
    write_dataset(folder, spec, [
        {"image": "ok.png", "subject": "s1", "attention": "input.npy",
         "fixations": [[19.5, 9.5], [0, 0]]},
        {"image": "ok.png", "subject": "s2", "attention": "frame.npy", "fixations": []},
        {"image": "ok.png", "subject": "s3", "attention": "half.npy",
         "fixations": [[20.0, 1.0], [3.0, -0.6]]},
    ])
    report = check_dataset(folder)
    found = {(p.severity, p.row, p.field) for p in report.problems}
    assert found == {("error", 4, "attention"), ("warning", 4, "fixations")}
    by_severity = {p.severity: p.message for p in report.problems}
    assert "is 10x5; expected 6x4 or 20x10" in by_severity["error"]
    assert by_severity["warning"].startswith("2 fixation point(s) lie off the 20x10 frame")


def test_a_manifest_without_frames_is_an_error(tmp_path):
    folder = _clean(tmp_path / "d")
    manifest = folder / "manifest.csv"
    manifest.write_text(manifest.read_text().splitlines()[0] + "\n")  # the header only
    report = check_dataset(folder)
    assert not report.ok and report.frames == 0
    [problem] = report.problems
    assert problem.message == "the manifest lists no frames" and problem.file == str(manifest)
