"""Fixtures of the report tests: generated run and experiment folders, one built report."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.report.report_folders import write_experiment_folder, write_run_folder


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return write_run_folder(tmp_path / "msen-run")


@pytest.fixture
def experiment_dir(tmp_path: Path) -> Path:
    return write_experiment_folder(tmp_path / "abdominal-exp")


@pytest.fixture(scope="session")
def built_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One report of a run and an experiment, built once for the HTML and browser tests."""
    from sonomtl.report import write_report

    root = tmp_path_factory.mktemp("report")
    run = write_run_folder(root / "msen-run")
    experiment = write_experiment_folder(root / "abdominal-exp")
    return write_report([run, experiment], out=root / "report.html", title="Test <report>")
