"""``sonomtl report``: run or experiment folders -> one self-contained HTML file."""

from __future__ import annotations

import argparse

from sonomtl.cli._common import add_command, out_file

__all__ = ["register"]

_EXAMPLES = """
  sonomtl report runs/msen --out runs/msen/report.html
  sonomtl report runs/experiment-msen runs/abdominal --out report.html --title "Demo results"
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``report`` command."""
    parser = add_command(
        subparsers,
        "report",
        help="write a self-contained HTML report of runs or experiments",
        description=(
            "Write one HTML file (figures embedded, no network needed) with each folder's "
            "configuration, results tables, confusion matrices, attention-map grid, landmark "
            "overlays, training curves and benchmark. A folder is a run (config.yaml, metrics.csv, "
            "results.json, figures/, benchmark.json) or an experiment (results.json with 'models' "
            "and/or 'tables', one sub-folder per model); see docs/data-format.md."
        ),
        examples=_EXAMPLES,
    )
    parser.add_argument(
        "folders",
        nargs="+",
        metavar="RUN_OR_EXPERIMENT_DIR",
        help="run or experiment folders, one report section each",
    )
    parser.add_argument("--out", required=True, metavar="HTML", type=out_file,
                        help="the HTML file to write")
    parser.add_argument(
        "--title", default="sonomtl report", help="report title (default: %(default)s)"
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from sonomtl.report import write_report

    path = write_report(args.folders, out=args.out, title=args.title)
    print(path)
    return 0
