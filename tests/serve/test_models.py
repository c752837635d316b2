"""MODEL arguments, model cards, and loading for the server."""

from __future__ import annotations

import pytest

from sonomtl.errors import InputError
from sonomtl.serve.models import parse_model_spec, weights_digest
from sonomtl.serve.server import load_models
from tests.serve.conftest import write_tiny_msen_run


@pytest.mark.parametrize(("spec", "expected"), [
    ("runs/msen/", ("msen", "runs/msen/")),
    ("export/hc18.onnx", ("hc18", "export/hc18.onnx")),
    ("ckpt/step-100.safetensors", ("step-100", "ckpt/step-100.safetensors")),
    ("head=a=b.onnx", ("head", "a=b.onnx")),
])
def test_model_names_come_from_the_spec_or_the_source(spec, expected):
    assert parse_model_spec(spec) == expected


@pytest.mark.parametrize("spec", ["=runs/msen", "bad name=runs/x", "x="])
def test_a_malformed_model_spec_is_refused(spec):
    with pytest.raises(InputError, match=r"\[NAME=\]SOURCE with NAME of letters"):
        parse_model_spec(spec)


def test_the_weights_digest_is_the_files_sha256(tmp_path):
    import hashlib

    path = tmp_path / "m.onnx"
    path.write_bytes(b"weights")
    assert weights_digest(str(path)) == hashlib.sha256(b"weights").hexdigest()[:12]
    assert weights_digest("msen") == "untrained"


def test_load_models_builds_cards_and_refuses_twin_names(tmp_path):
    run = write_tiny_msen_run(tmp_path / "run")
    (model,) = load_models([f"plane={run}"])
    try:
        card = model.card
        assert (card.name, card.kind, card.input_hw, card.class_names) == (
            "plane", "msen", [64, 64], ["ACP", "BG"])
        assert card.source == str(run) and card.backend == "torch"
        assert card.version.startswith("sonomtl-0.1.0+") and len(card.version) == 14 + 12
        assert model.batcher.predict_frames([]) == []
    finally:
        model.batcher.close()
    with pytest.raises(InputError, match="two models are named 'plane'"):
        load_models([f"plane={run}", f"plane={run}"])
    with pytest.raises(InputError, match="model 'nothing' cannot be loaded"):
        load_models([str(tmp_path / "nothing")])

