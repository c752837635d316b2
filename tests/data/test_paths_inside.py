"""Dataset paths stay inside the dataset folder unless dataset.yaml says allow_external_paths."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from sonomtl.data.check import check_dataset
from sonomtl.data.manifest import DatasetSpec, load_dataset, write_dataset
from sonomtl.data.spec import load_spec, spec_from_dict
from sonomtl.errors import InputError


@pytest.fixture
def outside_image(tmp_path):
    Image.fromarray(np.full((8, 8), 9, np.uint8)).save(tmp_path / "outside.png")
    (tmp_path / "data").mkdir()
    Image.fromarray(np.full((8, 8), 9, np.uint8)).save(tmp_path / "data" / "in.png")
    return tmp_path / "data"


def _dataset(folder, *, allow: bool):
    spec = DatasetSpec(name="t", classes=("a",), allow_external_paths=allow)
    return write_dataset(folder, spec, [
        {"image": "in.png", "subject": "s1", "label": "a"},
        {"image": "../outside.png", "subject": "s2", "label": "a"},
    ])


def test_an_escaping_row_is_refused_by_default_and_listed_by_data_check(outside_image):
    folder = _dataset(outside_image, allow=False)
    with pytest.raises(InputError) as caught:
        load_dataset(folder)
    assert str(caught.value).startswith(f"{folder / 'manifest.csv'}: row 3: field image: path "
                                        "'../outside.png' leaves the folder")
    report = check_dataset(folder)
    assert not report.ok and report.frames == 1
    assert [(p.row, p.field) for p in report.problems] == [(3, "image")]


def test_allow_external_paths_permits_them_and_survives_a_round_trip(outside_image):
    folder = _dataset(outside_image, allow=True)
    assert "allow_external_paths: true" in (folder / "dataset.yaml").read_text()
    spec, records = load_dataset(folder)
    assert spec.allow_external_paths and [r.image for r in records] == ["in.png",
                                                                        "../outside.png"]
    assert check_dataset(folder).ok
    assert spec_from_dict(spec.to_dict()) == spec


def test_the_default_is_off_and_not_written(tmp_path):
    folder = write_dataset(tmp_path, DatasetSpec(name="t", classes=("a",)), [])
    assert "allow_external_paths" not in (folder / "dataset.yaml").read_text()
    assert load_spec(folder).allow_external_paths is False
