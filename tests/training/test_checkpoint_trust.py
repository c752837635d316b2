"""A checkpoint is untrusted data: it rebuilds registered networks only, and bad ones are refused.

Loading must never call an arbitrary function of the package with the file's
arguments, never unpickle, and a malformed file is one clear error naming it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from sonomtl.cli import main
from sonomtl.errors import InputError
from sonomtl.training.checkpoint import (
    CheckpointPaths,
    load_checkpoint_modules,
    load_training_state,
)


def _checkpoint(path: Path, metadata) -> Path:
    save_file({"G.weight": torch.zeros(2, 2)}, str(path),
              metadata={"sonomtl": json.dumps(metadata)})
    return path


def test_a_checkpoint_cannot_call_an_unregistered_function(tmp_path, capsys):
    target = tmp_path / "written.txt"
    weights = _checkpoint(tmp_path / "evil.safetensors", {
        "format_version": 1,
        "modules": {"G": {"model": "sonomtl.fileio:write_text",
                          "kwargs": {"target": str(target), "text": "owned"}}}})
    with pytest.raises(InputError, match="not a registered model") as caught:
        load_checkpoint_modules(weights)
    assert caught.value.field == "modules.G.model"
    image = tmp_path / "frame.png"
    from PIL import Image

    Image.new("L", (32, 32)).save(image)
    assert main(["predict", str(weights), str(image), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a registered model" in err[0] and "Traceback" not in err[0]
    assert not target.exists()


def test_a_checkpoint_cannot_name_an_unregistered_task(tmp_path):
    weights = _checkpoint(tmp_path / "task.safetensors", {
        "format_version": 1, "modules": {"G": {"model": "msen", "kwargs": {}}},
        "task": {"name": "sonomtl.fileio:write_json", "params": {}}})
    with pytest.raises(InputError, match="not a registered task"):
        load_checkpoint_modules(weights)


@pytest.mark.parametrize(("metadata", "message"), [
    ([1, 2], "not a JSON object"),
    ({"format_version": "1", "modules": {}}, "format version '1' is not a positive integer"),
    ({"modules": {"G": {"model": "msen"}}}, "format version None is not a positive integer"),
    ({"format_version": 1, "modules": ["G"]}, "lists no modules"),
    ({"format_version": 1, "modules": {"G": None}}, "expected {model: name"),
    ({"format_version": 1, "modules": {"G": {"model": "msen", "kwargs": [1]}}},
     "expected {model: name"),
    ({"format_version": 1, "modules": {"G": {"model": "msen", "kwargs": {"width": 3}}}},
     "cannot rebuild module 'G'"),
    ({"format_version": 1, "modules": {"G": {"model": "msen", "kwargs": {}}}},
     "the weights do not fit the model: tensor G."),
    ({"format_version": 1, "modules": {"G": {"model": "msen", "kwargs": {}}},
      "preprocessing": [1]}, "expected a JSON object"),
])
def test_malformed_metadata_is_one_clear_error_naming_the_file(tmp_path, metadata, message):
    weights = _checkpoint(tmp_path / "bad.safetensors", metadata)
    with pytest.raises(InputError, match=message.replace("{", r"\{").replace("(", r"\(")) as caught:
        load_checkpoint_modules(weights)
    assert str(weights) in str(caught.value)


@pytest.mark.parametrize("content", [b"", b"not a pickle at all"])
def test_a_damaged_training_state_is_refused_naming_it(tmp_path, content):
    paths = CheckpointPaths(tmp_path, step=3)
    paths.state.write_bytes(content)
    with pytest.raises(InputError, match="cannot read the training state") as caught:
        load_training_state(paths)
    assert str(paths.state) in str(caught.value)


def test_a_pickled_object_in_the_training_state_is_not_unpickled(tmp_path):
    import os
    import pickle

    class Boom:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "ran"),))

    paths = CheckpointPaths(tmp_path, step=1)
    paths.state.write_bytes(pickle.dumps({"step": Boom()}, protocol=2))
    with pytest.raises(InputError, match="cannot read the training state"):
        load_training_state(paths)
    assert not (tmp_path / "ran").exists()
