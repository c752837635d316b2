"""Small helpers shared by the command modules."""

from __future__ import annotations

import argparse

__all__ = ["add_command", "positive_int"]


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


def positive_int(text: str) -> int:
    """``argparse`` type: an integer >= 1 (threads, batch sizes, counts)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value
