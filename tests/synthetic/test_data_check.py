"""``sonomtl data check`` accepts what the simulator writes."""

from __future__ import annotations

from pathlib import Path

from sonomtl.data.check import check_dataset


def test_sweeps_pass_the_data_check(sweeps_dir: Path):
    report = check_dataset(sweeps_dir)
    assert report.ok, [str(p) for p in report.problems]
    assert report.frames > 0


def test_abdominal_passes_the_data_check(abdominal_dir: Path):
    report = check_dataset(abdominal_dir)
    assert report.ok, [str(p) for p in report.problems]
    assert report.frames > 0
