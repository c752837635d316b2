"""``metrics.csv`` has one line ending, ``\\n``, in a fresh run and after a resume.

The csv module ends rows in ``\\r\\n`` by default while the header was written
with ``\\n``, and a resume re-wrote the kept rows through universal newlines
(``\\n``) before appending more ``\\r\\n`` rows: a resumed file mixed both.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sonomtl.training.logging import METRICS_COLUMNS, MetricsLogger, read_metrics
from tests.training.test_resume import CONFIG, _train_stopped_after


def _endings(path: Path) -> tuple[int, int]:
    """(lines ending in CRLF, lines ending in a bare LF) of a file, read as bytes."""
    data = path.read_bytes()
    crlf = data.count(b"\r\n")
    return crlf, data.count(b"\n") - crlf


def test_a_resumed_training_run_writes_metrics_csv_with_lf_endings_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sonomtl.config import load_config
    from sonomtl.training.run import resume, train

    def config(name: str):
        return load_config(CONFIG, [f"out_dir={tmp_path}", f"name={name}",
                                    "trainer.progress_bar=false", "trainer.log_every_n_steps=1",
                                    "checkpoint.every_n_steps=3", "checkpoint.keep_last=10"])

    train(config("ref"))
    _train_stopped_after(7, train, config("cut"), monkeypatch)
    assert json.loads((tmp_path / "cut" / "checkpoints" / "last.json").read_text())["step"] == 6
    resume(tmp_path / "cut")

    for name in ("ref", "cut"):
        crlf, lf = _endings(tmp_path / name / "metrics.csv")
        assert crlf == 0, f"{name}: {crlf} CRLF line(s)"
        assert lf == 1 + len(read_metrics(tmp_path / name)) > 20  # header + one line per row
    # byte for byte the same file as the uninterrupted run's
    assert (tmp_path / "cut" / "metrics.csv").read_bytes() == \
        (tmp_path / "ref" / "metrics.csv").read_bytes()


def test_resuming_a_file_with_crlf_rows_from_an_older_version_leaves_one_ending(
    tmp_path: Path,
) -> None:
    header = ",".join(METRICS_COLUMNS)
    (tmp_path / "metrics.csv").write_bytes(
        f"{header}\n1,plain,0,train,loss,0.5\r\n2,plain,0,train,loss,0.25\r\n"
        "3,plain,0,train,loss,0.125\r\n".encode())
    logger = MetricsLogger(tmp_path, resume_rows=2, resume_step=2)
    logger.log({"loss": 0.0625}, step=3, stage="plain", epoch=0, split="train")
    logger.close()
    assert (tmp_path / "metrics.csv").read_bytes() == (
        f"{header}\n1,plain,0,train,loss,0.5\n2,plain,0,train,loss,0.25\n"
        "3,plain,0,train,loss,0.0625\n").encode()
