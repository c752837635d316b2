"""Speed of the synthetic data generators (issue 3 target: 1,000 frames in <= 10 s).

Run: ``.venv/bin/python benchmarks/bench_synthetic.py [--frames 1000]``

Prints, for sweep frames (300x400 screen canvas whose 240x240 crop is the
model input): seconds to render N frames in memory, seconds to render and
PNG-encode them, and seconds per abdominal image (larger canvases). The load
average is printed too: the development machine is shared, so figures are
noisy.
"""

from __future__ import annotations

import argparse
import os
import time


def main() -> None:
    import cv2

    from sonomtl.data.synthetic.abdominal import render_abdominal_image
    from sonomtl.data.synthetic.sweeps import render_sweep_clip

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--abdominal", type=int, default=50)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    frames_per_clip = 50
    clips = max(1, args.frames // frames_per_clip)
    load = os.getloadavg()[0]
    start, cpu_start = time.perf_counter(), time.process_time()
    rendered = [render_sweep_clip(i, seed=0, n_frames=frames_per_clip) for i in range(clips)]
    render_s, render_cpu = time.perf_counter() - start, time.process_time() - cpu_start
    n = clips * frames_per_clip
    start, cpu_start = time.perf_counter(), time.process_time()
    for clip in rendered:
        for frame in clip.frames:
            cv2.imencode(".png", frame, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    encode_s, encode_cpu = time.perf_counter() - start, time.process_time() - cpu_start
    start = time.perf_counter()
    for i in range(args.abdominal):
        render_abdominal_image(i, seed=0)
    abdominal_s = time.perf_counter() - start
    print(f"load average at start: {load:.2f} (2 cores)")
    print(f"sweep frames rendered: {n} in {render_s:.2f} s ({1000 * render_s / n:.2f} ms/frame)")
    print(
        f"  + PNG encoding:      {render_s + encode_s:.2f} s for {n} frames "
        f"({1000 * (render_s + encode_s) / n:.2f} ms/frame); target <= 10 s per 1,000"
    )
    print(
        f"  CPU time (immune to other users' load): {render_cpu + encode_cpu:.2f} s "
        f"(render {render_cpu:.2f} + PNG {encode_cpu:.2f})"
    )
    print(
        f"abdominal images:      {args.abdominal} in {abdominal_s:.2f} s "
        f"({1000 * abdominal_s / args.abdominal:.1f} ms/image, canvases up to ~880x1300)"
    )


if __name__ == "__main__":
    main()
