"""``sonomtl sononet classify``: SonoNet's published weights on image files."""

from __future__ import annotations

import argparse

from sonomtl.cli._common import add_command

__all__ = ["register"]

_EXAMPLES = """
  sonomtl sononet classify --weights sononet16 \\
      ../shared/data/sononet/example_images/ABDOMINAL.tiff
  sonomtl sononet classify --weights model.safetensors --crop none frame1.png frame2.png
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``sononet`` command group."""
    group = subparsers.add_parser(
        "sononet", help="SonoNet standard-plane classifier (official weights)",
        description="SonoNet standard-plane classifier (Baumgartner et al., TMI 2017).",
    )
    commands = group.add_subparsers(dest="sononet_command", metavar="COMMAND")
    classify = add_command(
        commands, "classify",
        help="classify frames; prints one JSON object per image",
        description=(
            "Classify ultrasound frames with SonoNet weights (the official Lasagne .npz or a "
            ".safetensors file saved by sonomtl). Preprocessing is the authors': crop, Pillow "
            "BICUBIC resize to 224x288, grey = channel mean, 255*(x-mean)/std. Prints one JSON "
            "object per line as each batch is done: file, label, probabilities (published label "
            "order). Unreadable images are listed on stderr at the end (exit status 2); the "
            "others are still classified."
        ),
        examples=_EXAMPLES,
    )
    classify.add_argument("--weights", required=True,
                          help="a store name (sononet16; see 'sonomtl weights list'), "
                               "SonoNet16.npz or a .safetensors file")
    classify.add_argument(
        "--crop", default="115:734,81:874",
        help="ROW0:ROW1,COL0:COL1 to keep (half-open), or 'none' (default: %(default)s)",
    )
    classify.add_argument("images", nargs="+", metavar="IMAGE", help="image files (TIFF, PNG, ...)")
    classify.set_defaults(func=_classify)
    group.set_defaults(func=lambda args: (group.print_help(), 2)[1])


def _classify(args: argparse.Namespace) -> int:
    import json

    from sonomtl.cli._common import report_failures
    from sonomtl.errors import InputError
    from sonomtl.inference.sononet_classify import iter_classify_images, parse_crop

    failures = []
    for outcome in iter_classify_images(args.images, weights=args.weights,
                                        crop=parse_crop(args.crop)):
        if isinstance(outcome, InputError):
            failures.append(str(outcome))
        else:
            print(json.dumps(outcome), flush=True)
    return report_failures(failures, inputs=len(args.images))
