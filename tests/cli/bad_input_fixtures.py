"""Shared inputs of the bad-input table: a tiny dataset, checkpoint, ONNX file and bad files.

Built once per test module (a few seconds): the table's cases copy what they
change into their own folder, so the shared files never change.
"""

from __future__ import annotations

import json
import shutil
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

__all__ = [
    "CASES", "CLASSIFICATION", "Case", "Shared", "append_rows", "bomb_png", "build_shared", "case",
    "copy_dataset", "dicom_file", "edit_checkpoint_metadata", "edit_yaml", "files_under",
    "first_image", "gaze_section", "one_pixel", "onnx_with_config", "predict_argv",
    "results_run", "set_first_image",
]


@dataclass(frozen=True)
class Shared:
    """Paths of the shared inputs (read-only for the cases)."""

    root: Path
    dataset: Path  # synthetic sweeps: 2 clips x 6 frames, gaze logs, crop [50, 290, 80, 320]
    png: Path  # a 64x64 grey frame
    bomb: Path  # a PNG whose header claims 20000x20000 pixels
    run: Path  # an M-SEN (SonoNet-4 trunk) run folder at 64x64
    onnx: Path  # that run exported to ONNX
    log: Path  # an EyeTribe gaze log
    pred: Path  # (2, 8, 8) saliency maps
    fix: Path  # (2, 8, 8) fixation maps
    train_config: Path  # a tiny M-SEN training config


def bomb_png(path: Path, *, width: int = 20000, height: int = 20000) -> Path:
    """A valid PNG header claiming ``width x height`` grey pixels, with a tiny body.

    PIL reads the size from the header alone, so a bomb check is exercised
    without allocating the 400 MB that decoding it would take.
    """

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    body = zlib.compress(b"\0" * 64)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body)
                     + chunk(b"IEND", b""))
    return path


def build_shared(root: Path) -> Shared:
    """Write every shared input under ``root``."""
    from sonomtl.cli import main
    from sonomtl.models.msen import msen_generator
    from tests.inference.helpers import scaled_init_, write_checkpoint

    root.mkdir(parents=True, exist_ok=True)
    dataset = root / "sweeps"
    assert main(["synth", "sweeps", "--out", str(dataset), "--subjects", "2", "--frames", "6",
                 "--quick", "--no-video"]) == 0
    assert main(["gaze", "maps", str(dataset)]) == 0
    png = root / "frame.png"
    Image.fromarray(np.tile(np.arange(64, dtype=np.uint8) * 4, (64, 1))).save(png)
    bomb = bomb_png(root / "bomb.png")
    model = scaled_init_(msen_generator(sononet_width=4)).eval()
    run = write_checkpoint(root / "run", {"G": ("msen", {"sononet_width": 4}, model)},
                           preprocessing={"input_hw": [64, 64]})
    onnx = root / "model.onnx"
    assert main(["export", str(run), "--out", str(onnx)]) == 0
    rng = np.random.default_rng(0)
    pred, fix = root / "pred.npy", root / "fix.npy"
    np.save(pred, rng.random((2, 8, 8)).astype(np.float32))
    fixations = np.zeros((2, 8, 8), np.float32)
    fixations[:, 3, 4] = 1
    np.save(fix, fixations)
    config = root / "train.yaml"
    config.write_text(TRAIN_CONFIG.format(data=dataset, out=root / "train_runs"))
    (run / "config.yaml").write_text(TRAIN_CONFIG.format(data=dataset, out=root)
                                     .replace("[32, 32]", "[64, 64]"))
    return Shared(root=root, dataset=dataset, png=png, bomb=bomb, run=run, onnx=onnx,
                  log=dataset / "gaze" / "clip_001.jsonl", pred=pred, fix=fix,
                  train_config=config)


TRAIN_CONFIG = """\
name: tiny
seed: 0
out_dir: {out}
task:
  name: msen
  params: {{variant: msen, saliency_loss: bce}}
modules:
  G: {{model: msen, kwargs: {{sononet_width: 4}}}}
data:
  root: {data}
  batch_size: 2
  val_batch_size: 2
  num_workers: 0
  params: {{folds: 2, fold: 0, split_seed: 0, input_hw: [32, 32]}}
trainer: {{accelerator: cpu, devices: 1, precision: 32-true, progress_bar: false}}
stages:
  - name: pretrain
    steps: 1
    pattern: plain
    train: [G]
    optimizers:
      G: {{kind: adam, lr: 1.0e-3}}
    losses: {{saliency: 1.0, classification: 1.0}}
"""


