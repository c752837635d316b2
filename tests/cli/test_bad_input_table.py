"""Every command answers bad input with exit status 2 and one line naming the culprit.

Issue 25's bad-input table: each case builds its own bad files (copies of a
shared tiny dataset, checkpoint and ONNX file), runs ``sonomtl`` in-process
and asserts that

* the exit status is 2,
* stderr is exactly one line, holding the expected culprit (file, flag or
  field), with no traceback, no temporary file name and no suggestion to
  load pickles,
* nothing new appears anywhere under the case's folder or the shared inputs
  (outside ``--out`` where the command writes one).
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sonomtl.cli import main
from tests.cli.bad_input_fixtures import (
    Shared,
    bomb_png,
    build_shared,
    copy_dataset,
    edit_checkpoint_metadata,
    edit_yaml,
    files_under,
)


@pytest.fixture(scope="module")
def shared(tmp_path_factory) -> Shared:
    return build_shared(tmp_path_factory.mktemp("shared"))


@dataclass(frozen=True)
class Case:
    """``build(shared, folder)`` -> ``(argv, expected substring of the one stderr line)``."""

    id: str
    build: Callable[[Shared, Path], tuple[list[str], str]]
    out: str | None = None  # a path under the case folder the command may write
    lines: int = 1  # predict lists failed inputs under a header line: 2 for one bad input


CASES: list[Case] = []


def case(id: str, *, out: str | None = None, lines: int = 1):
    def register(build):
        CASES.append(Case(id, build, out, lines))
        return build
    return register


# ----------------------------------------------------------------------------- helpers

def _rows(dataset: Path, *lines: str) -> None:
    """Append raw CSV lines to the dataset's manifest (columns of synth sweeps)."""
    with open(dataset / "manifest.csv", "a", encoding="utf-8") as handle:
        for line in lines:  # padded to the 9 columns of synth sweeps' manifest
            handle.write(line + "," * (8 - line.count(",")) + "\n")


def _first_image(dataset: Path) -> Path:
    return sorted((dataset / "images").rglob("*.png"))[0]


def _set_first_image(dataset: Path, writer: Callable[[Path], object]) -> Path:
    """Replace the first frame's file through ``writer(path)``; returns the path."""
    path = _first_image(dataset)
    writer(path)
    return path


def _one_pixel(path: Path) -> None:
    Image.fromarray(np.zeros((1, 1), np.uint8)).save(path)


def _onnx_with_config(shared: Shared, dest: Path, **changes: object) -> Path:
    import onnx

    model = onnx.load(str(shared.onnx))
    for prop in model.metadata_props:
        if prop.key == "sonomtl_config":
            config = json.loads(prop.value)
            config.update(changes)
            prop.value = json.dumps(config)
    onnx.save(model, str(dest))
    return dest


def _results_run(folder: Path, results: object, *, name: str = "results.json") -> Path:
    run = folder / "run"
    run.mkdir()
    (run / name).write_text(json.dumps(results) if not isinstance(results, str) else results)
    return run


_CLASSIFICATION = {"accuracy": 0.5, "labels": ["a", "b"], "confusion_matrix": [[1, 0], [1, 0]]}


# ----------------------------------------------------------------------------- data check

@case("data-check-image-path-escapes-with-dotdot")
def _(s, d):
    ds = copy_dataset(s, d / "ds")
    _rows(ds, "../../img/x.png,clip_001,clip_001,BG,0.46,1,0")
    return ["data", "check", str(ds)], "field image: path '../../img/x.png' leaves the folder"


@case("data-check-absolute-image-path")
def _(s, d):
    ds = copy_dataset(s, d / "ds")
    _rows(ds, f"{s.png},clip_001,clip_001,BG,0.46,1,0")
    return ["data", "check", str(ds)], f"path '{s.png}' leaves the folder"


@case("data-check-symlink-out-of-the-folder")
def _(s, d):
    ds = copy_dataset(s, d / "ds")
    os.symlink(s.png, ds / "images" / "link.png")
    _rows(ds, "images/link.png,clip_001,clip_001,BG,0.46,1,0")
    return ["data", "check", str(ds)], "path 'images/link.png' leaves the folder"


