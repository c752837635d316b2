"""SonoEyeNet with late fusion (Cai et al., MICCAI 2018), the M-SEN paper's upper baseline.

SonoEyeNet classifies a frame using *both* the frame and the sonographer's
attention map, so it needs gaze at inference. Our reading of its late-fusion
variant ("SonoEyeNet-Late FT"):

* image stream: the five SonoNet blocks of width ``f`` (initialised from the
  SonoNet weights when given, then fine-tuned: "FT");
* attention stream: a second SonoNet trunk of the same width on the 1-channel
  attention map, initialised from N(0, 0.01);
* late fusion: the two block-5 feature maps (same spatial size) are
  concatenated along channels (``16f``), then SonoNet-style adaptation layers
  (1x1 ``16f -> 4f`` + BN + ReLU, 1x1 ``4f -> num_classes`` + BN) and global
  average pooling give the logits.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn as nn

from sonomtl.models.layers import ConvBNReLU, init_normal_
from sonomtl.models.msen import MSEN_CLASS_NAMES, MSEN_INPUT_HW
from sonomtl.models.sononet import BN_EPS, SonoNet

__all__ = ["SonoEyeNet", "sonoeyenet"]


class SonoEyeNet(nn.Module):
    """Two-stream (frame, attention map) classifier with late fusion.

    Parameters
    ----------
    num_classes:
        Class outputs.
    in_chans:
        Frame channels (the attention map always has one).
    width:
        SonoNet base width ``f`` of both streams.
    class_names:
        Label names for ``default_cfg``.
    """

    def __init__(
        self,
        *,
        num_classes: int = 2,
        in_chans: int = 1,
        width: int = 16,
        class_names: Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        self.image_stream = SonoNet(width=width, num_classes=1, in_chans=in_chans)
        self.attention_stream = SonoNet(width=width, num_classes=1, in_chans=1)
        # only the trunks are used; the heads of the two SonoNets are dropped
        self.image_stream.adaptation = nn.Identity()
        self.attention_stream.adaptation = nn.Identity()
        self.adaptation = nn.Sequential(
            ConvBNReLU(16 * width, 4 * width, kernel_size=1, bn_eps=BN_EPS),
            ConvBNReLU(4 * width, num_classes, kernel_size=1, bn_eps=BN_EPS, relu=False),
        )
        init_normal_(self, std=0.01)
        if class_names is None and num_classes == len(MSEN_CLASS_NAMES):
            class_names = MSEN_CLASS_NAMES
        self.width = width
        self.default_cfg: dict[str, Any] = {
            "kind": "classifier",
            "architecture": f"sonoeyenet_late_sononet{width}",
            "input_hw": MSEN_INPUT_HW,
            "in_chans": in_chans,
            "normalisation": "sononet",
            "inputs": ["frame", "attention"],
            "class_names": None if class_names is None else list(class_names),
            "num_classes": num_classes,
        }

    def load_sononet_image_stream(self, path: str | os.PathLike[str]) -> None:
        """Initialise the image stream's blocks from SonoNet weights (.npz or .safetensors)."""
        from sonomtl.models.weights import load_weights, sononet_file_config

        sononet = SonoNet(width=self.width, num_classes=sononet_file_config(path)["num_classes"],
                          in_chans=self.image_stream.blocks[0][0][0].in_channels)
        load_weights(sononet, path)
        self.image_stream.blocks.load_state_dict(sononet.blocks.state_dict())

    def forward(self, frame: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, num_classes)`` from frames and attention maps of the same size."""
        if frame.shape[-2:] != attention.shape[-2:]:
            raise ValueError(f"frame and attention must have the same size, got "
                             f"{tuple(frame.shape[-2:])} and {tuple(attention.shape[-2:])}")
        fused = torch.cat([self.image_stream.forward_features(frame),
                           self.attention_stream.forward_features(attention)], dim=1)
        return self.adaptation(fused).mean(dim=(2, 3))


def sonoeyenet(
    *,
    num_classes: int = 2,
    in_chans: int = 1,
    pretrained: str | os.PathLike[str] | None = None,
    sononet_width: int = 16,
    class_names: Sequence[str] | None = None,
) -> SonoEyeNet:
    """SonoEyeNet-Late; ``pretrained``: SonoNet weights for the image stream (fine-tuned after)."""
    model = SonoEyeNet(num_classes=num_classes, in_chans=in_chans, width=sononet_width,
                       class_names=class_names)
    if pretrained is not None:
        model.load_sononet_image_stream(pretrained)
    from sonomtl.models.msen import debias_batchnorm_statistics_

    return debias_batchnorm_statistics_(model)