def copy_dataset(shared: Shared, dest: Path) -> Path:
    """A private copy of the shared dataset to damage."""
    shutil.copytree(shared.dataset, dest)
    return dest


def edit_yaml(dataset: Path, **changes: object) -> None:
    """Set top-level keys of ``dataset.yaml`` (values as YAML flow text)."""
    import yaml

    path = dataset / "dataset.yaml"
    data = yaml.safe_load(path.read_text())
    for key, value in changes.items():
        data[key] = yaml.safe_load(str(value)) if isinstance(value, str) else value
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def edit_checkpoint_metadata(run: Path, dest: Path, change) -> Path:
    """A copy of ``run`` whose safetensors metadata went through ``change(metadata)``."""
    from safetensors.torch import load_file, save_file

    shutil.copytree(run, dest)
    weights = next((dest / "checkpoints").glob("*.safetensors"))
    from safetensors import safe_open

    with safe_open(str(weights), framework="pt") as handle:
        header = dict(handle.metadata())
    metadata = json.loads(header["sonomtl"])
    change(metadata)
    header["sonomtl"] = json.dumps(metadata)
    save_file(load_file(str(weights)), str(weights), metadata=header)
    return dest


def files_under(*roots: Path) -> set[Path]:
    """Every file and folder below ``roots`` (to show that a refused command wrote nothing)."""
    found: set[Path] = set()
    for root in roots:
        if root.exists():
            found |= set(root.rglob("*"))
    return found


# ----------------------------------------------------------------------------- the registry

@dataclass(frozen=True)
class Case:
    """``build(shared, folder)`` -> ``(argv, expected substring of the one stderr line)``."""

    id: str
    build: Callable[[Shared, Path], tuple[list[str], str]]
    out: str | None = None  # a path under the case folder the command may write
    lines: int = 1  # a batch command with several bad inputs: one line each, then the count


CASES: list[Case] = []


def case(id: str, *, out: str | None = None, lines: int = 1):
    def register(build):
        CASES.append(Case(id, build, out, lines))
        return build
    return register


# ----------------------------------------------------------------------------- case helpers

def append_rows(dataset: Path, *lines: str) -> None:
    """Append raw CSV lines to the dataset's manifest (columns of synth sweeps)."""
    with open(dataset / "manifest.csv", "a", encoding="utf-8") as handle:
        for line in lines:  # padded to the 9 columns of synth sweeps' manifest
            handle.write(line + "," * (8 - line.count(",")) + "\n")


def first_image(dataset: Path) -> Path:
    return sorted((dataset / "images").rglob("*.png"))[0]


def set_first_image(dataset: Path, writer: Callable[[Path], object]) -> Path:
    """Replace the first frame's file through ``writer(path)``; returns the path."""
    path = first_image(dataset)
    writer(path)
    return path


def one_pixel(path: Path) -> None:
    Image.fromarray(np.zeros((1, 1), np.uint8)).save(path)


def onnx_with_config(shared: Shared, dest: Path, **changes: object) -> Path:
    import onnx

    model = onnx.load(str(shared.onnx))
    for prop in model.metadata_props:
        if prop.key == "sonomtl_config":
            config = json.loads(prop.value)
            config.update(changes)
            prop.value = json.dumps(config)
    onnx.save(model, str(dest))
    return dest


def results_run(folder: Path, results: object, *, name: str = "results.json") -> Path:
    run = folder / "run"
    run.mkdir()
    (run / name).write_text(json.dumps(results) if not isinstance(results, str) else results)
    return run


CLASSIFICATION = {"accuracy": 0.5, "labels": ["a", "b"], "confusion_matrix": [[1, 0], [1, 0]]}


def gaze_section(ds: Path) -> dict:
    import yaml

    return yaml.safe_load((ds / "dataset.yaml").read_text())["gaze"]


def predict_argv(model: Path | str, *inputs: Path | str, out: Path, extra=()) -> list[str]:
    return ["predict", str(model), *map(str, inputs), "--out", str(out), "--no-progress",
            *extra]




def dicom_file(path: Path, *, rows: int, cols: int, frames: int = 1) -> Path:
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
