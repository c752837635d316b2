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
