"""``sonomtl demo``: simulate, train, evaluate, export, benchmark and report in one command."""

from __future__ import annotations

import argparse
import sys

from sonomtl.cli._common import add_command

__all__ = ["register"]

_EXAMPLES = """
  sonomtl demo                      # what 'make demo' runs: sonomtl demo --out runs/demo
  sonomtl demo --out /tmp/demo --fresh
  sonomtl demo --quick --out /tmp/demo-quick   # a one-minute check that an install works
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``demo`` command."""
    parser = add_command(
        subparsers,
        "demo",
        help="the whole toolkit on simulated data in minutes: ends with report.html",
        description=(
            "Simulate fetal sweeps with gaze logs and abdominal views, make attention maps from "
            "the gaze, train a small M-SEN (with its adversarial stage) and a small abdominal "
            "multi-task network, evaluate both, export M-SEN to ONNX and benchmark it, and write "
            "OUT/report.html. A re-run reuses the data sets and finished runs unless --fresh. "
            "Demonstration scale (96x96, a few epochs), not the papers' figures."
        ),
        examples=_EXAMPLES,
    )
    parser.add_argument("--out", default="runs/demo", metavar="DIR",
                        help="demo folder (default: %(default)s)")
    parser.add_argument("--fresh", action="store_true",
                        help="rebuild data sets and runs instead of reusing them")
    parser.add_argument("--quick", action="store_true",
                        help="tiny data and one epoch per stage (about a minute): checks that "
                             "an install works; its figures mean nothing")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from sonomtl.demo import DemoStepError, quick_sizes, run_demo
    from sonomtl.errors import InputError

    out = Path(args.out)
    for path in (out, *out.parents):  # the nearest existing one must be a folder
        if path.exists():
            if not path.is_dir():
                raise InputError("is a file, but --out must be a folder (or not exist yet)",
                                 file=path)
            break
    try:
        run_demo(args.out, fresh=args.fresh, sizes=quick_sizes() if args.quick else None,
                 log=print)
    except DemoStepError as error:
        print(f"sonomtl: error: {error}", file=sys.stderr)
        return 1
    return 0
