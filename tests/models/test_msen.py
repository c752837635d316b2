"""M-SEN generator, SS-att, SS-cls and SonoEyeNet: structure, init, weights, frames only."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

from sonomtl.errors import InputError
from sonomtl.models import build_model
from sonomtl.models.msen import (
    GeneratorOutput,
    SaliencyOutput,
    msen_generator,
    sononet_baseline,
    ss_att_net,
)
from sonomtl.models.sonoeyenet import sonoeyenet
from sonomtl.models.sononet import sononet16


def _unit(i: int, o: int, k: int = 3) -> int:
    """Parameters of conv (no bias) + BN (gamma, beta)."""
    return k * k * i * o + 2 * o


def _trunk(f: int) -> int:
    pairs = [(1, f), (f, f), (f, 2 * f), (2 * f, 2 * f), (2 * f, 4 * f), (4 * f, 4 * f),
             (4 * f, 4 * f)]
    return sum(_unit(i, o) for i, o in pairs)


def _branch(f: int) -> int:
    c = 8 * f
    return _unit(4 * f, c) + 2 * _unit(c, c)


def _generator_count(f: int, num_classes: int = 2) -> int:
    c = 8 * f
    saliency = _branch(f) + (c + 1)  # + 1x1 head with bias
    classification = _branch(f) + 3 * _unit(c, c) + _unit(c, 256, 1) + _unit(256, num_classes, 1)
    return _trunk(f) + saliency + classification


def _count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_generator_parameter_count_matches_the_hand_count():
    assert _count(msen_generator()) == _generator_count(16) == 1_324_885
    assert _count(msen_generator(sononet_width=32)) == _generator_count(32)


def test_ss_att_is_the_saliency_path_alone():
    assert _count(ss_att_net()) == _trunk(16) + _branch(16) + 128 + 1


def test_generator_returns_maps_at_the_input_size_and_two_class_logits():
    model = msen_generator().eval()
    with torch.no_grad():
        out = model(torch.randn(3, 1, 240, 240))
    assert isinstance(out, GeneratorOutput)
    assert out.attention_logits.shape == out.attention.shape == (3, 1, 240, 240)
    assert out.logits.shape == (3, 2)
    torch.testing.assert_close(out.attention, torch.sigmoid(out.attention_logits))
    assert model.forward_features(torch.zeros(1, 1, 240, 240)).shape == (1, 64, 60, 60)
    assert model.default_cfg["class_names"] == ["ACP", "BG"]
    assert model.default_cfg["inputs"] == ["frame"]


def test_generator_runs_on_frames_alone_without_gaze():
    """Inference takes one tensor, the frame: no attention/gaze argument exists or is needed."""
    import inspect

    model = msen_generator().eval()
    parameters = list(inspect.signature(model.forward).parameters)
    assert parameters == ["x"]
    frames = torch.randn(2, 1, 240, 240, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        first, second = model(frames), model(frames)
    torch.testing.assert_close(first.logits, second.logits)  # deterministic in eval (no dropout)
    assert torch.isfinite(first.logits).all() and torch.isfinite(first.attention).all()


def test_attention_gates_the_classification_features():
    """With A-hat forced to ~0 the gated features vanish: logits no longer depend on the frame."""
    model = msen_generator().eval()
    with torch.no_grad():
        model.saliency_head.bias.fill_(-60.0)
        model.saliency_head.weight.zero_()
        a = model(torch.randn(1, 1, 240, 240)).logits
        b = model(torch.randn(1, 1, 240, 240) * 5).logits
        ungated = model.adaptation(model.fusion_block(torch.zeros(1, 128, 15, 15))).mean((2, 3))
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a, ungated)


def test_returned_maps_are_the_low_resolution_logits_upsampled_bilinearly():
    model = msen_generator().eval()
    x = torch.randn(1, 1, 240, 240)
    with torch.no_grad():
        features = model.downsample(model.forward_features(x))
        low = model.saliency_head(model.saliency_branch(features))
        out = model(x)
    assert low.shape == (1, 1, 15, 15)
    expected = nn.functional.interpolate(low, size=(240, 240), mode="bilinear", align_corners=False)
    torch.testing.assert_close(out.attention_logits, expected)


def test_new_layers_are_drawn_from_normal_0_0_01():
    torch.manual_seed(0)
    model = msen_generator()
    weights = torch.cat([m.weight.detach().ravel() for name, m in model.named_modules()
                         if isinstance(m, nn.Conv2d) and not name.startswith("blocks")])
    assert weights.numel() > 500_000
    assert float(weights.mean()) == pytest.approx(0.0, abs=1e-4)
    assert float(weights.std()) == pytest.approx(0.01, rel=0.01)
    assert float(model.saliency_head.bias.detach().abs().max()) == 0.0


def test_dropout_follows_every_conv_layer_before_the_adaptation_layers():
    model = msen_generator(dropout=0.2)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]
    dropouts = [m for m in model.modules() if isinstance(m, nn.Dropout)]
    assert len(convs) == 7 + 3 + 3 + 3 == len(dropouts)
    assert {d.p for d in dropouts} == {0.2}
    assert not any(isinstance(m, nn.Dropout) for m in model.adaptation.modules())


@pytest.mark.shared_data
def test_pretrained_blocks_equal_the_sononet_weights(sononet_dir):
    weights = sononet_dir / "SonoNet16.npz"
    sononet = sononet16(pretrained=weights)
    for model in (msen_generator(pretrained=weights), ss_att_net(pretrained=weights)):
        got, expected = model.blocks.state_dict(), sononet.blocks[:3].state_dict()
        assert got.keys() == expected.keys()
        for key in expected:
            torch.testing.assert_close(got[key], expected[key], rtol=0, atol=0)
    eye = sonoeyenet(pretrained=weights)
    torch.testing.assert_close(eye.image_stream.blocks[4][2][0].weight,
                               sononet.blocks[4][2][0].weight)


@pytest.mark.shared_data
def test_sononet_baseline_loads_only_the_first_pretrained_blocks(sononet_dir):
    weights = sononet_dir / "SonoNet16.npz"
    sononet = sononet16(pretrained=weights)
    torch.manual_seed(0)
    model = sononet_baseline(pretrained=weights, pretrained_blocks=3)
    for index in range(5):
        got, expected = model.blocks[index].state_dict(), sononet.blocks[index].state_dict()
        conv = next(key for key in expected if key.endswith("weight"))
        same = torch.equal(got[conv], expected[conv])
        assert same == (index < 3), index
    # the blocks not loaded keep the N(0, 0.01) initialisation
    assert float(model.blocks[4][0][0].weight.detach().std()) == pytest.approx(0.01, rel=0.05)
    with pytest.raises(InputError, match="pretrained_blocks: 6"):
        sononet_baseline(pretrained=weights, pretrained_blocks=6)


@pytest.mark.shared_data
def test_pretrained_weights_of_the_wrong_width_are_rejected(sononet_dir):
    with pytest.raises(InputError, match="SonoNet16.npz"):
        msen_generator(pretrained=sononet_dir / "SonoNet16.npz", sononet_width=32)


def test_ss_att_returns_maps_only():
    with torch.no_grad():
        out = ss_att_net().eval()(torch.randn(1, 1, 240, 240))
    assert isinstance(out, SaliencyOutput)
    assert out.attention.shape == (1, 1, 240, 240)


def test_ss_cls_classifies_an_attention_map():
    model = build_model("ss_cls").eval()
    with torch.no_grad():
        logits = model(torch.rand(2, 1, 240, 240))
    assert logits.shape == (2, 2)
    assert model.default_cfg["inputs"] == ["attention"]


def test_sonoeyenet_fuses_frame_and_attention_late():
    model = sonoeyenet().eval()
    f = 16
    fusion = _unit(16 * f, 4 * f, 1) + _unit(4 * f, 2, 1)
    stream = sum(p.numel() for name, p in model.named_parameters()
                 if name.startswith("image_stream"))
    assert stream == _count(sononet16()) - (_unit(8 * f, 4 * f, 1) + _unit(4 * f, 14, 1))
    assert _count(model) == 2 * stream + fusion
    model.train()  # batch statistics: N(0, 0.01) weights give vanishing outputs in eval mode
    generator = torch.Generator().manual_seed(0)
    frame = torch.randn(2, 1, 240, 240, generator=generator)
    with torch.no_grad():
        a = model(frame, torch.rand(2, 1, 240, 240, generator=generator))
        b = model(frame, torch.rand(2, 1, 240, 240, generator=generator))
    assert a.shape == (2, 2)
    assert (a - b).abs().max() > 1e-3  # the attention map changes the decision
    assert model.default_cfg["inputs"] == ["frame", "attention"]


def test_generator_exports_to_onnx_with_three_outputs(tmp_path):
    import onnxruntime

    model = msen_generator().eval()
    x = torch.randn(1, 1, 240, 240, generator=torch.Generator().manual_seed(1))
    path = tmp_path / "msen.onnx"
    torch.onnx.export(model, (x,), str(path), input_names=["frame"],  # as sonomtl export does
                      output_names=list(GeneratorOutput._fields), dynamo=False)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    outputs = session.run(None, {"frame": x.numpy()})
    with torch.no_grad():
        expected = model(x)
    assert [o.shape for o in outputs] == [(1, 1, 240, 240), (1, 1, 240, 240), (1, 2)]
    for got, want in zip(outputs, expected):
        np.testing.assert_allclose(got, want.numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", ["sononet16", "sononet32", "sononet64", "msen", "ss_att",
                                  "ss_cls", "sonoeyenet", "attention_discriminator"])
def test_every_registered_msen_family_name_builds_with_a_default_cfg(name):
    model = build_model(name)
    assert isinstance(model, nn.Module)
    assert model.default_cfg["input_hw"] in ((224, 288), (240, 240))
