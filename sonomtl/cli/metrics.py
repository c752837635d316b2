"""``sonomtl metrics saliency``: score saliency maps against fixations from .npy files."""

from __future__ import annotations

import argparse

from sonomtl.cli._common import add_command

__all__ = ["register"]

_EXAMPLES = """
  sonomtl metrics saliency pred.npy fixations.npy --json
  sonomtl metrics saliency pred.npy fixations.npy --attention gt_maps.npy --baseline mean_map.npy
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``metrics`` command group."""
    group = subparsers.add_parser(
        "metrics",
        help="evaluation metrics on arrays saved as .npy",
        description="Evaluation metrics on arrays saved as .npy files.",
    )
    commands = group.add_subparsers(dest="metrics_command", metavar="COMMAND")
    command = add_command(
        commands,
        "saliency",
        help="IG, CC, NSS, SIM, AUC-Judd/Borji, sAUC and KLD of predicted maps",
        description=(
            "Score predicted saliency maps PRED (N,H,W, non-negative) against fixation "
            "counts FIXATIONS (N,H,W, booleans or whole numbers) and print the mean over "
            "images of every metric, keyed as in results.json (plus sAUC and n_images). "
            "CC, SIM and KLD compare with --attention maps when given, else with the "
            "fixation maps. IG is in bits per fixation over --baseline (default: a centred "
            "Gaussian, sd half the width/height). Images without fixations are left out "
            "with a warning. Definitions: docs/metrics.md."
        ),
        examples=_EXAMPLES,
    )
    command.add_argument("pred", metavar="PRED.npy", help="predicted maps (N,H,W) or (H,W)")
    command.add_argument("fixations", metavar="FIXATIONS.npy", help="fixation counts (N,H,W)")
    command.add_argument(
        "--attention", metavar="MAPS.npy", help="ground-truth attention maps (N,H,W)"
    )
    command.add_argument(
        "--baseline", metavar="MAP.npy", help="IG baseline map (H,W), e.g. the training mean"
    )
    command.add_argument("--json", action="store_true", help="print one JSON object")
    command.set_defaults(func=_saliency)
    group.set_defaults(func=lambda args: (group.print_help(), 2)[1])


def _load(path: str):
    from sonomtl.untrusted import load_npy

    return load_npy(path, mmap=True)


def _saliency(args: argparse.Namespace) -> int:
    import json
    import math
    import sys
    import warnings

    from sonomtl.errors import InputError
    from sonomtl.metrics.saliency import compute_saliency_metrics, summarise_saliency

    files = {
        "saliency_maps": args.pred,
        "fixation_maps": args.fixations,
        "attention_maps": args.attention,
        "baseline_map": args.baseline,
    }
    arrays = {name: _load(path) for name, path in files.items() if path is not None}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        try:
            per_image = compute_saliency_metrics(
                arrays["saliency_maps"],
                arrays["fixation_maps"],
                attention_maps=arrays.get("attention_maps"),
                baseline_map=arrays.get("baseline_map"),
            )
        except (ValueError, TypeError) as error:
            message = str(error)
            named = sorted((message.find(n), n) for n in files if n in message)
            pair = [n for _, n in named]
            if "same shape" in message and pair == ["saliency_maps", "fixation_maps"]:
                # PRED and FIXATIONS disagree: either may be wrong, so name both
                raise InputError(f"shape {arrays[pair[0]].shape} does not match FIXATIONS "
                                 f"{files[pair[1]]} {arrays[pair[1]].shape} ({message})",
                                 file=files[pair[0]]) from None
            # an optional map that does not fit PRED and FIXATIONS (which agree) is named
            culprit = pair[-1] if "same shape" in message and pair else \
                next((n for n in files if message.startswith(n)), "saliency_maps")
            raise InputError(message, file=files[culprit]) from None
    for warning in caught:
        print(f"sonomtl: warning: {warning.message}", file=sys.stderr)
    summary = summarise_saliency(per_image)
    if args.json:
        clean = {
            k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in summary.items()
        }
        print(json.dumps(clean))
    else:
        for key, value in summary.items():
            print(f"{key:<10} {value}" if key == "n_images" else f"{key:<10} {value:.6f}")
    return 0
