"""Fuzzing what a model file says about itself: ONNX ``sonomtl_config`` metadata, checkpoint
(safetensors) ``sonomtl`` metadata, and image headers (mutated bytes of real small images)."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from PIL import Image

from sonomtl.data.io import read_image
from sonomtl.errors import InputError
from sonomtl.inference.config import InferenceConfig
from sonomtl.inference.predictor import ONNX_CONFIG_KEY, read_onnx_config
from sonomtl.training.checkpoint import read_metadata
from tests.fuzz.conftest import data_or_input_error, fuzz_settings

#: What `sonomtl export` writes for an M-SEN generator (SonoNet-4 trunk, 64x64 input).
VALID_CONFIG = {
    "kind": "msen", "architecture": "msen_generator_sononet4", "input_hw": [64, 64],
    "in_chans": 1, "outputs": ["attention_logits", "attention", "logits"], "crop": None,
    "target_spacing_mm": None, "normalisation": "sononet", "mask_rects": [],
    "class_names": ["ACP", "BG"], "landmark_names": None, "view_landmarks": {},
    "measurements": {}, "heatmap_threshold": 0.75, "flip_test_permutation": None}

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2 ** 70), 2 ** 70),
                         st.floats(), st.text(max_size=8),
                         st.sampled_from(["auto", "sononet", "msen", "abdominal", "logits"]))
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=10)
# a valid config with some keys replaced, removed or added
configs = st.builds(
    lambda changes, removed: {**{k: v for k, v in VALID_CONFIG.items() if k not in removed},
                              **changes},
    st.dictionaries(st.sampled_from([*VALID_CONFIG, "extra"]), json_values, max_size=3),
    st.sets(st.sampled_from(list(VALID_CONFIG)), max_size=2))


def _config_text(config) -> str:
    return json.dumps(config)  # Python's JSON writes NaN/Infinity, as a hand edit might


@pytest.fixture(scope="module")
def onnx_model():
    """A one-node ONNX model (Identity) to carry metadata."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 4, 4])])
    return onnx.helper.make_model(graph)


@fuzz_settings(300)
@given(config=st.one_of(configs, json_values))
# hand-picked edge cases
@example(config=VALID_CONFIG)
@example(config={**VALID_CONFIG, "input_hw": [float("inf"), 64]})
@example(config={**VALID_CONFIG, "flip_test_permutation": [float("inf")]})
@example(config={**VALID_CONFIG, "input_hw": [100000, 100000]})
def test_inference_config_from_dict_gives_a_config_or_an_input_error(config):
    outcome = data_or_input_error(lambda: InferenceConfig.from_dict(config, file="m.onnx"))
    if isinstance(outcome, InferenceConfig):
        assert min(outcome.input_hw) >= 1 and outcome.kind in ("msen", "classifier", "abdominal")


@fuzz_settings(150)
@given(text=st.one_of(configs.map(_config_text), st.text(max_size=60),
                      st.sampled_from(["[" * 50_000, "{}", "null", "1e999"])))
@example(text=_config_text(VALID_CONFIG))
@example(text="[" * 50_000)  # nesting deeper than the JSON parser's stack
def test_onnx_metadata_gives_a_config_or_an_input_error(fuzz_dir, onnx_model, text):
    import onnx

    model = onnx.ModelProto()
    model.CopyFrom(onnx_model)
    entry = model.metadata_props.add()
    entry.key, entry.value = ONNX_CONFIG_KEY, text
    path = fuzz_dir("m.onnx")
    onnx.save(model, str(path))
    outcome = data_or_input_error(lambda: read_onnx_config(path))
    assert isinstance(outcome, (InferenceConfig, InputError))
    if text == _config_text(VALID_CONFIG):
        assert outcome == InferenceConfig.from_dict(VALID_CONFIG)


@fuzz_settings(100)
@given(raw=st.binary(max_size=200))
@example(raw=b"")
@example(raw=b"\x08\x07\x12\x00" * 10)
def test_onnx_file_bytes_give_a_config_or_an_input_error(fuzz_dir, raw):
    path = fuzz_dir("m.onnx")
    path.write_bytes(raw)
    assert isinstance(data_or_input_error(lambda: read_onnx_config(path)),
                      (InferenceConfig, InputError))


