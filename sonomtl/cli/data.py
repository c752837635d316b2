"""``sonomtl data``: check a dataset folder; import public data sets into the dataset format."""

from __future__ import annotations

import argparse

from sonomtl.cli._common import add_command

__all__ = ["register"]

_CHECK_EXAMPLES = """
  sonomtl data check runs/hc18
  sonomtl data check runs/hc18 --splits runs/hc18/splits.json
  sonomtl data check runs/hc18 --json > report.json
"""

_HC18_EXAMPLES = """
  sonomtl data import hc18 --src ../shared/data/hc18 --out runs/hc18
"""

_SONONET_EXAMPLES = """
  sonomtl data import sononet-examples --src ../shared/data/sononet --out runs/sononet-examples
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``data`` command group."""
    group = subparsers.add_parser(
        "data", help="check datasets; import HC18 and the SonoNet example frames",
        description="Dataset tools (format: docs/data-format.md).",
    )
    commands = group.add_subparsers(dest="data_command", metavar="COMMAND")
    check = add_command(
        commands, "check",
        help="validate a dataset folder and list every problem",
        description=(
            "Validate DATASET (dataset.yaml + manifest): missing/corrupt files, unknown labels, "
            "landmarks outside the image, NaN or non-positive pixel size, and (with --splits) "
            "subjects in more than one split. Prints one line per problem (file, row, field) and "
            "exits 2 when there are errors, 0 otherwise."
        ),
        examples=_CHECK_EXAMPLES,
    )
    check.add_argument("dataset", metavar="DATASET", help="dataset folder")
    check.add_argument("--splits", metavar="FILE",
                       help="splits file (JSON/YAML: {name: {subjects: [...]}} or {rows: [...]})")
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    check.add_argument("--no-decode", action="store_true",
                       help="only check that files exist (faster; corrupt files go unnoticed)")
    check.set_defaults(func=_check)

    importer = commands.add_parser(
        "import", help="convert a public data set into a dataset folder",
        description="Convert a public data set into a dataset folder.",
    )
    sources = importer.add_subparsers(dest="import_source", metavar="SOURCE")
    for name, help_text, examples in (
        ("hc18", "HC18 fetal head images + skull ellipses -> landmarks ofd/bpd and HC in mm",
         _HC18_EXAMPLES),
        ("sononet-examples", "the 13 labelled SonoNet example frames with the authors' crop",
         _SONONET_EXAMPLES),
    ):
        sub = add_command(sources, name, help=help_text, examples=examples)
        sub.add_argument("--src", required=True, metavar="DIR", help="the downloaded data")
        sub.add_argument("--out", required=True, metavar="DIR",
                         help="dataset folder to write; refused when it holds a dataset")
        sub.add_argument("--overwrite", action="store_true",
                         help="first remove the dataset in --out (see docs/cli.md)")
        sub.set_defaults(func=_import, importer_name=name)
    importer.set_defaults(func=lambda args: (importer.print_help(), 2)[1])
    group.set_defaults(func=lambda args: (group.print_help(), 2)[1])


def _check(args: argparse.Namespace) -> int:
    import json
    import sys

    from sonomtl.data.check import check_dataset

    report = check_dataset(args.dataset, splits=args.splits, decode=not args.no_decode)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        for problem in report.problems:
            print(problem, file=sys.stderr if problem.severity == "error" else sys.stdout)
        labels = ", ".join(f"{k}: {v}" for k, v in sorted(report.labels.items()))
        status = "ok" if report.ok else f"{len(report.errors)} error(s)"
        print(f"{report.dataset}: {status}; {report.frames} frames, {report.subjects} subjects"
              + (f"; labels {labels}" if labels else ""))
    return 0 if report.ok else 2


def _import(args: argparse.Namespace) -> int:
    import json

    from sonomtl.data import importers
    from sonomtl.outputs import DATASET_OUTPUTS, prepare_output_folder

    function = {"hc18": "import_hc18", "sononet-examples": "import_sononet_examples"}
    prepare_output_folder(args.out, DATASET_OUTPUTS, overwrite=args.overwrite)
    report = getattr(importers, function[args.importer_name])(src=args.src, out=args.out)
    for key, value in report.items():
        print(f"{key}: {json.dumps(value, default=str)}")
    return 0
