"""Fixtures of the DICOM node tests (helpers live in helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.serve.helpers import HEAD_MEASUREMENTS, Archive


@pytest.fixture(scope="session")
def head_run(tmp_path_factory) -> Path:
    """A fetal-head landmark checkpoint (abdominal MFCN, 2 classes, OFD/BPD/HC) at 48x64.

    Untrained: He-initialised with seed 5, which on pydicom's ultrasound frames
    puts a positive peak in each of the four heat maps, so every frame gets all
    three measurements (other seeds leave some maps without one).
    """
    from sonomtl.models.abdominal import abdominal_mfcn
    from tests.inference.helpers import scaled_init_, write_checkpoint

    kwargs = {"num_classes": 2, "num_landmarks": 4}
    model = scaled_init_(abdominal_mfcn(**kwargs), seed=5).eval()
    preprocessing = {"input_hw": [48, 64], "class_names": ["fetal_head", "BG"],
                     "landmark_names": ["ofd_1", "ofd_2", "bpd_1", "bpd_2"],
                     "measurements": HEAD_MEASUREMENTS}
    return write_checkpoint(tmp_path_factory.mktemp("head_run"),
                            {"G": ("abdominal_mfcn", kwargs, model)},
                            preprocessing=preprocessing)


@pytest.fixture(scope="session")
def head_predictor(head_run):
    from sonomtl.inference.predictor import load_predictor

    return load_predictor(head_run)


@pytest.fixture
def archive():
    node = Archive()
    yield node
    node.stop()
