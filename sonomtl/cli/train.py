"""``sonomtl train CONFIG [key=value ...] [--start-from RUN]``, ``sonomtl train --resume RUN``."""

from __future__ import annotations

import argparse

from sonomtl.cli._common import add_command

__all__ = ["register"]

_EXAMPLES = """
  sonomtl train sonomtl/configs/example.yaml name=demo-run trainer.progress_bar=false
  sonomtl train sonomtl/configs/example.yaml stages.pretrain.epochs=5 data.batch_size=16
  sonomtl train sonomtl/configs/example.yaml trainer.devices=2 trainer.strategy=ddp  # 2 processes
  sonomtl train --resume runs/demo-run  # after a crash or a kill
  sonomtl train sonomtl/configs/msen/msen_bce_gan.yaml --start-from runs/msen_bce  # its stages done
  torchrun --nnodes 2 --nproc-per-node 4 ... -m sonomtl train CONFIG \
      trainer.devices=4 trainer.num_nodes=2
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``train`` command."""
    parser = add_command(
        subparsers,
        "train",
        help="train a model from a YAML config (stages, optimisers, losses)",
        description="Train from a YAML config with dotted key=value overrides, or resume a run "
        "folder from its last checkpoint. See docs/training.md for the config keys.",
        examples=_EXAMPLES,
    )
    parser.add_argument("config", nargs="?", help="the YAML config file (omit with --resume)")
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="key=value",
        help="dotted overrides, e.g. trainer.devices=2 stages.pretrain.epochs=3",
    )
    parser.add_argument(
        "--resume", metavar="RUN_DIR", help="continue runs/NAME from its last checkpoint"
    )
    parser.add_argument(
        "--start-from", metavar="RUN_DIR",
        help="a finished run whose stages are this config's first ones: start after them",
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import sys

    from sonomtl.errors import InputError

    if args.resume:
        if args.config or args.overrides or args.start_from:
            raise InputError(
                "--resume takes only the run folder: the run continues with its saved config"
            )
    elif not args.config:
        raise InputError("give a CONFIG file, or --resume RUN_DIR")

    from sonomtl.training.run import resume, train
    from sonomtl.training.steps import NonFiniteLossError

    try:
        if args.resume:
            result = resume(args.resume)
        else:
            from sonomtl.config import load_config

            config = load_config(args.config, args.overrides)
            result = train(config, start_from=args.start_from)
    except NonFiniteLossError as error:
        print(f"sonomtl: training stopped: {error}", file=sys.stderr)
        return 1
    except InputError as error:
        if error.file is not None or error.field is None:
            raise
        # a config value refused deep in the task: name the config it came from
        source = args.config or f"{args.resume}/config.yaml"
        raise InputError(error.message, file=source, row=error.row, field=error.field) from None
    if result.rank == 0:
        shown = ", ".join(
            f"{k}={v:.4g}" for k, v in sorted(result.metrics.items()) if k.startswith("val/")
        )
        print(f"{result.run_dir}: done{': ' + shown if shown else ''}")
    return 0
