"""M-SEN generator G (paper 000) and its single-stream baselines SS-att and SS-cls.

G maps one frame to an attention map A-hat and class logits, with no gaze input:

1. SonoNet blocks 1-3 (``f, f | pool | 2f, 2f | pool | 4f x3``), initialised
   from SonoNet weights when ``pretrained`` is given; ``phi_c3`` is their output
   (60x60 for a 240x240 frame).
2. ``phi_c3`` down-sampled by 4 (4x4 max pooling -> 15x15).
3. Two branches of three 3x3 conv layers of ``8f`` kernels (SonoNet's block-4
   width; the paper's figure is not legible on this): saliency ``phi_c4S`` and
   classification ``phi_c4C``.
4. A 1x1 conv on ``phi_c4S`` gives the attention logits; A-hat = sigmoid.
5. ``phi_c4C * A-hat`` (element-wise, broadcast over channels) -> another block
   of three 3x3 conv layers (``8f``) -> adaptation layers (1x1, 256 + BN + ReLU;
   1x1, ``num_classes`` + BN, as SonoNet's) -> global average pooling (logits;
   softmax gives the {ACP, BG} scores).

Every conv layer before the adaptation layers has batch norm and dropout
(element-wise, p = ``dropout``), including the three SonoNet blocks (the
paper's "each convolutional layer before the adaptation layers"). All layers
are drawn from N(0, 0.01) (biases 0; batch norm weight 1, bias 0) and then the
SonoNet blocks are overwritten by the pretrained weights when given.

Output resolution: the gating uses A-hat at the 15x15 branch resolution; the
returned maps are the attention *logits* up-sampled bilinearly
(``align_corners=False``) to the input size, then the sigmoid. Up-sampling the
logits rather than the probabilities keeps the BCE exact on the logits. The
model returns a :class:`GeneratorOutput` named tuple of plain tensors, so it
traces and exports to ONNX as three outputs.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from sonomtl.errors import InputError
from sonomtl.models.layers import ConvBNReLU, init_normal_
from sonomtl.models.sononet import BN_EPS, SonoNet, run_blocks, sononet_blocks

__all__ = [
    "GeneratorOutput",
    "SaliencyOutput",
    "MSENGenerator",
    "msen_generator",
    "ss_att_net",
    "ss_cls_net",
    "sononet_baseline",
    "MSEN_CLASS_NAMES",
    "MSEN_INPUT_HW",
    "debias_batchnorm_statistics_",
]

#: Default label order of G's outputs (standard abdominal-circumference plane, background).
MSEN_CLASS_NAMES: tuple[str, ...] = ("ACP", "BG")
#: Input size (rows, cols) of the paper.
MSEN_INPUT_HW: tuple[int, int] = (240, 240)
ADAPTATION_CHANS = 256
INIT_STD = 0.01


class GeneratorOutput(NamedTuple):
    """What G returns: maps ``(N, 1, H, W)`` at the input size, logits ``(N, num_classes)``."""

    attention_logits: torch.Tensor
    attention: torch.Tensor
    logits: torch.Tensor


class SaliencyOutput(NamedTuple):
    """What SS-att returns: maps ``(N, 1, H, W)`` at the input size."""

    attention_logits: torch.Tensor
    attention: torch.Tensor


def _debiased_momentum(bn: nn.Module, inputs: Any, *, base: float) -> None:
    if bn.training and bn.track_running_stats:
        bn.momentum = max(base, 1.0 / (int(bn.num_batches_tracked) + 1))


def debias_batchnorm_statistics_(module: nn.Module) -> nn.Module:
    """Make every batch-norm layer's running statistics an unbiased moving average.

    PyTorch starts the running mean/variance at 0/1 and moves them by
    ``momentum`` (0.1) per batch, so for the first ~1/momentum batches they are
    dominated by the start values. With N(0, 0.01) weights the true variances
    are ~1e-3, so a network evaluated after a few dozen steps divides every
    layer by a variance 10-1000x too large and its outputs collapse to a
    constant. This hook uses ``max(momentum, 1/n)`` on the n-th training batch
    (the first batch replaces the start values, then a cumulative mean until
    1/n reaches ``momentum``, then PyTorch's moving average unchanged). Returns
    ``module``; the hooks are not saved in the state dict (the factories add them).
    """
    for layer in module.modules():
        if isinstance(layer, nn.modules.batchnorm._BatchNorm) and layer.momentum is not None:
            layer.register_forward_pre_hook(
                functools.partial(_debiased_momentum, base=float(layer.momentum)))
    return module


@contextlib.contextmanager
def _statistics_pass(module: nn.Module) -> Iterator[None]:
    """Dropout off, batch norm updating its running statistics (train mode)."""
    dropouts = [m for m in module.modules() if isinstance(m, nn.Dropout) and m.training]
    for m in dropouts:
        m.eval()
    try:
        yield
    finally:
        for m in dropouts:
            m.train()


@contextlib.contextmanager
def _frozen_statistics(module: nn.Module) -> Iterator[None]:
    """Batch norm normalises by the batch's statistics without updating its running ones."""
    layers = [m for m in module.modules()
              if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    for m in layers:
        m.track_running_stats = False
    try:
        yield
    finally:
        for m in layers:
            m.track_running_stats = True


def _conv_block(in_chans: int, out_chans: int, *, layers: int, dropout: float) -> nn.Sequential:
    units = [
        ConvBNReLU(in_chans if i == 0 else out_chans, out_chans, bn_eps=BN_EPS, dropout=dropout)
        for i in range(layers)
    ]
    return nn.Sequential(*units)


class MSENGenerator(nn.Module):
    """The M-SEN generator (``classify=True``) or its saliency-only variant SS-att.

    Parameters
    ----------
    num_classes:
        Class outputs (2: ACP, BG).
    in_chans:
        Input channels (1: grey frames).
    sononet_width:
        Base width ``f`` of the SonoNet blocks (16 or 32).
    dropout:
        Dropout after each conv layer before the adaptation layers.
    classify:
        ``False`` builds SS-att: no classification branch, returns :class:`SaliencyOutput`.
    class_names:
        Label names for ``default_cfg`` (default ``("ACP", "BG")`` for 2 classes).
    """

    def __init__(
        self,
        *,
        num_classes: int = 2,
        in_chans: int = 1,
        sononet_width: int = 16,
        dropout: float = 0.2,
        classify: bool = True,
        class_names: Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
        width = sononet_width
        branch = 8 * width
        self.sononet_width = width
        self.blocks = sononet_blocks(width=width, in_chans=in_chans, num_blocks=3, dropout=dropout)
        self.downsample = nn.MaxPool2d(4)
        self.saliency_branch = _conv_block(4 * width, branch, layers=3, dropout=dropout)
        self.saliency_head = nn.Conv2d(branch, 1, kernel_size=1)
        self.classification_branch: nn.Module | None = None
        self.fusion_block: nn.Module | None = None
        self.adaptation: nn.Module | None = None
        if classify:
            self.classification_branch = _conv_block(4 * width, branch, layers=3, dropout=dropout)
            self.fusion_block = _conv_block(branch, branch, layers=3, dropout=dropout)
            self.adaptation = nn.Sequential(
                ConvBNReLU(branch, ADAPTATION_CHANS, kernel_size=1, bn_eps=BN_EPS),
                ConvBNReLU(ADAPTATION_CHANS, num_classes, kernel_size=1, bn_eps=BN_EPS,
                           relu=False),
            )
        init_normal_(self, std=INIT_STD)
        if class_names is None and num_classes == len(MSEN_CLASS_NAMES):
            class_names = MSEN_CLASS_NAMES
        self.default_cfg: dict[str, Any] = {
            "kind": "msen" if classify else "saliency",
            "architecture": (f"msen_generator_sononet{width}" if classify
                             else f"ss_att_sononet{width}"),
            "input_hw": MSEN_INPUT_HW,
            "in_chans": in_chans,
            "normalisation": "sononet",
            "inputs": ["frame"],
            "outputs": list(GeneratorOutput._fields if classify else SaliencyOutput._fields),
            "class_names": list(class_names) if classify and class_names is not None else None,
            "num_classes": num_classes if classify else 0,
        }

    def load_sononet_blocks(self, path: str | os.PathLike[str]) -> None:
        """Overwrite blocks 1-3 with those of a SonoNet weights file (``.npz`` or ``.safetensors``).

        The file's width must equal ``sononet_width``; a mismatch raises
        :class:`~sonomtl.errors.InputError` naming the file.
        """
        from sonomtl.models.weights import load_weights, sononet_file_config

        in_chans = self.blocks[0][0][0].in_channels
        num_classes = sononet_file_config(path)["num_classes"]
        sononet = SonoNet(width=self.sononet_width, num_classes=num_classes, in_chans=in_chans)
        load_weights(sononet, path)
        self.blocks.load_state_dict(sononet.blocks[:3].state_dict())

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``phi_c3``: output of SonoNet block 3 ``(N, 4f, H/4, W/4)``."""
        return run_blocks(self.blocks, x)

    def forward(self, x: torch.Tensor) -> GeneratorOutput | SaliencyOutput:
        """Frames ``(N, in_chans, H, W)`` -> maps at ``(H, W)`` (and class logits).

        In training mode with dropout, the batch-norm running statistics are
        collected by an extra forward pass without dropout and without gradient
        (the network as it runs at inference); the training pass itself
        normalises by its batch statistics with dropout, as usual, but does not
        update them. Element-wise dropout after every conv layer shifts the
        variance each next batch norm sees in training away from what it sees
        at inference, and the gate by A-hat compounds it: measured on the demo
        data after 48 steps, running variances 22-76x the inference-time ones
        from the gated block on, which collapsed the eval-mode logits to one
        class (see docs/msen-models.md).
        """
        if self.training and any(isinstance(m, nn.Dropout) for m in self.modules()):
            with torch.no_grad(), _statistics_pass(self):
                self._forward(x)
            with _frozen_statistics(self):
                return self._forward(x)
        return self._forward(x)

    def _forward(self, x: torch.Tensor) -> GeneratorOutput | SaliencyOutput:
        features = self.downsample(self.forward_features(x))
        low_logits = self.saliency_head(self.saliency_branch(features))
        attention_logits = F.interpolate(low_logits, size=x.shape[-2:], mode="bilinear",
                                         align_corners=False)
        attention = torch.sigmoid(attention_logits)
        if self.classification_branch is None:
            return SaliencyOutput(attention_logits, attention)
        gated = self.classification_branch(features) * torch.sigmoid(low_logits)
        logits = self.adaptation(self.fusion_block(gated)).mean(dim=(2, 3))
        return GeneratorOutput(attention_logits, attention, logits)


def msen_generator(
    *,
    num_classes: int = 2,
    in_chans: int = 1,
    pretrained: str | os.PathLike[str] | None = None,
    sononet_width: int = 16,
    dropout: float = 0.2,
    class_names: Sequence[str] | None = None,
) -> MSENGenerator:
    """The M-SEN generator; ``pretrained``: a SonoNet ``.npz``/``.safetensors`` for blocks 1-3."""
    model = MSENGenerator(num_classes=num_classes, in_chans=in_chans, sononet_width=sononet_width,
                          dropout=dropout, class_names=class_names)
    if pretrained is not None:
        model.load_sononet_blocks(pretrained)
    return debias_batchnorm_statistics_(model)


def ss_att_net(
    *,
    in_chans: int = 1,
    pretrained: str | os.PathLike[str] | None = None,
    sononet_width: int = 16,
    dropout: float = 0.2,
) -> MSENGenerator:
    """SS-att: G's saliency path alone (no classification branch).

    Returns :class:`SaliencyOutput` from ``forward``.
    """
    model = MSENGenerator(in_chans=in_chans, sononet_width=sononet_width, dropout=dropout,
                          classify=False)
    if pretrained is not None:
        model.load_sononet_blocks(pretrained)
    return debias_batchnorm_statistics_(model)


def ss_cls_net(
    *, num_classes: int = 2, in_chans: int = 1, sononet_width: int = 16,
    class_names: Sequence[str] | None = None,
) -> SonoNet:
    """SS-cls Net: classifies from the attention map alone.

    Our reading of "single-stream network trained only on attention maps": a
    SonoNet-``sononet_width`` whose input is the (1-channel, 240x240) attention map,
    initialised from N(0, 0.01).
    """
    if class_names is None and num_classes == len(MSEN_CLASS_NAMES):
        class_names = MSEN_CLASS_NAMES
    model = SonoNet(width=sononet_width, num_classes=num_classes, in_chans=in_chans,
                    class_names=None if class_names is None else tuple(class_names))
    init_normal_(model, std=INIT_STD)
    model.default_cfg.update({
        "architecture": f"ss_cls_sononet{sononet_width}", "input_hw": MSEN_INPUT_HW, "crop": None,
        "normalisation": None, "inputs": ["attention"],
    })
    return debias_batchnorm_statistics_(model)


def sononet_baseline(
    *, sononet_width: int = 16, num_classes: int = 2, in_chans: int = 1,
    pretrained: str | Path | None = None, pretrained_blocks: int = 5,
) -> nn.Module:
    """SonoNet-``sononet_width`` for the {ACP, BG} baseline rows of Table 1.

    Its batch-norm running statistics are unbiased moving averages
    (:func:`sonomtl.models.msen.debias_batchnorm_statistics_`), as M-SEN's.
    All layers are drawn from N(0, 0.01); with ``pretrained`` (a SonoNet
    ``.npz``/``.safetensors`` of the same width) its first ``pretrained_blocks``
    conv blocks are loaded (all five by default; 3 gives the part M-SEN's
    generator takes from SonoNet) and the rest, with the 2-class adaptation
    layers, stay new.
    """
    names = MSEN_CLASS_NAMES if num_classes == len(MSEN_CLASS_NAMES) else None
    model = SonoNet(width=sononet_width, num_classes=num_classes, in_chans=in_chans,
                    class_names=names)
    init_normal_(model, std=0.01)
    if not 0 <= pretrained_blocks <= len(model.blocks):
        raise InputError(f"pretrained_blocks: {pretrained_blocks} is not between 0 and "
                         f"{len(model.blocks)} (SonoNet's conv blocks)")
    if pretrained is not None:
        from sonomtl.models.weights import load_weights, sononet_file_config

        file_classes = sononet_file_config(pretrained)["num_classes"]
        source = SonoNet(width=sononet_width, num_classes=file_classes, in_chans=in_chans)
        load_weights(source, pretrained)
        model.blocks[:pretrained_blocks].load_state_dict(
            source.blocks[:pretrained_blocks].state_dict())
    model.default_cfg.update({"input_hw": MSEN_INPUT_HW, "crop": None,
                              "architecture": f"sononet{sononet_width}_acp_bg"})
    return debias_batchnorm_statistics_(model)
