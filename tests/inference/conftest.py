"""Fixtures of the inference tests (helpers live in helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.inference.helpers import scaled_init_, write_checkpoint


@pytest.fixture(scope="session")
def msen_run(tmp_path_factory) -> Path:
    """An M-SEN generator (SonoNet-4 trunk) checkpoint at 64x64 input."""
    from sonomtl.models.msen import msen_generator

    kwargs = {"sononet_width": 4}
    model = scaled_init_(msen_generator(**kwargs)).eval()
    return write_checkpoint(tmp_path_factory.mktemp("msen_run"), {"G": ("msen", kwargs, model)},
                            preprocessing={"input_hw": [64, 64]})
