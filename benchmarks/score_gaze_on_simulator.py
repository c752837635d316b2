"""Fixation detection scored against the simulator's ground truth, paper protocol vs plain I-VT.

Generates a paper-scale simulated sweep set (33 clips x 49 frames, gaze only: no video),
detects fixations in every EyeTribe log with the paper's protocol (``FixationParams()``:
3-sample moving average, I-VT 30 deg/s, merge 0.5 deg, minimum 80 ms) and with plain I-VT
(no smoothing, no merging; the pymovements-equivalent setting), matches them one-to-one
to the true fixations (:mod:`sonomtl.gaze.scoring`) and prints, for both side by side:
recall, precision, split/merged counts, onset/offset errors (ms), centroid error (px, deg)
and recall by true fixation duration.

Run: ``.venv/bin/python benchmarks/score_gaze_on_simulator.py`` (about 30-60 s, mostly
rendering the frames); ``--subjects 3 --frames 12`` is the quick set of the tests.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from sonomtl.data.synthetic import generate_sweeps
from sonomtl.gaze import FixationParams, read_fixations_csv
from sonomtl.gaze.scoring import (
    combine_scores,
    error_stats,
    score_dataset_fixations,
)

PROTOCOLS = {
    "paper": FixationParams(),
    "plain I-VT": FixationParams(smooth_window=1, merge_deg=0.0),
}
DURATION_BINS_MS = ((150, 200), (200, 300), (300, 600), (600, 10_000))


def _true_durations(folder: Path, sequences: list[str]) -> np.ndarray:
    import yaml

    files = yaml.safe_load((folder / "dataset.yaml").read_text())["metadata"]["gaze_fixations"]
    return np.concatenate([read_fixations_csv(folder / files[s]).duration_ms for s in sequences])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=33)
    parser.add_argument("--frames", type=int, default=49)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        folder = generate_sweeps(Path(tmp) / "sweeps", subjects=args.subjects,
                                 frames_per_clip=args.frames, seed=args.seed, video=False)
        print(f"simulated {args.subjects} clips x {args.frames} frames (seed {args.seed}) "
              f"in {time.perf_counter() - start:.1f} s")
        rows: dict[str, dict[str, str]] = {}
        for name, params in PROTOCOLS.items():
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                per_clip = score_dataset_fixations(folder, params=params)
            seconds = time.perf_counter() - start
            score = combine_scores([per_clip[k] for k in sorted(per_clip)])
            durations = _true_durations(folder, sorted(per_clip))
            found = np.zeros(score.n_true, bool)
            found[score.true_index] = True
            onset = error_stats(score.onset_error_ms)
            offset = error_stats(score.offset_error_ms)
            px = error_stats(score.position_error_px)
            deg = error_stats(score.position_error_deg)
            row = {
                "true / detected / matched":
                    f"{score.n_true} / {score.n_detected} / {score.n_matched}",
                "recall (hit rate)": f"{score.recall:.3f}",
                "precision": f"{score.precision:.3f}",
                "split / merged": f"{score.n_split} / {score.n_merged}",
                "onset |err| ms median/mean/p90":
                    f"{onset.median:.0f} / {onset.mean:.0f} / {onset.p90:.0f}",
                "onset signed median ms": f"{onset.median_signed:+.0f}",
                "offset |err| ms median/mean/p90":
                    f"{offset.median:.0f} / {offset.mean:.0f} / {offset.p90:.0f}",
                "offset signed median ms": f"{offset.median_signed:+.0f}",
                "position px median/mean/p90":
                    f"{px.median:.1f} / {px.mean:.1f} / {px.p90:.1f}",
                "position deg median/mean/p90":
                    f"{deg.median:.3f} / {deg.mean:.3f} / {deg.p90:.3f}",
            }
            for low, high in DURATION_BINS_MS:
                inside = (durations >= low) & (durations < high)
                label = f"recall, true {low}-{high} ms" if high < 10_000 else f"recall, >= {low} ms"
                row[label] = f"{found[inside].mean():.3f} (n={int(inside.sum())})"
            row["read + detect + score s"] = f"{seconds:.2f}"
            rows[name] = row
    names = list(PROTOCOLS)
    width = max(len(k) for k in rows[names[0]])
    print(f"{'':{width}}  " + "  ".join(f"{n:>22}" for n in names))
    for key in rows[names[0]]:
        print(f"{key:{width}}  " + "  ".join(f"{rows[n][key]:>22}" for n in names))


if __name__ == "__main__":
    main()
