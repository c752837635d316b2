"""A tiny end-to-end M-SEN experiment: 2 rows x 2 folds, a few steps, on simulated sweeps."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from sonomtl.cli import main


@pytest.mark.slow
def test_tiny_experiment_writes_both_tables_with_numbers_in_range(tmp_path, capsys):
    data, out = tmp_path / "sweeps", tmp_path / "exp"
    assert main(["synth", "sweeps", "--out", str(data), "--subjects", "4", "--frames", "10",
                 "--no-video", "--seed", "3"]) == 0
    status = main(["experiment", "msen", "--data", str(data), "--out", str(out), "--folds", "2",
                   "--rows", "msen_bce", "sononet16", "sononet16_scratch", "ss_att_bce", "--set",
                   "stages.pretrain.epochs=1", "data.params.input_hw=[32,32]",
                   "data.batch_size=4"])
    assert status == 0, capsys.readouterr().err
    results = json.loads((out / "results.json").read_text())
    assert results["folds"] == 2 and results["scale"] == "quick"
    assert set(results["tables"]) == {"table1", "table2", "comparisons", "errors_by_subject"}
    table1 = results["tables"]["table1"]
    assert [r[0] for r in table1["rows"]] == ["M-SEN BCE", "SonoNet-16",
                                              "SonoNet-16 (random init)"]
    # the ablation row: no pretrained weights at all, compared with M-SEN and SonoNet-16
    scratch = (out / "sononet16_scratch" / "fold0" / "config.yaml").read_text()
    assert "pretrained: null" in scratch and "SonoNet16.npz" not in scratch
    compared = {(c["a"], c["b"]) for c in results["comparisons"] if c["metric"] == "f1"}
    assert {("msen_bce", "sononet16"), ("msen_bce", "sononet16_scratch"),
            ("sononet16", "sononet16_scratch")} <= compared
    for row in table1["rows"]:
        for value in row[2:8]:
            assert 0.0 <= value <= 100.0
    table2 = results["tables"]["table2"]
    assert [r[0] for r in table2["rows"]] == ["M-SEN BCE", "SS-att BCE", "Centre bias (baseline)"]
    # Table 2's claim: the multi-task maps against the single-task ones of the same loss
    assert {("msen_bce", "ss_att_bce", "NSS")} == {
        (c["a"], c["b"], c["metric"]) for c in results["comparisons"] if c["b"] == "ss_att_bce"}
    cols = table2["columns"]
    for row in table2["rows"]:
        assert -1.0 <= row[cols.index("CC")] <= 1.0
        assert 0.0 <= row[cols.index("SIM")] <= 1.0
        assert 0.0 <= row[cols.index("AUC")] <= 1.0
        assert math.isfinite(row[cols.index("NSS")])
    per_fold = results["models"]["msen_bce"]["per_fold"]
    assert len(per_fold) == 2 and per_fold[0]["saliency"]["n"] > 0
    # every held-out video once, its counts adding up to the fold's frames and recall
    held_out = [s for f in per_fold for s in f["errors_by_subject"]]
    assert sorted(held_out) == sorted(set(held_out)) and len(held_out) == 4
    for fold in per_fold:
        counts = fold["errors_by_subject"].values()
        assert sum(c["frames"] for c in counts) == fold["classification"]["n"]
        positives = sum(c["positives"] for c in counts)
        missed = sum(c["false_negatives"] for c in counts)
        if positives:
            assert fold["classification"]["recall"] == pytest.approx(
                100 * (positives - missed) / positives)
    # NSS/IG/AUC score against the recorded fixations that 'gaze maps' wrote
    assert all(f["saliency"]["n_fixated"] > 0 for f in per_fold)
    assert 0.0 <= results["models"]["msen_bce"]["cv"]["saliency"]["sAUC"]["mean"] <= 1.0
    from sonomtl.data.manifest import load_dataset

    assert any(r.fixations for r in load_dataset(data)[1])
    assert (out / "msen_bce" / "fold1" / "metrics.csv").is_file()
    assert "Table 1" in (out / "tables.md").read_text()
    with np.load(out / "figures" / "attention_examples.npz", allow_pickle=False) as grid:
        assert grid["predictions"].shape[0] == 2 and grid["frames"].shape[1:] == (32, 32)
        assert grid["model_names"].tolist() == ["M-SEN BCE", "SS-att BCE"]

    # interrupted after msen_bce fold 0: the same command resumes, finished folds only predict
    import shutil

    (out / "results.json").unlink()
    shutil.rmtree(out / "msen_bce" / "fold1")
    capsys.readouterr()
    assert main(["experiment", "msen", "--data", str(data), "--out", str(out), "--folds", "2",
                 "--rows", "msen_bce", "sononet16", "--set", "stages.pretrain.epochs=1",
                 "data.params.input_hw=[32,32]", "data.batch_size=4"]) == 0
    log = capsys.readouterr().err
    lines = {line.split(":")[0]: line for line in log.splitlines() if " fold " in line}
    assert "resumed" in lines["msen_bce fold 0"] and "resumed" in lines["sononet16 fold 1"]
    assert "resumed" not in lines["msen_bce fold 1"]
    again = json.loads((out / "results.json").read_text())["models"]
    for row in ("msen_bce", "sononet16"):
        for before, after in zip(results["models"][row]["per_fold"], again[row]["per_fold"]):
            assert after["classification"] == before["classification"]
            assert after.get("saliency") == before.get("saliency")
    # a finished fold reports the training time of the run that trained it, not the rerun's
    first, reused = results["models"]["msen_bce"]["per_fold"][0], again["msen_bce"]["per_fold"][0]
    assert reused["train_s"] == first["train_s"] > 0.0
    # a different config in the same folder is refused, naming the differing key
    (out / "results.json").unlink()
    assert main(["experiment", "msen", "--data", str(data), "--out", str(out), "--folds", "2",
                 "--rows", "msen_bce", "--set", "stages.pretrain.epochs=1",
                 "data.params.input_hw=[48,48]", "data.batch_size=4"]) == 2
    assert "data.params.input_hw" in capsys.readouterr().err


def test_experiment_refuses_unknown_rows_with_exit_status_2(tmp_path, capsys):
    data = tmp_path / "sweeps"
    assert main(["synth", "sweeps", "--out", str(data), "--quick", "--no-video"]) == 0
    status = main(["experiment", "msen", "--data", str(data), "--out", str(tmp_path / "x"),
                   "--rows", "msen_xyz"])
    assert status == 2
    assert "unknown rows" in capsys.readouterr().err


@pytest.mark.parametrize("scale", ["quick", "medium", "paper"])
def test_every_row_config_accepts_the_scale_and_d_sees_the_frame_size(scale):
    from pathlib import Path

    from sonomtl.config import load_config
    from sonomtl.experiments.msen import ABLATION_ROWS, MSEN_ROWS, _overrides, default_config_dir

    for name, _, _ in MSEN_ROWS + ABLATION_ROWS:
        path = Path(default_config_dir()) / f"{name}.yaml"
        has_adv = any(s.pattern == "adversarial" for s in load_config(path).stages)
        items = _overrides(name, scale=scale, data=Path("/data"), folds=5, fold=1, seed=0,
                           has_adversarial=has_adv, pretrained_ok=True, extra=())
        config = load_config(path, items)
        frame_hw = list(config.data.params.get("input_hw", [240, 240]))
        assert frame_hw == {"quick": [64, 64], "medium": [128, 128], "paper": [240, 240]}[scale]
        assert config.data.params["fold"] == 1
        if "D" in config.modules:
            assert list(config.modules["D"].kwargs["input_hw"]) == frame_hw
            steps = next(s.steps for s in config.stages if s.pattern == "adversarial")
            assert steps == {"quick": 20, "medium": 60, "paper": 2000}[scale]
        epochs = next(s.epochs for s in config.stages if s.name == "pretrain")
        assert epochs == {"quick": 3, "medium": 8, "paper": 30}[scale]
        # every row: Adam from the initial 2e-4, annealed to 2e-6 over each stage (D constant)
        for stage in config.stages:
            g = stage.optimizers["G"]
            assert (g.kind, g.lr, g.schedule, g.final_lr_factor) == ("adam", 2e-4, "cosine", 0.01)
            if "D" in stage.optimizers:
                assert stage.optimizers["D"].schedule == "constant"


@pytest.mark.slow
def test_an_adversarial_row_starts_from_its_twins_pretraining_with_the_same_results(tmp_path):
    data = tmp_path / "sweeps"
    assert main(["synth", "sweeps", "--out", str(data), "--subjects", "4", "--frames", "8",
                 "--no-video", "--seed", "3"]) == 0
    from sonomtl.experiments.msen import run_msen_experiment

    # 32x32 frames: D follows them (the quick scale's own D is 64x64)
    kwargs = dict(data=data, folds=2, adversarial_steps=3,
                  overrides=["stages.pretrain.epochs=1", "data.params.input_hw=[32,32]",
                             "data.batch_size=4"], log=lambda line: None)
    both = run_msen_experiment(out=tmp_path / "both", rows=["msen_bce_gan", "msen_bce"],
                               **kwargs)
    alone = run_msen_experiment(out=tmp_path / "alone", rows=["msen_bce_gan"], **kwargs)
    # tables keep the order asked for; the GAN row ran second, after its twin's pre-training
    assert [r[0] for r in both["tables"]["table1"]["rows"]] == ["M-SEN BCE + GAN", "M-SEN BCE"]
    forked = both["models"]["msen_bce_gan"]["per_fold"]
    assert [f["started_from"] for f in forked] == ["msen_bce", "msen_bce"]
    assert [f["started_from"] for f in alone["models"]["msen_bce_gan"]["per_fold"]] == [None] * 2
    for a, b in zip(forked, alone["models"]["msen_bce_gan"]["per_fold"]):
        assert a["classification"] == b["classification"]
        assert a["saliency"] == b["saliency"]
    from safetensors.torch import load_file

    from sonomtl.training.checkpoint import latest_checkpoint

    for fold in (0, 1):
        a, b = (load_file(latest_checkpoint(tmp_path / run / "msen_bce_gan" / f"fold{fold}")
                          .weights) for run in ("both", "alone"))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert {"stages.adversarial.steps=3", "modules.D.kwargs.input_hw=[32,32]"} <= set(
        both["overrides"]["msen_bce_gan"])
    # run again (results removed): the finished folds only predict and still name their source
    (tmp_path / "both" / "results.json").unlink()
    again = run_msen_experiment(out=tmp_path / "both", rows=["msen_bce_gan", "msen_bce"],
                                **kwargs)["models"]["msen_bce_gan"]["per_fold"]
    assert [(f["resumed"], f["started_from"]) for f in again] == [(True, "msen_bce")] * 2
    assert [f["classification"] for f in again] == [f["classification"] for f in forked]
