"""``sonomtl evaluate``: a trained run on its held-out data -> results.json and figures."""

from __future__ import annotations

import argparse

from sonomtl.cli._common import add_command, out_file, positive_int

__all__ = ["register"]

_EXAMPLES = """
  sonomtl evaluate runs/demo/runs/msen
  sonomtl evaluate runs/demo/runs/abdominal --split all --out /tmp/abdominal-all/results.json
  sonomtl evaluate runs/msen_bce --data runs/data/sweeps --split test
  sonomtl evaluate runs/hc18-cpu/MGCN_R --flip-test --out /tmp/hc18-flip/results.json
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``evaluate`` command."""
    parser = add_command(
        subparsers,
        "evaluate",
        help="evaluate a trained run on its held-out split: results.json + figures",
        description=(
            "Load the run's config.yaml and last checkpoint, rebuild the split it trained with "
            "(fold / test fraction / seed from the config), predict, and write results.json "
            "(classification, saliency, landmarks and measurement errors in mm, timing, model) "
            "and the report's figure inputs in figures/ beside it."
        ),
        examples=_EXAMPLES,
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="the run folder")
    parser.add_argument("--data", metavar="DATASET", default=None,
                        help="dataset folder (default: the config's data.root)")
    parser.add_argument("--split", choices=("test", "val", "all"), default="test",
                        help="held-out split to score (default: %(default)s)")
    parser.add_argument("--out", metavar="RESULTS_JSON", default=None, type=out_file,
                        help="results file (default: RUN_DIR/results.json); figures/ beside it")
    parser.add_argument("--batch-size", type=positive_int, default=None,
                        help="frames per forward pass (default: the config's)")
    parser.add_argument("--flip-test", action=argparse.BooleanOptionalAction, default=None,
                        help="abdominal runs: average each frame's heat maps with its mirror "
                             "image's, the dataset's flip_pairs swapped (default: the config's "
                             "task.params.flip_test)")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from sonomtl.evaluation.evaluate import evaluate_run

    evaluate_run(args.run_dir, data=args.data, split=args.split, out=args.out,
                 batch_size=args.batch_size, flip_test=args.flip_test, log=print)
    return 0
