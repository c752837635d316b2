"""Time to build the HTML report of one complete run folder (and of each figure in it).

Run: ``.venv/bin/python benchmarks/bench_report.py``. The run folder is the one the
report tests generate (tests/report/report_folders.py): 4-class confusion matrix,
3 attention examples x 2 models, 1 landmark frame, 84 metric rows, 2 benchmark entries.
Prints the best of 3 repeats, single thread.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _best_s(function, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import torch

    torch.set_num_threads(1)
    from sonomtl.report import figures as f
    from sonomtl.report import load_source, write_report
    from tests.report.report_folders import write_experiment_folder, write_run_folder

    with tempfile.TemporaryDirectory() as tmp:
        run = write_run_folder(Path(tmp) / "run")
        experiment = write_experiment_folder(Path(tmp) / "experiment")
        source = load_source(run)
        cls = source.results["classification"]
        cases = {
            "load run folder": lambda: load_source(run),
            "confusion matrix figure + PNG": lambda: f.figure_to_png(
                f.confusion_matrix_figure(confusion=cls["confusion_matrix"], labels=cls["labels"])
            ),
            "attention grid figure + PNG": lambda: f.figure_to_png(
                f.attention_grid_figure(
                    frames=source.attention.frames,
                    ground_truth=source.attention.ground_truth,
                    predictions=source.attention.predictions,
                )
            ),
            "landmark overlay figure + PNG": lambda: f.figure_to_png(
                f.landmark_overlay_figure(examples=source.landmark_examples)
            ),
            "training curves figure + PNG": lambda: f.figure_to_png(
                f.training_curves_figure(rows=source.metrics)
            ),
            "benchmark figure + PNG": lambda: f.figure_to_png(
                f.benchmark_figure(entries=source.benchmark)
            ),
            "whole report, 1 run": lambda: write_report([run], out=Path(tmp) / "r1.html"),
            "whole report, experiment of 2 runs": lambda: write_report(
                [experiment], out=Path(tmp) / "r2.html"
            ),
        }
        print(f"{'work':40s} {'best of 3 (s)':>14s}")
        for name, function in cases.items():
            print(f"{name:40s} {_best_s(function):14.3f}")
        size_kb = (Path(tmp) / "r1.html").stat().st_size / 1024
        print(f"report file size, 1 run: {size_kb:.0f} KiB")


if __name__ == "__main__":
    main()
