"""dataset.yaml + manifest.csv: parsing, validation with file/row/field, atomic writing."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml

from sonomtl.data.manifest import (
    DatasetSpec,
    FrameRecord,
    GazeSetup,
    Measurement,
    load_dataset,
    load_spec,
    read_manifest,
    record_to_row,
    spec_from_dict,
    update_manifest_column,
    write_dataset,
)
from sonomtl.errors import InputError

ABDOMINAL_YAML = """
format_version: 1
name: tiny-abdominal
classes: [kidney_right_long, kidney_left_long, others]
landmarks: [kidney_long_1, kidney_long_2, left_dot, right_dot]
view_landmarks:
  kidney_right_long: [kidney_long_1, kidney_long_2]
  kidney_left_long: [kidney_long_1, kidney_long_2, left_dot, right_dot]
landmark_tasks:
  kidney_long: [kidney_long_1, kidney_long_2]
flip_pairs: [[left_dot, right_dot]]
measurements:
  KL_LA: {type: distance, landmarks: [kidney_long_1, kidney_long_2]}
input_size: [120, 160]
target_spacing_mm: 0.5
crop: [10, 200, 20, 300]
mask_rects: [[0, 0, 30, 12]]
frame_rate_hz: 25
gaze:
  screen_px: [1920, 1200]
  screen_cm: [33.2, 20.7]
  distance_cm: 50
  image_rect_px: [100, 50, 640, 480]
  format: eyetribe
  logs: {seq1: gaze/seq1.jsonl}
