"""``sonomtl evaluate``: results.json of tiny trained runs equals an independent computation."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from sonomtl.cli import main


def _train(config_name, data, out_dir, extra):
    from sonomtl.config import load_config
    from sonomtl.training.run import train

    config = load_config(f"sonomtl/configs/demo/{config_name}.yaml",
                         [f"data.root={data}", f"out_dir={out_dir}",
                          "trainer.progress_bar=false", *extra])
    return train(config)


def _data_root(result):
    from sonomtl.evaluation.runs import load_run

    return load_run(result.run_dir).data_root


@pytest.fixture(scope="module")
def msen_run(tmp_path_factory):
    from sonomtl.data.synthetic import generate_sweeps
    from sonomtl.gaze.dataset_maps import write_dataset_attention_maps

    root = tmp_path_factory.mktemp("msen")
    data = generate_sweeps(root / "sweeps", subjects=3, frames_per_clip=6, seed=1, video=False)
    write_dataset_attention_maps(data)
    result = _train("msen", data, root / "runs",
                    ["stages.pretrain.epochs=1", "stages.adversarial.steps=2",
                     "data.params.input_hw=[32,32]", "modules.D.kwargs.input_hw=[32,32]",
                     "data.batch_size=4"])
    return result


@pytest.fixture(scope="module")
def abdominal_run(tmp_path_factory):
    from sonomtl.data.synthetic import generate_abdominal

    root = tmp_path_factory.mktemp("abdominal")
    data = generate_abdominal(root / "abd", images=22, seed=2, input_size=64, subjects=6,
                              second_annotator_fraction=1.0)
    return _train("abdominal", data, root / "runs",
                  ["stages.landmarks.epochs=1", "stages.views.epochs=1",
                   "modules.net.kwargs.gcn_kernel=3"])


@pytest.mark.slow
def test_msen_results_equal_an_independent_computation_on_the_trained_modules(msen_run, capsys):
    import torch
    from sklearn.metrics import confusion_matrix

    run_dir = msen_run.run_dir
    assert main(["evaluate", str(run_dir)]) == 0, capsys.readouterr().err
    results = json.loads((run_dir / "results.json").read_text())
    assert {"classification", "saliency", "timing", "model", "evaluation"} <= set(results)
    # the held-out fold, predicted by the modules train() returned (not the checkpoint)
    from sonomtl.config import load_config

    task = msen_run.task
    config = load_config(run_dir / "config.yaml")
    val = task.build_datasets(root=config.data.root, params=dict(config.data.params),
                              seed=config.seed).val
    generator = msen_run.modules["G"].eval()
    labels, predicted, maps, truth, fixations = [], [], [], [], []
    with torch.no_grad():
        for k in range(len(val)):
            sample = val[k]
            out = generator(sample["image"][None])
            labels.append(int(sample["label"]))
            predicted.append(int(out.logits.argmax(1)))
            maps.append(out.attention[0, 0].numpy())
            truth.append(sample["attention"][0].numpy())
            if "fixation_map" in sample:
                fixations.append(sample["fixation_map"][0].numpy())
    expected = confusion_matrix(labels, predicted, labels=[0, 1])
    assert results["classification"]["confusion_matrix"] == expected.tolist()
    assert results["classification"]["accuracy"] == pytest.approx(np.trace(expected) / len(labels))
    assert results["evaluation"]["frames"] == len(labels)
    saliency = results["saliency"]
    if fixations:  # recorded fixations: NSS = mean z-scored prediction at the fixated pixels
        assert saliency["fixations"] == "fixation_map"
        used = [(m, f) for m, f in zip(maps, fixations) if f.max() > 0]
        nss = [((m - m.mean()) / m.std())[f > 0].mean() for m, f in used]
        assert saliency["n_fixated"] == len(used) > 0
        assert saliency["NSS"] == pytest.approx(float(np.mean(nss)), rel=1e-4, abs=1e-5)
    else:  # no fixation points in the dataset: the fixation metrics are not invented
        assert saliency["fixations"] == "none" and saliency["NSS"] is None
    used = [(m, t) for m, t in zip(maps, truth) if t.max() > 0]
    cc = [np.corrcoef(m.ravel(), t.ravel())[0, 1] for m, t in used]
    assert saliency["CC"] == pytest.approx(float(np.mean(cc)), rel=1e-4, abs=1e-5)
    params = sum(p.numel() for p in generator.parameters())
    assert results["model"]["parameters"] == params
    with np.load(run_dir / "figures" / "attention_examples.npz", allow_pickle=False) as grid:
        assert grid["predictions"].shape == (1, *grid["frames"].shape)
        assert grid["frames"].shape[1:] == (32, 32)
        assert grid["model_names"].tolist() == [run_dir.name]


@pytest.mark.slow
def test_abdominal_point_and_measurement_errors_equal_a_hand_computation(abdominal_run,
                                                                          tmp_path, capsys):
    from sonomtl.data.manifest import load_dataset
    from sonomtl.evaluation.abdominal import abdominal_results
    from sonomtl.evaluation.runs import load_run

    run_dir = abdominal_run.run_dir
    out = tmp_path / "eval" / "results.json"
    assert main(["evaluate", str(run_dir), "--out", str(out)]) == 0, capsys.readouterr().err
    results = json.loads(out.read_text())
    assert {"classification", "landmarks", "timing", "model", "human"} <= set(results)
    _, pred = abdominal_results(load_run(run_dir), split="test")
    spec, _ = load_dataset(load_run(run_dir).data_root)
    errors_mm, measured = [], {}
    for k, record in enumerate(pred["records"]):
        sx, sy = record.spacing_mm
        for name, (tx, ty) in record.landmarks.items():
            px, py = pred["points"][k, spec.landmark_index(name)]
            errors_mm.append(np.hypot((px - tx) * sx, (py - ty) * sy))
        for m, definition in spec.measurements.items():
            a, b = definition.landmarks
            if a in record.landmarks and b in record.landmarks:
                def length(p, q, sx=sx, sy=sy):
                    return np.hypot((p[0] - q[0]) * sx, (p[1] - q[1]) * sy)
                true = length(record.landmarks[a], record.landmarks[b])
                guess = length(pred["points"][k, spec.landmark_index(a)],
                               pred["points"][k, spec.landmark_index(b)])
                measured.setdefault(m, []).append(abs(guess - true))
    assert errors_mm, "the test split must hold annotated frames"
    mean = results["landmarks"]["point_error_mm"]["mean"]["mean"]
    assert mean == pytest.approx(float(np.mean(errors_mm)), rel=1e-6)
    for m, values in measured.items():
        got = results["landmarks"]["measurement_abs_error_mm"][m]
        assert got["n"] == len(values)
        assert got["mean"] == pytest.approx(float(np.mean(values)), rel=1e-6)
        assert got["median"] == pytest.approx(float(np.median(values)), rel=1e-6)
    # every frame has a second annotation: the Human row scores it against the first
    assert results["human"]["landmarks"]["n_images"] == results["landmarks"]["n_images"]
    assert results["classification"]["n"] == results["evaluation"]["frames"]
    examples = json.loads((out.parent / "figures" / "landmark_examples.json").read_text())
    first = examples["examples"][0]
    assert (out.parent / "figures" / first["image"]).is_file()
    assert set(first["prediction"]) == set(first["truth"])


@pytest.mark.slow
def test_a_single_task_run_is_scored_on_its_own_landmarks_only(abdominal_run, tmp_path, capsys):
    # SFCN predicts one task's channels; the other views' landmarks are not scored as (0, 0)
    from sonomtl.config import load_config
    from sonomtl.data.manifest import load_dataset
    from sonomtl.evaluation.abdominal import abdominal_results
    from sonomtl.evaluation.runs import load_run
    from sonomtl.training.run import train

    data = load_run(abdominal_run.run_dir).data_root
    spec, _ = load_dataset(data)
    names = list(spec.landmark_tasks["kidney_long"])
    config = load_config("sonomtl/configs/abdominal/sfcn.yaml", [
        f"data.root={data}", f"out_dir={tmp_path / 'runs'}", "trainer.progress_bar=false",
        "stages.landmarks.epochs=1", "data.batch_size=2",
        "modules.net.kwargs.encoder_layers=[1,1,1,1]",
        "modules.net.kwargs.gcn_kernel=3"])
    run_dir = train(config).run_dir
    assert main(["evaluate", str(run_dir)]) == 0, capsys.readouterr().err
    landmarks = json.loads((run_dir / "results.json").read_text())["landmarks"]
    assert set(landmarks["point_error_mm"]) == {*names, "mean"}
    assert set(landmarks["measurement_abs_error_mm"]) == {
        m for m, d in spec.measurements.items() if set(d.landmarks) <= set(names)}
    _, pred = abdominal_results(load_run(run_dir), split="test")
    assert pred["points"].shape[1:] == (len(names), 2)
    errors = [np.hypot(*((pred["points"][k, j] - record.landmarks[n]) * record.spacing_mm))
              for k, record in enumerate(pred["records"])
              for j, n in enumerate(names) if n in record.landmarks]
    assert errors and landmarks["n_images"] == len(errors) // 2
    assert landmarks["point_error_mm"]["mean"]["n"] == len(errors)
    assert landmarks["point_error_mm"]["mean"]["mean"] == pytest.approx(np.mean(errors), rel=1e-6)


def test_saliency_section_scores_maps_on_every_frame_with_truth_and_fixations_where_fixated():
    # as the M-SEN experiment's Table 2: CC/SIM over non-empty ground truth, NSS over fixations
    from sonomtl.evaluation.msen import saliency_section
    from sonomtl.metrics.saliency import compute_cc, compute_sim

    rng = np.random.default_rng(3)
    maps, truth = rng.random((4, 8, 8)), rng.random((4, 8, 8))
    truth[3] = 0.0  # no ground truth: not scored
    fixations = np.zeros((4, 8, 8))
    fixations[0, 2, 3] = fixations[1, 5, 5] = 1.0  # frames 2 and 3 without fixations
    out = saliency_section(predicted=maps, truth=truth, fixation_map=fixations)
    assert out["n_images"] == 3 and out["n_fixated"] == 2
    assert out["CC"] == pytest.approx(np.mean(compute_cc(maps[:3], truth[:3])), rel=1e-5)
    assert out["SIM"] == pytest.approx(np.mean(compute_sim(maps[:3], truth[:3])), rel=1e-5)
    nss = [(m - m.mean()) / m.std() for m in maps[:2]]
    assert out["NSS"] == pytest.approx((nss[0][2, 3] + nss[1][5, 5]) / 2, rel=1e-5)


def test_missing_run_checkpoint_or_dataset_exit_2_with_one_line(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "absent")]) == 2
    assert "run folder not found" in capsys.readouterr().err
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy("sonomtl/configs/demo/msen.yaml", run / "config.yaml")
    assert main(["evaluate", str(run)]) == 2
    err = capsys.readouterr().err
    assert "no checkpoint" in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_a_missing_dataset_exits_2_naming_data_root(msen_run, tmp_path, capsys):
    assert main(["evaluate", str(msen_run.run_dir), "--data", str(tmp_path / "gone")]) == 2
    assert "data.root" in capsys.readouterr().err


@pytest.mark.slow
def test_flip_testing_an_msen_run_exits_2_naming_the_option(msen_run, capsys):
    assert main(["evaluate", str(msen_run.run_dir), "--flip-test"]) == 2
    err = capsys.readouterr().err
    assert "--flip-test" in err and len(err.strip().splitlines()) == 1


def test_unknown_split_is_refused(tmp_path):
    from sonomtl.errors import InputError
    from sonomtl.evaluation.evaluate import evaluate_run

    with pytest.raises(InputError, match="unknown split"):
        evaluate_run(tmp_path, split="train")


@pytest.mark.slow
@pytest.mark.parametrize("run_name", ["msen_run", "abdominal_run"])
def test_trained_runs_rebuild_every_module_from_the_checkpoint_for_inference(run_name, request):
    # adversarial M-SEN runs wrap D in a task adapter and the demo's abdominal net has custom
    # encoder_layers: modules must be rebuilt through the task, not the bare registry
    import torch

    from sonomtl.inference.predictor import load_model
    from sonomtl.training.checkpoint import load_checkpoint_modules

    result = request.getfixturevalue(run_name)
    modules, metadata = load_checkpoint_modules(result.run_dir)
    assert set(modules) == set(metadata["modules"]) == set(result.modules)
    for name, module in modules.items():
        trained = result.modules[name].state_dict()
        for key, value in module.state_dict().items():
            assert torch.equal(value, trained[key].cpu()), (name, key)
    module, config, _ = load_model(result.run_dir)
    assert not module.training and config.input_hw


@pytest.mark.slow
@pytest.mark.parametrize("run_name", ["msen_run", "abdominal_run"])
def test_predict_gives_every_evaluated_frame_the_answer_evaluate_wrote(run_name, request,
                                                                        tmp_path, capsys):
    from sonomtl.inference.predictor import load_predictor
    from tests.evaluation.agreement import (
        assert_predict_gives_the_evaluated_answers,
        evaluated_lines,
    )

    result = request.getfixturevalue(run_name)
    assert main(["evaluate", str(result.run_dir), "--batch-size", "1", "--out",
                 str(tmp_path / "results.json")]) == 0, \
        capsys.readouterr().err
    lines = evaluated_lines(tmp_path)
    results = json.loads((tmp_path / "results.json").read_text())
    assert len(lines) == results["evaluation"]["frames"] > 0
    compared = assert_predict_gives_the_evaluated_answers(
        lines, load_predictor(result.run_dir), _data_root(result), atol_px=1e-4)
    assert (compared > 0) == (run_name == "abdominal_run")


@pytest.mark.slow
def test_maps_with_no_pixel_above_the_threshold_give_the_brightest_pixel_in_evaluate_and_predict(
        abdominal_run, tmp_path, capsys):
    # the finest decoder level's last bias lowered by 50: every map of every frame is then
    # negative, below the 0.75 threshold, and both commands place each landmark at its
    # map's brightest pixel (before, predict answered None where evaluate did so)
    from safetensors.torch import load_file, save_file

    from sonomtl.data.io import read_frame
    from sonomtl.data.manifest import load_dataset
    from sonomtl.inference.config import prepare_frame
    from sonomtl.inference.predictor import load_predictor
    from sonomtl.training.checkpoint import latest_checkpoint, read_metadata
    from tests.evaluation.agreement import (
        assert_predict_gives_the_evaluated_answers,
        evaluated_lines,
    )

    run_dir = tmp_path / "run"
    shutil.copytree(abdominal_run.run_dir, run_dir)
    weights = latest_checkpoint(run_dir).weights
    metadata = read_metadata(weights)
    tensors = load_file(str(weights))
    tensors["net.decoder.levels.0.1.conv2.bias"] -= 50.0
    save_file(tensors, str(weights), metadata={"sonomtl": json.dumps(metadata)})

    assert main(["evaluate", str(run_dir), "--batch-size", "1", "--out",
                 str(tmp_path / "out" / "results.json")]) == 0, capsys.readouterr().err
    lines = evaluated_lines(tmp_path / "out")
    predictor = load_predictor(run_dir)
    data_root = _data_root(abdominal_run)
    _, records = load_dataset(data_root)
    by_row = {r.row: r for r in records}
    for line in lines:
        image, spacing = read_frame(data_root, by_row[line["row"]])
        batch, _ = prepare_frame(image, predictor.config, spacing_mm=spacing)
        maps = predictor.outputs(batch[None])["heatmaps"]
        assert maps.max() < 0.0
    shown = [p for line in lines for p in line["landmarks"].values() if p is not None]
    assert shown  # views with landmarks were predicted, and every one of them is placed
    assert assert_predict_gives_the_evaluated_answers(lines, predictor, data_root,
                                                      atol_px=1e-4) == 2 * len(shown)


@pytest.mark.slow
def test_the_exported_onnx_file_gives_every_evaluated_frame_the_answer_evaluate_wrote(
        abdominal_run, tmp_path, capsys):
    from sonomtl.inference.export import export_onnx
    from sonomtl.inference.predictor import load_model, load_predictor
    from tests.evaluation.agreement import (
        assert_predict_gives_the_evaluated_answers,
        evaluated_lines,
    )

    module, config, _ = load_model(abdominal_run.run_dir)
    export_onnx(module, config, tmp_path / "net.onnx")
    assert main(["evaluate", str(abdominal_run.run_dir), "--batch-size", "1", "--out",
                 str(tmp_path / "results.json")]) == 0, capsys.readouterr().err
    compared = assert_predict_gives_the_evaluated_answers(
        evaluated_lines(tmp_path), load_predictor(tmp_path / "net.onnx"),
        _data_root(abdominal_run), atol_px=1e-4)
    assert compared > 0