VALID_METADATA = {"format_version": 1, "modules": {"G": {"model": "msen", "kwargs": {}}},
                  "task": {"name": "msen", "params": {}}, "preprocessing": {"input_hw": [64, 64]}}
metadata = st.builds(
    lambda changes, removed: {**{k: v for k, v in VALID_METADATA.items() if k not in removed},
                              **changes},
    st.dictionaries(st.sampled_from([*VALID_METADATA, "step", "stage"]), json_values, max_size=3),
    st.sets(st.sampled_from(list(VALID_METADATA)), max_size=2))


@fuzz_settings(200)
@given(header=st.one_of(
    metadata.map(lambda m: {"sonomtl": json.dumps(m)}),
    st.dictionaries(st.sampled_from(["sonomtl", "format", "x"]), st.text(max_size=30),
                    max_size=2),
    st.just({"sonomtl": "[" * 50_000})))
@example(header={"sonomtl": json.dumps(VALID_METADATA)})
@example(header={"sonomtl": "[" * 50_000})
@example(header={"sonomtl": json.dumps({**VALID_METADATA, "format_version": float("inf")})})
def test_checkpoint_metadata_gives_metadata_or_an_input_error(fuzz_dir, header):
    from safetensors.numpy import save_file

    path = fuzz_dir("step.safetensors")
    save_file({"G.w": np.zeros(2, np.float32)}, str(path), metadata=header)
    outcome = data_or_input_error(lambda: read_metadata(path))
    assert isinstance(outcome, (dict, InputError))


@fuzz_settings(100)
@given(raw=st.binary(max_size=120))
@example(raw=b"\xff" * 8)  # a header length far past the end of the file
@example(raw=(10).to_bytes(8, "little") + b'{"a":1}   ')
def test_checkpoint_file_bytes_give_metadata_or_an_input_error(fuzz_dir, raw):
    path = fuzz_dir("step.safetensors")
    path.write_bytes(raw)
    assert isinstance(data_or_input_error(lambda: read_metadata(path)), (dict, InputError))


def _image_bytes(mode: str, fmt: str) -> bytes:
    rng = np.random.default_rng(0)
    array = rng.integers(0, 255, (12, 16, 3) if mode == "RGB" else (12, 16), dtype=np.uint8)
    image = Image.fromarray(array)
    if mode == "I;16":
        image = Image.fromarray(array.astype(np.uint16) * 257)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


IMAGES = {(mode, fmt): _image_bytes(mode, fmt)
          for mode in ("L", "RGB", "I;16") for fmt in ("PNG", "TIFF")}


@st.composite
def mutated_images(draw) -> bytes:
    """A real small PNG/TIFF with some bytes changed, then maybe cut short."""
    data = bytearray(IMAGES[draw(st.sampled_from(sorted(IMAGES)))])
    for _ in range(draw(st.integers(0, 6))):
        # mostly in the header, where sizes, bit depths and offsets live
        position = draw(st.one_of(st.integers(0, min(120, len(data) - 1)),
                                  st.integers(0, len(data) - 1)))
        data[position] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        data = data[:draw(st.integers(0, len(data)))]
    return bytes(data)


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header (with a valid CRC) claims ``width`` x ``height`` grey pixels."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(
            ">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


@fuzz_settings(400)
@given(raw=mutated_images())
@example(raw=IMAGES[("L", "PNG")])
@example(raw=IMAGES[("I;16", "TIFF")][:40])
# issue 25's decompression bomb: PIL's DecompressionBombError (a header claiming
# 20000 x 20000 pixels) escaped read_image
@example(raw=png_claiming(20_000, 20_000))
@example(raw=png_claiming(0, 5))
@pytest.mark.filterwarnings("ignore::UserWarning")  # PIL warns about the damaged TIFF tags
def test_image_headers_give_an_image_or_an_input_error(fuzz_dir, raw):
    path = fuzz_dir("x.png")
    path.write_bytes(raw)
    outcome = data_or_input_error(lambda: read_image(path))
    if not isinstance(outcome, InputError):
        assert outcome.dtype == np.float32 and outcome.ndim == 2 and min(outcome.shape) >= 1