"""


def _dataset(tmp_path: Path, csv_text: str, yaml_text: str = ABDOMINAL_YAML) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "dataset.yaml").write_text(yaml_text)
    (tmp_path / "manifest.csv").write_text(csv_text)
    return tmp_path


def _error(callable_, *args) -> InputError:
    with pytest.raises(InputError) as info:
        callable_(*args)
    return info.value


# ----------------------------------------------------------------------------- dataset.yaml


def test_spec_reads_every_documented_key(tmp_path):
    (tmp_path / "dataset.yaml").write_text(ABDOMINAL_YAML)
    spec = load_spec(tmp_path)
    assert spec.name == "tiny-abdominal"
    assert spec.classes == ("kidney_right_long", "kidney_left_long", "others")
    assert spec.class_index("others") == 2
    assert spec.landmark_index("left_dot") == 2
    assert spec.measurements == {"KL_LA": Measurement("distance",
                                                      ("kidney_long_1", "kidney_long_2"))}
    assert spec.input_size == (120, 160)
    assert spec.target_spacing_mm == 0.5
    assert spec.crop == (10, 200, 20, 300)
    assert spec.mask_rects == ((0.0, 0.0, 30.0, 12.0),)
    assert spec.frame_rate_hz == 25.0
    assert spec.gaze == GazeSetup((1920, 1200), (33.2, 20.7), 50.0, (100.0, 50.0, 640.0, 480.0),
                                  "eyetribe", {"seq1": "gaze/seq1.jsonl"})
    assert spec.landmark_tasks == {"kidney_long": ("kidney_long_1", "kidney_long_2")}
    assert spec.flip_permutation == [0, 1, 3, 2]


def test_landmarks_for_label_follow_view_landmarks(tmp_path):
    (tmp_path / "dataset.yaml").write_text(ABDOMINAL_YAML)
    spec = load_spec(tmp_path / "dataset.yaml")
    assert spec.landmarks_for_label("kidney_right_long") == [0, 1]
    assert spec.landmarks_for_label(1) == [0, 1, 2, 3]
    assert spec.landmarks_for_label("others") == []
    assert spec.landmarks_for_label(None) == []
    assert spec.landmarks_for_label(-1) == []
    # Without view_landmarks every landmark is annotated on every frame (HC18).
    hc = DatasetSpec(name="hc", landmarks=("ofd_1", "ofd_2"))
    assert hc.landmarks_for_label(None) == [0, 1]


def test_spec_round_trips_through_to_dict_and_yaml(tmp_path):
    (tmp_path / "dataset.yaml").write_text(ABDOMINAL_YAML)
    spec = load_spec(tmp_path)
    again = spec_from_dict(yaml.safe_load(yaml.safe_dump(spec.to_dict())))
    assert again == spec


def test_spec_defaults_for_a_minimal_file():
    spec = spec_from_dict({"name": "frames"})
    assert (spec.classes, spec.landmarks, spec.input_size, spec.crop, spec.gaze) == (
        (), (), (240, 240), None, None)
    assert spec_from_dict({"name": "x", "crop": "auto"}).crop == "auto"


@pytest.mark.parametrize(
    ("yaml_text", "field", "words"),
    [
        ("name: a\nclases: [x]\n", "clases", "did you mean 'classes'"),
        ("classes: [x]\n", "name", "missing"),
        ("name: a\nclasses: x\n", "classes", "expected a list"),
        ("name: a\ninput_size: [240]\n", "input_size", "2 numbers"),
        ("name: a\ninput_size: [240, 0]\n", "input_size", "positive"),
        ("name: a\ninput_size: [240.5, 3]\n", "input_size", "integer"),
        ("name: a\ntarget_spacing_mm: -0.5\n", "target_spacing_mm", "positive"),
        ("name: a\ntarget_spacing_mm: yes\n", "target_spacing_mm", "number"),
        ("name: a\ncrop: [5, 1, 0, 3]\n", "crop", "row0 < row1"),
        ("name: a\ncrop: sector\n", "crop", "auto"),
        ("name: a\nmask_rects: [[5, 0, 1, 3]]\n", "mask_rects[0]", "x0 < x1"),
        ("name: a\nlandmarks: [p, p]\n", "landmarks", "duplicate"),
        ("name: a\nlandmarks: [p]\nflip_pairs: [[p, q]]\n", "flip_pairs[0]", "unknown landmark"),
        ("name: a\nclasses: [c]\nlandmarks: [p]\nview_landmarks: {d: [p]}\n",
         "view_landmarks.d", "unknown class"),
        ("name: a\nlandmarks: [p, q]\nmeasurements: {M: {type: area, landmarks: [p, q]}}\n",
         "measurements.M.type", "unknown measurement type"),
        ("name: a\nlandmarks: [p, q]\nmeasurements: {M: {type: distance, landmarks: [p]}}\n",
         "measurements.M.landmarks", "takes 2"),
        ("name: a\ngaze: {screen_px: [1, 1], screen_cm: [1, 1], distance_cm: 50}\n",
         "gaze.image_rect_px", "missing"),
        ("name: a\ngaze: {screen_px: [1, 1], screen_cm: [1, 1], distance_cm: 50, "
         "image_rect_px: [0, 0, 1, 1], format: tobii}\n", "gaze.format", "unknown gaze format"),
        ("name: a\nformat_version: 2\n", "format_version", "unsupported"),
    ],
)
def test_bad_spec_names_file_and_key(tmp_path, yaml_text, field, words):
    (tmp_path / "dataset.yaml").write_text(yaml_text)
    error = _error(load_spec, tmp_path)
    assert error.file == str(tmp_path / "dataset.yaml")
    assert error.field == field
    assert words in error.message


def test_missing_or_unparsable_spec_is_an_input_error(tmp_path):
    assert "not found" in _error(load_spec, tmp_path).message
    (tmp_path / "dataset.yaml").write_text("name: [unclosed\n")
    assert "not valid YAML" in _error(load_spec, tmp_path).message
    (tmp_path / "dataset.yaml").write_text("- just\n- a list\n")
    assert "mapping" in _error(load_spec, tmp_path).message


# ----------------------------------------------------------------------------- manifest rows


def test_manifest_rows_become_typed_records(tmp_path):
    lm = json.dumps({"kidney_long_1": [10.5, 20], "kidney_long_2": [30, 40.25]}).replace('"', '""')
    _dataset(tmp_path, (
        "image,subject,sequence,label,landmarks,spacing_mm,timestamp_ms,note\n"
        f'a.png,s1,seq1,kidney_right_long,"{lm}",0.25,33.5,hello\n'
        "b.png,s2,,,,,,\n"
    ))
    spec, records = load_dataset(tmp_path)
    first, second = records
    assert first == FrameRecord(
        row=2, subject="s1", image="a.png", sequence="seq1", label="kidney_right_long",
        landmarks={"kidney_long_1": (10.5, 20.0), "kidney_long_2": (30.0, 40.25)},
        spacing_mm=(0.25, 0.25), timestamp_ms=33.5, extra={"note": "hello"})
    assert second.row == 3 and second.label is None and second.landmarks == {}
    assert second.spacing_mm is None and second.extra == {"note": ""}


def test_video_rows_anisotropic_spacing_and_absent_landmarks(tmp_path):
    _dataset(tmp_path, (
        "video,frame,subject,spacing_x_mm,spacing_y_mm,landmarks_2\n"
        'clip.mp4,7,p9,0.3,0.4,"{""left_dot"": [1, 2], ""right_dot"": [null, null]}"\n'
    ))
    (record,) = read_manifest(tmp_path, load_spec(tmp_path))
    assert (record.video, record.frame, record.image, record.source) == (
        "clip.mp4", 7, None, "clip.mp4")
    assert record.spacing_mm == (0.3, 0.4)
    assert record.landmarks_2 == {"left_dot": (1.0, 2.0)}


def test_blank_lines_keep_spreadsheet_row_numbers(tmp_path):
    _dataset(tmp_path, "image,subject,label\na.png,s1,others\n\nb.png,s2,bogus\n")
    error = _error(load_dataset, tmp_path)
    assert (error.row, error.field) == (4, "label")


@pytest.mark.parametrize(
    ("csv_text", "row", "field", "words"),
    [
        ("image,label\na.png,others\n", 1, "subject", "missing required column"),
        ("subject,label\ns1,others\n", 1, "image", "missing column"),
        ("video,subject\nv.mp4,s1\n", 1, "frame", "needs a 'frame' column"),
        ("image,subject,lable\na.png,s1,others\n", 1, "lable", "did you mean 'label'"),
        ("image,subject,subject\na.png,s1,s1\n", 1, "subject", "duplicate"),
        ("image,subject,spacing_x_mm\na.png,s1,0.1\n", 1, "spacing_y_mm", "both"),
        ("image,subject\na.png,s1\nb.png,\n", 3, "subject", "missing subject"),
        ("image,subject\na.png,s1\nb.png,s1,extra\n", 3, None, "expected 2 values"),
        ("image,subject,label\na.png,s1,kidney_rigth_long\n", 2, "label",
         "did you mean 'kidney_right_long'"),
        ("image,subject,label_2\na.png,s1,liver\n", 2, "label_2", "unknown label"),
        ("image,subject,spacing_mm\na.png,s1,nan\n", 2, "spacing_mm", "finite"),
        ("image,subject,spacing_mm\na.png,s1,0\n", 2, "spacing_mm", "positive"),
        ("image,subject,spacing_mm\na.png,s1,-0.2\n", 2, "spacing_mm", "positive"),
        ("image,subject,spacing_mm\na.png,s1,abc\n", 2, "spacing_mm", "expected a number"),
        ("image,subject,timestamp_ms\na.png,s1,inf\n", 2, "timestamp_ms", "finite"),
        ("video,frame,subject\nv.mp4,-1,s1\n", 2, "frame", "0-based"),
        ("video,frame,subject\nv.mp4,1.5,s1\n", 2, "frame", "0-based"),
        ("video,frame,subject\nv.mp4,,s1\n", 2, "frame", "needs a frame index"),
        ("image,video,frame,subject\na.png,v.mp4,0,s1\n", 2, "video", "not both"),
        ("image,video,frame,subject\n,,,s1\n", 2, "image", "missing file"),
        ('image,subject,landmarks\na.png,s1,"{""kidney_long_3"": [1, 2]}"\n', 2, "landmarks",
         "unknown landmark 'kidney_long_3'"),
        ('image,subject,landmarks\na.png,s1,"{""left_dot"": [1]}"\n', 2, "landmarks",
         "expected [x, y]"),
        ('image,subject,landmarks\na.png,s1,"{""left_dot"": [1, NaN]}"\n', 2, "landmarks",
         "finite"),
        ("image,subject,landmarks\na.png,s1,[1 2]\n", 2, "landmarks", "JSON object"),
        ('image,subject,landmarks\na.png,s1,"[1, 2]"\n', 2, "landmarks", "JSON object"),
        ("image,subject,fixations\na.png,s1,[[1 2]]\n", 2, "fixations", "JSON list"),
        ('image,subject,fixations\na.png,s1,"{""x"": 1}"\n', 2, "fixations", "JSON list"),
        ('image,subject,fixations\na.png,s1,"[[1, 2], [3]]"\n', 2, "fixations",
         "fixation 1: expected [x, y]"),
        ('image,subject,fixations\na.png,s1,"[[1, Infinity]]"\n', 2, "fixations", "finite"),
        ('image,subject,fixations\na.png,s1,"[[true, 2]]"\n', 2, "fixations", "expected [x, y]"),
    ],
)
def test_bad_manifest_names_file_row_and_field(tmp_path, csv_text, row, field, words):
    _dataset(tmp_path, csv_text)
    error = _error(load_dataset, tmp_path)
    assert error.file == str(tmp_path / "manifest.csv")
    assert (error.row, error.field) == (row, field)
    assert words in error.message


def test_extension_columns_are_not_taken_for_misspellings(tmp_path):
    _dataset(tmp_path, "image,subject,label_3,landmarks_note,subject_age\na.png,s1,x,y,33\n")
    (record,) = load_dataset(tmp_path)[1]
    assert record.extra == {"label_3": "x", "landmarks_note": "y", "subject_age": "33"}


def test_missing_dataset_folder_and_manifest(tmp_path):
    assert "dataset folder not found" in _error(load_dataset, tmp_path / "nope").message
    (tmp_path / "dataset.yaml").write_text("name: a\n")
    assert "no manifest" in _error(load_dataset, tmp_path).message
    (tmp_path / "manifest.csv").write_text("")
    assert _error(load_dataset, tmp_path).row == 1


def test_empty_manifest_has_no_records(tmp_path):
    _dataset(tmp_path, "image,subject\n")
    assert load_dataset(tmp_path)[1] == []


# ----------------------------------------------------------------------------- writing


def test_write_dataset_round_trips_records_exactly(tmp_path):
    spec = load_spec(_dataset(tmp_path / "src", "image,subject\n"))
    rows = [
        {"image": "a.png", "subject": "s1", "label": "kidney_left_long",
         "landmarks": {"kidney_long_1": (1.0 / 3.0, 2.0), "left_dot": (float("nan"), 1.0)},
         "spacing_mm": (0.1, 0.1), "timestamp_ms": 12.5, "origin": "sim"},
        {"video": "v.mp4", "frame": 3, "subject": "s2", "spacing_mm": (0.1, 0.2)},
    ]
    out = write_dataset(tmp_path / "out", spec, rows)
    spec2, records = load_dataset(out)
    assert spec2 == spec
    assert records[0].landmarks == {"kidney_long_1": (1.0 / 3.0, 2.0)}  # exact, NaN dropped
    assert records[0].spacing_mm == (0.1, 0.1)
    assert records[0].extra == {"origin": "sim"}
    assert (records[1].video, records[1].frame, records[1].spacing_mm) == ("v.mp4", 3, (0.1, 0.2))
    header = (out / "manifest.csv").read_text().splitlines()[0].split(",")
    assert header == ["image", "video", "frame", "subject", "label", "landmarks", "spacing_mm",
                      "spacing_x_mm", "spacing_y_mm", "timestamp_ms", "origin"]
    # FrameRecords written back give the same records.
    write_dataset(tmp_path / "copy", spec2, records)
    assert load_dataset(tmp_path / "copy")[1] == records
    assert record_to_row(records[1])["frame"] == 3


def test_write_dataset_refuses_bad_rows_and_writes_nothing(tmp_path):
    spec = DatasetSpec(name="x", classes=("a",))
    error = _error(write_dataset, tmp_path / "out", spec,
                   [{"image": "a.png", "subject": "s"}, {"image": "b.png", "subject": "s",
                                                         "label": "b"}])
    assert (error.row, error.field) == (3, "label")
    assert not (tmp_path / "out").exists()


def test_write_dataset_without_overwrite_refuses_an_existing_dataset(tmp_path):
    spec = DatasetSpec(name="x")
    write_dataset(tmp_path, spec, [{"image": "a.png", "subject": "s"}])
    before = (tmp_path / "manifest.csv").read_text()
    assert "already exists" in _error(
        lambda: write_dataset(tmp_path, spec, [{"image": "b.png", "subject": "s"}],
                              overwrite=False)).message
    assert (tmp_path / "manifest.csv").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dataset.yaml", "manifest.csv"]


def test_spec_built_in_python_is_validated():
    with pytest.raises(InputError, match="unknown landmark 'q'"):
        DatasetSpec(name="x", landmarks=("p",), flip_pairs=(("p", "q"),))
    spec = DatasetSpec(name="x", classes=["a"], input_size=[3, 4])  # lists become tuples
    assert spec == DatasetSpec(name="x", classes=("a",), input_size=(3, 4))


def test_update_manifest_column_fills_attention_by_order_and_by_row(tmp_path):
    spec = DatasetSpec(name="x")
    write_dataset(tmp_path, spec, [{"image": f"{i}.png", "subject": "s", "note": str(i)}
                                   for i in range(3)])
    update_manifest_column(tmp_path, "attention", ["m0.npy", None, "m2.npy"])
    records = load_dataset(tmp_path)[1]
    assert [r.attention for r in records] == ["m0.npy", None, "m2.npy"]
    assert [r.extra["note"] for r in records] == ["0", "1", "2"]
    update_manifest_column(tmp_path, "attention", {3: "m1.npy"})
    assert [r.attention for r in load_dataset(tmp_path)[1]] == ["m0.npy", "m1.npy", "m2.npy"]
    with pytest.raises(ValueError, match="expected 3 values"):
        update_manifest_column(tmp_path, "attention", ["x"])
    with pytest.raises(ValueError, match="row 9"):
        update_manifest_column(tmp_path, "attention", {9: "x"})
    with pytest.raises(InputError, match="unknown label"):
        update_manifest_column(tmp_path, "label", ["a", "a", "a"])


def test_updates_keep_blank_lines_so_row_numbers_stay_valid(tmp_path):
    # gaze maps updates two columns by row number, one after the other
    write_dataset(tmp_path, DatasetSpec(name="x"),
                  [{"image": f"{i}.png", "subject": "s"} for i in range(3)])
    manifest = tmp_path / "manifest.csv"
    lines = manifest.read_text().splitlines()
    manifest.write_text("\n".join([lines[0], lines[1], "", lines[2], lines[3]]) + "\n")
    before = [(r.row, r.image) for r in load_dataset(tmp_path)[1]]
    assert before == [(2, "0.png"), (4, "1.png"), (5, "2.png")]
    update_manifest_column(tmp_path, "attention", {4: "m1.npy"})
    update_manifest_column(tmp_path, "fixations", {5: [[1.0, 2.0]]})
    records = load_dataset(tmp_path)[1]
    assert [(r.row, r.image) for r in records] == before
    assert [r.attention for r in records] == [None, "m1.npy", None]
    assert [r.fixations is not None and len(r.fixations) for r in records] == [False, False, 1]


def test_parquet_manifest_reads_like_csv(tmp_path):
    pa = pytest.importorskip("pyarrow", reason="Parquet support needs pyarrow")
    import pyarrow.parquet as pq

    (tmp_path / "dataset.yaml").write_text(ABDOMINAL_YAML)
    table = pa.table({
        "image": ["a.png", "b.png"], "subject": ["s1", "s2"], "label": ["others", None],
        "landmarks": [json.dumps({"left_dot": [1.5, 2.5]}), None],
        "spacing_mm": [0.2, math.nan],
    })
    pq.write_table(table, tmp_path / "manifest.parquet")
    records = load_dataset(tmp_path)[1]
    assert records[0].landmarks == {"left_dot": (1.5, 2.5)} and records[0].spacing_mm == (0.2, 0.2)
    assert (records[1].label, records[1].spacing_mm) == (None, None)
    update_manifest_column(tmp_path, "attention", ["x.npy", "y.npy"])
    assert [r.attention for r in load_dataset(tmp_path)[1]] == ["x.npy", "y.npy"]
    pq.write_table(pa.table({"image": ["a.png"], "subject": ["s1"], "label": ["nope"]}),
                   tmp_path / "manifest.parquet")
    error = _error(load_dataset, tmp_path)
    assert (error.row, error.field) == (2, "label")


def test_fixations_column_reads_points_and_tells_none_from_empty(tmp_path):
    _dataset(tmp_path, 'image,subject,fixations\na.png,s1,"[[1.5, 2], [300, 0.25]]"\n'
                       "b.png,s1,[]\nc.png,s1,\n")
    first, empty, absent = load_dataset(tmp_path)[1]
    assert first.fixations == ((1.5, 2.0), (300.0, 0.25))
    assert empty.fixations == () and absent.fixations is None


def test_fixations_round_trip_through_the_manifest_bit_for_bit(tmp_path):
    spec = spec_from_dict(yaml.safe_load(ABDOMINAL_YAML))
    points = ((0.1 + 0.2, 1 / 3), (-0.5, 1e-17 + 7))
    write_dataset(tmp_path, spec, [
        {"image": "a.png", "subject": "s", "spacing_mm": 0.1, "fixations": points},
        {"image": "b.png", "subject": "s", "spacing_mm": 0.1, "fixations": []},
        {"image": "c.png", "subject": "s", "spacing_mm": 0.1}])
    records = load_dataset(tmp_path)[1]
    assert [r.fixations for r in records] == [points, (), None]
    update_manifest_column(tmp_path, "fixations", {3: [[4.0, 5.0]]})
    assert load_dataset(tmp_path)[1][1].fixations == ((4.0, 5.0),)