@case("data-check-attention-path-escapes")
def _(s, d):
    ds = copy_dataset(s, d / "ds")
    text = (ds / "manifest.csv").read_text().splitlines()
    text[1] = text[1].replace("attention/", "../../attention/", 1)
    (ds / "manifest.csv").write_text("\n".join(text) + "\n")
    return ["data", "check", str(ds)], "row 2: field attention: path '../../attention/"


@case("data-check-gaze-log-absolute-path")
def _(s, d):
    ds = copy_dataset(s, d / "ds")
    edit_yaml(ds, gaze={**_gaze(ds), "logs": {"clip_001": "/etc/passwd"}})
    return ["data", "check", str(ds)], "field gaze.logs.clip_001: path '/etc/passwd' leaves"


@case("data-check-gaze-log-dotdot")
def _(s, d):
    ds = copy_dataset(s, d / "ds")
    edit_yaml(ds, gaze={**_gaze(ds), "logs": {"clip_001": "../../log.jsonl"}})
    return ["data", "check", str(ds)], "field gaze.logs.clip_001: path '../../log.jsonl' leaves"


def _gaze(ds: Path) -> dict:
    import yaml

    return yaml.safe_load((ds / "dataset.yaml").read_text())["gaze"]


@case("data-check-allow-external-paths-not-a-boolean")
def _(s, d):
    ds = copy_dataset(s, d / "ds")
    edit_yaml(ds, allow_external_paths="yes please")
    return ["data", "check", str(ds)], "field allow_external_paths: expected true or false"


@case("data-check-crop-bigger-than-the-frames")
def _(s, d):
    ds = copy_dataset(s, d / "ds")
    edit_yaml(ds, crop=[50, 99999, 80, 320])
    return ["data", "check", str(ds)], "crop [50, 99999, 80, 320] needs at least 320x99999"


@case("data-check-huge-input-size")
def _(s, d):
    ds = copy_dataset(s, d / "ds")
    edit_yaml(ds, input_size="[1e20, 240]")
    return ["data", "check", str(ds)], "field input_size: expected"


@case("data-check-huge-integer-input-size")
def _(s, d):
    ds = copy_dataset(s, d / "ds")
    edit_yaml(ds, input_size=[99999999999999999999, 240])
    return ["data", "check", str(ds)], "field input_size: expected [rows, cols] of positive"


@case("data-check-zero-input-size")
def _(s, d):
    ds = copy_dataset(s, d / "ds")
    edit_yaml(ds, input_size=[0, 240])
    return ["data", "check", str(ds)], "field input_size"


@case("data-check-duplicated-row")
def _(s, d):
    ds = copy_dataset(s, d / "ds")
    _rows(ds, (ds / "manifest.csv").read_text().splitlines()[1])
    return ["data", "check", str(ds)], "row 14: field image: duplicate of row 2"


@case("data-check-decompression-bomb")
def _(s, d):
    ds = copy_dataset(s, d / "ds")
    path = _set_first_image(ds, bomb_png)
    return ["data", "check", str(ds)], f"{path}: row 2: field image: image too large"


