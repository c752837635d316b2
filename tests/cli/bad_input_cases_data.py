"""Bad-input cases of the data commands: data check, gaze, metrics, data import."""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from tests.cli.bad_input_fixtures import (
    Shared,
    append_rows,
    bomb_png,
    case,
    copy_dataset,
    dicom_file,
    edit_yaml,
    gaze_section,
    one_pixel,
    predict_argv,
    set_first_image,
)

# ----------------------------------------------------------------------------- data check

@case("data-check-image-path-escapes-with-dotdot")
def _(s, d):
    ds = copy_dataset(s, d / "ds")
    append_rows(ds, "../../img/x.png,clip_001,clip_001,BG,0.46,1,0")
    return ["data", "check", str(ds)], "field image: path '../../img/x.png' leaves the folder"


@case("data-check-absolute-image-path")
def _(s, d):
    ds = copy_dataset(s, d / "ds")
    append_rows(ds, f"{s.png},clip_001,clip_001,BG,0.46,1,0")
    return ["data", "check", str(ds)], f"path '{s.png}' leaves the folder"


@case("data-check-symlink-out-of-the-folder")
def _(s, d):
    ds = copy_dataset(s, d / "ds")
    os.symlink(s.png, ds / "images" / "link.png")
    append_rows(ds, "images/link.png,clip_001,clip_001,BG,0.46,1,0")
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
    edit_yaml(ds, gaze={**gaze_section(ds), "logs": {"clip_001": "/etc/passwd"}})
    return ["data", "check", str(ds)], "field gaze.logs.clip_001: path '/etc/passwd' leaves"


@case("data-check-gaze-log-dotdot")
def _(s, d):
    ds = copy_dataset(s, d / "ds")
    edit_yaml(ds, gaze={**gaze_section(ds), "logs": {"clip_001": "../../log.jsonl"}})
    return ["data", "check", str(ds)], "field gaze.logs.clip_001: path '../../log.jsonl' leaves"


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
    append_rows(ds, (ds / "manifest.csv").read_text().splitlines()[1])
    return ["data", "check", str(ds)], "row 14: field image: duplicate of row 2"


@case("data-check-decompression-bomb")
def _(s, d):
    ds = copy_dataset(s, d / "ds")
    path = set_first_image(ds, bomb_png)
    return ["data", "check", str(ds)], f"{path}: row 2: field image: image too large"


@case("data-check-corrupt-png")
def _(s, d):
    ds = copy_dataset(s, d / "ds")
    path = set_first_image(ds, lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n broken"))
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

@case("gaze-maps-crop-does-not-fit-the-frames", lines=3)  # each sequence, then the count
def _(s, d):
    ds = copy_dataset(s, d / "ds")
    edit_yaml(ds, crop=[50, 99999, 80, 320])
    return ["gaze", "maps", str(ds)], "crop [50, 99999, 80, 320]"


@case("gaze-maps-one-pixel-frame", lines=2)  # the failed sequence, then the count
def _(s, d):
    ds = copy_dataset(s, d / "ds")
    path = set_first_image(ds, one_pixel)
    return ["gaze", "maps", str(ds)], f"{path}: row 2: field image: frame is 1x1"


@case("gaze-maps-huge-input-size")
def _(s, d):
    ds = copy_dataset(s, d / "ds")
    edit_yaml(ds, input_size=[99999999999999999999, 240])
    return ["gaze", "maps", str(ds)], "dataset.yaml: field input_size: expected [rows, cols]"


@case("gaze-maps-gaze-log-outside")
def _(s, d):
    ds = copy_dataset(s, d / "ds")
    edit_yaml(ds, gaze={**gaze_section(ds), "logs": {"clip_001": "/etc/passwd"}})
    return ["gaze", "maps", str(ds)], "field gaze.logs.clip_001: path '/etc/passwd' leaves"


@case("gaze-maps-decompression-bomb-frame", lines=2)  # the failed sequence, then the count
def _(s, d):
    ds = copy_dataset(s, d / "ds")
    path = set_first_image(ds, bomb_png)
    return ["gaze", "maps", str(ds)], f"{path}: row 2: field image: image too large"


@case("gaze-maps-bad-sigma")
def _(s, d):
    return ["gaze", "maps", str(s.dataset), "--sigma-deg", "abc"], "argument --sigma-deg"


@case("gaze-maps-sigma-of-a-billion-degrees")
def _(s, d):
    return ["gaze", "maps", str(s.dataset), "--sigma-deg", "1e9"], \
        "field --sigma-deg: expected a visual angle > 0 and < 45 degrees, got 1000000000.0"


@case("gaze-maps-negative-window")
def _(s, d):
    return ["gaze", "maps", str(s.dataset), "--window-ms", "-5"], \
        "field --window-ms: expected >= 0, got -5.0"


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
    dicom_file(ds / "big.dcm", rows=60000, cols=60000)
    append_rows(ds, "big.dcm,clip_001,clip_001,BG,0.46,1,0")
    return ["data", "check", str(ds)], "big.dcm: row 14: field image: image too large"


@case("predict-dicom-with-a-billion-frames", out="out")
def _(s, d):
    dicom_file(d / "many.dcm", rows=8, cols=8, frames=10**9)
    return predict_argv(s.run, d / "many.dcm", out=d / "out"), \
        "field NumberOfFrames: expected a positive integer <= 1000000"
