"""Predictor: outputs mapped back to original pixels, measurements in mm, checkpoint loading."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from sonomtl.errors import InputError
from sonomtl.inference.predictor import Predictor, TorchRunner, load_predictor
from tests.inference.helpers import DotModel, dot_config, write_checkpoint


def _predictor(kind: str, **changes) -> Predictor:
    config = dot_config(kind, **changes)
    return Predictor(TorchRunner(DotModel(config.outputs), output_names=config.outputs), config)


def _square(frame: np.ndarray, x0: int, y0: int, size: int) -> tuple[float, float]:
    frame[y0:y0 + size, x0:x0 + size] = 255.0
    return x0 + (size - 1) / 2, y0 + (size - 1) / 2


@pytest.mark.parametrize(("spacing", "size"), [(0.5, 3), (0.25, 6)])
def test_landmarks_return_to_original_pixels_and_measure_in_mm(spacing, size):
    # Frames resampled to 0.5 mm then zero-padded to 64x64: a factor 1 and a factor 2 case.
    scale = round(0.5 / spacing)
    frame = np.zeros((50 * scale, 60 * scale), dtype=np.float32)
    first = _square(frame, 9 * scale, 19 * scale, size)
    second = _square(frame, 49 * scale, 29 * scale, size)
    [result] = _predictor("abdominal").predict_frames([frame], spacings_mm=[spacing])
    assert result.landmarks["a_1"] == pytest.approx(list(first), abs=1e-6)
    assert result.landmarks["a_2"] == pytest.approx(list(second), abs=1e-6)
    expected_mm = math.hypot(second[0] - first[0], second[1] - first[1]) * spacing
    assert result.measurements_mm["A"] == pytest.approx(expected_mm, abs=1e-6)


def test_anisotropic_spacing_scales_each_axis():
    frame = np.zeros((60, 60), dtype=np.float32)
    first = _square(frame, 9, 9, 3)
    second = _square(frame, 49, 49, 3)
    predictor = _predictor("abdominal", target_spacing_mm=None)  # plain resize, no resampling
    [result] = predictor.predict_frames([frame], spacings_mm=[(0.2, 0.4)])
    dx, dy = (second[0] - first[0]) * 0.2, (second[1] - first[1]) * 0.4
    # 60 -> 64 linear upsampling blurs the squares: the thresholded mean moves < 0.2 px
    assert result.landmarks["a_1"] == pytest.approx(list(first), abs=0.2)
    assert result.measurements_mm["A"] == pytest.approx(math.hypot(dx, dy), abs=0.05)


def test_attention_peak_and_map_return_to_original_pixels():
    rows, cols = np.mgrid[0:128, 0:128]
    centre = (40.5, 80.5)  # lands on model pixel (20, 40) after the 2x downscale
    frame = 255 * np.exp(-((cols - centre[0]) ** 2 + (rows - centre[1]) ** 2) / (2 * 6.0 ** 2))
    [result] = _predictor("msen").predict_frames([frame.astype(np.float32)])
    assert result.attention_peak_xy == pytest.approx(centre, abs=1e-9)
    assert result.attention.shape == (128, 128)
    peak_row, peak_col = np.unravel_index(np.argmax(result.attention), (128, 128))
    assert abs(peak_col - centre[0]) <= 1 and abs(peak_row - centre[1]) <= 1
    # probabilities are softmax([10 * mean(x / 255), 0])
    p = 1 / (1 + math.exp(-10 * float(np.mean(frame / 255.0))))
    assert result.probabilities["plane"] == pytest.approx(p, rel=1e-3)


def test_unknown_pixel_size_is_refused_only_when_measuring():
    frame = np.zeros((60, 60), dtype=np.float32)
    predictor = _predictor("abdominal", target_spacing_mm=None)
    with pytest.raises(InputError, match="pixel size unknown"):
        predictor.predict_frames([frame], file="f.png")
    [result] = predictor.predict_frames([frame], measure=False)
    assert result.measurements_mm == {}


def test_resampling_model_needs_the_pixel_size_even_without_measurements():
    with pytest.raises(InputError, match="resamples frames to 0.5 mm"):
        _predictor("abdominal").predict_frames([np.zeros((60, 60), np.float32)], measure=False)


def test_checkpoint_predictor_rebuilds_preprocessing(msen_run):
    predictor = load_predictor(msen_run)
    assert predictor.config.kind == "msen" and predictor.config.input_hw == (64, 64)
    assert predictor.config.class_names == ("ACP", "BG")
    rng = np.random.default_rng(1)
    [result] = predictor.predict_frames([rng.uniform(0, 255, (80, 100)).astype(np.float32)])
    assert sum(result.probabilities.values()) == pytest.approx(1.0)
    assert result.attention.shape == (80, 100)


def test_newer_checkpoint_format_is_refused(tmp_path):
    from sonomtl.models.msen import msen_generator

    run = write_checkpoint(tmp_path / "run", {"G": ("msen", {"sononet_width": 4},
                                                    msen_generator(sononet_width=4))},
                           format_version=99)
    with pytest.raises(InputError, match="format version 99 is newer"):
        load_predictor(run)


def test_checkpoint_of_another_model_type_is_refused(tmp_path):
    from sonomtl.models.registry import build_model

    model = build_model("attention_discriminator")
    run = write_checkpoint(tmp_path / "run", {"G": ("attention_discriminator", {}, model)})
    with pytest.raises(InputError, match="not supported by predict"):
        load_predictor(run)


def test_onnx_export_matches_torch_and_carries_its_preprocessing(msen_run, tmp_path):
    from sonomtl.inference.export import export_onnx
    from sonomtl.inference.predictor import load_model

    module, config, _ = load_model(msen_run)
    path = tmp_path / "msen.onnx"
    rng = np.random.default_rng(0)
    batch = rng.normal(0, 1, (3, 1, 64, 64)).astype(np.float32)  # batch 3: dynamic axis
    report = export_onnx(module, config, path, test_inputs=batch)
    assert max(report.max_abs_diff_vs_torch.values()) < 1e-4
    import onnx

    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    assert model.opset_import[0].version >= 17
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    props = {p.key: json.loads(p.value) for p in model.metadata_props if p.key == "sonomtl_config"}
    assert props["sonomtl_config"]["input_hw"] == [64, 64]
    frame = rng.uniform(0, 255, (70, 90)).astype(np.float32)
    [from_torch] = load_predictor(msen_run).predict_frames([frame])
    [from_onnx] = load_predictor(path, backend="onnx").predict_frames([frame])
    for name, p in from_torch.probabilities.items():
        assert from_onnx.probabilities[name] == pytest.approx(p, abs=1e-4)
    assert from_onnx.attention_peak_xy == pytest.approx(from_torch.attention_peak_xy, abs=1e-6)


@pytest.mark.parametrize(("preprocessing", "message"), [
    ({"input_hw": "abc"}, "input_hw must be 2 integers >= 1"),
    ({"input_hw": [0, 64]}, "input_hw must be 2 integers >= 1"),
    ({"input_hw": [64, 64], "crop": "xyz"}, "crop must be 4 integers >= 0"),
    ({"input_hw": [64, 64], "normalisation": "bogus"}, "normalisation must be one of"),
    ({"input_hw": [64, 64], "normalisation": {"mean": 0}}, "normalisation must be one of"),
    ({"input_hw": [64, 64], "normalisation": {"mean": 0, "std": 0}}, "normalisation must be"),
    ({"input_hw": [64, 64], "heatmap_threshold": 2}, "heatmap_threshold must be in"),
])
def test_malformed_preprocessing_in_a_checkpoint_is_one_clear_error(tmp_path, preprocessing,
                                                                    message):
    from sonomtl.models.msen import msen_generator

    run = write_checkpoint(tmp_path / "run", {"G": ("msen", {"sononet_width": 4},
                                                    msen_generator(sononet_width=4))},
                           preprocessing=preprocessing)
    with pytest.raises(InputError, match=f"malformed preprocessing: {message}") as caught:
        load_predictor(run)
    assert str(run) in str(caught.value)


def test_an_input_size_the_model_cannot_take_fails_per_file_and_the_run_goes_on(tmp_path, capsys):
    from PIL import Image

    from sonomtl.cli import main
    from sonomtl.models.msen import msen_generator

    run = write_checkpoint(tmp_path / "run", {"G": ("msen", {"sononet_width": 4},
                                                    msen_generator(sononet_width=4))},
                           preprocessing={"input_hw": [7, 9]})
    with pytest.raises(InputError, match="cannot take a 7x9 input"):
        load_predictor(run).predict_frames([np.zeros((40, 40), np.float32)], file="f.png")
    frames = [tmp_path / "a.png", tmp_path / "b.png"]
    for frame in frames:
        Image.new("L", (40, 40)).save(frame)
    assert main(["predict", str(run), *map(str, frames), "--out", str(tmp_path / "out"),
                 "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert all(f"{frame}: the model cannot take a 7x9 input" in err for frame in frames)


def test_class_names_that_do_not_match_the_logits_are_refused(tmp_path):
    from sonomtl.models.msen import msen_generator

    run = write_checkpoint(tmp_path / "run", {"G": ("msen", {"sononet_width": 4},
                                                    msen_generator(sononet_width=4))},
                           preprocessing={"input_hw": [64, 64], "classes": ["ACP"]})
    with pytest.raises(InputError, match="gives 2 class scores but its preprocessing names 1"):
        load_predictor(run).predict_frames([np.zeros((40, 40), np.float32)])


def test_an_fp32_export_that_differs_from_pytorch_is_refused_and_not_written(tmp_path):
    # a model whose traced graph froze a value that eager PyTorch then changes: the export
    # would silently give other outputs
    from sonomtl.inference.export import export_onnx
    from tests.inference.helpers import DotModel, dot_config

    class Drifting(DotModel):
        def __init__(self):
            super().__init__(("logits",))
            self.calls = 0

        def forward(self, x):
            self.calls += 1
            return {"logits": super().forward(x)["logits"] + 0.01 * self.calls}

    path = tmp_path / "drift.onnx"
    with pytest.raises(InputError, match="'logits' differs from PyTorch by 0.0"):
        export_onnx(Drifting(), dot_config("classifier"), path)
    assert not path.exists()