@case("data-check-corrupt-png")
def _(s, d):
    ds = copy_dataset(s, d / "ds")
    path = _set_first_image(ds, lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n broken"))
    return ["data", "check", str(ds)], f"{path}: row 2: field image: cannot read image"


@case("data-check-attention-text-renamed-npy")
def _(s, d):
    ds = copy_dataset(s, d / "ds")
    path = sorted((ds / "attention").rglob("*.npy"))[0]
    path.write_text("1,2,3\n")
    return ["data", "check", str(ds)], "not a NumPy .npy array (its header is missing)"


@case("data-check-attention-npz-renamed-npy")
def _(s, d):
    ds = copy_dataset(s, d / "ds")
    path = sorted((ds / "attention").rglob("*.npy"))[0]
    with open(path, "wb") as handle:
        np.savez(handle, a=np.zeros(3))
    return ["data", "check", str(ds)], "is an .npz archive (a zip file); expected a NumPy .npy"


@case("data-check-attention-empty-npy")
def _(s, d):
    ds = copy_dataset(s, d / "ds")
    path = sorted((ds / "attention").rglob("*.npy"))[0]
    path.write_bytes(b"")
    return ["data", "check", str(ds)], "empty file; expected a NumPy .npy array"


@case("data-check-attention-object-array")
def _(s, d):
    ds = copy_dataset(s, d / "ds")
    path = sorted((ds / "attention").rglob("*.npy"))[0]
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    return ["data", "check", str(ds)], "holds Python objects; only numeric arrays are read"


@case("data-check-missing-folder")
def _(s, d):
    return ["data", "check", str(d / "nope")], "nope: dataset folder not found"


@case("data-check-yaml-not-a-mapping")
def _(s, d):
    ds = copy_dataset(s, d / "ds")
    (ds / "dataset.yaml").write_text("- a\n- b\n")
    return ["data", "check", str(ds)], "dataset.yaml: expected a mapping of keys"


@case("data-check-yaml-bomb")
def _(s, d):
    ds = copy_dataset(s, d / "ds")
    (ds / "dataset.yaml").write_text(
        'a: &a ["x","x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n'
        "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nname: [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n")
    return ["data", "check", str(ds)], "dataset.yaml"


@case("data-check-python-tag-in-yaml")
def _(s, d):
    ds = copy_dataset(s, d / "ds")
    (ds / "dataset.yaml").write_text("name: !!python/object/apply:os.system ['true']\n")
    return ["data", "check", str(ds)], "dataset.yaml: not valid YAML"


@case("data-check-unknown-flag-value")
def _(s, d):
    return ["data", "check", str(s.dataset), "--splits"], \
        "sonomtl data check: error: argument --splits: expected one argument"


# ----------------------------------------------------------------------------- gaze

@case("gaze-maps-crop-does-not-fit-the-frames")
def _(s, d):
    ds = copy_dataset(s, d / "ds")
    edit_yaml(ds, crop=[50, 99999, 80, 320])
    return ["gaze", "maps", str(ds)], "crop [50, 99999, 80, 320]"


@case("gaze-maps-one-pixel-frame")
def _(s, d):
    ds = copy_dataset(s, d / "ds")
    path = _set_first_image(ds, _one_pixel)
    return ["gaze", "maps", str(ds)], f"{path}: row 2: field image: frame is 1x1"


@case("gaze-maps-huge-input-size")
def _(s, d):
    ds = copy_dataset(s, d / "ds")
    edit_yaml(ds, input_size=[99999999999999999999, 240])
    return ["gaze", "maps", str(ds)], "dataset.yaml: field input_size: expected [rows, cols]"


@case("gaze-maps-gaze-log-outside")
def _(s, d):
    ds = copy_dataset(s, d / "ds")
    edit_yaml(ds, gaze={**_gaze(ds), "logs": {"clip_001": "/etc/passwd"}})
    return ["gaze", "maps", str(ds)], "field gaze.logs.clip_001: path '/etc/passwd' leaves"


@case("gaze-maps-decompression-bomb-frame")
def _(s, d):
    ds = copy_dataset(s, d / "ds")
    path = _set_first_image(ds, bomb_png)
    return ["gaze", "maps", str(ds)], f"{path}: row 2: field image: image too large"


@case("gaze-maps-bad-sigma")
def _(s, d):
    return ["gaze", "maps", str(s.dataset), "--sigma-deg", "abc"], "argument --sigma-deg"


@case("gaze-maps-missing-dataset")
def _(s, d):
    return ["gaze", "maps", str(d / "nope")], "nope"


def _fixations(s: Shared, log: Path | str, out: Path | str, *extra: str) -> list[str]:
    return ["gaze", "fixations", str(log), "--screen-px", "1680", "1050", "--screen-cm", "33.2",
            "20.7", "--distance-cm", "50", "--out", str(out), *extra]


@case("gaze-fixations-out-is-a-folder")
def _(s, d):
    (d / "outdir").mkdir()
    return _fixations(s, s.log, d / "outdir"), f"{d / 'outdir'}: is a folder; expected a file"


@case("gaze-fixations-missing-log")
def _(s, d):
    return _fixations(s, d / "none.jsonl", d / "f.csv"), "none.jsonl"


@case("gaze-fixations-empty-log")
def _(s, d):
    (d / "empty.jsonl").write_text("")
    return _fixations(s, d / "empty.jsonl", d / "f.csv"), "empty.jsonl"


@case("gaze-fixations-garbage-log")
def _(s, d):
    (d / "garbage.jsonl").write_bytes(os.urandom(300))
    return _fixations(s, d / "garbage.jsonl", d / "f.csv"), "garbage.jsonl"


@case("gaze-fixations-unsorted-log")
def _(s, d):
    lines = s.log.read_text().splitlines()
    (d / "unsorted.jsonl").write_text("\n".join(lines[20:40] + lines[:20]) + "\n")
    return _fixations(s, d / "unsorted.jsonl", d / "f.csv"), "unsorted.jsonl"


@case("gaze-fixations-bad-screen")
def _(s, d):
    return (_fixations(s, s.log, d / "f.csv")[:3] + ["--screen-px", "0", "1050"]
            + _fixations(s, s.log, d / "f.csv")[6:]), "screen"


@case("gaze-fixations-smooth-not-a-number")
def _(s, d):
    return _fixations(s, s.log, d / "f.csv", "--smooth", "abc"), "argument --smooth"


@case("gaze-fixations-csv-columns-missing")
def _(s, d):
    (d / "log.csv").write_text("t,x,y\n1,2,3\n")
    return _fixations(s, d / "log.csv", d / "f.csv", "--format", "csv"), "log.csv"


# ----------------------------------------------------------------------------- metrics

def _saliency(pred: Path | str, fix: Path | str, *extra: str) -> list[str]:
    return ["metrics", "saliency", str(pred), str(fix), *extra]


@case("metrics-saliency-empty-npy")
def _(s, d):
    (d / "empty.npy").write_bytes(b"")
    return _saliency(d / "empty.npy", s.fix), "empty.npy: empty file; expected a NumPy .npy"


@case("metrics-saliency-text-file-as-npy")
def _(s, d):
    (d / "text.npy").write_text("0.1 0.2\n")
    return _saliency(s.pred, d / "text.npy"), "text.npy: not a NumPy .npy array"


@case("metrics-saliency-npz-renamed-npy")
def _(s, d):
    np.savez(d / "maps.npz", a=np.zeros((2, 8, 8)))
    shutil.move(d / "maps.npz", d / "maps.npy")
    return _saliency(d / "maps.npy", s.fix), "maps.npy: is an .npz archive"


@case("metrics-saliency-object-array")
def _(s, d):
    np.save(d / "obj.npy", np.array([None, {"x": 1}], dtype=object), allow_pickle=True)
    return _saliency(d / "obj.npy", s.fix), "obj.npy: .npy array holds Python objects"


@case("metrics-saliency-malicious-pickle-as-npy")
def _(s, d):
    (d / "evil.npy").write_bytes(pickle.dumps(os.system))
    return _saliency(s.pred, d / "evil.npy"), "evil.npy: not a NumPy .npy array"


@case("metrics-saliency-pred-has-the-wrong-shape")
def _(s, d):
    np.save(d / "pred.npy", np.zeros((2, 4, 4), np.float32))
    return _saliency(d / "pred.npy", s.fix), f"{d / 'pred.npy'}:"


@case("metrics-saliency-missing-pred")
def _(s, d):
    return _saliency(d / "none.npy", s.fix), "none.npy: file not found"


@case("metrics-saliency-baseline-is-a-folder")
def _(s, d):
    return _saliency(s.pred, s.fix, "--baseline", str(d)), f"{d}: is a folder"


@case("metrics-saliency-truncated-npy")
def _(s, d):
    (d / "cut.npy").write_bytes(s.pred.read_bytes()[:100])
    return _saliency(d / "cut.npy", s.fix), "cut.npy"


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
    path = _set_first_image(ds, _one_pixel)
    return (["train", str(s.train_config), f"data.root={ds}", f"out_dir={d / 'runs'}"],
            f"{path}: row 2: field image: frame is 1x1")


@case("train-decompression-bomb-frame", out="runs")
def _(s, d):
    ds = copy_dataset(s, d / "ds")
    path = _set_first_image(ds, bomb_png)
    return (["train", str(s.train_config), f"data.root={ds}", f"out_dir={d / 'runs'}"],
            f"{path}: row 2: field image: image too large")


@case("train-dataset-path-escapes", out="runs")
def _(s, d):
    ds = copy_dataset(s, d / "ds")
    _rows(ds, "../../img/x.png,clip_001,clip_001,BG,0.46,1,0")
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

def _predict(model: Path | str, *inputs: Path | str, out: Path, extra=()) -> list[str]:
    return ["predict", str(model), *map(str, inputs), "--out", str(out), "--no-progress",
            *extra]


@case("predict-dev-zero", out="out", lines=2)
def _(s, d):
    return _predict(s.run, "/dev/zero", out=d / "out"), "/dev/zero: not a regular file"


@case("predict-decompression-bomb", out="out", lines=2)
def _(s, d):
    return _predict(s.run, s.bomb, out=d / "out"), f"{s.bomb}: image too large"


@case("predict-onnx-input-hw-huge", out="out")
def _(s, d):
    model = _onnx_with_config(s, d / "m.onnx", input_hw=[100000, 100000])
    return _predict(model, s.png, out=d / "out"), "input_hw must be 2 integers <= 4096"


@case("predict-onnx-input-hw-the-graph-cannot-take", out="out")
def _(s, d):
    model = _onnx_with_config(s, d / "m.onnx", input_hw=[48, 48])
    return _predict(model, s.png, out=d / "out"), "m.onnx: field sonomtl_config.input_hw"


@case("predict-empty-onnx", out="out")
def _(s, d):
    (d / "m.onnx").write_bytes(b"")
    return _predict(d / "m.onnx", s.png, out=d / "out"), "m.onnx: empty file"


@case("predict-garbage-onnx", out="out")
def _(s, d):
    (d / "m.onnx").write_bytes(os.urandom(500))
    return _predict(d / "m.onnx", s.png, out=d / "out"), "m.onnx: cannot read as an ONNX model"


@case("predict-batch-zero", out="out")
def _(s, d):
    return _predict(s.run, s.png, out=d / "out", extra=["--batch", "0"]), "argument --batch"


@case("predict-threads-negative", out="out")
def _(s, d):
    return _predict(s.run, s.png, out=d / "out", extra=["--threads", "-1"]), "argument --threads"


@case("predict-spacing-not-a-number", out="out")
def _(s, d):
    return (_predict(s.run, s.png, out=d / "out", extra=["--spacing-mm", "abc"]),
            "argument --spacing-mm")


@case("predict-missing-model", out="out")
def _(s, d):
    return _predict(d / "none", s.png, out=d / "out"), "none"


@case("predict-checkpoint-sononet-width-1e9", out="out")
def _(s, d):
    run = edit_checkpoint_metadata(
        s.run, d / "run", lambda m: m["modules"]["G"]["kwargs"].update(sononet_width=1e9))
    return _predict(run, s.png, out=d / "out"), "field modules.G.kwargs.sononet_width"


@case("predict-checkpoint-input-hw-huge", out="out")
def _(s, d):
    run = edit_checkpoint_metadata(
        s.run, d / "run", lambda m: m["preprocessing"].update(input_hw=[100000, 100000]))
    return _predict(run, s.png, out=d / "out"), "input_hw must be 2 integers <= 4096"


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
    return _predict(run, s.png, out=d / "out"), name


@case("predict-checkpoint-not-safetensors", out="out")
def _(s, d):
    run = d / "run"
    shutil.copytree(s.run, run)
    next((run / "checkpoints").glob("*.safetensors")).write_bytes(pickle.dumps([1, 2]))
    return _predict(run, s.png, out=d / "out"), "not a readable safetensors checkpoint"


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


@case("bench-onnx-input-hw-huge")
def _(s, d):
    model = _onnx_with_config(s, d / "m.onnx", input_hw=[100000, 100000])
    return ["bench", str(model), "--backend", "onnx"], "input_hw must be 2 integers <= 4096"


# ----------------------------------------------------------------------------- report

def _report(run: Path, d: Path) -> list[str]:
    return ["report", str(run), "--out", str(d / "r.html")]


@case("report-ragged-confusion-matrix")
def _(s, d):
    run = _results_run(d, {"classification": {**_CLASSIFICATION,
                                              "confusion_matrix": [[1, 0], [1]]}})
    return _report(run, d), "field classification.confusion_matrix: expected a square 2x2"


@case("report-string-in-confusion-matrix")
def _(s, d):
    run = _results_run(d, {"classification": {**_CLASSIFICATION,
                                              "confusion_matrix": [[1, "x"], [1, 0]]}})
    return _report(run, d), "classification.confusion_matrix: row 0: expected non-negative"


@case("report-classification-is-a-string")
def _(s, d):
    run = _results_run(d, {"classification": "high"})
    return _report(run, d), "results.json: field classification: expected an object, got str"


@case("report-labels-not-strings")
def _(s, d):
    run = _results_run(d, {"classification": {**_CLASSIFICATION, "labels": [1, 2]}})
    return _report(run, d), "field classification.labels"


@case("report-saliency-is-a-list")
def _(s, d):
    run = _results_run(d, {"saliency": [1, 2]})
    return _report(run, d), "field saliency: expected an object"


@case("report-experiment-model-ragged-matrix")
def _(s, d):
    run = _results_run(d, {"models": {"m": {"classification": {
        **_CLASSIFICATION, "confusion_matrix": [[1, 0, 3], [1, 0]]}}}})
    return _report(run, d), "field models.m.classification.confusion_matrix"


@case("report-malformed-benchmark-latency")
def _(s, d):
    run = _results_run(d, {"backend": "torch", "latency_ms": "fast"}, name="benchmark.json")
    return _report(run, d), "benchmark.json: field latency_ms: expected an object"


@case("report-malformed-benchmark-number")
def _(s, d):
    run = _results_run(d, {"backend": "torch", "throughput_fps": "many"}, name="benchmark.json")
    return _report(run, d), "benchmark.json: field throughput_fps: expected a number"


@case("report-benchmark-not-json")
def _(s, d):
    run = _results_run(d, "{not json", name="benchmark.json")
    return _report(run, d), "benchmark.json: invalid JSON"


def _landmark_examples(d: Path, image: str) -> Path:
    run = d / "run"
    (run / "figures").mkdir(parents=True)
    (run / "results.json").write_text("{}")
    (run / "figures" / "landmark_examples.json").write_text(json.dumps({"examples": [
        {"image": image, "truth": {}, "prediction": {}}]}))
    return run


@case("report-landmark-image-outside-the-run")
def _(s, d):
    run = _landmark_examples(d, "../../../img/x.png")
    return _report(run, d), "field examples[0].image: path 'figures/../../../img/x.png' leaves"


@case("report-landmark-image-absolute")
def _(s, d):
    run = _landmark_examples(d, str(s.png))
    return _report(run, d), f"field examples[0].image: path '{s.png}' leaves"


@case("report-figure-symlink-outside-the-run")
def _(s, d):
    run = _results_run(d, {})
    (run / "figures").mkdir()
    os.symlink(s.png, run / "figures" / "extra.png")
    return _report(run, d), "leaves the folder"


@case("report-results-not-json")
def _(s, d):
    run = _results_run(d, "[1, 2")
    return _report(run, d), "results.json: invalid JSON"


@case("report-missing-folder")
def _(s, d):
    return _report(d / "none", d), "none: not a folder"


@case("report-attention-npz-text")
def _(s, d):
    run = _results_run(d, {})
    (run / "figures").mkdir()
    (run / "figures" / "attention_examples.npz").write_text("hello")
    return _report(run, d), "attention_examples.npz: not a NumPy .npz archive"


# ----------------------------------------------------------------------------- sononet, synth

def _sononet_weights() -> Path:
    from sonomtl.fileio import shared_data_dir

    root = shared_data_dir()
    if root is None or not (root / "sononet" / "SonoNet16.npz").is_file():
        pytest.skip("needs the official SonoNet-16 weights (shared data)")
    return root / "sononet" / "SonoNet16.npz"


@case("sononet-classify-decompression-bomb")
def _(s, d):
    return ["sononet", "classify", "--weights", str(_sononet_weights()), str(s.bomb)], \
        f"{s.bomb}: image too large"


@case("sononet-classify-text-weights")
def _(s, d):
    (d / "w.npz").write_text("weights")
    return ["sononet", "classify", "--weights", str(d / "w.npz"), str(s.png)], \
        "w.npz: not a NumPy .npz archive"


@case("sononet-classify-missing-image")
def _(s, d):
    return ["sononet", "classify", "--weights", str(_sononet_weights()), str(d / "none.png")], \
        "none.png"


@case("sononet-classify-bad-crop")
def _(s, d):
    return ["sononet", "classify", "--weights", str(d / "w.npz"), "--crop", "a:b",
            str(s.png)], "--crop"


@case("synth-sweeps-zero-subjects")
def _(s, d):
    return ["synth", "sweeps", "--out", str(d / "o"), "--subjects", "0"], "--subjects"


@case("synth-sweeps-frames-not-a-number")
def _(s, d):
    return ["synth", "sweeps", "--out", str(d / "o"), "--frames", "abc"], "--frames"


@case("synth-abdominal-negative-images")
def _(s, d):
    return ["synth", "abdominal", "--out", str(d / "o"), "--images", "-1"], "--images"


@case("synth-abdominal-huge-input-size")
def _(s, d):
    return ["synth", "abdominal", "--out", str(d / "o"), "--input-size", "100000"], \
        "--input-size"


# ----------------------------------------------------------------------------- experiment

@case("experiment-abdominal-model-file-missing")
def _(s, d):
    return ["experiment", "abdominal", "--data", str(s.dataset), "--out", str(d / "x"),
            "--model", f"MGCN_R={d / 'bad.yaml'}"], f"{d / 'bad.yaml'}"


@case("experiment-abdominal-model-file-not-yaml")
def _(s, d):
    (d / "bad.yaml").write_text("a: [1, 2\n")
    return ["experiment", "abdominal", "--data", str(s.dataset), "--out", str(d / "x"),
            "--model", f"MGCN_R={d / 'bad.yaml'}"], f"{d / 'bad.yaml'}"


@case("experiment-abdominal-model-without-name")
def _(s, d):
    return ["experiment", "abdominal", "--data", str(s.dataset), "--out", str(d / "x"),
            "--model", "bad.yaml"], "--model"


@case("experiment-abdominal-threads-negative")
def _(s, d):
    return ["experiment", "abdominal", "--data", str(s.dataset), "--out", str(d / "x"),
            "--threads", "-1"], "argument --threads"


@case("experiment-msen-folds-zero")
def _(s, d):
    return ["experiment", "msen", "--data", str(s.dataset), "--out", str(d / "x"),
            "--folds", "0"], "argument --folds"


@case("experiment-msen-folds-one")
def _(s, d):
    return ["experiment", "msen", "--data", str(s.dataset), "--out", str(d / "x"),
            "--folds", "1"], "--folds"


@case("experiment-msen-missing-data")
def _(s, d):
    return ["experiment", "msen", "--data", str(d / "none"), "--out", str(d / "x")], "none"


# ----------------------------------------------------------------------------- data import

def _hc18_source(d: Path, annotation: bytes) -> Path:
    src = d / "src"
    (src / "training_set").mkdir(parents=True)
    (src / "training_set_pixel_size_and_HC.csv").write_text(
        "filename,pixel size(mm),head circumference (mm)\n000_HC.png,0.1,100\n")
    Image.fromarray(np.zeros((40, 60), np.uint8)).save(src / "training_set" / "000_HC.png")
    (src / "training_set" / "000_HC_Annotation.png").write_bytes(annotation)
    return src


@case("data-import-hc18-corrupt-annotation")
def _(s, d):
    src = _hc18_source(d, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR corrupt")
    return (["data", "import", "hc18", "--src", str(src), "--out", str(d / "o")],
            "000_HC_Annotation.png: cannot read the annotation image")


@case("data-import-hc18-bomb-annotation")
def _(s, d):
    src = _hc18_source(d, b"")
    bomb_png(src / "training_set" / "000_HC_Annotation.png")
    return (["data", "import", "hc18", "--src", str(src), "--out", str(d / "o")],
            "000_HC_Annotation.png: cannot read the annotation image: image too large")


@case("data-import-hc18-missing-src")
def _(s, d):
    return ["data", "import", "hc18", "--src", str(d / "none"), "--out", str(d / "o")], "none"


@case("data-check-dicom-frame-too-large")
def _(s, d):
    ds = copy_dataset(s, d / "ds")
    _dicom(ds / "big.dcm", rows=60000, cols=60000)
    _rows(ds, "big.dcm,clip_001,clip_001,BG,0.46,1,0")
    return ["data", "check", str(ds)], "big.dcm: row 14: field image: image too large"


@case("predict-dicom-with-a-billion-frames", out="out", lines=2)
def _(s, d):
    _dicom(d / "many.dcm", rows=8, cols=8, frames=10**9)
    return _predict(s.run, d / "many.dcm", out=d / "out"), \
        "field NumberOfFrames: expected a positive integer <= 1000000"


def _dicom(path: Path, *, rows: int, cols: int, frames: int = 1) -> Path:
    """A DICOM header claiming ``frames`` frames of ``rows x cols`` (pixel data: 64 bytes)."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.6.1"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, generate_uid()
    ds.Modality, ds.Rows, ds.Columns = "US", rows, cols
    ds.NumberOfFrames = frames
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = b"\0" * 64
    ds.save_as(str(path), enforce_file_format=True)
    return path


# ----------------------------------------------------------------------------- the table

@pytest.mark.parametrize("bad", CASES, ids=[c.id for c in CASES])
def test_bad_input_exits_2_with_one_line_naming_the_culprit(bad, shared, tmp_path, capfd,
                                                            monkeypatch):
    monkeypatch.chdir(tmp_path)  # anything written to the working folder is seen too
    argv, expected = bad.build(shared, tmp_path)
    before = files_under(tmp_path, shared.root)
    capfd.readouterr()
    try:
        status = main(argv)
    except SystemExit as exit_:  # argparse
        status = exit_.code
    err = capfd.readouterr().err  # file descriptor 2: C libraries (libpng) too
    lines = err.strip().splitlines()
    assert status == 2, err
    assert len(lines) == bad.lines, err
    assert expected in lines[-1], lines[-1]
    assert "Traceback" not in err and "allow_pickle" not in err and "weights_only" not in err
    assert ".gzout" not in err and "/.tmp" not in err and "/." + "r.json" not in err
    after = files_under(tmp_path, shared.root)
    out = None if bad.out is None else tmp_path / bad.out
    new = sorted(str(p) for p in after - before
                 if out is None or (p != out and out not in p.parents))
    assert new == [], new


def test_the_table_covers_every_command_with_at_least_100_cases():
    commands = {c.id.split("-")[0] for c in CASES}
    assert commands >= {"data", "gaze", "metrics", "train", "evaluate", "predict", "export",
                        "bench", "report", "sononet", "synth", "experiment"}
    assert len(CASES) >= 100


def test_a_bomb_among_good_frames_does_not_stop_predict(shared, tmp_path, capfd):
    out, second = tmp_path / "out", tmp_path / "second.png"
    shutil.copy(shared.png, second)
    assert main(["predict", str(shared.run), str(shared.png), str(shared.bomb), str(second),
                 "--out", str(out), "--no-progress", "--no-overlays"]) == 2
    lines = (out / "predictions.jsonl").read_text().splitlines()
    assert [json.loads(line)["source"] for line in lines] == [str(shared.png), str(second)]
    err = capfd.readouterr().err.strip().splitlines()
    assert err[0] == "sonomtl: error: 1 input(s) failed:"
    assert err[1:] == [f"  {shared.bomb}: image too large (a decompression bomb?): over "
                       "67108864 pixels, the most that is read (docs/security.md)"]
