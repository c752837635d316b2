"""Builders of small run and experiment folders, written as the other steps write them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from sonomtl.metrics.classification import compute_classification_report
from sonomtl.metrics.landmarks import compute_landmark_report

LABELS = ["kidney_long", "kidney_trans", "liver_long", "others"]
LANDMARKS = ["kl_1", "kl_2", "kt_1", "kt_2"]
MEASUREMENTS = {
    "KL_LA": {"type": "distance", "landmarks": ["kl_1", "kl_2"]},
    "KT_LA": {"type": "distance", "landmarks": ["kt_1", "kt_2"]},
}
# Counts by hand: 10 + 8 + 9 + 12 right out of 50 -> accuracy 39/50 = 0.78.
CONFUSION = [[10, 2, 0, 1], [1, 8, 1, 0], [0, 1, 9, 2], [0, 0, 3, 12]]


def _labels_from_confusion(confusion: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    truth, pred = [], []
    for i, row in enumerate(confusion):
        for j, count in enumerate(row):
            truth += [i] * count
            pred += [j] * count
    return np.array(truth), np.array(pred)


def results_dict(*, confusion: list[list[int]] = CONFUSION, saliency_scale: float = 1.0) -> dict:
    """A results.json as evaluate writes it (classification, landmarks from sonomtl.metrics)."""
    import warnings

    truth, pred = _labels_from_confusion(confusion)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        classification = compute_classification_report(truth, pred, labels=LABELS)
    rng = np.random.default_rng(0)
    true_points = rng.uniform(20, 100, size=(6, 4, 2))
    pred_points = true_points + rng.normal(0, 2, size=true_points.shape)
    landmarks = compute_landmark_report(
        pred_points,
        true_points,
        landmark_names=LANDMARKS,
        spacing_mm=0.5,
        measurements=MEASUREMENTS,
    )
    return {
        "classification": classification,
        "saliency": {
            "IG": 0.543 * saliency_scale,
            "CC": 0.693,
            "NSS": 2.525,
            "SIM": 0.512,
            "AUC_Judd": 0.775,
            "AUC_Borji": 0.761,
            "KLD": 1.234,
        },
        "landmarks": landmarks,
        "timing": {"inference_ms_per_frame": 12.5, "train_s": 64.0},
        "model": {"parameters": 2_345_678, "size_mb": 9.4},
    }


def write_run_folder(path: Path, *, with_examples: bool = True) -> Path:
    """A complete run folder: config, long-format metrics.csv, results, benchmark, figures."""
    from PIL import Image

    path.mkdir(parents=True, exist_ok=True)
    (path / "config.yaml").write_text(
        "model:\n  name: msen\n  num_classes: 4\ntrain:\n  steps: 40\n  lr: 0.001\n"
    )
    lines = ["step,stage,epoch,split,metric,value"]
    for step in range(1, 41):
        stage = "pretrain" if step <= 20 else "adversarial"
        epoch = (step - 1) // 10
        lines.append(
            f"{step},{stage},{epoch},train,loss,{float(2.0 * np.exp(-step / 15) + 0.05)!r}"
        )
        lines.append(
            f"{step},{stage},{epoch},train,loss_saliency,{float(np.exp(-step / 10) + 0.02)!r}"
        )
        if step % 10 == 0:
            lines.append(f"{step},{stage},{epoch},val,accuracy,{0.5 + step / 100!r}")
    (path / "metrics.csv").write_text("\n".join(lines) + "\n")
    (path / "results.json").write_text(json.dumps(results_dict(), indent=2))
    (path / "benchmark.json").write_text(
        json.dumps(
            [
                {
                    "backend": "onnxruntime",
                    "dtype": "float32",
                    "batch_size": 1,
                    "latency_ms": {"p50": 8.2, "p95": 11.9},
                    "throughput_fps": 121.0,
                    "parameters": 2_345_678,
                    "size_mb": 9.4,
                },
                {
                    "backend": "torch",
                    "dtype": "float32",
                    "batch_size": 1,
                    "latency_ms": {"p50": 15.1, "p95": 19.3},
                    "throughput_fps": 66.2,
                    "parameters": 2_345_678,
                    "size_mb": 9.4,
                },
            ]
        )
    )
    if not with_examples:
        return path
    figures = path / "figures"
    figures.mkdir(exist_ok=True)
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:48, 0:64]
    frames = np.stack(
        [
            rng.uniform(0, 255, (48, 64)) * (0.3 + 0.7 * (((xx - 32) ** 2 + (yy - 24) ** 2) < 400))
            for _ in range(3)
        ]
    ).astype(np.float32)
    truth = np.stack(
        [np.exp(-((xx - 20 - 8 * k) ** 2 + (yy - 24) ** 2) / 50.0) for k in range(3)]
    ).astype(np.float32)
    predictions = np.stack([np.roll(truth, 3, axis=2), np.roll(truth, -5, axis=1)])
    np.savez(
        figures / "attention_examples.npz",
        frames=frames,
        ground_truth=truth,
        predictions=predictions,
        model_names=np.array(["M-SEN BCE + GAN", "M-SEN BCE"]),
    )
    rows, cols = np.mgrid[0:120, 0:160]
    kidney = ((cols - 80) / 42.0) ** 2 + (
        (rows - 62) / 18.0
    ) ** 2 < 1.0  # an ellipse from x=38 to 122
    image = (rng.uniform(0, 80, (120, 160)) + 120 * kidney).astype(np.uint8)
    Image.fromarray(image).save(figures / "kidney_long.png")
    (figures / "landmark_examples.json").write_text(
        json.dumps(
            {
                "examples": [
                    {
                        "image": "kidney_long.png",
                        "title": "kidney (long axis)",
                        "spacing_mm": 0.5,
                        "truth": {"kl_1": [40, 60], "kl_2": [120, 64]},
                        "prediction": {"kl_1": [43, 58], "kl_2": [118, 66]},
                        "measurements": {"KL_LA": {"landmarks": ["kl_1", "kl_2"]}},
                    }
                ]
            }
        )
    )
    Image.fromarray(np.full((30, 40, 3), (200, 30, 30), dtype=np.uint8)).save(
        figures / "extra_plot.png"
    )
    return path


def write_experiment_folder(path: Path) -> Path:
    """An experiment: results.json with models and a paper-style table, a run folder per model."""
    path.mkdir(parents=True, exist_ok=True)
    models = {
        "MTL": results_dict(),
        "STL": results_dict(
            confusion=[[8, 3, 1, 1], [2, 6, 2, 0], [1, 2, 7, 2], [1, 1, 4, 9]], saliency_scale=0.5
        ),
    }
    (path / "results.json").write_text(
        json.dumps(
            {
                "experiment": "abdominal",
                "title": "Abdominal MTL (paper 004)",
                "models": models,
                "tables": {
                    "table1": {
                        "title": "Table 1: measurement error (mm)",
                        "columns": ["method", "KL LA", "KT LA"],
                        "rows": [["Human", 4.5, 5.431], ["MGCN R", 4.278, None]],
                        "digits": 2,
                        "note": "published values",
                    }
                },
            }
        )
    )
    for name in models:
        write_run_folder(path / name, with_examples=False)
    return path
