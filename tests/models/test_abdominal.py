"""The abdominal multi-task network and its ablations (paper 004)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sonomtl.models import build_model
from sonomtl.models.abdominal import (
    ABDOMINAL_CLASSES,
    ABDOMINAL_LANDMARKS,
    LANDMARK_TASKS,
    AbdominalNet,
    abdominal_mfcn,
    abdominal_mgcn,
    abdominal_mtl,
    abdominal_sfcn,
)
from sonomtl.models.abdominal_heads import LandmarkDecoder

RESNET50_1CH = 23_501_760  # see tests/models/test_resnet.py
LAYER3_LAYER4 = 7_098_368 + 14_964_736
STAGE_CHANNELS = (256, 512, 1024, 2048)


def _count(params) -> int:
    return sum(p.numel() for p in params)


def _gcn_decoder_params(num_landmarks: int, k: int) -> int:
    total = 0
    for c in STAGE_CHANNELS:
        # two branches, each (k x 1 or 1 x k from c) then (the other from L), with biases
        total += 2 * (k * c * num_landmarks + num_landmarks + k * num_landmarks**2 + num_landmarks)
        total += 2 * (9 * num_landmarks**2 + num_landmarks)  # boundary refinement
    return total


def _fcn_decoder_params(num_landmarks: int) -> int:
    return sum(c * num_landmarks + num_landmarks for c in STAGE_CHANNELS)


VIEW_HEAD = 3840 * 256 + 256 + 256 * 11 + 11


@pytest.fixture(scope="module")
def mtl() -> AbdominalNet:
    torch.manual_seed(0)
    return abdominal_mtl()


def test_multi_task_parameter_count_is_encoder_plus_late_copy_plus_heads(mtl):
    # this pins the layout: one ResNet-50, a second layer3/layer4, GCN+BR decoder, 2-FC head
    expected = RESNET50_1CH + LAYER3_LAYER4 + _gcn_decoder_params(14, 15) + VIEW_HEAD
    assert _count(mtl.parameters()) == expected == 48_201_755
    assert _count(abdominal_mfcn().parameters()) == (
        RESNET50_1CH + LAYER3_LAYER4 + _fcn_decoder_params(14) + VIEW_HEAD
    )


def test_single_task_networks_sum_to_the_papers_539_megabytes():
    stl = _count(build_model("resnet50_classifier").parameters())
    assert stl == RESNET50_1CH + 2048 * 11 + 11
    for task, names in LANDMARK_TASKS.items():
        sfcn = abdominal_sfcn(task=task)
        assert _count(sfcn.parameters()) == RESNET50_1CH + _fcn_decoder_params(len(names))
        stl += _count(sfcn.parameters())
    # paper: "reduced from 539MB to 100MB" (fp32, MB of 2**20 bytes)
    assert round(stl * 4 / 2**20) == 538


def test_without_duplicated_late_stages_the_model_matches_the_papers_100_megabytes():
    shared = abdominal_mtl(duplicate_late_stages=False)
    params = _count(shared.parameters())
    assert params == RESNET50_1CH + _gcn_decoder_params(14, 15) + VIEW_HEAD
    assert params * 4 / 2**20 < 100.0


def test_forward_returns_view_logits_and_input_sized_heatmaps(mtl):
    mtl.eval()
    x = torch.randn(1, 1, 40, 56)  # not a multiple of 32
    with torch.no_grad():
        out = mtl(x)
        assert set(out) == {"view_logits", "heatmaps"}
        assert out["view_logits"].shape == (1, 11)
        assert out["heatmaps"].shape == (1, 14, 40, 56)
        torch.testing.assert_close(mtl.forward_views(x), out["view_logits"])
        torch.testing.assert_close(mtl.forward_heatmaps(x), out["heatmaps"])


@pytest.mark.parametrize(
    ("name", "kwargs", "keys", "landmarks"),
    [
        ("abdominal_mgcn", {}, {"view_logits", "heatmaps"}, 14),
        ("abdominal_mfcn", {}, {"view_logits", "heatmaps"}, 14),
        ("abdominal_sfcn", {"task": "kidney_trans"}, {"heatmaps"}, 4),
        ("resnet50_classifier", {}, {"view_logits"}, 0),
    ],
)
def test_every_variant_builds_from_the_registry(name, kwargs, keys, landmarks):
    model = build_model(name, **kwargs).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 1, 32, 32))
    assert set(out) == keys == set(model.default_cfg["outputs"])
    if landmarks:
        assert out["heatmaps"].shape == (1, landmarks, 32, 32)
    assert model.default_cfg["architecture"] == name


def test_default_cfg_carries_preprocessing_and_names(mtl):
    cfg = mtl.default_cfg
    assert cfg["architecture"] == "abdominal_mtl"
    assert cfg["input_hw"] == (512, 512) and cfg["target_spacing_mm"] == 0.5
    assert cfg["in_chans"] == 1 and cfg["normalisation"] == {"mean": 0.0, "std": 255.0}
    assert cfg["class_names"] == list(ABDOMINAL_CLASSES) and len(ABDOMINAL_CLASSES) == 11
    assert cfg["landmark_names"] == list(ABDOMINAL_LANDMARKS) and len(ABDOMINAL_LANDMARKS) == 14
    assert cfg["landmark_names"][2:6] == [
        "kidney_trans_la_1",
        "kidney_trans_la_2",
        "kidney_trans_sa_1",
        "kidney_trans_sa_2",
    ]
    sfcn = abdominal_sfcn(task="spleen_long").default_cfg
    assert sfcn["landmark_names"] == ["spleen_long_1", "spleen_long_2"]
    assert sfcn["class_names"] is None and sfcn["outputs"] == ["heatmaps"]
    assert sfcn["landmark_tasks"] == {"spleen_long": ["spleen_long_1", "spleen_long_2"]}


def test_view_stage_copies_start_equal_to_the_landmark_stages(mtl):
    for copy, original in (
        (mtl.view_layer3, mtl.encoder.layer3),
        (mtl.view_layer4, mtl.encoder.layer4),
    ):
        assert copy is not original
        for (name, a), (_, b) in zip(copy.state_dict().items(), original.state_dict().items()):
            assert torch.equal(a, b), name
        assert next(copy.parameters()).data_ptr() != next(original.parameters()).data_ptr()


@pytest.mark.parametrize("duplicate", [True, False])
def test_parameter_groups_partition_the_model(duplicate):
    model = abdominal_mgcn(duplicate_late_stages=duplicate)
    groups = [
        set(map(id, g()))
        for g in (
            model.shared_parameters,
            model.landmark_parameters,
            model.classification_parameters,
        )
    ]
    assert sum(map(len, groups)) == len(set().union(*groups)) == len(list(model.parameters()))
    shared = _count(model.shared_parameters())
    stem_to_layer2 = 64 * 49 + 128 + 215_808 + 1_219_584
    assert shared == stem_to_layer2 + (0 if duplicate else LAYER3_LAYER4)


def test_single_task_fcn_has_no_classification_parameters():
    model = abdominal_sfcn(task="liver_long")
    assert list(model.classification_parameters()) == []
    assert _count(model.shared_parameters()) + _count(model.landmark_parameters()) == _count(
        model.parameters()
    )
    with pytest.raises(RuntimeError, match="no view classification head"):
        model.forward_views(torch.randn(1, 1, 32, 32))


def test_classification_loss_does_not_reach_the_landmark_path():
    # stage freezing itself is the training config's (stages.*.frozen, tests/training)
    model = abdominal_mtl().train()
    labels = torch.tensor([3, 10])
    F.cross_entropy(model(torch.randn(2, 1, 32, 32))["view_logits"], labels).backward()
    assert all(p.grad is None for p in model.landmark_parameters())
    assert all(p.grad is not None for p in model.classification_parameters())


def test_landmark_loss_does_not_reach_the_classification_path():
    model = abdominal_mgcn().train()
    model(torch.randn(2, 1, 32, 32))["heatmaps"].square().mean().backward()
    assert all(p.grad is None for p in model.classification_parameters())
    assert all(p.grad is not None for p in model.landmark_parameters())


def test_decoder_fuses_levels_top_down_with_bilinear_upsampling():
    # 1x1 FCN scores with unit weights on one-channel levels: the output is the sum of
    # the levels, each bilinearly resized; a constant on every level gives their sum.
    decoder = LandmarkDecoder((1, 1, 1, 1), 1, skip="fcn")
    with torch.no_grad():
        for conv in decoder.levels:
            conv.weight.fill_(1.0)
            conv.bias.zero_()
    features = [torch.full((1, 1, 16 // 2**i, 16 // 2**i), float(i + 1)) for i in range(4)]
    out = decoder(features, output_hw=(64, 64))
    torch.testing.assert_close(out, torch.full((1, 1, 64, 64), 10.0))


def test_invalid_arguments_are_rejected_with_a_reason():
    with pytest.raises(ValueError, match="task"):
        abdominal_sfcn()
    with pytest.raises(ValueError, match="unknown landmark task"):
        abdominal_sfcn(task="heart")
    with pytest.raises(ValueError, match="disagrees"):
        abdominal_sfcn(task="kidney_long", num_landmarks=3)
    with pytest.raises(ValueError, match="kernel_size"):
        abdominal_mgcn(gcn_kernel=14)
    with pytest.raises(ValueError, match="class_names"):
        abdominal_mgcn(class_names=["a", "b"])


def test_exports_to_onnx_with_a_dynamic_batch_and_matches_pytorch(mtl, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    mtl.eval()
    path = tmp_path / "abdominal.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            mtl,
            (torch.randn(1, 1, 32, 32),),
            str(path),
            dynamo=False,
            opset_version=17,
            input_names=["image"],
            output_names=["view_logits", "heatmaps"],
            dynamic_axes={"image": {0: "batch"}},
        )
    x = torch.randn(2, 1, 32, 32)
    view_logits, heatmaps = ort.InferenceSession(str(path)).run(None, {"image": x.numpy()})
    with torch.no_grad():
        ref = mtl(x)
    np.testing.assert_allclose(view_logits, ref["view_logits"].numpy(), atol=1e-4)
    np.testing.assert_allclose(heatmaps, ref["heatmaps"].numpy(), atol=1e-4)
