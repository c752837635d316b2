"""The abdominal task: its loss terms on hand-built batches, the discriminator's masked inputs,
single-task channel selection, and the frozen-encoder view stage on the engine."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sonomtl.errors import InputError
from sonomtl.models.abdominal import with_encoder_layers
from sonomtl.training.abdominal_task import AbdominalTask


@pytest.fixture(scope="module")
def tiny_abdominal(tmp_path_factory):
    from sonomtl.data.synthetic import generate_abdominal

    return generate_abdominal(tmp_path_factory.mktemp("abd") / "data", images=33, seed=2,
                              input_size=64)


def _batch(maps, points, mask, labels):
    return {"heatmaps": torch.tensor(maps, dtype=torch.float32),
            "landmarks": torch.tensor(points, dtype=torch.float32),
            "landmark_mask": torch.tensor(mask), "label": torch.tensor(labels),
            "image": torch.zeros(len(labels), 1, 8, 8)}


def test_heatmap_coordinate_and_view_terms_equal_hand_computed_values():
    task = AbdominalTask(params={})
    target = np.zeros((2, 3, 8, 8))
    target[0, 0] = 1.0  # image 0: only channel 0 annotated, error 1 on every pixel
    target[1, 1:] = 0.5  # image 1: channels 1, 2 annotated, error 0.25 on every pixel
    target[0, 2] = 7.0  # not annotated on image 0: must not count
    points = np.full((2, 3, 2), np.nan)
    points[0, 0] = (5.0, 6.0)
    points[1, 1] = (1.0, 1.0)
    points[1, 2] = (4.0, 0.0)
    batch = _batch(target, points, [[True, False, False], [False, True, True]], [1, 0])
    pred = torch.zeros(2, 3, 8, 8)
    pred[0, 0, 2, 2] = 1.0  # decoded at (x=2, y=2): 5 px from (5, 6)
    pred[1, 1, 1, 4] = 1.0  # (4, 1): 3 px from (1, 1)
    pred[1, 2, 4, 4] = 1.0  # (4, 4): 4 px from (4, 0)
    logits = torch.tensor([[0.0, math.log(3.0)], [math.log(3.0), 0.0]])
    outputs = {"heatmaps": pred, "view_logits": logits}
    losses = task.generator_losses(outputs, batch, terms=["heatmap", "coordinate", "view"])
    # image 0: 63 pixels off by 1, the peak exact; image 1: every pixel off by 0.5 (the peaks
    # of 1.0 too); the value 7 on image 0's unannotated channel 2 does not count
    assert losses["heatmap"].item() == pytest.approx((63 / 64 + 0.25) / 2, rel=1e-6)
    assert losses["coordinate"].item() == pytest.approx((5.0 + (3.0 + 4.0) / 2) / 2, rel=1e-6)
    assert losses["view"].item() == pytest.approx(-math.log(3 / 4), rel=1e-6)


def test_unknown_term_and_missing_outputs_are_named():
    task = AbdominalTask(params={})
    batch = _batch(np.zeros((1, 1, 4, 4)), np.zeros((1, 1, 2)), [[True]], [0])
    with pytest.raises(ValueError, match="no loss term"):
        task.generator_losses({"heatmaps": torch.zeros(1, 1, 4, 4)}, batch, terms=["saliency"])
    with pytest.raises(ValueError, match="view head"):
        task.generator_losses({"heatmaps": torch.zeros(1, 1, 4, 4)}, batch, terms=["view"])
    with pytest.raises(InputError, match=r"field task.params.lr: unknown key"):
        AbdominalTask(params={"lr": 1})
    with pytest.raises(InputError, match=r"field task.params.coordinate_threshold: expected a "
                                         r"number"):
        AbdominalTask(params={"coordinate_threshold": "high"})
    with pytest.raises(InputError, match=r"field task.params: intensity_std must be positive"):
        AbdominalTask(params={"intensity_std": 0})


def test_discriminator_sees_only_annotated_channels_and_they_carry_no_other_gradient():
    task = AbdominalTask(params={})
    target = np.ones((1, 2, 4, 4))
    batch = _batch(target, np.zeros((1, 2, 2)), [[True, False]], [0])
    batch["image"] = torch.full((1, 1, 4, 4), 51.0)
    pred = torch.full((1, 2, 4, 4), 3.0, requires_grad=True)
    real, fake = task.discriminator_inputs({"heatmaps": pred}, batch)
    assert torch.allclose(real[0, 0], torch.full((4, 4), 0.2))  # 51 / 255
    assert real[0, 1].eq(1.0).all() and real[0, 2].eq(0.0).all()
    assert fake[0, 1].eq(3.0).all() and fake[0, 2].eq(0.0).all()
    fake.sum().backward()
    assert pred.grad[0, 0].eq(1.0).all() and pred.grad[0, 1].eq(0.0).all()


def test_interchangeable_pairs_take_the_predicted_order_in_every_term(tiny_abdominal):
    # HC18's axis ends: a prediction of the swapped order costs nothing, in L2, coordinate
    # and the discriminator's real input; without the pair it is an error
    from sonomtl.errors import InputError

    maps = np.zeros((1, 3, 8, 8))
    maps[0, 0, 2, 1] = maps[0, 1, 5, 6] = maps[0, 2, 7, 0] = 1.0
    points = [[[1.0, 2.0], [6.0, 5.0], [0.0, 7.0]]]
    batch = _batch(maps, points, [[True, True, True]], [0])
    pred = torch.tensor(maps, dtype=torch.float32)[:, [1, 0, 2]]  # ends 0 and 1 swapped
    outputs = {"heatmaps": pred}
    plain = AbdominalTask(params={})
    plain.channels = [0, 1, 2]
    assert plain.generator_losses(outputs, batch, terms=["heatmap"])["heatmap"] > 0
    task = AbdominalTask(params={"interchangeable_pairs": [["kidney_long_1", "kidney_long_2"]]})
    task.build_datasets(root=str(tiny_abdominal), params={}, seed=0)
    names = list(task.spec.landmarks)
    first, second = names.index("kidney_long_1"), names.index("kidney_long_2")
    assert task.pair_channels == [(first, second)]
    task.channels, task.pair_channels = [0, 1, 2], [(0, 1)]
    losses = task.generator_losses(outputs, batch, terms=["heatmap", "coordinate"])
    assert losses["heatmap"].item() == 0.0 and losses["coordinate"].item() == pytest.approx(0.0)
    real, fake = task.discriminator_inputs(outputs, batch)
    assert torch.equal(real[:, 1:], fake[:, 1:])
    bad = AbdominalTask(params={"interchangeable_pairs": [["kidney_long_1", "nope"]]})
    with pytest.raises(InputError, match="two different landmarks") as caught:
        bad.build_datasets(root=str(tiny_abdominal), params={}, seed=0)
    assert caught.value.field == "task.params.interchangeable_pairs[0]"


def test_single_task_run_uses_its_channels_and_only_annotated_frames(tiny_abdominal):
    task = AbdominalTask(params={"landmark_task": "kidney_trans"})
    datasets = task.build_datasets(root=str(tiny_abdominal), params={"test_fraction": 0.25},
                                   seed=0)
    assert [task.spec.landmarks[c] for c in task.channels] == [
        "kidney_trans_la_1", "kidney_trans_la_2", "kidney_trans_sa_1", "kidney_trans_sa_2"]
    labels = {task.spec.classes[i] for i in datasets.train.labels}
    assert labels <= {"kidney_right_trans", "kidney_left_trans"} and labels
    sample = datasets.train[0]
    batch = task.collate([sample])
    maps, points, mask = task._targets(batch)
    assert maps.shape[1] == 4 and bool(mask.all())
    assert torch.equal(maps, batch["heatmaps"][:, task.channels])


def test_encoder_layers_keeps_widths_and_restarts_the_view_copies():
    from sonomtl.models import build_model

    net = with_encoder_layers(build_model("abdominal_mgcn", gcn_kernel=3), [1, 1, 1, 1])
    assert [len(s) for s in net.encoder.stages()] == [1, 1, 1, 1]
    for a, b in zip(net.encoder.layer4.parameters(), net.view_layer4.parameters()):
        assert torch.equal(a, b)
    out = net(torch.zeros(1, 1, 64, 64))
    assert out["heatmaps"].shape == (1, 14, 64, 64) and out["view_logits"].shape == (1, 11)
    with pytest.raises(ValueError, match="four positive"):
        with_encoder_layers(net, [1, 1, 1])


def _two_stage_config(root, out_dir):
    from sonomtl.config import config_from_dict

    return config_from_dict({
        "name": "frozen", "seed": 0, "out_dir": str(out_dir),
        "task": {"name": "abdominal", "params": {}},
        "modules": {
            "net": {"model": "abdominal_mtl",
                    "kwargs": {"gcn_kernel": 3, "encoder_layers": [1, 1, 1, 1]}},
            "D": {"model": "patchgan", "kwargs": {"in_chans": 15, "base_chans": 8}},
        },
        "data": {"root": str(root), "batch_size": 4, "params": {"test_fraction": 0.25}},
        "trainer": {"progress_bar": False},
        "checkpoint": {"keep_last": 10},
        "stages": [
            {"name": "landmarks", "steps": 2, "pattern": "adversarial", "train": ["net", "D"],
             "frozen": ["net.view_layer3", "net.view_layer4", "net.view_head"],
             "optimizers": {"net": {"kind": "adam", "lr": 1e-3}, "D": {"kind": "adam"}},
             "losses": {"heatmap": 1.0, "coordinate": 1.0, "adversarial": 1.0},
             "adversarial": {"discriminator": "D", "real_label": 1.0, "output": "logit"}},
            {"name": "views", "steps": 2, "batch_size": 8, "train": ["net"],
             "frozen": ["net.encoder", "net.decoder"],
             "optimizers": {"net": {"kind": "adam", "lr": 5e-4}}, "losses": {"view": 1.0}},
        ],
    })


@pytest.mark.slow
def test_view_stage_leaves_shared_encoder_and_decoder_bit_identical(tiny_abdominal, tmp_path):
    from safetensors.torch import load_file

    from sonomtl.training.run import train

    result = train(_two_stage_config(tiny_abdominal, tmp_path))
    folder = result.run_dir / "checkpoints"
    after_landmarks = load_file(str(folder / "step-000000002.safetensors"))
    after_views = load_file(str(folder / "step-000000004.safetensors"))
    locked = [k for k in after_views if k.startswith(("net.encoder.", "net.decoder."))]
    view = [k for k in after_views if k.startswith(("net.view_layer", "net.view_head."))]
    assert any(".running_mean" in k for k in locked) and len(view) > 10
    for key in locked:  # weights and batch-norm statistics, shared and landmark path alike
        assert torch.equal(after_landmarks[key], after_views[key]), key
    changed = [k for k in view if not torch.equal(after_landmarks[k], after_views[k])]
    assert "net.view_head.fc2.weight" in changed and "net.view_layer4.0.conv1.weight" in changed
    # stage 1 trained the landmark path and left the view path as built (same seed, same init)
    from sonomtl.training.run import seed_everything

    seed_everything(0)
    built = AbdominalTask(params={}).build_module(
        "net", model="abdominal_mtl", kwargs={"gcn_kernel": 3, "encoder_layers": [1, 1, 1, 1]})
    initial = {f"net.{k}": v for k, v in built.state_dict().items()}
    assert all(torch.equal(initial[k], after_landmarks[k]) for k in view)
    assert not torch.equal(initial["net.encoder.layer4.0.conv1.weight"],
                           after_landmarks["net.encoder.layer4.0.conv1.weight"])
