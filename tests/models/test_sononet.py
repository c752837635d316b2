"""SonoNet: the published architecture, the official weights, the reference pipeline."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from sonomtl.cli import main
from sonomtl.errors import InputError
from sonomtl.inference.sononet_classify import classify_images, parse_crop, preprocess_sononet_frame
from sonomtl.models import build_model
from sonomtl.models.sononet import SONONET_CLASS_NAMES, sononet16, sononet32
from sonomtl.models.weights import load_weights, read_safetensors, save_safetensors

FILE_LABELS = {
    "3VV": "3VV", "4CH": "4CH", "ABDOMINAL": "Abdominal", "BRAIN-CB": "Brain (Cb.)",
    "BRAIN-TV": "Brain (Tv.)", "FEMUR": "Femur", "KIDNEYS": "Kidneys", "LIPS": "Lips",
    "LVOT": "LVOT", "PROFILE": "Profile", "RVOT": "RVOT", "SPINE-CORONAL": "Spine (cor.)",
    "SPINE-SAGITTAL": "Spine (sag.)",
}

# Published reference probabilities (SonoNet-16, authors' preprocessing).
REFERENCE = {
    "ABDOMINAL": {"3VV": 0.0001, "4CH": 0.0007, "Abdominal": 0.8767, "Background": 0.1187,
                  "Brain (Tv.)": 0.0015, "LVOT": 0.0015},
    "3VV": {"3VV": 0.5701, "RVOT": 0.4166, "LVOT": 0.0061, "Background": 0.0022, "4CH": 0.0016},
    "LIPS": {"Lips": 0.6600, "Background": 0.3139, "Femur": 0.0141, "Spine (sag.)": 0.0031,
             "Profile": 0.0027, "3VV": 0.0021, "Kidneys": 0.0020},
}


def _hand_count(f: int, num_classes: int = 14) -> int:
    """Conv weights (no bias) + BN gamma/beta of the 13 + 2 layers of SonoNet-f."""
    widths = [(1, f), (f, f), (f, 2 * f), (2 * f, 2 * f), (2 * f, 4 * f), (4 * f, 4 * f),
              (4 * f, 4 * f), (4 * f, 8 * f)] + [(8 * f, 8 * f)] * 5
    convs = sum(9 * i * o + 2 * o for i, o in widths)
    adaptation = 8 * f * 4 * f + 2 * 4 * f + 4 * f * num_classes + 2 * num_classes
    return convs + adaptation


def test_parameter_counts_match_the_hand_count():
    assert sum(p.numel() for p in sononet16().parameters()) == _hand_count(16) == 930_796
    assert sum(p.numel() for p in sononet32().parameters()) == _hand_count(32)
    assert sum(p.numel() for p in build_model("sononet64", num_classes=3).parameters()) == \
        _hand_count(64, 3)


def test_feature_and_logit_shapes_for_the_published_input_size():
    model = sononet16().eval()
    x = torch.zeros(2, 1, 224, 288)
    assert model.forward_features(x).shape == (2, 128, 14, 18)
    assert model(x).shape == (2, 14)
    assert [len(block) for block in model.blocks] == [2, 2, 3, 3, 3]
    assert model.default_cfg["input_hw"] == (224, 288)
    assert model.default_cfg["class_names"] == list(SONONET_CLASS_NAMES)
    assert model.default_cfg["normalisation"] == "sononet"


def test_every_batch_norm_uses_the_lasagne_epsilon():
    eps = {m.eps for m in sononet16().modules() if isinstance(m, torch.nn.BatchNorm2d)}
    assert eps == {1e-4}


@pytest.fixture(scope="module")
def reference_results(sononet_dir):
    paths = sorted((sononet_dir / "example_images").glob("*.tiff"))
    results = classify_images(paths, weights=sononet_dir / "SonoNet16.npz")
    return {path.stem: result for path, result in zip(paths, results)}


@pytest.mark.shared_data
@pytest.mark.parametrize("frame", sorted(REFERENCE))
def test_official_weights_reproduce_the_published_probabilities(reference_results, frame):
    probabilities = reference_results[frame]["probabilities"]
    assert list(probabilities) == list(SONONET_CLASS_NAMES)
    assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    for label, expected in REFERENCE[frame].items():
        assert probabilities[label] == pytest.approx(expected, abs=1e-3), label
    if frame == "ABDOMINAL":  # "others below 0.001"
        others = set(SONONET_CLASS_NAMES) - set(REFERENCE[frame])
        assert all(probabilities[label] < 1e-3 for label in others)


@pytest.mark.shared_data
def test_all_thirteen_example_frames_are_classified_as_their_file_name_says(reference_results):
    assert len(reference_results) == 13
    found = {stem: result["label"] for stem, result in reference_results.items()}
    assert found == FILE_LABELS


@pytest.mark.shared_data
def test_the_store_name_finds_the_weights_and_labels_all_thirteen_frames(
    sononet_dir, monkeypatch, capsys
):
    """``--weights sononet16``: no path given; the store finds the checked file (offline)."""
    monkeypatch.setenv("SONOMTL_SHARED_DATA", str(sononet_dir.parent))
    monkeypatch.setenv("SONOMTL_OFFLINE", "1")
    monkeypatch.chdir(sononet_dir / "example_images")  # no file named sononet16 here
    paths = sorted(Path(".").glob("*.tiff"))
    assert main(["sononet", "classify", "--weights", "sononet16", *map(str, paths)]) == 0
    objects = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert len(objects) == 13
    assert {Path(o["file"]).stem: o["label"] for o in objects} == FILE_LABELS
    abdominal = next(o for o in objects if Path(o["file"]).stem == "ABDOMINAL")
    assert abdominal["probabilities"]["Abdominal"] == pytest.approx(0.8767, abs=1e-3)


@pytest.mark.shared_data
def test_loaded_batch_norm_computes_lasagnes_formula(sononet_dir):
    arrays = np.load(sononet_dir / "SonoNet16.npz", allow_pickle=False)
    beta, gamma, mean, inv_std = (arrays[f"arr_{i}"] for i in range(1, 5))
    model = sononet16(pretrained=sononet_dir / "SonoNet16.npz").eval()
    bn = model.blocks[0][0][1]
    x = np.random.default_rng(0).normal(size=(1, 16, 5, 7)).astype(np.float32)
    expected = (x - mean[:, None, None]) * (gamma * inv_std)[:, None, None] + beta[:, None, None]
    with torch.no_grad():
        got = bn(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(model.blocks[0][0][0].weight.detach().numpy(), arrays["arr_0"])


@pytest.mark.shared_data
def test_safetensors_round_trip_gives_identical_outputs_and_keeps_the_config(sononet_dir, tmp_path):
    model = sononet16(pretrained=sononet_dir / "SonoNet16.npz").eval()
    path = save_safetensors(model, tmp_path / "sononet16.safetensors", metadata={"source": "npz"})
    state, header = read_safetensors(path)
    assert header["default_cfg"]["class_names"] == list(SONONET_CLASS_NAMES)
    assert header["metadata"] == {"source": "npz"}
    reloaded = sononet16(pretrained=path).eval()
    x = torch.randn(1, 1, 224, 288, generator=torch.Generator().manual_seed(0)) * 255
    with torch.no_grad():
        torch.testing.assert_close(reloaded(x), model(x), rtol=0, atol=0)
    image = sononet_dir / "example_images" / "LIPS.tiff"
    from_npz = classify_images([image], weights=sononet_dir / "SonoNet16.npz")[0]
    from_safetensors = classify_images([image], weights=path)[0]
    assert from_safetensors["probabilities"] == pytest.approx(from_npz["probabilities"], abs=1e-7)


@pytest.mark.shared_data
def test_weights_of_another_width_are_rejected_with_the_file_named(sononet_dir):
    with pytest.raises(InputError, match="SonoNet16.npz"):
        load_weights(sononet32(), sononet_dir / "SonoNet16.npz")


def test_preprocessing_crops_resizes_and_normalises_to_255_std():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, size=(40, 50, 3), dtype=np.uint8)
    x = preprocess_sononet_frame(image, crop=(5, 35, 10, 40), input_hw=(12, 20))
    assert x.shape == (12, 20) and x.dtype == np.float32
    assert float(x.mean()) == pytest.approx(0.0, abs=1e-3)
    assert float(x.std()) == pytest.approx(255.0, rel=1e-5)
    # a grey image gives the same result as its three-channel copy (channel mean)
    grey = image[..., 0]
    np.testing.assert_allclose(
        preprocess_sononet_frame(grey, crop=None, input_hw=(12, 20)),
        preprocess_sononet_frame(np.repeat(grey[..., None], 3, axis=2), crop=None,
                                 input_hw=(12, 20)), atol=1e-3)


def test_crop_text_is_parsed_and_bad_crops_are_input_errors():
    assert parse_crop("115:734,81:874") == (115, 734, 81, 874)
    assert parse_crop("none") is None
    for bad in ("115:734", "a:b,c:d", "10:5,0:3", "1:2,3"):
        with pytest.raises(InputError, match="--crop"):
            parse_crop(bad)


@pytest.mark.shared_data
def test_cli_prints_one_json_object_per_image(sononet_dir, capsys):
    images = [sononet_dir / "example_images" / name for name in ("FEMUR.tiff", "LVOT.tiff")]
    status = main(["sononet", "classify", "--weights", str(sononet_dir / "SonoNet16.npz"),
                   *map(str, images)])
    assert status == 0
    lines = capsys.readouterr().out.strip().splitlines()
    objects = [json.loads(line) for line in lines]
    assert [o["label"] for o in objects] == ["Femur", "LVOT"]
    assert [o["file"] for o in objects] == [str(p) for p in images]
    assert all(len(o["probabilities"]) == 14 for o in objects)


@pytest.mark.shared_data
@pytest.mark.parametrize("case", ["missing", "corrupt", "bad_crop", "crop_outside", "bad_weights"])
def test_cli_bad_input_exits_2_with_one_line(sononet_dir, tmp_path, capsys, case):
    weights = str(sononet_dir / "SonoNet16.npz")
    good = str(sononet_dir / "example_images" / "FEMUR.tiff")
    corrupt = tmp_path / "corrupt.tiff"
    corrupt.write_bytes(b"II*\x00 not really a tiff")
    argv = {
        "missing": ["--weights", weights, str(tmp_path / "nope.tiff")],
        "corrupt": ["--weights", weights, str(corrupt)],
        "bad_crop": ["--weights", weights, "--crop", "1:2", good],
        "crop_outside": ["--weights", weights, "--crop", "0:900,0:100", good],
        "bad_weights": ["--weights", str(corrupt.with_suffix(".npz")), good],
    }[case]
    if case == "bad_weights":
        corrupt.with_suffix(".npz").write_bytes(b"not a zip")
    assert main(["sononet", "classify", *argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1
    assert captured.err.startswith("sonomtl: error: ")
    assert "Traceback" not in captured.err
