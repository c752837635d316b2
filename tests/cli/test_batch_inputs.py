"""Batch commands go on past bad inputs: ``data check`` and ``sononet classify`` with a
truncated PNG, a text file named ``.png`` and a decompression bomb beside good images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sonomtl.cli import main
from sonomtl.models.sononet import SONONET_CLASS_NAMES, SonoNet
from sonomtl.models.weights import save_safetensors
from tests.fuzz.test_fuzz_model_files import png_claiming


@pytest.fixture()
def images(tmp_path) -> dict[str, Path]:
    rng = np.random.default_rng(3)
    files = {}
    for name in ("good1", "good2"):
        files[name] = tmp_path / f"{name}.png"
        Image.fromarray(rng.integers(0, 255, (40, 50), dtype=np.uint8)).save(files[name])
    files["truncated"] = tmp_path / "truncated.png"
    files["truncated"].write_bytes(files["good1"].read_bytes()[:70])
    files["text"] = tmp_path / "text.png"
    files["text"].write_text("hello")
    files["bomb"] = tmp_path / "bomb.png"
    files["bomb"].write_bytes(png_claiming(20_000, 20_000))
    return files


def test_data_check_lists_every_bad_image_and_exits_2(images, tmp_path, capsys):
    folder = tmp_path
    (folder / "dataset.yaml").write_text("name: t\nclasses: [a]\n")
    rows = [f"{p.name},s{i},a" for i, p in enumerate(images.values())]
    (folder / "manifest.csv").write_text("image,subject,label\n" + "\n".join(rows) + "\n")
    assert main(["data", "check", str(folder)]) == 2
    captured = capsys.readouterr()
    errors = captured.err.splitlines()
    assert len(errors) == 3 and "Traceback" not in captured.err
    assert [line.split("row ")[1][0] for line in errors] == ["4", "5", "6"]  # header = row 1
    assert "truncated.png" in errors[0] and "text.png" in errors[1]
    assert "bomb.png" in errors[2] and "too large" in errors[2]
    assert "3 error(s); 5 frames" in captured.out  # every row is still checked


def test_sononet_classify_prints_the_good_images_around_a_bomb(images, tmp_path, capsys):
    torch.manual_seed(0)
    model = SonoNet(width=4, num_classes=14, in_chans=1, class_names=SONONET_CLASS_NAMES)
    weights = save_safetensors(model.eval(), tmp_path / "w.safetensors")
    order = ["good1", "bomb", "truncated", "text", "good2"]
    status = main(["sononet", "classify", "--weights", str(weights), "--crop", "none",
                   *(str(images[k]) for k in order)])
    captured = capsys.readouterr()
    assert status == 2
    assert [Path(json.loads(line)["file"]).name for line in captured.out.splitlines()] == [
        "good1.png", "good2.png"]
    errors = captured.err.splitlines()
    assert [e.split(": ")[2].rsplit("/", 1)[-1] for e in errors[:3]] == [
        "bomb.png", "truncated.png", "text.png"]
    assert errors[3] == "sonomtl: error: 3 input(s) failed (of 5)"
