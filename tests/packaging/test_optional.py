"""Optional extras: a missing package is named with the extra that installs it, in one line."""

from __future__ import annotations

import sys

import pytest

from sonomtl.cli import main
from sonomtl.optional import available, require


def test_a_blocked_import_is_unavailable_and_require_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # as if not installed
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)  # even if imported before
    assert not available("pyarrow")
    with pytest.raises(ValueError, match=r"^x\.parquet: reading Parquet needs the optional "
                                         r"package pyarrow: pip install 'sonomtl\[parquet\]'$"):
        require("pyarrow.parquet", "parquet", "reading Parquet", file="x.parquet")


def test_a_parquet_manifest_without_pyarrow_exits_2_naming_the_extra(tmp_path, monkeypatch,
                                                                      capsys):
    pytest.importorskip("pyarrow")
    from sonomtl.data.synthetic import generate_sweeps

    generate_sweeps(tmp_path / "data", subjects=2, frames_per_clip=3, seed=0, video=False,
                    gaze=False)
    assert main(["data", "check", str(tmp_path / "data")]) == 0
    manifest = tmp_path / "data" / "manifest.csv"
    parquet = manifest.with_suffix(".parquet")
    import pyarrow.csv
    import pyarrow.parquet

    pyarrow.parquet.write_table(pyarrow.csv.read_csv(manifest), parquet)
    manifest.unlink()
    capsys.readouterr()
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    assert main(["data", "check", str(tmp_path / "data")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].endswith(f"error: {parquet}: reading Parquet (or use manifest.csv) needs the "
                           "optional package pyarrow: pip install 'sonomtl[parquet]'")


def test_training_without_tensorboard_writes_metrics_csv_and_says_so_once(tmp_path,
                                                                           monkeypatch):
    from sonomtl.training import logging as run_logging

    monkeypatch.setitem(sys.modules, "tensorboard", None)
    monkeypatch.setattr(run_logging, "_WARNED_NO_TENSORBOARD", [])
    with pytest.warns(UserWarning, match=r"pip install 'sonomtl\[tensorboard\]'"):
        logger = run_logging.MetricsLogger(tmp_path / "a")
    logger.log({"loss": 0.5}, step=1, stage="s", epoch=0, split="train")
    logger.close()
    assert (tmp_path / "a" / "metrics.csv").read_text().splitlines()[1] == \
        "1,s,0,train,loss,0.5"
    assert not (tmp_path / "a" / "tensorboard").exists()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the second run is silent
        run_logging.MetricsLogger(tmp_path / "b").close()
