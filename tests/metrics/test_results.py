"""build_results assembles exactly the results.json keys of DESIGN.md."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sonomtl.fileio import write_json
from sonomtl.metrics.results import build_results, model_figures


def test_every_section_has_the_design_keys(tmp_path):
    rng = np.random.default_rng(0)
    maps = rng.random((3, 8, 8))
    fixations = rng.random((3, 8, 8)) > 0.8
    fixations[:, 4, 4] = True
    true = rng.random((3, 2, 2)) * 50
    results = build_results(
        labels=["background", "AC"],
        y_true=[0, 1, 1, 0],
        y_pred=[0, 1, 0, 0],
        saliency_maps=maps,
        fixation_maps=fixations,
        landmark_names=["k1", "k2"],
        landmarks_pred=true + 1.0,
        landmarks_true=true,
        spacing_mm=0.5,
        measurements={"KL_LA": {"type": "distance", "landmarks": ["k1", "k2"]}},
        timing={"ms_per_frame": 3.2},
        model={"parameters": 10, "size_mb": 0.04},
    )
    assert set(results) == {"classification", "saliency", "landmarks", "timing", "model"}
    c = results["classification"]
    assert {"accuracy", "labels", "confusion_matrix", "per_class"} <= set(c)
    assert c["accuracy"] == 0.75 and c["confusion_matrix"] == [[2, 0], [1, 1]]
    assert set(c["per_class"]["AC"]) == {"precision", "recall", "f1", "support"}
    assert {"IG", "CC", "NSS", "SIM", "AUC_Judd", "AUC_Borji", "KLD"} <= set(results["saliency"])
    point = results["landmarks"]["point_error_mm"]
    assert set(point) == {"k1", "k2", "mean"}
    assert point["k1"]["mean"] == pytest.approx(np.hypot(0.5, 0.5))
    measurement = results["landmarks"]["measurement_abs_error_mm"]["KL_LA"]
    assert set(measurement) == {"mean", "std", "median", "n"}
    assert measurement["mean"] == pytest.approx(0.0, abs=1e-12)  # both points shifted alike
    write_json(tmp_path / "results.json", results)
    assert json.loads((tmp_path / "results.json").read_text())["model"] == {
        "parameters": 10,
        "size_mb": 0.04,
    }


def test_sections_without_inputs_are_left_out_and_partial_inputs_rejected():
    assert build_results(timing={"s": 1.0}) == {"timing": {"s": 1.0}}
    with pytest.raises(ValueError, match=r"classification section needs .* missing \['y_pred'\]"):
        build_results(labels=["a"], y_true=[0])
    with pytest.raises(ValueError, match="model must give 'parameters' and 'size_mb'"):
        build_results(model={"parameters": 3})


def test_model_figures_count_parameters_and_bytes():
    torch = pytest.importorskip("torch")
    layer = torch.nn.Linear(3, 2)  # 6 weights + 2 biases, float32
    assert model_figures(layer) == {"parameters": 8, "size_mb": 32 / 1e6}
