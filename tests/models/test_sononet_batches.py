"""``sonomtl sononet classify`` on a batch with bad images: the good ones are still printed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sonomtl.cli import main
from sonomtl.errors import InputError
from sonomtl.inference.sononet_classify import classify_images, iter_classify_images
from sonomtl.models.sononet import SONONET_CLASS_NAMES, SonoNet
from sonomtl.models.weights import save_safetensors


@pytest.fixture(scope="module")
def small_weights(tmp_path_factory) -> Path:
    """A SonoNet of width 4 (14 classes) saved as .safetensors: fast, no shared data needed."""
    torch.manual_seed(0)
    model = SonoNet(width=4, num_classes=14, in_chans=1, class_names=SONONET_CLASS_NAMES).eval()
    return save_safetensors(model, tmp_path_factory.mktemp("w") / "sononet4.safetensors")


@pytest.fixture()
def batch(tmp_path) -> dict[str, Path]:
    """Three good images (different content), a truncated PNG, a text file, a missing file."""
    rng = np.random.default_rng(1)
    files = {}
    for name in ("a", "b", "c"):
        files[name] = tmp_path / f"{name}.png"
        Image.fromarray(rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)).save(files[name])
    files["truncated"] = tmp_path / "truncated.png"
    files["truncated"].write_bytes(files["a"].read_bytes()[:60])
    files["text"] = tmp_path / "notes.png"
    files["text"].write_text("not an image")
    files["missing"] = tmp_path / "missing.png"
    return files


def test_bad_images_are_yielded_as_input_errors_in_order_and_the_rest_classified(
    small_weights, batch
):
    order = ["a", "truncated", "b", "text", "missing", "c"]
    outcomes = list(iter_classify_images([batch[k] for k in order], weights=small_weights,
                                         crop=None, batch_size=2))
    assert [isinstance(o, InputError) for o in outcomes] == [False, True, False, True, True, False]
    assert [Path(o["file"]).name for o in outcomes if isinstance(o, dict)] == [
        "a.png", "b.png", "c.png"]
    assert [Path(o.file).name for o in outcomes if isinstance(o, InputError)] == [
        "truncated.png", "notes.png", "missing.png"]
    # each image's probabilities do not depend on its batch neighbours or the bad images
    alone = classify_images([batch["b"]], weights=small_weights, crop=None)[0]
    assert outcomes[2]["probabilities"] == pytest.approx(alone["probabilities"], abs=1e-6)
    assert sum(outcomes[2]["probabilities"].values()) == pytest.approx(1.0)


def test_classify_images_still_raises_the_first_bad_image(small_weights, batch):
    with pytest.raises(InputError, match="truncated.png"):
        classify_images([batch["a"], batch["truncated"], batch["text"]], weights=small_weights,
                        crop=None)


def test_cli_prints_the_good_images_lists_the_bad_ones_and_exits_2(small_weights, batch, capsys):
    order = ["a", "truncated", "b", "text", "c"]
    status = main(["sononet", "classify", "--weights", str(small_weights), "--crop", "none",
                   *(str(batch[k]) for k in order)])
    captured = capsys.readouterr()
    assert status == 2
    printed = [json.loads(line) for line in captured.out.splitlines()]
    assert [Path(o["file"]).name for o in printed] == ["a.png", "b.png", "c.png"]
    errors = captured.err.splitlines()
    assert len(errors) == 3 and "Traceback" not in captured.err
    assert errors[0].startswith(f"sonomtl: error: {batch['truncated']}: cannot read as an image")
    assert errors[1].startswith(f"sonomtl: error: {batch['text']}: cannot read as an image")
    assert errors[2] == "sonomtl: error: 2 input(s) failed (of 5)"


class _CountingPaths(list):
    """A list of paths that counts how many of them were handed out so far."""

    handed_out = 0

    def __iter__(self):
        for path in super().__iter__():
            self.handed_out += 1
            yield path


def test_each_batch_is_yielded_before_the_next_image_is_read(small_weights, batch):
    # the CLI prints as this generator yields: the first batch of 2 comes out once its
    # second path was handed out, before the third one is read
    paths = _CountingPaths([batch["a"], batch["b"], batch["c"], batch["a"], batch["b"],
                            batch["c"]])
    outcomes = iter_classify_images(paths, weights=small_weights, crop=None, batch_size=2)
    first = next(outcomes)
    assert Path(first["file"]).name == "a.png" and paths.handed_out == 2
    assert Path(next(outcomes)["file"]).name == "b.png" and paths.handed_out == 2
    assert len(list(outcomes)) == 4 and paths.handed_out == 6
