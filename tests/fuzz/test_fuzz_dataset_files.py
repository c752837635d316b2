"""Fuzzing the dataset files: ``dataset.yaml`` (sonomtl.data.spec) and the manifest."""

from __future__ import annotations

import csv
import io

import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from sonomtl.data.manifest import MANIFEST_COLUMNS, read_manifest
from sonomtl.data.spec import DatasetSpec, load_spec
from sonomtl.errors import InputError
from tests.fuzz.conftest import data_or_input_error, fuzz_settings

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2 ** 70), 2 ** 70), st.floats(),
    st.text(max_size=10), st.sampled_from(["auto", "eyetribe", "csv", "a", "b", "ofd_1"]))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12)
gaze_block = st.fixed_dictionaries({}, optional={
    k: values for k in ("screen_px", "screen_cm", "distance_cm", "image_rect_px", "format",
                        "logs")})
yaml_like_text = st.text(alphabet="{}[]:,-&*!|>'\" \nabc01.#%@`\t", max_size=120)
SPEC_KEYS = ("classes", "landmarks", "view_landmarks", "landmark_tasks", "flip_pairs",
             "measurements", "input_size", "target_spacing_mm", "crop", "mask_rects",
             "frame_rate_hz", "format_version", "description", "metadata")
spec_dicts = st.fixed_dictionaries(
    {"name": values}, optional={**{k: values for k in SPEC_KEYS}, "gaze": gaze_block,
                                "unknown_key": values})


@fuzz_settings(400)
@given(spec=st.one_of(spec_dicts, values))
# hand-picked edge cases (none of them crashed the reader)
@example(spec={"name": "x", "input_size": [float("inf"), 240]})
@example(spec={"name": "x", "input_size": [1e20, 240]})
@example(spec={"name": "x", "crop": [0, float("nan"), 0, 10]})
@example(spec={"name": "x", "frame_rate_hz": float("nan")})
@example(spec={"name": "x", "gaze": {"logs": {"a": None}}})
def test_dataset_yaml_gives_a_spec_or_an_input_error(fuzz_dir, spec):
    path = fuzz_dir("dataset.yaml")
    path.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    outcome = data_or_input_error(lambda: load_spec(path))
    assert isinstance(outcome, (DatasetSpec, InputError))


@fuzz_settings(200)
@given(raw=st.one_of(st.binary(max_size=200), yaml_like_text.map(str.encode)))
# found by this test when pymovements had been imported in the same process: its '!' tag
# constructor on yaml.SafeLoader raised ValueError (and imports the module a tag names)
@example(raw=b"!.")
@example(raw=b"!$")
@example(raw=b"\xff\xfe\x00name: x")  # not UTF-8
@example(raw=b"name: &a [*a]")  # a self-referencing alias
@example(raw=b"name: !!python/object/apply:os.system ['true']")  # code in a tag: refused
@example(raw=b"a: &a ['x','x']\nb: &b [*a,*a]\nc: &c [*b,*b]\nd: &d [*c,*c]\nname: [*d,*d]\n")
def test_dataset_yaml_bytes_give_a_spec_or_an_input_error(fuzz_dir, raw):
    path = fuzz_dir("dataset.yaml")
    path.write_bytes(raw)
    outcome = data_or_input_error(lambda: load_spec(path))
    assert isinstance(outcome, (DatasetSpec, InputError))


SPEC = DatasetSpec(name="fuzz", classes=("acp", "bg"), landmarks=("a", "b"))
cells = st.one_of(
    st.sampled_from(["", "acp", "bg", "x.png", "../x.png", "/abs.png", "0", "-1", "1e400",
                     "nan", "inf", '{"a": [1, 2]}', '{"a": [1]}', "[[1, 2]]", "[[1]]",
                     "[1, 2]", "0.3", "0.3 0.4", '{"a": [NaN, 1]}', "[[1e999, 2]]"]),
    st.text(max_size=12),
    values.map(lambda v: yaml.safe_dump(v, default_flow_style=True).strip()))


@fuzz_settings(400)
@given(columns=st.lists(st.sampled_from([*MANIFEST_COLUMNS, "extra", "image", "subject"]),
                        min_size=1, max_size=8),
       rows=st.lists(st.lists(cells, max_size=9), max_size=5))
# hand-picked edge cases (none of them crashed the reader)
@example(columns=["image", "subject", "landmarks"], rows=[["x.png", "s", '{"a": [1e999, 1]}']])
@example(columns=["image", "subject", "fixations"], rows=[["x.png", "s", "[[1, 2, 3]]"]])
@example(columns=["image", "subject", "frame"], rows=[["x.png", "s", "1e30"]])
@example(columns=["video", "subject", "frame"], rows=[["v.mp4", "s", "99999999999999999999"]])
def test_manifest_gives_records_or_an_input_error(fuzz_dir, columns, rows):
    path = fuzz_dir("manifest.csv")
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    path.write_text(text.getvalue(), encoding="utf-8", errors="surrogatepass")
    outcome = data_or_input_error(lambda: read_manifest(path, SPEC))
    if not isinstance(outcome, InputError):
        for record in outcome:
            assert (record.image is None) != (record.video is None)
            assert record.subject


@fuzz_settings(200)
@given(raw=st.binary(max_size=160))
@example(raw=b"image,subject\n\"x.png,s\n")  # an unterminated quote
@example(raw=b"image,subject\nx.png,s\x00\n")
@example(raw=b"\xef\xbb\xbfimage,subject\nx.png,s\n")  # a byte-order mark
def test_manifest_bytes_give_records_or_an_input_error(fuzz_dir, raw):
    path = fuzz_dir("manifest.csv")
    path.write_bytes(raw)
    outcome = data_or_input_error(lambda: read_manifest(path, SPEC))
    assert isinstance(outcome, (list, InputError))
