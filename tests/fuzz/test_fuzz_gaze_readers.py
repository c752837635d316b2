"""Fuzzing the gaze log readers: EyeTribe JSON lines, EyeTribe/PyGaze TSV, CSV."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from sonomtl.errors import InputError
from sonomtl.gaze.readers import read_csv, read_eyetribe_json, read_eyetribe_tsv
from tests.fuzz.conftest import data_or_input_error, fuzz_settings

# "all samples lost" and "truncated last line" warnings are expected on random logs
pytestmark = pytest.mark.filterwarnings("ignore::sonomtl.gaze.samples.GazeWarning")

# JSON values a log might hold where a number is expected
json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2 ** 70), max_value=2 ** 70),
    st.floats(allow_nan=False), st.text(max_size=12),
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "0x10", "2024-01-01 10:00:00.5"]),
)
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=8)

point = st.fixed_dictionaries({}, optional={"x": json_values, "y": json_values})
frame = st.fixed_dictionaries({}, optional={
    "time": json_values, "timestamp": json_values, "state": json_values,
    "raw": st.one_of(point, json_values), "avg": st.one_of(point, json_values)})
line = st.one_of(
    frame.map(lambda f: json.dumps({"category": "tracker", "values": {"frame": f}})),
    frame.map(lambda f: json.dumps({"frame": f})),
    json_values.map(json.dumps),
    st.text(max_size=40),  # not JSON at all, or a truncated line
)


def _check_samples(samples) -> None:
    """What a successful read guarantees: aligned arrays, strictly increasing finite times."""
    assert len(samples.time_ms) == len(samples.x_px) == len(samples.y_px) > 0
    assert np.isfinite(samples.time_ms).all()
    assert (np.diff(samples.time_ms) > 0).all()


@fuzz_settings(300)
@given(lines=st.lists(line, max_size=8), point_name=st.sampled_from(["raw", "avg"]))
# hand-picked edge cases (none of them crashed the reader)
@example(lines=['{"frame": {"time": 0, "raw": {"x": 1, "y": 2}, "state": 1e400}}'],
         point_name="raw")
@example(lines=['{"frame": {"time": 1e400, "raw": {"x": 1, "y": 2}}}'], point_name="raw")
@example(lines=['{"frame": {"timestamp": "9999-12-31 23:59:59.9", "raw": {"x": 1, "y": 2}}}'],
         point_name="raw")
@example(lines=["[" * 100_000], point_name="raw")  # nesting deeper than the JSON parser's stack
def test_eyetribe_json_reader_returns_samples_or_an_input_error(fuzz_dir, lines, point_name):
    path = fuzz_dir("g.jsonl")
    path.write_text("\n".join(lines), encoding="utf-8", errors="surrogatepass")
    outcome = data_or_input_error(lambda: read_eyetribe_json(path, point=point_name))
    if not isinstance(outcome, InputError):
        _check_samples(outcome)


cell = st.one_of(st.sampled_from(["", "nan", "NA", "inf", "-1", "0", "1e309", "7", "MSG"]),
                 st.floats(allow_nan=True).map(repr), st.integers(-10, 10 ** 6).map(str),
                 st.text(max_size=8))


@fuzz_settings(300)
@given(header=st.lists(st.sampled_from(["time", "state", "rawx", "rawy", "avgx", "avgy", "fix",
                                        "timestamp", "x"]), max_size=7),
       rows=st.lists(st.lists(cell, max_size=8), max_size=6),
       point_name=st.sampled_from(["raw", "avg"]))
@example(header=["time", "state", "rawx", "rawy"], rows=[["0", "1e309", "1", "2"]],
         point_name="raw")
@example(header=["time", "state", "rawx", "rawy"], rows=[["inf", "7", "1", "2"]],
         point_name="raw")
def test_eyetribe_tsv_reader_returns_samples_or_an_input_error(fuzz_dir, header, rows,
                                                                point_name):
    path = fuzz_dir("g.tsv")
    text = "\n".join("\t".join(fields) for fields in [header, *rows])
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    outcome = data_or_input_error(lambda: read_eyetribe_tsv(path, point=point_name))
    if not isinstance(outcome, InputError):
        _check_samples(outcome)


@fuzz_settings(300)
@given(raw=st.one_of(
    st.lists(st.lists(cell, max_size=5), max_size=6).map(
        lambda rows: "time_ms,x_px,y_px\n" + "\n".join(",".join(r) for r in rows)),
    st.binary(max_size=120).map(lambda b: b.decode("latin-1")),
    st.text(alphabet='",\n\r\x00xy_pmst0123456789.-e', max_size=80)))
@example(raw='time_ms,x_px,y_px\n0,"1\n')  # an unterminated quote
@example(raw="time_ms,x_px,y_px\n0,1,2\x00\n33,1,2\n")  # a NUL byte
@example(raw="time_ms,x_px,y_px\n" + "1" * 200_000 + ",1,2\n")  # a field over csv's limit
def test_csv_reader_returns_samples_or_an_input_error(fuzz_dir, raw):
    path = fuzz_dir("g.csv")
    path.write_bytes(raw.encode("utf-8", errors="surrogatepass"))
    outcome = data_or_input_error(lambda: read_csv(path))
    if not isinstance(outcome, InputError):
        _check_samples(outcome)
        assert not math.isnan(outcome.time_ms[0])
