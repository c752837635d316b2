"""Data loading pipeline throughput: PNG decode + preprocessing + augmentation + collate.

Builds a temporary dataset of pre-decoded 240x240 8-bit PNG frames with two
landmarks each, then times ``UltrasoundDataset`` (z-score, heat maps, random
flip + rotation + speckle) through a ``torch`` DataLoader with 2 workers.
Target (issue 2): >= 500 frames/s on the 2-core development machine. It prints
the measured wall-clock rate and the CPU time per frame summed over all
processes (main + workers), whose inverse is the rate two idle cores sustain:
on a shared machine the wall-clock rate only shows this run's share of it.

Run: .venv/bin/python benchmarks/bench_data_pipeline.py [--frames 1024] [--workers 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def build_dataset(folder: Path, n_frames: int) -> Path:
    import numpy as np
    from PIL import Image

    from sonomtl.data.manifest import DatasetSpec, write_dataset

    rng = np.random.default_rng(0)
    spec = DatasetSpec(name="bench", classes=("plane", "background"), landmarks=("a", "b"),
                       flip_pairs=(("a", "b"),), input_size=(240, 240))
    rows = []
    for i in range(n_frames):
        speckle = rng.rayleigh(40.0, (240, 240)).clip(0, 255).astype(np.uint8)
        Image.fromarray(speckle).save(folder / f"{i:05d}.png")
        rows.append({"image": f"{i:05d}.png", "subject": f"s{i // 8}",
                     "label": spec.classes[i % 2],
                     "landmarks": {"a": (60.0 + i % 50, 120.0), "b": (180.0, 100.0)},
                     "spacing_mm": 0.3})
    return write_dataset(folder, spec, rows)


def measure(folder: Path, *, workers: int, batch_size: int, epochs: int,
            speckle_std: float) -> tuple[float, float]:
    """(frames per wall-clock second, CPU milliseconds per frame over all processes)."""
    import resource

    import torch

    from sonomtl.data.dataset import UltrasoundDataset, collate_samples, make_augment

    dataset = UltrasoundDataset(folder, heatmap_sigma_px=4.0)
    dataset.augment = make_augment(dataset.spec, flip_prob=0.5, rotate_deg=15.0,
                                   speckle_std=speckle_std)
    # Workers are not persistent: each epoch's workers exit (and are reaped) at its end,
    # so their CPU time shows up in RUSAGE_CHILDREN.
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, shuffle=True, num_workers=workers,
        collate_fn=collate_samples)
    for _ in loader:  # warm-up: imports, page cache
        pass

    def cpu_s() -> float:
        own = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime

    frames = 0
    cpu0, start = cpu_s(), time.perf_counter()
    for epoch in range(epochs):
        dataset.set_epoch(epoch)
        for batch in loader:
            frames += batch["image"].shape[0]
    wall = time.perf_counter() - start
    return frames / wall, (cpu_s() - cpu0) / frames * 1000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1024)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    import os

    with tempfile.TemporaryDirectory() as tmp:
        folder = build_dataset(Path(tmp), args.frames)
        load = os.getloadavg()[0]
        rates = {speckle: measure(folder, workers=args.workers, batch_size=args.batch_size,
                                  epochs=args.epochs, speckle_std=speckle)
                 for speckle in (0.0, 0.05)}
        load = max(load, os.getloadavg()[0])
        print(f"cpu cores: {os.cpu_count()}; load average during the run up to {load:.1f} "
              f"(other processes share the cores when > cores); frames: {args.frames} x "
              f"{args.epochs} epochs; batch {args.batch_size}; {args.workers} workers")
        for speckle, name in ((0.0, "flip/rotate"), (0.05, "flip/rotate + speckle noise")):
            rate, cpu_ms = rates[speckle]
            print(f"240x240 PNG -> z-score + heat maps + {name}: {rate:.0f} frames/s measured; "
                  f"CPU {cpu_ms:.2f} ms/frame (all processes) = {2000 / cpu_ms:.0f} frames/s "
                  "on 2 idle cores (target >= 500)")

if __name__ == "__main__":
    main()
