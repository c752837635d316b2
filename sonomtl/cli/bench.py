"""``sonomtl bench``: latency, frames/s, memory and size of a model."""

from __future__ import annotations

import argparse

from sonomtl.cli._common import add_command, positive_int

__all__ = ["register"]

_EXAMPLES = """
  sonomtl bench msen --threads 2 --json
  sonomtl bench sononet16 --backend onnx --input-size 224 288 --json
  sonomtl bench msen.onnx --backend onnx --batch 4 --iters 50 --json
  sonomtl bench runs/abdominal --input-size 512 512 --iters 5
  sonomtl bench abdominal_mtl --device cuda --dtype fp16 --input-size 512 512 --json
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``bench`` command."""
    parser = add_command(
        subparsers, "bench",
        help="benchmark a model: latency p50/p95, frames/s, memory, size",
        description=(
            "Benchmark MODEL: a checkpoint, an exported .onnx file or a registry name (random "
            "weights). Warm-up runs, then ITERS timed runs of one batch of random frames. "
            "Reports latency p50/p95 (ms), frames/s, the process's peak memory, the parameter "
            "count and the model size in MB (10^6 bytes)."
        ),
        examples=_EXAMPLES,
    )
    parser.add_argument("model", metavar="MODEL", help="checkpoint, .onnx file or registry name")
    parser.add_argument("--backend", choices=("torch", "onnx"), default=None,
                        help="default: onnx for .onnx files, else torch")
    parser.add_argument("--dtype", choices=("fp32", "fp16", "int8"), default=None,
                        help="export precision of a checkpoint or registry model (default "
                             "fp32); with --backend torch fp32, or fp16 on a CUDA device; an "
                             ".onnx file runs as exported")
    parser.add_argument("--device", default="cpu",
                        help="cpu (default), cuda or cuda:N; checked before anything runs")
    parser.add_argument("--batch", type=positive_int, default=1)
    parser.add_argument("--input-size", type=positive_int, nargs=2, metavar=("H", "W"),
                        default=None)
    parser.add_argument("--threads", type=positive_int, default=None)
    parser.add_argument("--iters", type=positive_int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.set_defaults(func=_bench)


def _bench(args: argparse.Namespace) -> int:
    import json

    from sonomtl.errors import InputError
    from sonomtl.inference.bench import benchmark

    if args.iters < 1 or args.warmup < 0:
        raise InputError("--iters must be >= 1 and --warmup >= 0", field="--iters")
    if args.input_size is not None and min(args.input_size) < 1:
        raise InputError(f"must be positive, got {args.input_size}", field="--input-size")
    backend = args.backend or ("onnx" if args.model.lower().endswith(".onnx") else "torch")
    result = benchmark(args.model, backend=backend, dtype=args.dtype, batch=args.batch,
                       input_hw=args.input_size, threads=args.threads, iters=args.iters,
                       warmup=args.warmup, device=args.device)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        lat = result["latency_ms"]
        print(f"{result['architecture']} {backend} {result['dtype']} on {result['device']}, "
              f"batch {args.batch} "
              f"{result['input_hw'][0]}x{result['input_hw'][1]}: p50 {lat['p50']:.1f} ms, "
              f"p95 {lat['p95']:.1f} ms, {result['throughput_fps']:.1f} frames/s, "
              f"{result['parameters']:,} parameters, {result['size_mb']:.1f} MB")
    return 0
