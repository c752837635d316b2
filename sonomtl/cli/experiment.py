"""``sonomtl experiment msen``: the papers' tables in one command (one sub-command per paper)."""

from __future__ import annotations

import argparse

from sonomtl.cli._common import add_command, positive_int

__all__ = ["register"]

_MSEN_EXAMPLES = """
  sonomtl synth sweeps --out runs/data/sweeps-small --subjects 6 --frames 24 --no-video
  sonomtl experiment msen --data runs/data/sweeps-small --out runs/msen-quick --scale quick
  sonomtl experiment msen --data runs/data/sweeps --out runs/msen-paper --scale paper --folds 5
  sonomtl experiment msen --data DATA --out /tmp/x --rows msen_bce sononet16 --folds 2
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``experiment`` command group."""
    parser = subparsers.add_parser(
        "experiment", help="reproduce a paper's tables (train every variant x fold, evaluate)",
        description="Reproduce a paper's tables: train every variant on every fold, evaluate, "
        "and write results.json, tables.md, figures and report.html.")
    group = parser.add_subparsers(dest="experiment", metavar="EXPERIMENT")
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])
    _register_msen(group)
    _register_abdominal(group)


def _register_msen(group: argparse._SubParsersAction) -> None:
    msen = add_command(
        group, "msen",
        help="paper 000 (M-SEN): Tables 1-2 and Fig. 2 on a dataset with gaze",
        description="Train every row of paper 000's Tables 1-2 (sonomtl/configs/msen/*.yaml) with "
        "subject-level k-fold cross-validation and write results.json, tables.md, "
        "figures/attention_examples.npz and report.html into --out. Attention maps missing "
        "from the manifest are first made from the gaze logs (as 'sonomtl gaze maps').",
        examples=_MSEN_EXAMPLES)
    msen.add_argument("--data", required=True, help="dataset folder (ACP/BG frames with gaze)")
    msen.add_argument("--out", required=True, help="experiment folder to write")
    msen.add_argument("--folds", type=positive_int, default=None,
                      help="cross-validation folds (default 2 for quick, 5 otherwise)")
    msen.add_argument("--scale", choices=("quick", "medium", "paper"), default="quick",
                      help="quick: 64x64, 3 epochs, 20 adversarial steps; medium: 128x128, "
                      "8 epochs, 60 adversarial steps; paper: the paper's schedule "
                      "(default %(default)s)")
    msen.add_argument("--rows", nargs="+", metavar="ROW",
                      help="only these configs (e.g. msen_bce_gan sononet16; default the "
                      "paper's 10 rows); the ablations sononet16_blocks3 and sononet16_scratch "
                      "run only when named")
    msen.add_argument("--seed", type=int, default=0, help="split and training seed")
    msen.add_argument("--adversarial-steps", type=positive_int, default=None, metavar="K",
                      help="adversarial steps of the + GAN rows (default: the scale's; "
                      "the paper: 2000); they start from their twin row's finished "
                      "pre-training when that row runs too")
    msen.add_argument("--set", nargs="*", default=[], metavar="key=value", dest="overrides",
                      help="extra config overrides for every run, e.g. trainer.accelerator=gpu")
    msen.set_defaults(func=_msen)


def _msen(args: argparse.Namespace) -> int:
    import sys

    from sonomtl.errors import InputError
    from sonomtl.experiments.msen import run_msen_experiment

    if args.folds is not None and args.folds < 2:
        raise InputError(f"--folds must be at least 2, got {args.folds}")
    run_msen_experiment(data=args.data, out=args.out, folds=args.folds, scale=args.scale,
                        rows=args.rows, seed=args.seed, overrides=args.overrides,
                        adversarial_steps=args.adversarial_steps,
                        log=lambda line: print(line, file=sys.stderr, flush=True))
    return 0


_ABDOMINAL_EXAMPLES = """
  sonomtl synth abdominal --out runs/data/abd-quick --images 110 --input-size 256
  sonomtl experiment abdominal --data runs/data/abd-quick --out runs/abdominal-quick --scale quick
  sonomtl experiment abdominal --data runs/data/abdominal --out runs/abdominal-paper --scale paper
  sonomtl experiment abdominal --data runs/hc18 --out runs/hc18-cpu --scale paper \\
    --model MGCN_R=sonomtl/configs/abdominal/hc18_mgcn_r_cpu.yaml
"""


def _register_abdominal(group: argparse._SubParsersAction) -> None:
    abdominal = add_command(
        group, "abdominal",
        help="paper 004: Table 1, Figs. 3-4, model sizes and timing of the abdominal network",
        description="Train the single-task baselines (ResNet-50 view classifier, one SFCN per "
        "landmark task) and the multi-task MFCN, MGCN and MGCN_R "
        "(sonomtl/configs/abdominal/*.yaml) on one seeded subject split, evaluate the held-out "
        "subjects and write results.json, tables.md and figures/ into --out. Finished runs in "
        "--out are reused.",
        examples=_ABDOMINAL_EXAMPLES)
    abdominal.add_argument("--data", required=True,
                           help="dataset folder with landmark_tasks and measurements")
    abdominal.add_argument("--out", required=True, help="experiment folder to write")
    abdominal.add_argument("--scale", choices=("quick", "paper"), default="quick",
                           help="quick: 64x64, one bottleneck per ResNet stage, Adam, a few "
                           "epochs; paper: the configs as written (default %(default)s)")
    abdominal.add_argument("--models", nargs="+", metavar="MODEL",
                           help="only these (STL SFCN MFCN MGCN MGCN_R; default all)")
    abdominal.add_argument("--model", action="append", default=[], metavar="NAME=CONFIG",
                           dest="model_configs",
                           help="use CONFIG for model NAME (repeatable; selects it)")
    abdominal.add_argument("--seed", type=int, default=0, help="split and training seed")
    abdominal.add_argument("--threads", type=positive_int, default=None,
                           help="torch CPU threads while training (default 1 for quick, "
                           "torch's own for paper)")
    abdominal.add_argument("--timing-iters", type=int, default=3,
                           help="timed 512x512 CPU passes, median reported (0: no timing)")
    abdominal.add_argument("--set", nargs="*", default=[], metavar="key=value", dest="overrides",
                           help="extra config overrides for every run "
                           "(e.g. trainer.accelerator=gpu)")
    abdominal.set_defaults(func=_abdominal)


def _abdominal(args: argparse.Namespace) -> int:
    import sys

    from sonomtl.errors import InputError
    from sonomtl.experiments.abdominal import run_abdominal_experiment

    configs = {}
    for item in args.model_configs:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise InputError(f"--model expects NAME=CONFIG, got {item!r}", field="--model")
        configs[name] = path
    results = run_abdominal_experiment(
        data=args.data, out=args.out, scale=args.scale, models=args.models, configs=configs,
        seed=args.seed, overrides=args.overrides, timing_iters=args.timing_iters,
        threads=args.threads,
        log=lambda line: print(line, file=sys.stderr, flush=True))
    print(f"{args.out}: {', '.join(results['tables'])} ({results['wall_time_s']:.0f} s)")
    return 0
