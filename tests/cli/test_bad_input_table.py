"""Every command answers bad input with exit status 2 and one line naming the culprit.

Issue 25's bad-input table: each case builds its own bad files (copies of a
shared tiny dataset, checkpoint and ONNX file; the cases live in
``bad_input_cases_*.py``), runs ``sonomtl`` in-process
and asserts that

* the exit status is 2,
* stderr is exactly one line, holding the expected culprit (file, flag or
  field), with no traceback, no temporary file name and no suggestion to
  load pickles (``predict`` lists failed inputs under a header line, so a
  bad input there is that header and one line),
* nothing new appears anywhere under the case's folder or the shared inputs
  (outside ``--out`` where the command writes one).
"""

from __future__ import annotations

import json
import shutil

import pytest

from sonomtl.cli import main
from tests.cli import bad_input_cases_data, bad_input_cases_models, bad_input_cases_outputs
from tests.cli.bad_input_fixtures import CASES, Shared, build_shared, files_under

_CASE_MODULES = (bad_input_cases_data, bad_input_cases_models, bad_input_cases_outputs)


@pytest.fixture(scope="module")
def shared(tmp_path_factory) -> Shared:
    return build_shared(tmp_path_factory.mktemp("shared"))


@pytest.mark.parametrize("bad", CASES, ids=[c.id for c in CASES])
def test_bad_input_exits_2_with_one_line_naming_the_culprit(bad, shared, tmp_path, capfd,
                                                            monkeypatch):
    monkeypatch.chdir(tmp_path)  # anything written to the working folder is seen too
    argv, expected = bad.build(shared, tmp_path)
    before = files_under(tmp_path, shared.root)
    capfd.readouterr()
    try:
        status = main(argv)
    except SystemExit as exit_:  # argparse
        status = exit_.code
    err = capfd.readouterr().err  # file descriptor 2: C libraries (libpng) too
    lines = err.strip().splitlines()
    assert status == 2, err
    assert len(lines) == bad.lines, err
    # a batch command lists each failed input, then the count: the culprit is in one line
    assert any(expected in line for line in lines), lines
    assert "Traceback" not in err and "allow_pickle" not in err and "weights_only" not in err
    assert ".gzout" not in err and "/.tmp" not in err and "/." + "r.json" not in err
    after = files_under(tmp_path, shared.root)
    out = None if bad.out is None else tmp_path / bad.out
    new = sorted(str(p) for p in after - before
                 if out is None or (p != out and out not in p.parents))
    assert new == [], new


def test_the_table_covers_every_command_with_at_least_100_cases():
    commands = {c.id.split("-")[0] for c in CASES}
    assert commands >= {"data", "gaze", "metrics", "train", "evaluate", "predict", "export",
                        "bench", "report", "sononet", "synth", "experiment"}
    assert len(CASES) >= 100


def test_a_bomb_among_good_frames_does_not_stop_predict(shared, tmp_path, capfd):
    out, second = tmp_path / "out", tmp_path / "second.png"
    shutil.copy(shared.png, second)
    assert main(["predict", str(shared.run), str(shared.png), str(shared.bomb), str(second),
                 "--out", str(out), "--no-progress", "--no-overlays"]) == 2
    lines = (out / "predictions.jsonl").read_text().splitlines()
    assert [json.loads(line)["source"] for line in lines] == [str(shared.png), str(second)]
    err = capfd.readouterr().err.strip().splitlines()
    assert err == [f"sonomtl: error: {shared.bomb}: image too large (a decompression bomb?): "
                   "over 67108864 pixels, the most that is read (docs/security.md)",
                   "sonomtl: error: 1 input(s) failed (of 3)"]
