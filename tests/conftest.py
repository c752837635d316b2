"""Fixtures shared by the whole suite."""

from __future__ import annotations

from pathlib import Path

import pytest

from sonomtl.fileio import shared_data_dir


@pytest.fixture(scope="session", autouse=True)
def _model_store_stays_on_this_machine(tmp_path_factory):
    """No test downloads weights or reads the user's cache: an empty cache, offline."""
    import os

    saved = {key: os.environ.get(key)
             for key in ("SONOMTL_CACHE_DIR", "SONOMTL_OFFLINE", "SONOMTL_WEIGHTS_DIR")}
    os.environ["SONOMTL_CACHE_DIR"] = str(tmp_path_factory.mktemp("sonomtl-cache"))
    os.environ["SONOMTL_OFFLINE"] = "1"
    os.environ.pop("SONOMTL_WEIGHTS_DIR", None)
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real reference data (../shared/data or $SONOMTL_SHARED_DATA); skips when absent."""
    root = shared_data_dir()
    if root is None:
        pytest.skip(
            "real data not found: set SONOMTL_SHARED_DATA or put ../shared/data beside the project"
        )
    return root


@pytest.fixture(scope="session")
def sononet_dir(shared_data: Path) -> Path:
    path = shared_data / "sononet"
    if not (path / "SonoNet16.npz").is_file():
        pytest.skip(f"SonoNet weights not found in {path}")
    return path


@pytest.fixture(scope="session")
def hc18_dir(shared_data: Path) -> Path:
    path = shared_data / "hc18"
    if not (path / "training_set_pixel_size_and_HC.csv").is_file():
        pytest.skip(f"HC18 data not found in {path}")
    return path


def _hypothesis_profiles() -> None:
    """In CI (``CI`` set) property tests draw the same examples each run: a red build reproduces."""
    import os

    from hypothesis import settings

    settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
    if os.environ.get("CI"):
        settings.load_profile("ci")


_hypothesis_profiles()
