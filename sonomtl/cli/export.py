"""``sonomtl export``: a checkpoint as ONNX (fp32, fp16 or int8) with its preprocessing."""

from __future__ import annotations

import argparse

from sonomtl.cli._common import add_command, out_file, positive_int

__all__ = ["register"]

_EXAMPLES = """
  sonomtl export runs/msen --format onnx --out msen.onnx
  sonomtl export runs/msen --dtype fp16 --out msen-fp16.onnx
  sonomtl export runs/msen --dtype int8 --calibration data/train --validation data/val \\
      --out msen-int8.onnx
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``export`` command."""
    parser = add_command(
        subparsers, "export",
        help="export a checkpoint to ONNX (fp32/fp16/int8)",
        description=(
            "Export a checkpoint (run folder or step .safetensors) or a registry model name to "
            "ONNX (opset >= 17, dynamic batch axis, checked with onnx.checker). The file's "
            "metadata carries the preprocessing and class/landmark names, so 'predict --backend "
            "onnx' needs nothing else. int8: onnxruntime static quantisation calibrated on "
            "frames of --calibration DATASET. Prints a JSON report: output differences from "
            "PyTorch, size, and accuracy on --validation DATASET."
        ),
        examples=_EXAMPLES,
    )
    parser.add_argument("model", metavar="CHECKPOINT", help="checkpoint, run folder or model name")
    parser.add_argument("--format", choices=("onnx",), default="onnx", help="only onnx")
    parser.add_argument("--dtype", choices=("fp32", "fp16", "int8"), default="fp32")
    parser.add_argument("--out", required=True, type=out_file, help="output .onnx file")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset (>= 17)")
    parser.add_argument("--calibration", default=None, metavar="DATASET",
                        help="dataset folder whose frames calibrate int8")
    parser.add_argument("--calibration-frames", type=positive_int, default=32,
                        help="frames taken from the calibration dataset (default 32)")
    parser.add_argument("--validation", default=None, metavar="DATASET",
                        help="labelled dataset: report accuracy of PyTorch fp32 vs the export")
    parser.set_defaults(func=_export)


def _export(args: argparse.Namespace) -> int:
    import json

    from sonomtl.errors import InputError
    from sonomtl.inference.export import (
        MAX_OPSET,
        MIN_OPSET,
        dataset_frames,
        export_onnx,
    )
    from sonomtl.inference.predictor import load_model

    if not MIN_OPSET <= args.opset <= MAX_OPSET:
        raise InputError(f"must be from {MIN_OPSET} to {MAX_OPSET}, got {args.opset}",
                         field="--opset")
    if not args.out.lower().endswith(".onnx"):
        raise InputError("the output file must end in .onnx", file=args.out, field="--out")
    if args.dtype == "int8" and args.calibration is None:
        raise InputError("int8 needs --calibration DATASET (frames to calibrate on)",
                         field="--calibration")
    module, config, _ = load_model(args.model)
    calibration = None
    if args.calibration is not None:
        calibration, _ = dataset_frames(args.calibration, config, limit=args.calibration_frames)
    validation = None
    if args.validation is not None:
        validation = dataset_frames(args.validation, config)
    report = export_onnx(module, config, args.out, dtype=args.dtype, opset=args.opset,
                         calibration=calibration, validation=validation)
    print(json.dumps(report.to_dict(), indent=2))
    return 0
