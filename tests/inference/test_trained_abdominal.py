"""A trained abdominal-task checkpoint predicts as its evaluation scored it.

The checkpoint carries the task's own preprocessing (intensity normalisation,
decoder threshold, flip testing) and its dataset's measurements (HC18: OFD, BPD,
HC), so ``predict`` neither falls back to the paper's defaults nor sees other
grey levels than training did.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tests.data.test_importers import hc18_subset

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def hc18_run(hc18_dir, tmp_path_factory):
    from sonomtl.config import load_config
    from sonomtl.data.importers import import_hc18
    from sonomtl.training.run import train

    root = tmp_path_factory.mktemp("hc18_run")
    data = root / "data"
    import_hc18(src=hc18_subset(hc18_dir, root / "src"), out=data)
    config = load_config("sonomtl/configs/abdominal/hc18_mgcn_r_cpu.yaml", [
        f"data.root={data}", f"out_dir={root / 'runs'}", "trainer.progress_bar=false",
        "stages.landmarks.epochs=6", "data.batch_size=2", "data.params.input_size=[48,64]",
        "data.params.heatmap_sigma_px=2.0", "data.params.test_fraction=0.25",
        "modules.net.kwargs.gcn_kernel=3", "modules.D.kwargs.base_chans=8",
        "task.params.intensity_mean=100.0", "task.params.intensity_std=50.0",
        "task.params.coordinate_threshold=0.6",
        # no rotations: trained with them, this tiny model has a map whose two brightest
        # pixels tie to 1e-7, and batch-size-dependent rounding picks either as the arg-max
        "data.params.augment.rotate_deg=0.0"])
    return train(config).run_dir


def test_checkpoint_carries_the_tasks_preprocessing_and_measurements(hc18_run):
    from sonomtl.inference.predictor import load_predictor

    config = load_predictor(hc18_run).config
    assert config.normalisation == {"mean": 100.0, "std": 50.0}
    assert config.heatmap_threshold == 0.6
    assert config.landmark_names == ("ofd_1", "ofd_2", "bpd_1", "bpd_2")
    assert set(config.measurements) == {"OFD", "BPD", "HC"}
    assert config.measurements["HC"]["type"] == "ellipse_circumference"
    assert config.flip_test_permutation == (1, 0, 2, 3)  # the shipped config: ofd_1 <-> ofd_2


def test_flip_testing_averages_each_frame_with_its_mirror_image(hc18_run, tmp_path, capsys):
    import json

    import torch

    from sonomtl.cli import main
    from sonomtl.evaluation.abdominal import network_outputs
    from sonomtl.evaluation.runs import load_run
    from sonomtl.training.abdominal_task import load_split_datasets

    run = load_run(hc18_run)
    task, params = run.task, run.config.data.params
    task.build_datasets(root=str(run.data_root), params=params, seed=run.config.seed)
    _, _, datasets = load_split_datasets(str(run.data_root), params=params, seed=run.config.seed,
                                         augment_train=False)
    test = datasets["test"]
    batch = task.collate([test[k] for k in range(len(test))])
    net = {task.generator: run.module}
    with torch.no_grad():  # two separate passes, by hand
        own = task.forward(net, batch)["heatmaps"].numpy()
        flipped = task.forward(net, {"image": batch["image"].flip(-1)})["heatmaps"].numpy()
    merged = network_outputs(run.module, task, batch)["heatmaps"]
    expected = 0.5 * (own + flipped[:, [1, 0, 2, 3], :, ::-1])
    np.testing.assert_allclose(merged, expected, atol=1e-5)
    assert np.abs(merged - own).max() > 1e-2  # the tiny network is far from flip-equivariant
    task.params = dataclasses.replace(task.params, flip_test=False)
    task.build_datasets(root=str(run.data_root), params=params, seed=run.config.seed)
    np.testing.assert_allclose(network_outputs(run.module, task, batch)["heatmaps"], own,
                               atol=1e-6)
    # the command line: the config's flip testing by default, --no-flip-test for one pass
    points = {}
    for flag in ("--flip-test", "--no-flip-test"):
        out = tmp_path / flag / "results.json"
        assert main(["evaluate", str(hc18_run), flag, "--out", str(out)]) == 0, \
            capsys.readouterr().err
        results = json.loads(out.read_text())
        assert results["evaluation"]["flip_test"] is (flag == "--flip-test")
        points[flag] = results["landmarks"]["point_error_mm"]["mean"]["mean"]
    assert points["--flip-test"] != points["--no-flip-test"]


def test_predict_gives_every_flip_tested_frame_the_answer_evaluate_wrote(hc18_run, tmp_path,
                                                                          capsys):
    from sonomtl.cli import main
    from sonomtl.evaluation.runs import load_run
    from sonomtl.inference.predictor import load_predictor
    from tests.evaluation.agreement import (
        assert_predict_gives_the_evaluated_answers,
        evaluated_lines,
    )

    out = tmp_path / "results.json"
    assert main(["evaluate", str(hc18_run), "--flip-test", "--batch-size", "1", "--out",
                 str(out)]) == 0, \
        capsys.readouterr().err
    lines = evaluated_lines(tmp_path)
    assert {"OFD", "BPD", "HC"} <= set(lines[0]["measurements_mm"])
    compared = assert_predict_gives_the_evaluated_answers(
        lines, load_predictor(hc18_run), load_run(hc18_run).data_root, atol_px=1e-4)
    assert compared == 2 * 4 * len(lines)


def test_the_exported_onnx_file_flip_tests_as_the_checkpoint_does(hc18_run, tmp_path):
    from sonomtl.data.io import read_frame
    from sonomtl.evaluation.abdominal import abdominal_results
    from sonomtl.evaluation.runs import load_run
    from sonomtl.inference.config import prepare_frame
    from sonomtl.inference.export import export_onnx
    from sonomtl.inference.predictor import load_model, load_predictor

    module, config, _ = load_model(hc18_run)
    export_onnx(module, config, tmp_path / "hc18.onnx")
    onnx, torch_ = load_predictor(tmp_path / "hc18.onnx"), load_predictor(hc18_run)
    assert onnx.config.flip_test_permutation == (1, 0, 2, 3)
    run = load_run(hc18_run)
    _, evaluated = abdominal_results(run, split="test")
    frames = [read_frame(run.data_root, record) for record in evaluated["records"]]
    batch = np.stack([prepare_frame(image, config, spacing_mm=spacing)[0]
                      for image, spacing in frames])
    merged = onnx.outputs(batch)["heatmaps"]
    # (the decoded points are not compared: this tiny network's merged head maps peak below
    # the threshold, and their arg-max pixels tie to 1e-7)
    np.testing.assert_allclose(merged, torch_.outputs(batch)["heatmaps"], atol=1e-5)
    assert np.abs(merged - onnx.run(batch)["heatmaps"]).max() > 1e-2
