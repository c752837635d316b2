"""``sonomtl synth sweeps|abdominal``: write the built-in synthetic data sets."""

from __future__ import annotations

import argparse

from sonomtl.cli._common import add_command, positive_int

__all__ = ["register"]

_SWEEPS_EXAMPLES = """
  sonomtl synth sweeps --out runs/data/sweeps                 # paper scale: 33 clips x 49 frames
  sonomtl synth sweeps --out /tmp/sweeps --quick              # 3 clips x 12 frames, a few seconds
  sonomtl synth sweeps --out /tmp/sweeps --subjects 10 --seed 7 --no-video
"""

_ABDOMINAL_EXAMPLES = """
  sonomtl synth abdominal --out runs/data/abdominal           # 1,100 images, input 512
  sonomtl synth abdominal --out /tmp/abdominal --quick        # 33 images, input 256
  sonomtl synth abdominal --out /tmp/abdominal --images 220 --input-size 256 --seed 3
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``synth`` command group."""
    group = subparsers.add_parser(
        "synth",
        help="generate the built-in synthetic ultrasound data sets",
        description="Generate the built-in synthetic ultrasound data sets (same seed, same bytes).",
    )
    commands = group.add_subparsers(dest="synth_command", metavar="COMMAND")
    sweeps = add_command(
        commands,
        "sweeps",
        help="fetal abdominal sweeps (ACP vs background) with simulated sonographer gaze",
        description=(
            "Free-hand fetal abdominal sweeps as in M-SEN (paper 1): one clip per subject, frames "
            "labelled ACP/BG, one MP4 per clip, and a simulated review with gaze logs (EyeTribe "
            "JSON lines, CSV, ground-truth fixations). Prints the dataset folder."
        ),
        examples=_SWEEPS_EXAMPLES,
    )
    sweeps.add_argument("--out", required=True,
                        help="dataset folder to write; refused when it holds a dataset")
    sweeps.add_argument("--overwrite", action="store_true",
                        help="first remove the dataset in --out (see docs/cli.md)")
    sweeps.add_argument(
        "--subjects",
        type=positive_int,
        default=None,
        help="number of clips/subjects (default 33; 3 with --quick)",
    )
    sweeps.add_argument(
        "--frames",
        type=positive_int,
        default=None,
        help="frames per clip (default 49; 12 with --quick)",
    )
    sweeps.add_argument("--seed", type=int, default=0, help="random seed (default %(default)s)")
    sweeps.add_argument("--quick", action="store_true", help="a small data set for tests and demos")
    sweeps.add_argument("--no-video", action="store_true", help="do not write the MP4 clips")
    sweeps.add_argument("--no-gaze", action="store_true", help="do not simulate gaze")
    sweeps.set_defaults(func=_sweeps)
    abdominal = add_command(
        commands,
        "abdominal",
        help="adult abdominal views (11 classes) with 14 landmarks in 5 tasks",
        description=(
            "Abdominal views as in paper 2: 11 view classes, 14 landmarks in 5 tasks, 7 "
            "measurements, varying pixel size and image size, a view icon to mask, and a second "
            "annotator on about a quarter of the images. Prints the dataset folder."
        ),
        examples=_ABDOMINAL_EXAMPLES,
    )
    abdominal.add_argument("--out", required=True,
                           help="dataset folder to write; refused when it holds a dataset")
    abdominal.add_argument("--overwrite", action="store_true",
                           help="first remove the dataset in --out (see docs/cli.md)")
    abdominal.add_argument(
        "--images",
        type=positive_int,
        default=None,
        help="number of images (default 1100; 33 with --quick)",
    )
    abdominal.add_argument(
        "--input-size",
        type=positive_int,
        default=None,
        help="model input size in dataset.yaml (default 512; 256 with --quick); "
        "target spacing = 0.5 * 512 / size mm",
    )
    abdominal.add_argument("--seed", type=int, default=0, help="random seed (default %(default)s)")
    abdominal.add_argument(
        "--quick", action="store_true", help="a small data set for tests and demos"
    )
    abdominal.set_defaults(func=_abdominal)
    group.set_defaults(func=lambda args: (group.print_help(), 2)[1])


def _sweeps(args: argparse.Namespace) -> int:
    from sonomtl.data.synthetic import generate_sweeps
    from sonomtl.errors import InputError
    from sonomtl.outputs import DATASET_OUTPUTS, prepare_output_folder

    subjects = args.subjects or (3 if args.quick else 33)
    frames = args.frames or (12 if args.quick else 49)
    if frames < 2:
        raise InputError("--frames must be at least 2", field="--frames")
    prepare_output_folder(args.out, DATASET_OUTPUTS, overwrite=args.overwrite)
    out = generate_sweeps(
        args.out,
        subjects=subjects,
        frames_per_clip=frames,
        seed=args.seed,
        video=not args.no_video,
        gaze=not args.no_gaze,
    )
    print(out)
    return 0


def _abdominal(args: argparse.Namespace) -> int:
    from sonomtl.data.synthetic import generate_abdominal
    from sonomtl.errors import InputError
    from sonomtl.outputs import DATASET_OUTPUTS, prepare_output_folder

    images = args.images or (33 if args.quick else 1100)
    input_size = args.input_size or (256 if args.quick else 512)
    from sonomtl.untrusted import LIMITS

    if not 64 <= input_size <= LIMITS.input_side_px:
        raise InputError(f"--input-size must be between 64 and {LIMITS.input_side_px}, got "
                         f"{input_size}", field="--input-size")
    prepare_output_folder(args.out, DATASET_OUTPUTS, overwrite=args.overwrite)
    out = generate_abdominal(args.out, images=images, seed=args.seed, input_size=input_size)
    print(out)
    return 0
