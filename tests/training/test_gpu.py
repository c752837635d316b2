"""The engine on a CUDA device in mixed precision (skipped on machines without one: run on the
device machine by benchmarks/gpu_checks.sh). A checkpoint trained there loads and predicts on a
CPU, as a model trained on a GPU server and deployed next to a scanner must."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from sonomtl.config import load_config
from sonomtl.training.run import train

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

EXAMPLE = Path(__file__).resolve().parents[2] / "sonomtl" / "configs" / "example.yaml"


@pytest.mark.parametrize("precision", ["bf16-mixed", "16-mixed"])
def test_mixed_precision_run_on_the_gpu_loads_and_predicts_on_the_cpu(tmp_path, precision):
    from sonomtl.inference.predictor import TorchRunner, load_model

    overrides = [f"out_dir={tmp_path}", "name=gpu", "trainer.accelerator=gpu",
                 f"trainer.precision={precision}", "trainer.progress_bar=false"]
    result = train(load_config(EXAMPLE, overrides))
    assert result.metrics and all(math.isfinite(v) for v in result.metrics.values())
    checkpoints = sorted((tmp_path / "gpu" / "checkpoints").glob("step-*.safetensors"))
    weights = load_file(checkpoints[-1])  # on the CPU, as safetensors gives them
    floats = [t for t in weights.values() if t.is_floating_point()]
    assert floats and all(t.dtype == torch.float32 and t.device.type == "cpu" for t in floats)
    module, config, _ = load_model(tmp_path / "gpu")
    batch = np.random.default_rng(0).normal(0, 1, (2, config.in_chans, *config.input_hw))
    on_cpu = TorchRunner(module, output_names=config.outputs)(batch.astype(np.float32))
    on_gpu = TorchRunner(module, output_names=config.outputs, device="cuda")(
        batch.astype(np.float32))
    for name, value in on_cpu.items():
        assert np.isfinite(value).all()
        np.testing.assert_allclose(on_gpu[name], value, atol=1e-3, rtol=1e-3)
