"""``sonomtl predict``: run a trained model on images, DICOMs and videos."""

from __future__ import annotations

import argparse

from sonomtl.cli._common import add_command, positive_int, report_failures

__all__ = ["register"]

_EXAMPLES = """
  sonomtl predict runs/msen /data/frames --out runs/msen/predictions
  sonomtl predict model.onnx --backend onnx sweep.mp4 --out /tmp/pred
  sonomtl predict runs/abdominal scan.dcm --out /tmp/pred            # spacing from the DICOM
  sonomtl predict runs/abdominal frame.png --spacing-mm 0.3 --out /tmp/pred
  sonomtl predict runs/abdominal sweep.mp4 --device cuda --dtype fp16 --spacing-mm 0.3 --out /tmp/p
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``predict`` command."""
    parser = add_command(
        subparsers, "predict",
        help="predict planes, attention maps, landmarks and measurements on files",
        description=(
            "Run a checkpoint (run folder or step .safetensors) or an exported .onnx file on "
            "images, DICOMs (single- and multi-frame), videos and folders of them. Writes "
            "predictions.jsonl (one line per frame), attention maps and overlay PNGs, and for "
            "videos/multi-frame DICOMs best_frames.json (best frame per plane, smoothed over "
            "time). Bad inputs are listed at the end; the exit status is then 2. SIGINT or SIGTERM "
            "stops at the next frame: the finished files are written, the unfinished one "
            "leaves nothing, and the exit status is 130 or 143."
        ),
        examples=_EXAMPLES,
    )
    parser.add_argument("model", metavar="MODEL", help="checkpoint, run folder or .onnx file")
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="files or folders")
    parser.add_argument("--out", required=True,
                        help="output folder; refused when it holds an earlier run's results")
    parser.add_argument("--overwrite", action="store_true",
                        help="first remove an earlier run's results from --out (only the files "
                             "predict writes: predictions.jsonl, best_frames.json, the PNGs of "
                             "attention/, overlays/, best_frames/)")
    parser.add_argument("--backend", choices=("torch", "onnx"), default=None,
                        help="default: onnx for .onnx files, else torch")
    parser.add_argument("--spacing-mm", type=float, nargs="+", default=None, metavar="MM",
                        help="pixel size (x [y]) in mm; overrides a DICOM's calibration")
    parser.add_argument("--no-measurements", action="store_true",
                        help="do not compute measurements (no pixel size needed)")
    parser.add_argument("--threshold", type=float, default=0.5,
                        help="smoothed probability a best frame must reach (default %(default)s)")
    parser.add_argument("--smoothing-alpha", type=float, default=0.3,
                        help="exponential smoothing weight of the newest frame "
                             "(default %(default)s; 1 = none)")
    parser.add_argument("--batch", type=positive_int, default=8,
                        help="frames per batch (default 8)")
    parser.add_argument("--threads", type=positive_int, default=None, help="CPU threads")
    parser.add_argument("--device", default="cpu",
                        help="cpu (default), cuda or cuda:N; checked before any input is read")
    parser.add_argument("--dtype", choices=("fp32", "fp16"), default="fp32",
                        help="torch backend precision: fp16 is autocast on a CUDA device")
    parser.add_argument("--no-overlays", action="store_true", help="do not write overlay PNGs")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(func=_predict)


def _predict(args: argparse.Namespace) -> int:
    import sys

    from sonomtl.errors import InputError
    from sonomtl.inference.predict_files import predict_files
    from sonomtl.inference.predictor import load_predictor
    from sonomtl.outputs import PREDICT_OUTPUTS, prepare_output_folder
    from sonomtl.signals import StopOnSignals

    if args.batch < 1:
        raise InputError(f"must be a positive integer, got {args.batch}", field="--batch")
    if not 0.0 < args.smoothing_alpha <= 1.0:
        raise InputError(f"must be in (0, 1], got {args.smoothing_alpha}",
                         field="--smoothing-alpha")
    if not 0.0 <= args.threshold <= 1.0:
        raise InputError(f"must be in [0, 1], got {args.threshold}", field="--threshold")
    backend = args.backend or ("onnx" if args.model.lower().endswith(".onnx") else "torch")
    predictor = load_predictor(args.model, backend=backend, threads=args.threads,
                               device=args.device, dtype=args.dtype)
    # after the model loaded: a bad model never costs an earlier run's results
    prepare_output_folder(args.out, PREDICT_OUTPUTS, overwrite=args.overwrite)
    bar = None
    if not args.no_progress:
        from tqdm import tqdm

        bar = tqdm(unit="frame", desc="predict", file=sys.stderr)
    with StopOnSignals() as stop:
        try:
            summary = predict_files(
                predictor, args.inputs, out_dir=args.out,
                spacing_mm=None if args.spacing_mm is None else args.spacing_mm,
                measure=not args.no_measurements, threshold=args.threshold,
                smoothing_alpha=args.smoothing_alpha, overlays=not args.no_overlays,
                batch_size=args.batch, progress=None if bar is None else bar.update,
                should_stop=stop)
        finally:
            if bar is not None:
                bar.close()
    rate = summary.frames / summary.seconds if summary.seconds > 0 else 0.0
    print(f"{summary.frames} frame(s) from {summary.files_ok} file(s) in {summary.seconds:.1f} s "
          f"({rate:.1f} frames/s) -> {summary.predictions}")
    if summary.best_frames is not None:
        print(f"best frames -> {summary.best_frames}")
    status = report_failures([message for _, message in summary.failures],
                             inputs=summary.files_ok + len(summary.failures))
    if summary.interrupted:
        print(f"sonomtl: interrupted: {summary.files_ok} file(s) done are in "
              f"{summary.predictions}; the unfinished file left nothing behind", file=sys.stderr)
        return stop.exit_status
    return status
