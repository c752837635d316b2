"""Reading run and experiment folders: what is found, and bad input named by file/row/field."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sonomtl.errors import InputError
from sonomtl.report.sources import load_source, read_metrics_table
from tests.report.report_folders import write_experiment_folder


def test_run_folder_is_read_completely(run_dir: Path) -> None:
    source = load_source(run_dir)
    assert source.kind == "run"
    assert source.config_text.startswith("model:")
    # 40 steps x 2 train losses + 4 validation accuracies
    assert len(source.metrics) == 84
    first = source.metrics[0]
    assert (first["step"], first["stage"], first["epoch"], first["split"], first["metric"]) == (
        1,
        "pretrain",
        0,
        "train",
        "loss",
    )
    assert first["value"] == pytest.approx(2.0 * np.exp(-1 / 15) + 0.05)
    assert [e["backend"] for e in source.benchmark] == ["onnxruntime", "torch"]
    assert list(source.attention.predictions) == ["M-SEN BCE + GAN", "M-SEN BCE"]
    assert source.attention.frames.shape == (3, 48, 64)
    (example,) = source.landmark_examples
    assert example.truth == {"kl_1": (40.0, 60.0), "kl_2": (120.0, 64.0)}
    assert example.spacing_mm == (0.5, 0.5)
    assert example.image.shape == (120, 160)
    # the landmark frame is drawn in the overlay, so only the other PNG is an extra figure
    assert [p.name for p in source.extra_figures] == ["extra_plot.png"]


def test_wide_metrics_csv_becomes_long_rows(tmp_path: Path) -> None:
    path = tmp_path / "metrics.csv"
    path.write_text("step,epoch,stage,loss,accuracy\n1,0,main,0.5,\n2,0,main,0.25,0.75\n")
    rows = read_metrics_table(path)
    assert [(r["step"], r["metric"], r["value"]) for r in rows] == [
        (1, "loss", 0.5),
        (2, "loss", 0.25),
        (2, "accuracy", 0.75),
    ]
    assert all(r["split"] == "train" and r["stage"] == "main" for r in rows)


def test_experiment_folder_has_models_tables_and_run_children(tmp_path: Path) -> None:
    source = load_source(write_experiment_folder(tmp_path / "exp"))
    assert source.kind == "experiment"
    assert sorted(source.results["models"]) == ["MTL", "STL"]
    assert [c.name for c in source.children] == ["MTL", "STL"]
    assert all(c.kind == "run" and len(c.metrics) == 84 for c in source.children)


def test_missing_or_empty_folder_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a folder"):
        load_source(tmp_path / "nope")
    with pytest.raises(InputError, match="nothing to report"):
        load_source(tmp_path)


def test_malformed_files_are_named(tmp_path: Path) -> None:
    (tmp_path / "results.json").write_text("{not json")
    with pytest.raises(InputError, match=r"results.json: invalid JSON at line 1"):
        load_source(tmp_path)
    (tmp_path / "results.json").write_text("[1, 2]")
    with pytest.raises(InputError, match="expected a JSON object"):
        load_source(tmp_path)
    (tmp_path / "results.json").write_text(
        json.dumps({"tables": {"t1": {"columns": ["a", "b"], "rows": [[1]]}}})
    )
    with pytest.raises(InputError, match=r"field tables.t1: row 0 must be a list of 2 values"):
        load_source(tmp_path)
    (tmp_path / "results.json").unlink()
    (tmp_path / "metrics.csv").write_text(
        "step,stage,epoch,split,metric,value\n1,a,0,train,loss,abc\n"
    )
    with pytest.raises(
        InputError, match=r"metrics.csv: row 2: field value: expected a number, found 'abc'"
    ):
        load_source(tmp_path)


def test_attention_npz_is_never_unpickled(tmp_path: Path) -> None:
    figures = tmp_path / "figures"
    figures.mkdir()
    frames = np.zeros((1, 4, 4))
    np.savez(
        figures / "attention_examples.npz",
        frames=frames,
        ground_truth=frames,
        predictions=np.zeros((1, 1, 4, 4)),
        model_names=np.array([{"evil": 1}], dtype=object),
    )
    with pytest.raises(InputError, match="never unpickled"):
        load_source(tmp_path)


def test_attention_npz_shapes_are_checked(tmp_path: Path) -> None:
    figures = tmp_path / "figures"
    figures.mkdir()
    frames = np.zeros((2, 4, 4))
    np.savez(
        figures / "attention_examples.npz",
        frames=frames,
        ground_truth=frames,
        predictions=np.zeros((1, 2, 4, 5)),
        model_names=np.array(["a"]),
    )
    with pytest.raises(InputError, match="field predictions: predictions must be"):
        load_source(tmp_path)


def test_landmark_example_with_missing_image_is_named(tmp_path: Path) -> None:
    figures = tmp_path / "figures"
    figures.mkdir()
    (figures / "landmark_examples.json").write_text(json.dumps([{"image": "gone.png"}]))
    with pytest.raises(InputError, match=r"field examples\[0\].image: image not found"):
        load_source(tmp_path)
