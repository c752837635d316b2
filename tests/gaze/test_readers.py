"""Gaze log readers: the three formats, lost samples, and every kind of bad input."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sonomtl.errors import InputError
from sonomtl.gaze import (
    GazeSamples,
    GazeWarning,
    fill_gaps,
    read_csv,
    read_eyetribe_json,
    read_eyetribe_tsv,
)


def _frame(time, state, x, y, *, avg=(1.0, 2.0)):
    return json.dumps({"category": "tracker", "request": "get", "statuscode": 200, "values": {
        "frame": {"timestamp": "2016-03-01 10:00:00.000", "time": time, "fix": False,
                  "state": state, "raw": {"x": x, "y": y}, "avg": {"x": avg[0], "y": avg[1]},
                  "lefteye": {}, "righteye": {}}}})


def test_eyetribe_json_state_flags_and_zero_gaze_mark_lost_samples(tmp_path):
    lines = [_frame(1000, 7, 500.5, 300.0), _frame(1033, 7 | 0x8, 501.0, 301.0),
             _frame(1066, 0x10, 502.0, 302.0), _frame(1100, 0x2 | 0x4, 503.0, 303.0),
             _frame(1133, 7, 0.0, 0.0), '{"category": "heartbeat", "statuscode": 200}',
             _frame(1166, 7, 504.0, 305.5)]
    log = tmp_path / "g.jsonl"
    log.write_text("\n".join(lines) + "\n")
    samples = read_eyetribe_json(log)
    assert samples.time_ms.tolist() == [1000, 1033, 1066, 1100, 1133, 1166]
    assert samples.lost.tolist() == [False, True, True, True, True, False]
    assert samples.x_px[[0, 5]].tolist() == [500.5, 504.0]
    assert read_eyetribe_json(log, point="avg").x_px[0] == 1.0


def test_eyetribe_json_falls_back_to_the_timestamp_string(tmp_path):
    log = tmp_path / "g.jsonl"
    log.write_text(json.dumps({"values": {"frame": {
        "timestamp": "1970-01-01 00:00:01.500", "state": 7, "raw": {"x": 1, "y": 2}}}}) + "\n")
    assert read_eyetribe_json(log).time_ms.tolist() == [1500.0]


def test_truncated_last_json_line_is_dropped_with_a_warning(tmp_path):
    log = tmp_path / "g.jsonl"
    log.write_text(_frame(0, 7, 1, 2) + "\n" + _frame(33, 7, 1, 2)[:40])
    with pytest.warns(GazeWarning, match="truncated last line"):
        assert len(read_eyetribe_json(log)) == 1


def test_tsv_log_of_pygaze_skips_messages(tmp_path):
    header = ("timestamp\ttime\tfix\tstate\trawx\trawy\tavgx\tavgy\tpsize\tLrawx\tLrawy\tLavgx"
              "\tLavgy\tLpsize\tLpupilx\tLpupily\tRrawx\tRrawy\tRavgx\tRavgy\tRpsize\tRpupilx"
              "\tRpupily")
    row = "2016-03-01 10:00:00.000\t{t}\tFalse\t{s}\t{x}\t20.0\t11\t21" + "\t0" * 15
    log = tmp_path / "g.tsv"
    log.write_text("\n".join([header, row.format(t=0, s=7, x=10.0),
                              "MSG\t2016-03-01 10:00:00.010\t10\tstart trial",
                              row.format(t=33, s=16, x=12.0), row.format(t=66, s=7, x=14.0)]))
    samples = read_eyetribe_tsv(log)
    assert samples.time_ms.tolist() == [0, 33, 66]
    assert np.isnan(samples.x_px[1]) and samples.x_px[2] == 14.0


def test_csv_with_custom_column_names(tmp_path):
    log = tmp_path / "g.csv"
    log.write_text("t;gx;gy\n0;1.5;2\n40;NaN;3\n80;0;0\n120;4;5\n")
    samples = read_csv(log, time_column="t", x_column="gx", y_column="gy", delimiter=";")
    assert samples.time_ms.tolist() == [0, 40, 80, 120]
    assert samples.lost.tolist() == [False, True, True, False]


@pytest.mark.parametrize(("content", "row", "match"), [
    ("", None, "empty gaze log"),
    ("time_ms,x_px,y_px\n", None, "no gaze samples"),
    ("time_ms,x_px,y_px\n0,1,2\n33,abc,2\n", 3, "expected a number"),
    ("time_ms,x_px,y_px\n0,1,2\n33,1,2\n20,1,2\n", 4, "unsorted"),
    ("time_ms,x_px,y_px\n0,1,2\n0,1,2\n", 3, "duplicate"),
    ("time_ms,x_px,y_px\n0,1,2\nnan,1,2\n", 3, "finite"),
    ("time,x,y\n0,1,2\n", 1, "lacks column"),
    ("time_ms,x_px,y_px\n0,1\n", 2, "fields"),
])
def test_bad_csv_raises_an_input_error_with_the_line(tmp_path, content, row, match):
    log = tmp_path / "g.csv"
    log.write_text(content)
    with pytest.raises(InputError, match=match) as excinfo:
        read_csv(log)
    assert excinfo.value.row == row
    assert excinfo.value.file == str(log)


def test_bad_json_line_in_the_middle_names_the_line(tmp_path):
    log = tmp_path / "g.jsonl"
    log.write_text(_frame(0, 7, 1, 2) + "\n{oops\n" + _frame(33, 7, 1, 2) + "\n")
    with pytest.raises(InputError, match="row 2: not a JSON object"):
        read_eyetribe_json(log)


def test_all_samples_lost_warns_and_returns_them(tmp_path):
    log = tmp_path / "g.csv"
    log.write_text("time_ms,x_px,y_px\n0,0,0\n33,,\n")
    with pytest.warns(GazeWarning, match="all 2 gaze samples are lost"):
        samples = read_csv(log)
    assert samples.lost.all()


def test_fill_gaps_interpolates_only_short_inner_gaps():
    samples = GazeSamples(np.arange(8) * 10.0,
                          np.array([np.nan, 0, np.nan, 20, np.nan, np.nan, np.nan, 60]),
                          np.zeros(8))
    filled = fill_gaps(samples, max_gap_ms=20)
    np.testing.assert_array_equal(filled.x_px, [np.nan, 0, 10, 20, np.nan, np.nan, np.nan, 60])
    filled = fill_gaps(samples, max_gap_ms=40)
    np.testing.assert_array_equal(filled.x_px, [np.nan, 0, 10, 20, 30, 40, 50, 60])


_FIXTURE_OK = [HealthCheck.function_scoped_fixture]
_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=300)
_json_frames = st.lists(st.fixed_dictionaries({}, optional={
    "time": st.one_of(st.integers(-10**20, 10**20), st.floats(), st.text(max_size=5), st.none()),
    "state": st.one_of(st.integers(-3, 40), st.floats(), st.booleans(), st.text(max_size=3)),
    "raw": st.one_of(st.fixed_dictionaries({}, optional={
        "x": st.one_of(st.floats(), st.integers(), st.text(max_size=4)),
        "y": st.one_of(st.floats(), st.integers(), st.none())}), st.integers()),
    "timestamp": st.text(max_size=25),
}), max_size=6)


def _reads_or_input_error(read, path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GazeWarning)
        try:
            samples = read(path)
        except InputError as error:
            assert str(error)
            return
    assert isinstance(samples, GazeSamples) and len(samples) > 0
    assert (np.diff(samples.time_ms) > 0).all()


@settings(max_examples=150, deadline=None, suppress_health_check=_FIXTURE_OK)
@given(text=_text)
def test_fuzzed_text_gives_samples_or_an_input_error_in_every_reader(tmp_path, text):
    log = tmp_path / "fuzz.txt"
    log.write_text(text, encoding="utf-8")
    for read in (read_csv, read_eyetribe_tsv, read_eyetribe_json):
        _reads_or_input_error(read, log)


@settings(max_examples=150, deadline=None, suppress_health_check=_FIXTURE_OK)
@given(frames=_json_frames, wrap=st.booleans())
def test_fuzzed_eyetribe_frames_give_samples_or_an_input_error(tmp_path, frames, wrap):
    log = tmp_path / "fuzz.jsonl"
    lines = [json.dumps({"values": {"frame": f}} if wrap else {"frame": f}) for f in frames]
    log.write_text("\n".join(lines))
    _reads_or_input_error(read_eyetribe_json, log)


@settings(max_examples=100, deadline=None, suppress_health_check=_FIXTURE_OK)
@given(rows=st.lists(st.tuples(st.one_of(st.floats(), st.integers(), st.just("")),
                               st.one_of(st.floats(), st.just("x")), st.floats()), max_size=8))
def test_fuzzed_csv_rows_give_samples_or_an_input_error(tmp_path, rows):
    log = tmp_path / "fuzz.csv"
    log.write_text("time_ms,x_px,y_px\n" + "".join(f"{t},{x},{y}\n" for t, x, y in rows))
    _reads_or_input_error(read_csv, log)
