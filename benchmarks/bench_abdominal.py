"""Abdominal network (paper 004): model sizes and one-pass 512x512 CPU latency.

Prints, for the multi-task network and for the single-task set it replaces
(one ResNet-50 view classifier + one SFCN per landmark task), the parameter
count and the fp32 size in MB (10^6 bytes) and MiB (2^20 bytes; the paper's
"539MB to 100MB" are MiB). Then times one forward pass (batch 1, 512x512,
eval, no_grad) of the multi-task model and of the whole single-task set,
side by side in this run, and prints the ratio.

Run: ``.venv/bin/python benchmarks/bench_abdominal.py [--iters 5] [--threads 2]``.
"""

from __future__ import annotations

import argparse
import statistics
import time


def _size(model) -> tuple[int, float, float]:
    params = sum(p.numel() for p in model.parameters())
    return params, params * 4 / 1e6, params * 4 / 2**20


def _latency_ms(run, *, iters: int) -> float:
    run()  # warm-up (allocations, oneDNN kernels)
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=5, help="timed passes (median reported)")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--size", type=int, default=512, help="input rows = cols")
    args = parser.parse_args()

    import torch

    from sonomtl.models import build_model
    from sonomtl.models.abdominal import LANDMARK_TASKS

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    mtl = build_model("abdominal_mtl").eval()
    shared_late = build_model("abdominal_mtl", duplicate_late_stages=False).eval()
    mfcn = build_model("abdominal_mfcn").eval()
    stl = {"resnet50_classifier": build_model("resnet50_classifier").eval()}
    for task in LANDMARK_TASKS:
        stl[f"abdominal_sfcn[{task}]"] = build_model("abdominal_sfcn", task=task).eval()

    print(f"{'model':42s} {'params':>12s} {'fp32 MB':>9s} {'fp32 MiB':>9s}")
    rows = [
        ("abdominal_mtl (= MGCN, paper layout)", mtl),
        ("abdominal_mtl duplicate_late_stages=False", shared_late),
        ("abdominal_mfcn", mfcn),
        *stl.items(),
    ]
    for name, model in rows:
        params, mb, mib = _size(model)
        print(f"{name:42s} {params:12,d} {mb:9.1f} {mib:9.1f}")
    stl_params = sum(_size(m)[0] for m in stl.values())
    mtl_params = _size(mtl)[0]
    print(
        f"{'single-task set (STL + 5 SFCN)':42s} {stl_params:12,d} "
        f"{stl_params * 4 / 1e6:9.1f} {stl_params * 4 / 2**20:9.1f}"
    )
    print(f"multi-task / single-task set size: {mtl_params / stl_params:.3f}")
    print(f"abdominal_mtl in fp16: {mtl_params * 2 / 1e6:.1f} MB")

    x = torch.randn(1, 1, args.size, args.size)

    def run_mtl():
        with torch.inference_mode():
            mtl(x)

    def run_stl():
        with torch.inference_mode():
            for model in stl.values():
                model(x)

    mtl_ms = _latency_ms(run_mtl, iters=args.iters)
    stl_ms = _latency_ms(run_stl, iters=args.iters)
    print(
        f"one pass {args.size}x{args.size}, batch 1, {args.threads} threads, "
        f"median of {args.iters}:"
    )
    print(f"  abdominal_mtl (views + 14 heat maps): {mtl_ms:8.1f} ms")
    print(f"  single-task set (6 networks):         {stl_ms:8.1f} ms")
    print(f"  speed-up of one multi-task pass:      {stl_ms / mtl_ms:8.2f} x")


if __name__ == "__main__":
    main()
