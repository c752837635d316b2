"""Attention discriminator (M-SEN) and 70x70 PatchGAN (pix2pix): structure and known outputs."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn

from sonomtl.models import build_model
from sonomtl.models.discriminators import AttentionDiscriminator, patchgan


def _count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_attention_discriminator_parameter_count_matches_the_hand_count():
    model = build_model("attention_discriminator")
    convs = (2 * 64 * 9 + 64) + (64 * 128 * 9 + 128) + (128 * 256 * 9 + 256)
    fcs = (256 * 30 * 30 * 100 + 100) + (100 * 2 + 2) + (2 * 1 + 1)
    assert _count(model) == convs + fcs == 23_410_545


def test_attention_discriminator_outputs_one_probability_per_sample():
    model = build_model("attention_discriminator").eval()
    frame, attention = torch.randn(3, 1, 240, 240), torch.rand(3, 1, 240, 240)
    with torch.no_grad():
        logits = model.forward_logits(frame, attention)
        probability = model(frame, attention)
    assert logits.shape == probability.shape == (3,)
    torch.testing.assert_close(probability, torch.sigmoid(logits))
    assert ((probability > 0) & (probability < 1)).all()


def _hand_set_discriminator() -> AttentionDiscriminator:
    """One channel per conv, each passing channel 0 (the frame) through; known FC weights."""
    model = AttentionDiscriminator(input_hw=(8, 8), conv_chans=(1, 1, 1), fc_features=(1, 1),
                                   negative_slope=0.2)
    with torch.no_grad():
        for conv in (m for m in model.features if isinstance(m, nn.Conv2d)):
            conv.weight.zero_()
            conv.bias.zero_()
            conv.weight[0, 0, 1, 1] = 1.0  # centre tap of the first input channel
        fc1, fc2, fc3 = (m for m in model.classifier if isinstance(m, nn.Linear))
        fc1.weight.fill_(1.0)
        fc1.bias.fill_(0.0)
        fc2.weight.fill_(2.0)
        fc2.bias.fill_(0.1)
        fc3.weight.fill_(3.0)
        fc3.bias.fill_(-0.5)
    return model


@pytest.mark.parametrize("peak", [0.7, -0.7])
def test_attention_discriminator_on_known_inputs_matches_the_hand_computation(peak):
    """conv=identity on the frame, then leaky ReLU and pooling thrice, tanh, tanh, sigmoid."""
    model = _hand_set_discriminator().eval()
    frame = torch.full((1, 1, 8, 8), -5.0 if peak > 0 else -0.9)
    frame[0, 0, 3, 4] = peak
    attention = torch.rand(1, 1, 8, 8)  # ignored by these weights (channel 1)
    # the 8x8 map is max-pooled to 1x1; leaky ReLU (0.2) is applied three times
    top = peak if peak > 0 else max(peak, -0.9) * 0.2 ** 3
    expected_logit = 3.0 * math.tanh(2.0 * math.tanh(top) + 0.1) - 0.5
    with torch.no_grad():
        logit = float(model.forward_logits(frame, attention))
        probability = float(model(frame, attention))
    assert logit == pytest.approx(expected_logit, abs=1e-6)
    assert probability == pytest.approx(1 / (1 + math.exp(-expected_logit)), abs=1e-6)


def test_attention_discriminator_rejects_a_wrong_input_size():
    model = build_model("attention_discriminator")
    with pytest.raises(ValueError, match="240"):
        model(torch.zeros(1, 1, 224, 288), torch.zeros(1, 1, 224, 288))


def test_patchgan_has_the_pix2pix_parameter_count():
    # pix2pix's "basic" D (input_nc=6: image + output) prints 2.769 M parameters
    assert _count(patchgan(in_chans=6)) == 2_768_705
    c = 3
    hand = (c * 64 * 16 + 64) + (64 * 128 * 16 + 2 * 128) + (128 * 256 * 16 + 2 * 256) \
        + (256 * 512 * 16 + 2 * 512) + (512 * 16 + 1)
    assert _count(patchgan(in_chans=c)) == hand


def test_patchgan_gives_a_30x30_grid_of_logits_for_256x256_inputs():
    model = build_model("patchgan", in_chans=16).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 16, 256, 256))
    assert out.shape == (2, 1, 30, 30)


def test_each_patchgan_output_sees_a_70x70_input_patch():
    model = patchgan(in_chans=1).eval()
    with torch.no_grad():  # positive weights: every path contributes, none cancel
        for conv in (m for m in model.modules() if isinstance(m, nn.Conv2d)):
            conv.weight.copy_(conv.weight.abs() + 1e-3)
    x = torch.ones(1, 1, 128, 128, requires_grad=True)
    out = model(x)
    out[0, 0, 6, 6].backward()
    rows = torch.nonzero(x.grad[0, 0].abs().sum(1)).ravel()
    cols = torch.nonzero(x.grad[0, 0].abs().sum(0)).ravel()
    assert int(rows[-1] - rows[0] + 1) == 70
    assert int(cols[-1] - cols[0] + 1) == 70
