"""Small helpers shared by the command modules."""

from __future__ import annotations

import argparse

__all__ = ["add_command"]


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
