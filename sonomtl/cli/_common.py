"""Small helpers shared by the command modules."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["add_command", "out_file", "positive_int", "report_failures"]


def add_command(
    subparsers: argparse._SubParsersAction,
    name: str,
    *,
    help: str,
    examples: str,
    description: str = "",
) -> argparse.ArgumentParser:
    """Add a sub-command whose ``--help`` ends with an ``Examples:`` block."""
    return subparsers.add_parser(
        name,
        help=help,
        description=description or help,
        epilog="Examples:\n" + examples.strip("\n"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def out_file(text: str) -> str:
    """``argparse`` type: a file to write, refused up front when it is an existing folder.

    Without it the command would do its work and then fail on the rename of
    its temporary file, naming that file instead of ``--out``.
    """
    import os

    if os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text}: is a folder; expected a file")
    return text


def positive_int(text: str) -> int:
    """``argparse`` type: an integer >= 1 (threads, batch sizes, counts)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def report_failures(messages: Sequence[str], *, inputs: int) -> int:
    """List a batch's failed inputs on stderr; the exit status: 2 when any failed, else 0.

    Each failure is one line ``sonomtl: error: <message>`` (the message names
    the file). When the batch had more than one input, a last line counts the
    failures, so a single bad input still gets exactly one line.
    """
    for message in messages:
        print(f"sonomtl: error: {' '.join(message.split())}", file=sys.stderr)
    if messages and inputs > 1:
        print(f"sonomtl: error: {len(messages)} input(s) failed (of {inputs})", file=sys.stderr)
    return 2 if messages else 0
