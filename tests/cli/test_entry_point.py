"""The ``sonomtl`` entry point: version, help for every command, exit codes."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from sonomtl import __version__
from sonomtl.cli import build_parser, main


def _leaf_commands(parser=None, prefix=()) -> list[tuple[str, ...]]:
    """Every runnable command path, e.g. ("synth", "sweeps")."""
    parser = parser or build_parser()
    leaves = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                leaves.extend(_leaf_commands(sub, (*prefix, name)))
            return leaves
    return [prefix] if prefix else []


def test_version_is_printed_by_the_installed_entry_point():
    out = subprocess.run(
        [sys.executable, "-m", "sonomtl", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == f"sonomtl {__version__}"


def test_no_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "usage: sonomtl" in capsys.readouterr().out


def test_unknown_command_is_a_usage_error():
    with pytest.raises(SystemExit) as excinfo:
        main(["no-such-command"])
    assert excinfo.value.code == 2


@pytest.mark.parametrize("command", _leaf_commands(), ids=" ".join)
def test_every_command_has_help_with_examples(command, capsys):
    with pytest.raises(SystemExit) as excinfo:
        main([*command, "--help"])
    assert excinfo.value.code == 0
    text = capsys.readouterr().out
    assert f"sonomtl {' '.join(command)}" in text
    assert "Examples:" in text


@pytest.mark.parametrize("argv", [
    ["bench", "msen", "--threads", "-1"],
    ["bench", "msen", "--batch", "0"],
    ["predict", "msen", "x.png", "--out", "o", "--threads", "0"],
    ["evaluate", "runs/x", "--batch-size", "zero"],
])
def test_counts_below_one_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2
    assert "expected a positive integer" in capsys.readouterr().err


def test_an_unwritable_output_is_one_line_naming_it(tmp_path, capsys):
    # a file where the output folder should be: an OSError, reported as bad input
    blocker = tmp_path / "file"
    blocker.write_text("x")
    status = main(["synth", "sweeps", "--out", str(blocker / "sub"), "--subjects", "1",
                   "--frames", "2", "--no-video", "--no-gaze"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and str(blocker) in err[0]
    assert "Traceback" not in err[0]


def test_an_opset_the_exporter_cannot_write_is_refused(tmp_path, capsys):
    assert main(["export", "msen", "--out", str(tmp_path / "m.onnx"), "--opset", "99"]) == 2
    assert "field --opset: must be from 17 to 20, got 99" in capsys.readouterr().err
