"""Small helpers shared by the command modules."""

from __future__ import annotations

import argparse

__all__ = ["add_command", "out_file", "positive_int"]


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
