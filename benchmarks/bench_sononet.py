"""SonoNet-16 eager CPU latency: batch 1, 224x288, 2 threads (frames per second).

Run: ``.venv/bin/python benchmarks/bench_sononet.py [--threads 2] [--repeats 50]``.
Uses the official weights when ../shared/data is present (the timing does not
depend on the values). Also times the M-SEN generator (240x240) for reference.
"""

from __future__ import annotations

import argparse
import statistics
import time


def _time(model, x, *, repeats: int, warmup: int = 5) -> list[float]:
    import torch

    with torch.inference_mode():
        for _ in range(warmup):
            model(x)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()

    import torch

    from sonomtl.fileio import shared_data_dir
    from sonomtl.models.msen import msen_generator
    from sonomtl.models.sononet import sononet16

    torch.set_num_threads(args.threads)
    root = shared_data_dir()
    weights = root / "sononet" / "SonoNet16.npz" if root is not None else None
    if weights is not None and not weights.is_file():
        weights = None
    cases = [
        ("SonoNet-16 224x288", sononet16(weights=weights).eval(), torch.randn(1, 1, 224, 288)),
        ("M-SEN G (SonoNet-16 trunk) 240x240", msen_generator().eval(),
         torch.randn(1, 1, 240, 240)),
    ]
    print(f"torch {torch.__version__}, {args.threads} threads, batch 1, {args.repeats} repeats, "
          f"weights: {'official' if weights else 'random'}")
    for name, model, x in cases:
        times = _time(model, x, repeats=args.repeats)
        median_ms = 1000 * statistics.median(times)
        print(f"{name:38s} median {median_ms:7.2f} ms  min {1000 * min(times):7.2f} ms  "
              f"{1000 / median_ms:7.1f} frames/s")


if __name__ == "__main__":
    main()
