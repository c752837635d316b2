"""Small models, checkpoints and inputs for the inference tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from sonomtl.inference.config import InferenceConfig


class DotModel(nn.Module):
    """A stand-in network whose outputs are known functions of the input.

    ``heatmaps`` channel 0 is the input's left half, channel 1 its right half
    (so a bright dot in each half is a landmark); ``attention`` is the input;
    ``logits`` are ``[10 * mean(x), 0]`` (bright frames -> class 0).
    """

    def __init__(self, outputs: tuple[str, ...]) -> None:
        super().__init__()
        self.outputs = outputs

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        grey = x[:, :1]
        cols = x.shape[-1]
        left = torch.zeros_like(grey)
        left[..., : cols // 2] = 1
        logits = torch.stack([10 * grey.mean(dim=(1, 2, 3)), torch.zeros(x.shape[0])], dim=1)
        out = {"heatmaps": torch.cat([grey * left, grey * (1 - left)], dim=1),
               "attention": grey, "attention_logits": grey, "logits": logits,
               "view_logits": logits}
        return {k: out[k] for k in self.outputs}


def dot_config(kind: str, **changes) -> InferenceConfig:
    base = dict(kind=kind, architecture=f"dot_{kind}", input_hw=(64, 64),
                normalisation={"mean": 0.0, "std": 255.0}, class_names=("plane", "BG"))
    if kind == "abdominal":
        base.update(outputs=("view_logits", "heatmaps"), landmark_names=("a_1", "a_2"),
                    measurements={"A": {"type": "distance", "landmarks": ["a_1", "a_2"]}},
                    target_spacing_mm=0.5)
    elif kind == "msen":
        base.update(outputs=("attention_logits", "attention", "logits"))
    base.update(changes)
    return InferenceConfig(**base)


def blob_frame(hw: tuple[int, int], centres_xy, *, half: int = 1, value: float = 255.0):
    """A black frame with bright squares of side ``2 * half + 1`` centred on integer points."""
    frame = np.zeros(hw, dtype=np.float32)
    for x, y in centres_xy:
        frame[y - half: y + half + 1, x - half: x + half + 1] = value
    return frame


def scaled_init_(module: nn.Module, seed: int = 0) -> nn.Module:
    """He-normal conv weights so that a small random network gives O(1), input-dependent outputs."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in module.modules():
            if isinstance(layer, nn.Conv2d):
                fan_in = layer.weight[0].numel()
                layer.weight.copy_(torch.randn(layer.weight.shape, generator=generator)
                                   * (2.0 / fan_in) ** 0.5)
    return module


def write_checkpoint(folder: Path, modules: dict[str, tuple[str, dict, nn.Module]],
                     *, preprocessing: dict | None = None, format_version: int = 1) -> Path:
    """A run's checkpoint through the engine's own API; returns the run folder."""
    from sonomtl.training.checkpoint import save_checkpoint

    metadata = {"format_version": format_version, "run_name": folder.name,
                "modules": {n: {"model": m, "kwargs": kw} for n, (m, kw, _) in modules.items()},
                "task": {},
                "preprocessing": preprocessing or {}}
    save_checkpoint(folder / "checkpoints", step=1,
                    modules={n: mod for n, (_, _, mod) in modules.items()},
                    metadata=metadata, state={"step": torch.tensor(1)}, keep_last=1)
    return folder
