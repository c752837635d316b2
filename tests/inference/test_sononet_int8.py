"""int8 SonoNet-16 keeps the 13 example frames' labels and probabilities (issue 9)."""

from __future__ import annotations

import numpy as np
import pytest

from sonomtl.inference.export import export_onnx, fp32_node_names

# example file stem -> the class the authors' network gives it (SonoNet's published demo)
EXAMPLES = {
    "3VV": "3VV", "4CH": "4CH", "ABDOMINAL": "Abdominal", "BRAIN-CB": "Brain (Cb.)",
    "BRAIN-TV": "Brain (Tv.)", "FEMUR": "Femur", "KIDNEYS": "Kidneys", "LIPS": "Lips",
    "LVOT": "LVOT", "PROFILE": "Profile", "RVOT": "RVOT", "SPINE-CORONAL": "Spine (cor.)",
    "SPINE-SAGITTAL": "Spine (sag.)",
}


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_int8_sononet16_with_fp32_edges_keeps_all_labels_and_probabilities_within_0_02(
        sononet_dir, tmp_path):
    import onnx

    from sonomtl.inference.config import config_from_model
    from sonomtl.inference.predictor import OnnxRunner, TorchRunner
    from sonomtl.inference.sononet_classify import preprocess_sononet_frame, read_rgb
    from sonomtl.models.sononet import SONONET_CLASS_NAMES, sononet16

    model = sononet16(pretrained=sononet_dir / "SonoNet16.npz").eval()
    config = config_from_model(model.default_cfg)
    names = sorted(EXAMPLES)
    frames = [preprocess_sononet_frame(read_rgb(sononet_dir / "example_images" / f"{n}.tiff"))[None]
              for n in names]
    truth = np.array([SONONET_CLASS_NAMES.index(EXAMPLES[n]) for n in names])
    path = tmp_path / "sononet16-int8.onnx"
    # no int8 options given: export_onnx applies SonoNet-16's own policy (INT8_POLICIES)
    report = export_onnx(model, config, path, dtype="int8", calibration=frames,
                         test_inputs=np.stack(frames[:2]))

    graph = onnx.load(str(path)).graph
    producer = {out: node.op_type for node in graph.node for out in node.output}
    convs = [n for n in graph.node if n.op_type == "Conv"]
    int8_convs = [n for n in convs if producer.get(n.input[1]) == "DequantizeLinear"]
    assert len(convs) == 15  # 13 trunk convs + 2 adaptation convs
    assert len(int8_convs) == 12  # the first conv and the 2 adaptation convs stay fp32
    assert convs[0] not in int8_convs and convs[-1] not in int8_convs
    runner, eager = OnnxRunner(path), TorchRunner(model, output_names=config.outputs)
    p_int8 = _softmax(np.concatenate([runner(f[None])["logits"] for f in frames]))
    p_fp32 = _softmax(np.concatenate([eager(f[None])["logits"] for f in frames]))
    assert (p_fp32.argmax(1) == truth).all()
    assert (p_int8.argmax(1) == truth).all()
    assert np.abs(p_int8 - p_fp32).max() <= 0.02
    assert report.dtype == "int8"


def test_fp32_node_names_takes_nodes_up_to_the_first_and_from_the_last_convs():
    from onnx import helper

    ops = ["Conv", "Relu", "Conv", "Relu", "MaxPool", "Conv", "Relu", "Conv", "ReduceMean"]
    nodes = [helper.make_node(op, [f"t{i}"], [f"t{i + 1}"], name=f"n{i}")
             for i, op in enumerate(ops)]
    graph = helper.make_graph(nodes, "g", [], [])
    model = helper.make_model(graph)
    assert fp32_node_names(model, first=1, last=2) == {"n0", "n5", "n6", "n7", "n8"}
    assert fp32_node_names(model, first=2, last=0) == {"n0", "n1", "n2"}
    assert fp32_node_names(model, first=0, last=0) == set()
    with pytest.raises(ValueError, match="keep_fp32_first"):
        fp32_node_names(model, first=3, last=2)


@pytest.mark.parametrize(("option", "value"), [("calibration_method", "kl"),
                                               ("keep_fp32_first", -1)])
def test_export_rejects_bad_int8_options_naming_them(option, value, tmp_path):
    from sonomtl.inference.config import InferenceConfig

    config = InferenceConfig(kind="classifier", architecture="x", input_hw=(8, 8))
    with pytest.raises(ValueError, match=option):
        export_onnx(object(), config, tmp_path / "m.onnx", dtype="int8", **{option: value})


def test_export_cli_keeps_sononet16_edges_fp32_in_int8(sononet_dir, tmp_path, capsys):
    import onnx

    from sonomtl.cli import main

    data = tmp_path / "examples"
    assert main(["data", "import", "sononet-examples", "--src", str(sononet_dir),
                 "--out", str(data)]) == 0
    out = tmp_path / "sononet16-int8.onnx"
    assert main(["export", "sononet16", "--format", "onnx", "--dtype", "int8",
                 "--calibration", str(data), "--out", str(out)]) == 0, capsys.readouterr().err
    graph = onnx.load(out).graph
    convs = [n for n in graph.node if n.op_type == "Conv"]
    # fp32 convs read float weights directly, not a DequantizeLinear output
    producers = {o: n.op_type for n in graph.node for o in n.output}
    assert producers.get(convs[0].input[1]) != "DequantizeLinear"
    assert producers.get(convs[1].input[1]) == "DequantizeLinear"
    assert producers.get(convs[-1].input[1]) != "DequantizeLinear"
