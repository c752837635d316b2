"""Training throughput of the engine on an M-SEN-sized model: images/s and time waiting for data.

Trains ``build_model("msen")`` (the M-SEN generator: SonoNet-16 blocks 1-3 and
its two branches; a same-size stand-in is not needed since it exists) on
generated 1-channel frames with attention maps, through the full engine
(sampler, per-sample seeding, DataLoader workers, Fabric, losses, logging),
and prints images/s and the fraction of step time spent waiting for the
next batch, for each ``num_workers`` asked for, side by side.

    .venv/bin/python benchmarks/bench_training.py --steps 40 --batch-size 8 --image-size 240
    .venv/bin/python benchmarks/bench_training.py --accelerator gpu --precision bf16-mixed \\
        --batch-size 64 --steps 300 --workers 4 8          # the issue's GPU target: <= 10 % waiting
"""

from __future__ import annotations

import argparse
import tempfile


def _config(args: argparse.Namespace, *, workers: int, out_dir: str) -> dict:
    return {
        "name": f"bench-w{workers}",
        "seed": 0,
        "out_dir": out_dir,
        "task": {"name": "example", "params": {"generator": "G"}},
        "modules": {"G": {"model": args.model, "kwargs": {"dropout": 0.2}}},
        "data": {
            "batch_size": args.batch_size,
            "num_workers": workers,
            "params": {
                "num_samples": args.samples,
                "val_samples": 0,
                "image_size": args.image_size,
                "augment": True,
            },
        },
        "trainer": {
            "accelerator": args.accelerator,
            "devices": 1,
            "precision": args.precision,
            "log_every_n_steps": 50,
            "progress_bar": False,
        },
        "checkpoint": {"every_n_steps": None},
        "stages": [
            {
                "name": "pretrain",
                "steps": args.steps,
                "train": ["G"],
                "optimizers": {"G": {"kind": "adam", "lr": 2e-4}},
                "losses": {
                    "saliency": {"start": 2.0, "end": 1.0, "per": "step"},
                    "classification": 1.0,
                },
            }
        ],
    }


def main() -> None:
    """Run the benchmark and print one line per ``num_workers`` setting."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="msen")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument(
        "--warmup-steps",
        type=int,
        default=3,
        help="steps run first and not counted (allocator, threads)",
    )
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--image-size", type=int, default=240)
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--accelerator", default="cpu")
    parser.add_argument("--precision", default="32-true")
    args = parser.parse_args()

    import torch

    from sonomtl.config import config_from_dict
    from sonomtl.training.run import train

    print(
        f"model={args.model} batch={args.batch_size} size={args.image_size} steps={args.steps} "
        f"accelerator={args.accelerator} precision={args.precision} torch_threads="
        f"{torch.get_num_threads()}"
    )
    print(f"{'workers':>7} {'images/s':>9} {'step_ms':>8} {'data_wait':>9}")
    results = {}
    for workers in args.workers:
        with tempfile.TemporaryDirectory() as out_dir:
            warm = _config(args, workers=workers, out_dir=out_dir)
            warm["name"] += "-warmup"
            warm["stages"][0]["steps"] = args.warmup_steps
            train(config_from_dict(warm))
            result = train(config_from_dict(_config(args, workers=workers, out_dir=out_dir)))
        timing = result.timing
        total = timing["data_s"] + timing["step_s"]
        images_s = timing["samples"] / total
        wait = timing["data_s"] / total
        results[workers] = images_s
        print(f"{workers:>7} {images_s:>9.1f} {1000 * total / timing['steps']:>8.1f} {wait:>9.1%}")
    if len(results) > 1:
        base = args.workers[0]
        for workers in args.workers[1:]:
            ratio = results[workers] / results[base]
            print(f"speed ratio workers={workers} / workers={base}: {ratio:.2f}")


if __name__ == "__main__":
    main()
