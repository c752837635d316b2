"""An ``--out`` that holds a dataset is refused unless ``--overwrite``; demo --out on a file."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sonomtl.cli import main
from sonomtl.data.manifest import load_dataset, write_dataset
from sonomtl.data.spec import DatasetSpec
from sonomtl.errors import InputError
from sonomtl.outputs import DATASET_OUTPUTS, existing_results, prepare_output_folder


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


@pytest.fixture()
def annotated(tmp_path) -> Path:
    """A dataset as `data import hc18` leaves it (images/ + landmarks), plus the user's files."""
    folder = tmp_path / "hc18"
    (folder / "images").mkdir(parents=True)
    Image.fromarray(np.full((40, 60), 90, dtype=np.uint8)).save(folder / "images" / "001_HC.png")
    spec = DatasetSpec(name="hc18-like", landmarks=("ofd_1", "ofd_2"), input_size=(32, 32))
    write_dataset(folder, spec, [{"image": "images/001_HC.png", "subject": "001",
                                  "spacing_mm": 0.2,
                                  "landmarks": {"ofd_1": (5.0, 20.0), "ofd_2": (55.0, 20.0)}}])
    (folder / "notes.txt").write_text("the user's own file")
    (folder / "splits.json").write_text("{}")
    return folder


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1, err
    return err[0]


SWEEPS = ["synth", "sweeps", "--subjects", "1", "--frames", "2", "--no-video", "--no-gaze"]


def test_synth_on_an_imported_dataset_is_refused_and_keeps_its_annotations(annotated, capsys):
    before = _files(annotated)
    assert main([*SWEEPS, "--out", str(annotated)]) == 2
    line = _one_error_line(capsys)
    assert line.startswith(f"sonomtl: error: {annotated}: --out already holds a dataset")
    assert _files(annotated) == before
    _, records = load_dataset(annotated)
    assert records[0].landmarks == {"ofd_1": (5.0, 20.0), "ofd_2": (55.0, 20.0)}


def test_synth_with_overwrite_replaces_the_dataset_and_keeps_other_files(annotated, capsys):
    assert main([*SWEEPS, "--out", str(annotated), "--overwrite"]) == 0
    spec, records = load_dataset(annotated)
    assert spec.name == "synthetic-sweeps" and len(records) == 2
    assert not (annotated / "images" / "001_HC.png").exists()  # the old dataset's image went
    assert sorted(_files(annotated)) == [
        "dataset.yaml", "images/clip_001/clip_001_000.png", "images/clip_001/clip_001_001.png",
        "manifest.csv", "notes.txt", "splits.json"]
    assert (annotated / "notes.txt").read_text() == "the user's own file"
    assert (annotated / "splits.json").read_text() == "{}"


def test_a_second_synth_run_into_the_same_folder_is_refused(tmp_path, capsys):
    out = tmp_path / "sweeps"
    assert main([*SWEEPS, "--out", str(out)]) == 0
    before = _files(out)
    capsys.readouterr()
    assert main([*SWEEPS, "--out", str(out), "--seed", "3"]) == 2
    assert "--overwrite" in _one_error_line(capsys)
    assert _files(out) == before
    assert main(["synth", "abdominal", "--out", str(out), "--images", "2",
                 "--input-size", "64"]) == 2
    assert _files(out) == before


def test_data_import_on_an_existing_dataset_is_refused_before_importing(
    annotated, monkeypatch, capsys
):
    calls = []
    fake = types.ModuleType("sonomtl.data.importers")
    fake.import_hc18 = lambda *, src, out: calls.append((src, out)) or {"images": 0}
    import sonomtl.data

    monkeypatch.setitem(sys.modules, "sonomtl.data.importers", fake)
    monkeypatch.setattr(sonomtl.data, "importers", fake, raising=False)
    before = _files(annotated)
    assert main(["data", "import", "hc18", "--src", "S", "--out", str(annotated)]) == 2
    assert "already holds a dataset" in _one_error_line(capsys)
    assert calls == [] and _files(annotated) == before
    assert main(["data", "import", "hc18", "--src", "S", "--out", str(annotated),
                 "--overwrite"]) == 0
    assert calls == [("S", str(annotated))]
    assert sorted(_files(annotated)) == ["notes.txt", "splits.json"]  # cleared for the import
    assert not (annotated / "images").exists()


def test_overwrite_removes_a_symlink_but_never_what_it_points_to(annotated, tmp_path):
    outside = tmp_path / "precious.png"
    outside.write_bytes(b"keep me")
    (annotated / "images" / "link.png").symlink_to(outside)
    (annotated / "gaze").symlink_to(tmp_path, target_is_directory=True)  # a linked folder
    assert annotated / "images" / "link.png" in existing_results(annotated, DATASET_OUTPUTS)
    prepare_output_folder(annotated, DATASET_OUTPUTS, overwrite=True)
    assert not (annotated / "images" / "link.png").is_symlink()
    assert outside.read_bytes() == b"keep me"
    assert (annotated / "gaze").is_symlink() and (tmp_path / "precious.png").exists()


def test_an_out_that_is_a_file_is_refused(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(InputError, match="must be a folder"):
        prepare_output_folder(blocker, DATASET_OUTPUTS, overwrite=True)
    assert blocker.read_text() == "x"


@pytest.mark.parametrize("below", [False, True])
def test_demo_out_on_an_existing_file_exits_2_with_one_line(tmp_path, capsys, below):
    blocker = tmp_path / "demo.txt"
    blocker.write_text("x")
    out = blocker / "sub" if below else blocker
    assert main(["demo", "--out", str(out)]) == 2
    assert _one_error_line(capsys) == (f"sonomtl: error: {blocker}: is a file, but --out must "
                                       "be a folder (or not exist yet)")
    assert blocker.read_text() == "x" and sorted(tmp_path.iterdir()) == [blocker]
