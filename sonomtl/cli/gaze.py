"""``sonomtl gaze fixations`` and ``sonomtl gaze maps``: gaze logs to attention maps."""

from __future__ import annotations

import argparse

from sonomtl.cli._common import add_command, out_file

__all__ = ["register"]

_FIXATION_EXAMPLES = """
  sonomtl gaze fixations gaze/clip01.jsonl --screen-px 1920 1200 --screen-cm 33.2 20.7 \\
      --distance-cm 50 --out fixations.csv
  # plain I-VT (no smoothing, no merging), as pymovements computes it:
  sonomtl gaze fixations log.csv --format csv --screen-px 1920 1080 --screen-cm 53 30 \\
      --distance-cm 60 --smooth 1 --merge-deg 0 --out fixations.csv
"""

_MAPS_EXAMPLES = """
  sonomtl gaze maps runs/synth-sweeps
  sonomtl gaze maps DATASET --sigma-deg 1.5 --window-ms 200 --normalise sum
"""


def _add_detection_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--velocity-threshold", type=float, default=30.0, metavar="DEG_S",
                        help="I-VT threshold in deg/s (default: %(default)s)")
    parser.add_argument("--smooth", type=int, default=3, metavar="N",
                        help="moving-average window, odd samples; 1 = off (default: %(default)s)")
    parser.add_argument("--merge-deg", type=float, default=0.5, metavar="DEG",
                        help="merge fixations closer than this; 0 = off (default: %(default)s)")
    parser.add_argument("--merge-gap-ms", type=float, default=75.0, metavar="MS",
                        help="... and separated by less than this (default: %(default)s)")
    parser.add_argument("--min-duration-ms", type=float, default=80.0, metavar="MS",
                        help="discard shorter fixations (default: %(default)s)")
    parser.add_argument("--sampling-rate-hz", type=float, default=None, metavar="HZ",
                        help="constant rate for velocities (default: from the median interval)")
    parser.add_argument("--max-gap-fill-ms", type=float, default=0.0, metavar="MS",
                        help="interpolate lost runs up to this long; 0 = never (default)")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``gaze`` command group."""
    group = subparsers.add_parser(
        "gaze", help="eye tracking: gaze logs -> fixations -> attention maps",
        description="Eye tracking: gaze logs -> fixations -> sonographer attention maps (M-SEN).",
    )
    commands = group.add_subparsers(dest="gaze_command", metavar="COMMAND")
    fixations = add_command(
        commands, "fixations", help="detect fixations in a gaze log; writes a CSV",
        description=(
            "Detect fixations by the M-SEN protocol: moving average (3 samples), I-VT at "
            "30 deg/s, merge fixations closer than 0.5 deg, drop those shorter than 80 ms. "
            "Writes onset_ms,offset_ms,duration_ms,x_px,y_px (centroid of the raw samples, "
            "screen pixels); duration = time of last sample - time of first."
        ),
        examples=_FIXATION_EXAMPLES,
    )
    fixations.add_argument("log", help="gaze log (EyeTribe JSON lines, EyeTribe/PyGaze TSV, CSV)")
    fixations.add_argument("--format", choices=("eyetribe", "tsv", "csv"), default="eyetribe",
                           help="log format (default: %(default)s)")
    fixations.add_argument("--point", choices=("raw", "avg"), default="raw",
                           help="EyeTribe gaze point to use (default: %(default)s)")
    fixations.add_argument("--columns", nargs=3, metavar=("TIME", "X", "Y"),
                           default=("time_ms", "x_px", "y_px"),
                           help="CSV column names (default: time_ms x_px y_px)")
    fixations.add_argument("--screen-px", type=float, nargs=2, required=True, metavar=("W", "H"))
    fixations.add_argument("--screen-cm", type=float, nargs=2, required=True, metavar=("W", "H"))
    fixations.add_argument("--distance-cm", type=float, required=True, metavar="D")
    _add_detection_options(fixations)
    fixations.add_argument("--out", required=True, type=out_file,
                           help="fixation list to write (CSV)")
    fixations.set_defaults(func=_run_fixations)

    maps = add_command(
        commands, "maps",
        help="attention maps for a dataset's frames; fills 'attention' and 'fixations'",
        description=(
            "For every frame of each sequence with a gaze log (dataset.yaml gaze.logs): "
            "fixations on screen while the frame was shown, mapped into the frame and through "
            "its crop/resize, drawn as a binary map at the input size, blurred with a Gaussian "
            "of --sigma-deg visual angle, normalised; saved as .npy float32 under "
            "DATASET/attention/ and written into the manifest's attention column. The "
            "fixation points themselves go into the fixations column (JSON [[x, y], ...] in "
            "original frame pixels; off-frame fixations left out), for NSS/IG/AUC. A sequence "
            "whose log or rows are bad is listed at the end (exit status 2) and writes "
            "nothing; the others are written and recorded in the manifest."
        ),
        examples=_MAPS_EXAMPLES,
    )
    maps.add_argument("dataset", help="dataset folder (dataset.yaml with a gaze: block)")
    maps.add_argument("--sigma-deg", type=float, default=1.5,
                      help="Gaussian sigma in degrees of visual angle (default: %(default)s)")
    maps.add_argument("--window-ms", type=float, default=0.0,
                      help="also take fixations within WINDOW/2 ms around the frame's time on "
                           "screen (default: %(default)s)")
    maps.add_argument("--normalise", choices=("max", "sum", "none"), default="max",
                      help="max 1 (BCE targets) or sum 1 (distributions) (default: %(default)s)")
    maps.add_argument("--weighting", choices=("binary", "duration"), default="binary",
                      help="fixation map: binary (paper) or duration-weighted (default: binary)")
    maps.add_argument("--out-dir", default="attention",
                      help="folder inside the dataset for the maps (default: %(default)s)")
    _add_detection_options(maps)
    maps.set_defaults(func=_run_maps)


def _params(args: argparse.Namespace):
    from sonomtl.errors import InputError
    from sonomtl.gaze import FixationParams

    try:
        return FixationParams(
            velocity_threshold_deg_s=args.velocity_threshold, smooth_window=args.smooth,
            merge_deg=args.merge_deg, max_merge_gap_ms=args.merge_gap_ms,
            min_duration_ms=args.min_duration_ms, sampling_rate_hz=args.sampling_rate_hz,
            max_gap_fill_ms=args.max_gap_fill_ms,
        )
    except (TypeError, ValueError) as error:
        raise InputError(f"bad option: {error}") from None


def _warnings_to_stderr():
    """Every gaze warning is shown (not once per code location); main() prints it as one line."""
    import warnings

    from sonomtl.gaze import GazeWarning

    warnings.simplefilter("always", GazeWarning)


def _run_fixations(args: argparse.Namespace) -> int:
    from sonomtl.errors import InputError
    from sonomtl.gaze import ScreenGeometry, detect_fixations, read_gaze_log, write_fixations_csv

    _warnings_to_stderr()
    try:
        geometry = ScreenGeometry(screen_px=tuple(args.screen_px), screen_cm=tuple(args.screen_cm),
                                  distance_cm=args.distance_cm)
    except (TypeError, ValueError) as error:
        raise InputError(f"bad screen geometry: {error}") from None
    params = _params(args)
    time_column, x_column, y_column = args.columns
    samples = read_gaze_log(args.log, format=args.format, point=args.point,
                            time_column=time_column, x_column=x_column, y_column=y_column)
    fixations = detect_fixations(samples, geometry=geometry, params=params)
    write_fixations_csv(args.out, fixations)
    print(f"{len(fixations)} fixations from {len(samples)} samples "
          f"({int(samples.lost.sum())} lost) -> {args.out}")
    return 0


def _run_maps(args: argparse.Namespace) -> int:
    from sonomtl.cli._common import report_failures
    from sonomtl.errors import InputError
    from sonomtl.gaze.dataset_maps import write_dataset_attention_maps

    _warnings_to_stderr()
    if not 0 < args.sigma_deg < 45:  # a visual angle: tan() grows without bound towards 90
        raise InputError(f"expected a visual angle > 0 and < 45 degrees, got {args.sigma_deg}",
                         field="--sigma-deg")
    if not args.window_ms >= 0:
        raise InputError(f"expected >= 0, got {args.window_ms}", field="--window-ms")
    summary = write_dataset_attention_maps(
        args.dataset, sigma_deg=args.sigma_deg, window_ms=args.window_ms,
        normalise=args.normalise, params=_params(args), out_dir=args.out_dir,
        weighting=args.weighting,
    )
    print(f"{summary.maps_written} attention maps for {summary.sequences} sequences "
          f"({summary.fixations} fixations; {summary.frames_without_fixation} frames without "
          f"fixation) -> {args.dataset}/{args.out_dir}")
    return report_failures(summary.failures, inputs=summary.sequences)
