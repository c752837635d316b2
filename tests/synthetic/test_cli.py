"""``sonomtl synth``: exit status, printed folder, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from sonomtl.cli import main
from sonomtl.data.manifest import load_dataset


def test_synth_sweeps_quick_writes_a_dataset_and_prints_its_folder(tmp_path: Path, capsys):
    out = tmp_path / "sweeps"
    assert (
        main(
            ["synth", "sweeps", "--out", str(out), "--subjects", "1", "--frames", "3", "--no-video"]
        )
        == 0
    )
    assert capsys.readouterr().out.strip() == str(out)
    spec, records = load_dataset(out)
    assert len(records) == 3 and not (out / "videos").exists() and spec.gaze is not None


def test_synth_abdominal_writes_requested_images_and_input_size(tmp_path: Path):
    out = tmp_path / "abd"
    assert (
        main(["synth", "abdominal", "--out", str(out), "--images", "2", "--input-size", "128"]) == 0
    )
    spec, records = load_dataset(out)
    assert len(records) == 2 and spec.input_size == (128, 128) and spec.target_spacing_mm == 2.0


def test_bad_numbers_exit_2_with_one_line(tmp_path: Path, capsys):
    with pytest.raises(SystemExit) as error:
        main(["synth", "sweeps", "--out", str(tmp_path), "--subjects", "0"])
    assert error.value.code == 2
    assert main(["synth", "sweeps", "--out", str(tmp_path), "--frames", "1"]) == 2
    assert main(["synth", "abdominal", "--out", str(tmp_path), "--input-size", "32"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("sonomtl: error:") and "--input-size" in err[-1]
