"""The abdominal experiment: predictions mapped back to original pixels and mm (checked with an
oracle network that returns the true heat maps), and a tiny end-to-end run writing the tables."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from sonomtl.cli import main


@pytest.fixture(scope="module")
def tiny_abdominal(tmp_path_factory):
    from sonomtl.data.synthetic import generate_abdominal

    return generate_abdominal(tmp_path_factory.mktemp("abd") / "data", images=44, seed=1,
                              input_size=64)


class _Oracle(torch.nn.Module):
    """Returns, batch after batch, the true heat maps of the dataset in order."""

    def __init__(self, maps):
        super().__init__()
        self.maps = list(maps)

    def forward(self, image):
        out = torch.stack(self.maps[: len(image)])
        del self.maps[: len(image)]
        return {"heatmaps": out}


def test_true_heatmaps_give_original_landmarks_and_measurements_within_a_millimetre(
        tiny_abdominal):
    from sonomtl.evaluation.abdominal import predict_dataset, truth_points
    from sonomtl.evaluation.abdominal_scoring import original_spacing
    from sonomtl.experiments.abdominal_scoring import score_models
    from sonomtl.training.abdominal_task import AbdominalTask, load_split_datasets

    params = {"input_size": 128, "target_spacing_mm": 2.0, "test_fraction": 0.5}
    spec, records, datasets = load_split_datasets(str(tiny_abdominal), params=params, seed=0)
    test = datasets["test"]
    task = AbdominalTask(params={})
    task.channels = list(range(len(spec.landmarks)))
    maps = [test[k]["heatmaps"] for k in range(len(test))]
    predicted = predict_dataset(_Oracle(maps), task, test, batch_size=5)
    chosen = [records[i] for i in predicted["index"]]
    truth = truth_points(chosen, spec.landmarks)
    annotated = ~np.isnan(truth).any(-1)
    assert annotated.sum() >= 10
    spacing = original_spacing(chosen)[:, None, :]
    error_mm = np.linalg.norm((predicted["points"] - truth) * spacing, axis=-1)[annotated]
    assert error_mm.max() < 1.0  # 2 mm model pixels; decoding bias < 0.4 px

    trained = {"Oracle": {"Oracle": {"module": _Oracle(maps), "task": task, "test": test,
                                     "config": type("C", (), {"stages": []})()}}}
    scores = score_models(trained, spec=spec, records=records)
    errors = scores["Oracle"]["landmarks"]["measurement_abs_error_mm"]
    assert all(v["mean"] < 1.5 for v in errors.values() if v["n"])
    assert sum(v["n"] for v in errors.values()) >= 5
    human = scores["Human"]
    assert human["landmarks"]["n_images"] == sum(bool(r.landmarks_2 and r.landmarks)
                                                 for r in records)


@pytest.mark.slow
def test_tiny_experiment_writes_table1_views_sizes_and_figures_then_reuses_runs(
        tiny_abdominal, tmp_path, capsys):
    out = tmp_path / "exp"
    args = ["experiment", "abdominal", "--data", str(tiny_abdominal), "--out", str(out),
            "--models", "STL", "MGCN", "MGCN_R", "--timing-iters", "0", "--set",
            "stages.landmarks.epochs=null", "stages.landmarks.steps=1",
            "stages.views.epochs=null", "stages.views.steps=1"]
    assert main(args) == 0, capsys.readouterr().err
    results = json.loads((out / "results.json").read_text())
    table1 = results["tables"]["table1"]
    assert [r[0] for r in table1["rows"]] == ["Human", "MGCN", "MGCN R"]
    assert table1["columns"][1:8] == ["KL_LA", "KT_LA", "KT_SA", "LL_LA", "SL_LA", "ST_LA",
                                      "ST_SA"]
    errors = results["models"]["MGCN_R"]["landmarks"]["measurement_abs_error_mm"]
    for k, name in enumerate(table1["columns"][1:8]):
        assert table1["rows"][2][k + 1] == errors[name]["mean"]
    views = {r[0]: r for r in results["tables"]["views"]["rows"]}
    assert set(views) == {"STL (ResNet-50)", "MTL (MGCN_R)", "Human (2nd annotator)"}
    assert all(0.0 <= r[1] <= 1.0 for r in views.values())
    sizes = results["tables"]["model_size"]["rows"]
    # the paper-layout counts of docs/abdominal.md: 183.9 MiB vs 538.2 MiB ("100 MB vs 539 MB")
    assert sizes[0][1] == 48_201_755 and sizes[1][1] == 141_086_915
    assert round(sizes[1][3], 1) == 538.2
    for name in ("fig3_confusion.png", "fig4_overlays.png", "landmark_examples.json"):
        assert (out / "figures" / name).stat().st_size > 0
    assert "Table 1" in (out / "tables.md").read_text()
    # the report draws Fig. 4 from landmark_examples.json and does not repeat its PNG
    from sonomtl.report.sources import load_source

    assert (out / "report.html").stat().st_size > 0
    extra = [p.name for p in load_source(out).extra_figures]
    assert "fig3_confusion.png" in extra and "fig4_overlays.png" not in extra
    assert results["overrides"] == args[args.index("--set") + 1:]
    capsys.readouterr()
    assert main(args) == 0
    assert capsys.readouterr().err.count("reuse the finished run") == 3
    # another config in the same --out is refused, not silently scored with the old runs
    assert main([*args, "stages.landmarks.losses.adversarial=0.5"]) == 2
    err = capsys.readouterr().err
    assert "holds a run of another config (differs in stages)" in err
    # a key no config has is refused by the config, not skipped
    assert main([*args, "traner.accelerator=cpu"]) == 2
    assert "field traner: unknown key" in capsys.readouterr().err


def test_seed_changes_the_split_and_stage_or_module_overrides_skip_configs_without_them():
    from sonomtl.data.manifest import DatasetSpec
    from sonomtl.experiments.abdominal import _applicable, _configure, _read_raw, default_config_dir

    raw = _read_raw(default_config_dir() / "sfcn.yaml")
    assert not _applicable(raw, "stages.views.epochs=3")  # SFCN trains no views
    assert not _applicable(raw, "modules.D.kwargs.base_chans=8")  # nor a discriminator
    assert _applicable(raw, "stages.landmarks.epochs=3") and _applicable(raw, "traner.x=1")
    spec = DatasetSpec(name="s", classes=("a", "b"), landmarks=("p_1", "p_2"),
                       landmark_tasks={"p": ("p_1", "p_2")})
    config = _configure(raw, spec=spec, data=Path("d"), name="n", out_dir=Path("o"), seed=7,
                        scale="paper", overrides=[], landmark_task="p")
    assert config.seed == 7 and config.data.params["split_seed"] == 7


def test_one_pass_returns_the_predicted_views_landmarks_and_measurements(tiny_abdominal):
    from sonomtl.evaluation.abdominal import one_pass
    from sonomtl.evaluation.abdominal_scoring import original_spacing
    from sonomtl.metrics.landmarks import measurement_values_mm
    from sonomtl.training.abdominal_task import AbdominalTask, load_split_datasets

    params = {"input_size": 128, "target_spacing_mm": 2.0, "test_fraction": 0.5}
    spec, records, datasets = load_split_datasets(str(tiny_abdominal), params=params, seed=0)
    test, task = datasets["test"], AbdominalTask(params={})
    samples = [test[k] for k in range(len(test)) if records[int(test.indices[k])].landmarks][:4]
    batch = task.collate(samples)

    class ViewOracle(torch.nn.Module):
        def forward(self, image):
            logits = torch.nn.functional.one_hot(batch["label"], len(spec.classes)).float()
            return {"view_logits": logits, "heatmaps": batch["heatmaps"]}

    chosen = [records[int(i)] for i in batch["index"]]
    answers = one_pass(ViewOracle(), task, batch, spec=spec,
                       spacing_mm=original_spacing(chosen))
    definitions = {m: {"type": d.type, "landmarks": list(d.landmarks)}
                   for m, d in spec.measurements.items()}
    for answer, record in zip(answers, chosen):
        assert answer["view"] == record.label
        assert set(answer["landmarks"]) == set(spec.view_landmarks[record.label])
        for name, xy in answer["landmarks"].items():
            scale = np.asarray(record.spacing_mm)
            assert np.linalg.norm((np.asarray(xy) - record.landmarks[name]) * scale) < 1.0
        points = np.array([[record.landmarks.get(n, (np.nan, np.nan)) for n in spec.landmarks]])
        truth = measurement_values_mm(points, landmark_names=list(spec.landmarks),
                                      measurements=definitions, spacing_mm=record.spacing_mm)
        assert answer["measurements_mm"]  # every annotated view has a measurement
        for name, value in answer["measurements_mm"].items():
            assert value == pytest.approx(float(truth[name][0]), abs=1.5)
