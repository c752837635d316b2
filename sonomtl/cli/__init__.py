"""The ``sonomtl`` command: one entry point, one module per command group.

Each module in this package exposes ``register(subparsers)`` which adds its
sub-command(s) and sets ``func`` (a callable taking the parsed namespace and
returning an exit status). Command modules import only ``argparse`` at module
level; the heavy parts (torch, pydicom, ...) are imported inside the handlers,
so ``sonomtl --help`` is fast.

User errors (:class:`sonomtl.errors.InputError`) and file-system errors
(``OSError``: an unwritable or missing path) are printed as one line on
stderr with exit status 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from collections.abc import Sequence

from sonomtl import __version__
from sonomtl.errors import InputError

__all__ = ["OneLineParser", "main", "build_parser"]

# Order = order in ``sonomtl --help``.
_COMMAND_MODULES = (
    "demo", "synth", "data", "gaze", "sononet", "weights", "train", "experiment",
    "evaluate", "metrics", "predict", "export", "bench", "report", "serve",
)


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line, not a usage dump.

    ``sonomtl data check: error: argument --threads: expected a positive
    integer, got '-1'`` on stderr, exit status 2; ``--help`` still shows the
    usage. Sub-command parsers inherit the class.
    """

    def error(self, message: str):  # type: ignore[override]
        """Print ``PROG: error: MESSAGE`` on one line and exit with status 2."""
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())}\n")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (all sub-commands registered)."""
    parser = OneLineParser(
        prog="sonomtl",
        description="Multi-task deep learning for medical ultrasound (M-SEN, abdominal MTL).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run 'sonomtl COMMAND --help' for the options and examples of each command.",
    )
    parser.add_argument("--version", action="version", version=f"sonomtl {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(f"sonomtl.cli.{name}")
        except ModuleNotFoundError as error:  # command group not built yet
            if error.name != f"sonomtl.cli.{name}":
                raise
            continue
        module.register(subparsers)
    return parser


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings reach a CLI user as one line each, without source locations."""
    print(f"sonomtl: warning: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 2 bad usage or bad input)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warning
            status = args.func(args)
    except InputError as error:
        print(f"sonomtl: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # an unwritable --out, a folder where a file was expected, ...
        where = f"{error.filename}: " if error.filename else ""
        print(f"sonomtl: error: {where}{error.strerror or error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sonomtl: interrupted", file=sys.stderr)
        return 130
    return 0 if status is None else int(status)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
