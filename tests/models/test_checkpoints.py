"""Reading checkpoints back with the model registry alone, old files included.

``data/legacy_example_1835820.safetensors`` was written by sonomtl at commit
1835820 (before the toy networks moved into ``models/``):
``sonomtl train configs/example.yaml stages.pretrain.epochs=1``, last step.
Its metadata names the factories by their old paths. The expected numbers were
computed by that commit's own loader on the same input.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from sonomtl.errors import InputError
from sonomtl.models.checkpoints import load_checkpoint_module, read_model_metadata

LEGACY = Path(__file__).parent / "data" / "legacy_example_1835820.safetensors"


def test_a_checkpoint_written_before_the_move_loads_with_the_registry_alone():
    metadata = read_model_metadata(LEGACY)
    assert metadata["modules"]["G"]["model"] == "sonomtl.training.example:tiny_generator"
    generator = load_checkpoint_module(LEGACY, "G", metadata)
    discriminator = load_checkpoint_module(LEGACY, "D")
    x = torch.linspace(0, 1, 256).reshape(1, 1, 16, 16)
    with torch.no_grad():
        out = generator(x)
        judged = discriminator(torch.cat([x, out["attention"]], 1))
    assert out["logits"][0].tolist() == pytest.approx([0.1475047469139099, 0.15004651248455048],
                                                   abs=1e-7)
    assert float(out["attention"].sum()) == pytest.approx(141.53468322753906, rel=1e-6)
    assert float(judged) == pytest.approx(0.5732770562171936, abs=1e-7)
    assert not generator.training


def test_the_training_loader_rebuilds_the_same_modules_through_its_task():
    from sonomtl.training.checkpoint import load_checkpoint_modules

    modules, _ = load_checkpoint_modules(LEGACY)
    alone = load_checkpoint_module(LEGACY, "G")
    for key, value in alone.state_dict().items():
        assert torch.equal(value, modules["G"].state_dict()[key]), key


def test_sononets_earlier_weights_argument_is_read_as_pretrained_and_switched_off(tmp_path):
    from safetensors.torch import save_file

    from sonomtl.models.registry import build_model

    model = build_model("sononet16", num_classes=2)
    path = tmp_path / "old.safetensors"
    metadata = {"format_version": 1, "modules": {"G": {"model": "sononet16", "kwargs": {
        "num_classes": 2, "weights": "sononet/SonoNet16.npz"}}}, "task": {}, "preprocessing": {}}
    save_file({f"G.{k}": v.contiguous() for k, v in model.state_dict().items()}, str(path),
              metadata={"sonomtl": json.dumps(metadata)})
    rebuilt = load_checkpoint_module(path, "G")  # the npz is never opened: None is passed
    for key, value in model.state_dict().items():
        assert torch.equal(value, rebuilt.state_dict()[key]), key


def test_a_module_the_file_lacks_or_an_unregistered_model_is_one_input_error(tmp_path):
    from safetensors.torch import save_file

    with pytest.raises(InputError, match="has no module 'net'"):
        load_checkpoint_module(LEGACY, "net")
    path = tmp_path / "evil.safetensors"
    metadata = {"format_version": 1, "modules": {"G": {"model": "os:system", "kwargs": {}}}}
    save_file({"G.x": torch.zeros(1)}, str(path), metadata={"sonomtl": json.dumps(metadata)})
    with pytest.raises(InputError, match="not a registered model"):
        read_model_metadata(path)
