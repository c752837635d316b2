"""ResNet-50 written in the project: parameter count, layout and feature strides."""

from __future__ import annotations

import pytest
import torch

from sonomtl.models.resnet import ResNet, make_stage, resnet50

#: torchvision.models.resnet50(): 3-channel stem, 1000-class head (published figure).
TORCHVISION_RESNET50_PARAMS = 25_557_032


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _bottleneck_params(in_ch: int, width: int, project: bool) -> int:
    out = 4 * width
    params = in_ch * width + 2 * width  # 1x1 reduce + BN
    params += 9 * width * width + 2 * width  # 3x3 + BN
    params += width * out + 2 * out  # 1x1 expand + BN
    if project:
        params += in_ch * out + 2 * out  # projection shortcut + BN
    return params


def _hand_count(in_chans: int, num_classes: int) -> int:
    total = 64 * in_chans * 7 * 7 + 2 * 64  # stem conv (no bias) + BN
    in_ch = 64
    for width, blocks in zip((64, 128, 256, 512), (3, 4, 6, 3)):
        total += _bottleneck_params(in_ch, width, project=True)
        total += (blocks - 1) * _bottleneck_params(4 * width, width, project=False)
        in_ch = 4 * width
    if num_classes:
        total += 2048 * num_classes + num_classes
    return total


def test_rgb_imagenet_configuration_matches_the_published_torchvision_count():
    assert _hand_count(3, 1000) == TORCHVISION_RESNET50_PARAMS
    assert _count(resnet50(in_chans=3, num_classes=1000)) == TORCHVISION_RESNET50_PARAMS


def test_single_channel_encoder_parameter_count():
    # torchvision's 25,557,032 - stem conv 64*3*49 + 64*1*49 - fc (2048*1000 + 1000)
    expected = TORCHVISION_RESNET50_PARAMS - 64 * 3 * 49 + 64 * 1 * 49 - (2048 * 1000 + 1000)
    assert expected == 23_501_760 == _hand_count(1, 0)
    assert _count(resnet50(in_chans=1)) == 23_501_760
    assert _count(resnet50(in_chans=1, num_classes=11)) == 23_501_760 + 2048 * 11 + 11


def test_state_dict_keys_follow_the_reference_layout():
    keys = resnet50(in_chans=3, num_classes=1000).state_dict().keys()
    # 53 convolutions, 53 batch norms (weight, bias + 3 buffers), fc weight + bias
    assert len(keys) == 53 + 53 * 5 + 2 == 320
    for key in (
        "conv1.weight",
        "bn1.running_mean",
        "layer1.0.downsample.0.weight",
        "layer2.3.conv3.weight",
        "layer3.5.bn2.num_batches_tracked",
        "layer4.0.downsample.1.running_var",
        "fc.bias",
    ):
        assert key in keys
    assert "layer1.1.downsample.0.weight" not in keys


def test_forward_features_returns_four_stages_at_strides_4_to_32():
    model = resnet50(in_chans=1).eval()
    with torch.no_grad():
        features = model.forward_features(torch.randn(1, 1, 32, 64))
    assert [tuple(f.shape) for f in features] == [
        (1, 256, 8, 16),
        (1, 512, 4, 8),
        (1, 1024, 2, 4),
        (1, 2048, 1, 2),
    ]


def test_forward_is_the_linear_head_on_pooled_last_stage():
    torch.manual_seed(0)
    model = resnet50(in_chans=1, num_classes=5).eval()
    x = torch.randn(1, 1, 32, 32)
    with torch.no_grad():
        pooled = model.forward_features(x)[-1].mean(dim=(2, 3))
        torch.testing.assert_close(model(x), pooled @ model.fc.weight.T + model.fc.bias)
        assert resnet50(in_chans=1).eval()(x).shape == (1, 2048)


def test_stride_sits_on_the_3x3_convolution_of_the_first_block():
    stage = make_stage(256, 128, blocks=4, stride=2)
    assert stage[0].conv1.stride == (1, 1) and stage[0].conv2.stride == (2, 2)
    assert stage[0].downsample[0].stride == (2, 2) and stage[1].downsample is None


def test_invalid_arguments_name_the_argument():
    with pytest.raises(ValueError, match="layers"):
        ResNet(layers=(3, 4, 6))
    with pytest.raises(ValueError, match="in_chans"):
        resnet50(in_chans=0)
    with pytest.raises(ValueError, match="blocks"):
        make_stage(64, 64, blocks=0, stride=1)
