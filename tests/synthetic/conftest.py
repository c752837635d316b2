"""Small synthetic data sets shared by the tests of this folder (generated once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sonomtl.data.synthetic import generate_abdominal, generate_sweeps


@pytest.fixture(scope="session")
def sweeps_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_sweeps(
        tmp_path_factory.mktemp("sweeps"), subjects=3, frames_per_clip=12, seed=11
    )


@pytest.fixture(scope="session")
def abdominal_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_abdominal(
        tmp_path_factory.mktemp("abdominal"), images=22, seed=5, input_size=256
    )
