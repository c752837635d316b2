"""Figures: the numbers, labels and marks drawn, checked against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from sonomtl.report.figures import (
    attention_grid_figure,
    benchmark_figure,
    confusion_comparison_figure,
    confusion_matrix_figure,
    figure_to_png,
    landmark_overlay_figure,
    training_curves_figure,
)
from sonomtl.report.sources import LandmarkExample
from tests.report.report_folders import CONFUSION, LABELS


def _texts(ax) -> list[str]:
    return [t.get_text() for t in ax.texts]


def test_confusion_matrix_shows_counts_row_percentages_and_accuracy() -> None:
    figure = confusion_matrix_figure(confusion=CONFUSION, labels=LABELS, title="MTL")
    counts, normalised = figure.axes
    assert figure._suptitle.get_text() == "MTL: overall accuracy 78.0%"  # 39 / 50
    assert _texts(counts)[:4] == ["10", "2", "0", "1"]
    # row 0 has 13 frames: 10/13 = 76.9 %, 2/13 = 15.4 %, 1/13 = 7.7 %
    assert _texts(normalised)[:4] == ["77", "15", "0", "8"]
    assert [t.get_text() for t in counts.get_xticklabels()] == LABELS
    assert counts.get_xlabel() == "predicted class" and counts.get_ylabel() == "true class"


def test_class_without_true_frames_gets_a_dash_row() -> None:
    figure = confusion_matrix_figure(confusion=[[2, 1], [0, 0]], labels=["a", "b"])
    assert _texts(figure.axes[1]) == ["67", "33", "-", "-"]
    assert figure._suptitle.get_text() == "overall accuracy 66.7%"


def test_confusion_comparison_overlays_each_models_accuracy() -> None:
    figure = confusion_comparison_figure(
        confusions={"STL": [[1, 1], [0, 2]], "MTL": [[2, 0], [0, 2]]}, labels=["a", "b"]
    )
    assert [ax.get_title() for ax in figure.axes] == ["STL\naccuracy 75.0%", "MTL\naccuracy 100.0%"]


def test_confusion_matrix_rejects_a_matrix_of_the_wrong_size() -> None:
    with pytest.raises(ValueError, match="square matrix of 3 labels"):
        confusion_matrix_figure(confusion=[[1, 0], [0, 1]], labels=["a", "b", "c"])


def test_attention_grid_has_frame_truth_and_one_column_per_model() -> None:
    frames = np.random.default_rng(0).uniform(0, 255, (5, 8, 10))
    maps = np.random.default_rng(1).uniform(0, 1, (5, 8, 10))
    figure = attention_grid_figure(
        frames=frames,
        ground_truth=maps,
        predictions={"BCE + GAN": maps, "BCE": maps},
        max_examples=3,
    )
    assert len(figure.axes) == 3 * 4
    assert [ax.get_title() for ax in figure.axes[:4]] == [
        "US image",
        "ground truth",
        "BCE + GAN",
        "BCE",
    ]
    # the frame alone in column 0, frame + overlay elsewhere
    assert [len(ax.images) for ax in figure.axes[:4]] == [1, 2, 2, 2]
    overlay = figure.axes[1].images[1].get_array()
    assert overlay.min() == pytest.approx(0) and overlay.max() == pytest.approx(1)


def test_attention_grid_rejects_mismatched_predictions() -> None:
    frames = np.zeros((2, 4, 4))
    with pytest.raises(ValueError, match=r"predictions\['m'\] must have shape \(2, 4, 4\)"):
        attention_grid_figure(
            frames=frames, ground_truth=frames, predictions={"m": np.zeros((2, 4))}
        )


def test_landmark_overlay_measures_the_caliper_in_mm() -> None:
    example = LandmarkExample(
        image=np.zeros((100, 150)),
        title="kidney",
        spacing_mm=(0.5, 0.5),
        truth={"a": (40.0, 60.0), "b": (120.0, 64.0)},
        prediction={"a": (43.0, 58.0), "b": (118.0, 66.0)},
        measurements={
            "KL_LA": {"landmarks": ["a", "b"]},
            "given": {"landmarks": ["a", "b"], "predicted_mm": 12.34, "true_mm": None},
        },
    )
    (ax,) = landmark_overlay_figure(examples=[example]).axes
    # truth: hypot(80, 4) * 0.5 = 40.05 mm; prediction: hypot(75, 8) * 0.5 = 37.71 mm
    # "given" has no true_mm and its true value is measured from the points as well
    assert ax.get_xlabel() == "KL_LA: pred 37.7 mm, true 40.0 mm\ngiven: pred 12.3 mm, true 40.0 mm"
    solid = [line for line in ax.lines if line.get_linestyle() == "-"]
    assert np.allclose(solid[0].get_xydata(), [[43, 58], [118, 66]])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["truth", "prediction"]


def test_training_curves_plot_each_metric_against_step_with_stage_marks() -> None:
    rows = [
        {
            "step": s,
            "epoch": s // 5,
            "stage": "pre" if s < 6 else "adv",
            "split": "train",
            "metric": m,
            "value": v * 10.0 ** (-s / 3),
        }
        for s in range(1, 11)
        for m, v in (("loss", 2.0), ("loss_adv", 1.0))
    ] + [
        {"step": 10, "epoch": 2, "stage": "adv", "split": "val", "metric": "accuracy", "value": 0.9}
    ]
    figure = training_curves_figure(rows=rows)
    losses, metrics = figure.axes
    assert [
        line.get_label() for line in losses.get_lines() if not line.get_label().startswith("_")
    ] == ["loss", "loss_adv"]
    assert losses.get_yscale() == "log"  # values span 2 .. 2e-3
    assert losses.get_xlabel() == "training step (optimiser updates)"
    assert losses.get_ylabel() == "loss (unitless)" and metrics.get_ylabel() == "metric value"
    stage_lines = [line for line in losses.get_lines() if line.get_linestyle() == ":"]
    assert len(stage_lines) == 1 and stage_lines[0].get_xdata()[0] == 6
    assert "stages: pre, adv" in losses.get_title() and "epochs 0–2" in losses.get_title()


def test_training_curves_put_loss_terms_schedules_and_metrics_in_separate_panels() -> None:
    # the names the engine writes: bare loss terms, lr_* and weight_* on train splits
    rows = [
        {"step": s, "epoch": 0, "stage": "pretrain", "split": "train", "metric": m, "value": v}
        for s in (1, 2, 3)
        for m, v in (("saliency", 0.5 / s), ("total", 1.0 / s), ("lr_G", 2e-4),
                     ("weight_saliency", 2.0 - 0.5 * s))
    ] + [{"step": 3, "epoch": 0, "stage": "pretrain", "split": "val", "metric": "f1",
          "value": 0.7}]
    figure = training_curves_figure(rows=rows)
    labels = [sorted(line.get_label() for line in ax.get_lines()
                     if not line.get_label().startswith("_")) for ax in figure.axes]
    assert labels == [["saliency", "total"], ["lr_G", "weight_saliency"], ["f1"]]
    assert [ax.get_ylabel() for ax in figure.axes] == [
        "loss (unitless)", "learning rate / loss weight", "metric value"]
    assert figure.axes[1].get_yscale() == "log"


def test_benchmark_bars_have_the_measured_lengths() -> None:
    entries = [
        {
            "backend": "onnxruntime",
            "dtype": "float32",
            "latency_ms": {"p50": 8.2, "p95": 11.9},
            "throughput_fps": 121.0,
        },
        {"backend": "torch", "latency_ms": {"p50": 15.1}},
    ]
    latency, throughput = benchmark_figure(entries=entries).axes
    widths = [bar.get_width() for bar in latency.patches]
    assert widths[:2] == [8.2, 15.1] and widths[2] == 11.9 and np.isnan(widths[3])
    assert [bar.get_width() for bar in throughput.patches][0] == 121.0
    assert [t.get_text() for t in latency.get_yticklabels()] == ["onnxruntime / float32", "torch"]
    assert "latency per call (ms)" in latency.get_xlabel()
    assert "frames/s" in throughput.get_xlabel()


def test_figure_to_png_renders_at_the_requested_size() -> None:
    from io import BytesIO

    from PIL import Image

    figure = confusion_comparison_figure(confusions={"a": [[1, 0], [0, 1]]}, labels=["x", "y"])
    png = figure_to_png(figure, dpi=50)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width_in, height_in = figure.get_size_inches()
    assert Image.open(BytesIO(png)).size == (round(50 * width_in), round(50 * height_in))
