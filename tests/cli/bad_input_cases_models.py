"""Bad-input cases of the model commands: train, evaluate, predict, export, bench."""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path

from tests.cli.bad_input_fixtures import (
    Shared,
    append_rows,
    bomb_png,
    case,
    copy_dataset,
    edit_checkpoint_metadata,
    one_pixel,
    onnx_with_config,
    predict_argv,
    set_first_image,
)

# ----------------------------------------------------------------------------- train

@case("train-input-hw-zero")
def _(s, d):
    return ["train", str(s.train_config), "data.params.input_hw=[0,0]"], \
        f"{s.train_config}: field data.params.input_hw: expected [rows, cols] between 16 and"


@case("train-input-hw-huge")
def _(s, d):
    return ["train", str(s.train_config), "data.params.input_hw=[100000,100000]"], "input_hw"


@case("train-one-pixel-frame-names-the-image", out="runs")
def _(s, d):
    ds = copy_dataset(s, d / "ds")
    path = set_first_image(ds, one_pixel)
    return (["train", str(s.train_config), f"data.root={ds}", f"out_dir={d / 'runs'}"],
            f"{path}: row 2: field image: frame is 1x1")


@case("train-decompression-bomb-frame", out="runs")
def _(s, d):
    ds = copy_dataset(s, d / "ds")
    path = set_first_image(ds, bomb_png)
    return (["train", str(s.train_config), f"data.root={ds}", f"out_dir={d / 'runs'}"],
            f"{path}: row 2: field image: image too large")


@case("train-dataset-path-escapes", out="runs")
def _(s, d):
    ds = copy_dataset(s, d / "ds")
    append_rows(ds, "../../img/x.png,clip_001,clip_001,BG,0.46,1,0")
    return (["train", str(s.train_config), f"data.root={ds}", f"out_dir={d / 'runs'}"],
            "field image: path '../../img/x.png' leaves the folder")


class _Evil:
    """Unpickling this would run a shell command (it never is)."""

    def __reduce__(self):
        return (os.system, ("touch pwned",))


def _resume_with_state(s: Shared, d: Path, data: bytes) -> list[str]:
    run = d / "run"
    shutil.copytree(s.run, run)
    shutil.copy(s.train_config, run / "config.yaml")
    next((run / "checkpoints").glob("*.state.pt")).write_bytes(data)
    return ["train", "--resume", str(run)]


