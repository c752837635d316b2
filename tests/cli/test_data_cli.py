"""``sonomtl data check`` and ``sonomtl data import``: output lines and exit codes."""

from __future__ import annotations

import json
import sys
import types

import numpy as np
import pytest
from PIL import Image

from sonomtl.cli import main
from sonomtl.data.manifest import DatasetSpec, write_dataset


@pytest.fixture
def dataset(tmp_path):
    for name in ("a.png", "b.png"):
        Image.fromarray(np.full((8, 8), 100, np.uint8)).save(tmp_path / name)
    return write_dataset(tmp_path, DatasetSpec(name="t", classes=("x", "y")), [
        {"image": "a.png", "subject": "s1", "label": "x"},
        {"image": "b.png", "subject": "s2", "label": "y"},
    ])


def test_check_of_a_clean_dataset_exits_0(dataset, capsys):
    assert main(["data", "check", str(dataset)]) == 0
    out = capsys.readouterr()
    assert out.out.strip() == f"{dataset}: ok; 2 frames, 2 subjects; labels x: 1, y: 1"
    assert out.err == ""


def test_check_lists_errors_one_line_each_and_exits_2(dataset, capsys):
    (dataset / "b.png").unlink()
    with open(dataset / "manifest.csv", "a") as f:
        f.write("a.png,s3,z\n")
    assert main(["data", "check", str(dataset)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"error: {dataset / 'manifest.csv'}: row 4: field label: unknown label 'z'; "
        "dataset.yaml classes: ['x', 'y']",
        f"error: {dataset / 'b.png'}: row 3: field image: file not found",
    ]


def test_check_json_report_and_splits(dataset, capsys):
    (dataset / "splits.json").write_text(json.dumps({"train": ["s1", "s2"], "test": ["s2"]}))
    assert main(["data", "check", str(dataset), "--splits", str(dataset / "splits.json"),
                 "--json"]) == 2
    report = json.loads(capsys.readouterr().out)
    assert (report["ok"], report["frames"], report["errors"]) == (False, 2, 2)
    assert report["problems"][0]["message"].startswith("subject 's2' appears in splits train, test")


def test_check_of_a_missing_folder_is_one_line(tmp_path, capsys):
    assert main(["data", "check", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {tmp_path / 'nope'}: dataset folder not found"]


def test_check_runs_as_a_subprocess_without_traceback(tmp_path):
    import subprocess

    (tmp_path / "dataset.yaml").write_text("name: x\nclases: [a]\n")
    out = subprocess.run([sys.executable, "-m", "sonomtl", "data", "check", str(tmp_path)],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert f"{tmp_path / 'dataset.yaml'}: field clases: unknown key (did you mean 'classes'?)" \
        in out.stderr


def test_import_commands_call_the_importers(monkeypatch, tmp_path, capsys):
    calls = []
    fake = types.ModuleType("sonomtl.data.importers")
    fake.import_hc18 = lambda *, src, out: calls.append(("hc18", src, out)) or {
        "images": 804, "hc_mean_abs_diff_mm": 0.21}
    fake.import_sononet_examples = lambda *, src, out: calls.append(("sononet", src, out)) or {
        "images": 13}
    import sonomtl.data

    monkeypatch.setitem(sys.modules, "sonomtl.data.importers", fake)
    monkeypatch.setattr(sonomtl.data, "importers", fake, raising=False)
    assert main(["data", "import", "hc18", "--src", "S", "--out", str(tmp_path)]) == 0
    assert capsys.readouterr().out.splitlines() == ["images: 804", "hc_mean_abs_diff_mm: 0.21"]
    assert main(["data", "import", "sononet-examples", "--src", "S2", "--out", "O"]) == 0
    assert calls == [("hc18", "S", str(tmp_path)), ("sononet", "S2", "O")]


def test_import_errors_exit_2(monkeypatch, capsys):
    from sonomtl.errors import InputError

    def broken(*, src, out):
        raise InputError("folder not found", file=src)

    fake = types.ModuleType("sonomtl.data.importers")
    fake.import_hc18 = broken
    import sonomtl.data

    monkeypatch.setitem(sys.modules, "sonomtl.data.importers", fake)
    monkeypatch.setattr(sonomtl.data, "importers", fake, raising=False)
    assert main(["data", "import", "hc18", "--src", "nowhere", "--out", "x"]) == 2
    assert capsys.readouterr().err.strip() == "sonomtl: error: nowhere: folder not found"


def test_sononet_examples_import_then_check_is_clean(sononet_dir, tmp_path, capsys):
    out = tmp_path / "sononet-examples"
    assert main(["data", "import", "sononet-examples", "--src", str(sononet_dir),
                 "--out", str(out)]) == 0
    assert "n_images: 13" in capsys.readouterr().out
    assert main(["data", "check", str(out)]) == 0
    assert capsys.readouterr().out.startswith(f"{out}: ok; 13 frames, 13 subjects")