@case("train-resume-truncated-state")
def _(s, d):
    state = next((s.run / "checkpoints").glob("*.state.pt")).read_bytes()
    return _resume_with_state(s, d, state[: len(state) // 2]), "state.pt: cannot read the " \
        "training state"


@case("train-resume-malicious-state")
def _(s, d):
    return _resume_with_state(s, d, pickle.dumps(_Evil())), "state.pt: cannot read the training"


@case("train-missing-config")
def _(s, d):
    return ["train", str(d / "none.yaml")], "none.yaml"


@case("train-config-unknown-key")
def _(s, d):
    (d / "c.yaml").write_text(s.train_config.read_text() + "colour: red\n")
    return ["train", str(d / "c.yaml")], "colour"


@case("train-override-without-equals")
def _(s, d):
    return ["train", str(s.train_config), "seed"], "seed"


# ----------------------------------------------------------------------------- evaluate

@case("evaluate-out-is-a-folder")
def _(s, d):
    (d / "outdir").mkdir()
    return (["evaluate", str(s.run), "--data", str(s.dataset), "--out", str(d / "outdir")],
            f"argument --out: {d / 'outdir'}: is a folder; expected a file")


@case("evaluate-data-decompression-bomb")
def _(s, d):
    ds = copy_dataset(s, d / "ds")
    for path in sorted((ds / "images").rglob("*.png")):
        bomb_png(path)
    return (["evaluate", str(s.run), "--data", str(ds), "--split", "all", "--out",
             str(d / "r.json")], "image too large")


@case("evaluate-batch-size-zero")
def _(s, d):
    return ["evaluate", str(s.run), "--batch-size", "0"], "argument --batch-size"


@case("evaluate-missing-run")
def _(s, d):
    return ["evaluate", str(d / "none")], "none"


# ----------------------------------------------------------------------------- predict

@case("predict-dev-zero", out="out")
def _(s, d):
    return predict_argv(s.run, "/dev/zero", out=d / "out"), "/dev/zero: not a regular file"


@case("predict-decompression-bomb", out="out")
def _(s, d):
    return predict_argv(s.run, s.bomb, out=d / "out"), f"{s.bomb}: image too large"


@case("predict-onnx-input-hw-huge", out="out")
def _(s, d):
    model = onnx_with_config(s, d / "m.onnx", input_hw=[100000, 100000])
    return predict_argv(model, s.png, out=d / "out"), "input_hw must be 2 integers <= 4096"


@case("predict-onnx-input-hw-the-graph-cannot-take", out="out")
def _(s, d):
    model = onnx_with_config(s, d / "m.onnx", input_hw=[48, 48])
    return predict_argv(model, s.png, out=d / "out"), "m.onnx: field sonomtl_config.input_hw"


@case("predict-empty-onnx", out="out")
def _(s, d):
    (d / "m.onnx").write_bytes(b"")
    return predict_argv(d / "m.onnx", s.png, out=d / "out"), "m.onnx: empty file"


@case("predict-garbage-onnx", out="out")
def _(s, d):
    (d / "m.onnx").write_bytes(os.urandom(500))
    return predict_argv(d / "m.onnx", s.png, out=d / "out"), "m.onnx: cannot read as an ONNX model"


@case("predict-batch-zero", out="out")
def _(s, d):
    return predict_argv(s.run, s.png, out=d / "out", extra=["--batch", "0"]), "argument --batch"


@case("predict-threads-negative", out="out")
def _(s, d):
    return (predict_argv(s.run, s.png, out=d / "out", extra=["--threads", "-1"]),
            "argument --threads")


@case("predict-spacing-not-a-number", out="out")
def _(s, d):
    return (predict_argv(s.run, s.png, out=d / "out", extra=["--spacing-mm", "abc"]),
            "argument --spacing-mm")


@case("predict-missing-model", out="out")
def _(s, d):
    return predict_argv(d / "none", s.png, out=d / "out"), "none"


@case("predict-checkpoint-sononet-width-1e9", out="out")
def _(s, d):
    run = edit_checkpoint_metadata(
        s.run, d / "run", lambda m: m["modules"]["G"]["kwargs"].update(sononet_width=1e9))
    return predict_argv(run, s.png, out=d / "out"), "field modules.G.kwargs.sononet_width"


@case("predict-checkpoint-input-hw-huge", out="out")
def _(s, d):
    run = edit_checkpoint_metadata(
        s.run, d / "run", lambda m: m["preprocessing"].update(input_hw=[100000, 100000]))
    return predict_argv(run, s.png, out=d / "out"), "input_hw must be 2 integers <= 4096"


@case("predict-checkpoint-tensor-of-the-wrong-shape", out="out")
def _(s, d):
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    run = d / "run"
    shutil.copytree(s.run, run)
    weights = next((run / "checkpoints").glob("*.safetensors"))
    with safe_open(str(weights), framework="pt") as handle:
        header = dict(handle.metadata())
    tensors = load_file(str(weights))
    name = next(k for k, v in tensors.items() if v.ndim == 4)
    tensors[name] = tensors[name][:, :1].contiguous()
    save_file(tensors, str(weights), metadata=header)
    return predict_argv(run, s.png, out=d / "out"), name


@case("predict-checkpoint-not-safetensors", out="out")
def _(s, d):
    run = d / "run"
    shutil.copytree(s.run, run)
    next((run / "checkpoints").glob("*.safetensors")).write_bytes(pickle.dumps([1, 2]))
    return predict_argv(run, s.png, out=d / "out"), "not a readable safetensors checkpoint"


# ----------------------------------------------------------------------------- export, bench

@case("export-checkpoint-sononet-width-1e9")
def _(s, d):
    run = edit_checkpoint_metadata(
        s.run, d / "run", lambda m: m["modules"]["G"]["kwargs"].update(sononet_width=1e9))
    return ["export", str(run), "--out", str(d / "m.onnx")], "modules.G.kwargs.sononet_width"


@case("export-checkpoint-num-classes-huge")
def _(s, d):
    run = edit_checkpoint_metadata(
        s.run, d / "run", lambda m: m["modules"]["G"]["kwargs"].update(num_classes=10**12))
    return ["export", str(run), "--out", str(d / "m.onnx")], "modules.G.kwargs.num_classes"


@case("export-opset-not-a-number")
def _(s, d):
    return ["export", str(s.run), "--out", str(d / "m.onnx"), "--opset", "abc"], "--opset"


@case("export-missing-checkpoint")
def _(s, d):
    return ["export", str(d / "none"), "--out", str(d / "m.onnx")], "none"


@case("export-unknown-model-in-metadata")
def _(s, d):
    run = edit_checkpoint_metadata(
        s.run, d / "run", lambda m: m["modules"]["G"].update(model="os.system"))
    return ["export", str(run), "--out", str(d / "m.onnx")], "field modules.G.model"


@case("bench-input-size-huge")
def _(s, d):
    return ["bench", str(s.run), "--input-size", "100000", "100000"], "--input-size"


@case("bench-input-size-zero")
def _(s, d):
    return ["bench", str(s.run), "--input-size", "0", "64"], "--input-size"


@case("bench-iters-zero")
def _(s, d):
    return ["bench", str(s.run), "--iters", "0"], "argument --iters"


@case("bench-batch-zero")
def _(s, d):
    return ["bench", str(s.run), "--batch", "0"], "argument --batch"


@case("bench-threads-negative")
def _(s, d):
    return ["bench", str(s.run), "--threads", "-1"], "argument --threads"


@case("bench-empty-onnx")
def _(s, d):
    (d / "m.onnx").write_bytes(b"")
    return ["bench", str(d / "m.onnx"), "--backend", "onnx"], "m.onnx: empty file"


@case("bench-onnx-input-hw-the-graph-cannot-take")
def _(s, d):
    model = onnx_with_config(s, d / "m.onnx", input_hw=[48, 48])
    return ["bench", str(model), "--backend", "onnx", "--iters", "2"], \
        "m.onnx: field sonomtl_config.input_hw: input_hw [48, 48] does not match the graph's"


@case("bench-onnx-input-hw-huge")
def _(s, d):
    model = onnx_with_config(s, d / "m.onnx", input_hw=[100000, 100000])
    return ["bench", str(model), "--backend", "onnx"], "input_hw must be 2 integers <= 4096"
