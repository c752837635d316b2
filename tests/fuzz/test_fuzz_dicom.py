"""Fuzzing the DICOM reader: headers with random tags and values, written by pydicom."""

from __future__ import annotations

import warnings

import numpy as np
import pydicom
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.tag import Tag
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

from sonomtl.data.dicom import read_dicom
from sonomtl.errors import InputError
from tests.fuzz.conftest import data_or_input_error, fuzz_settings

# numbers as a DICOM text value (DS/IS) might hold them, valid or not
number_text = st.one_of(
    st.integers(-(2 ** 40), 2 ** 40).map(str), st.floats().map(repr),
    st.sampled_from(["", "0", "-1", "1e400", "nan", "inf", "abc", "1\\2", "3\\4\\5", " 7 "]))
small_int = st.integers(0, 65_535)  # US/UL: what the file format can hold

REGION_KEYS = ("RegionLocationMinX0", "RegionLocationMinY0", "RegionLocationMaxX1",
               "RegionLocationMaxY1", "RegionSpatialFormat", "RegionDataType",
               "PhysicalUnitsXDirection", "PhysicalUnitsYDirection")


@st.composite
def headers(draw) -> dict:
    """Random values for the tags the reader looks at (each one may be missing)."""
    header = {
        "Rows": draw(st.one_of(st.none(), st.integers(0, 40))),
        "Columns": draw(st.one_of(st.none(), st.integers(0, 40))),
        "BitsAllocated": draw(st.sampled_from([None, 1, 8, 16, 32, 7, 0])),
        "BitsStored": draw(st.sampled_from([None, 0, 1, 8, 12, 16, 64, 200, 65535])),
        "HighBit": draw(st.sampled_from([None, 7, 15, 0])),
        "SamplesPerPixel": draw(st.sampled_from([None, 1, 3, 0, 4])),
        "PixelRepresentation": draw(st.sampled_from([None, 0, 1, 2])),
        "PhotometricInterpretation": draw(st.sampled_from(
            [None, "MONOCHROME2", "MONOCHROME1", "RGB", "PALETTE COLOR", "YBR_FULL", "XYZ"])),
        "NumberOfFrames": draw(st.one_of(st.none(), number_text)),
        "PixelSpacing": draw(st.one_of(st.none(), st.lists(number_text, max_size=3))),
        "FrameTime": draw(st.one_of(st.none(), number_text)),
        "CineRate": draw(st.one_of(st.none(), number_text)),
        "FrameTimeVector": draw(st.one_of(st.none(), st.lists(number_text, max_size=4))),
        "RescaleSlope": draw(st.one_of(st.none(), number_text)),
        "regions": draw(st.lists(st.fixed_dictionaries({}, optional={
            **{key: small_int for key in REGION_KEYS},
            "PhysicalDeltaX": st.floats(), "PhysicalDeltaY": st.floats()}), max_size=2)),
        "pixel_bytes": draw(st.one_of(st.none(), st.integers(0, 3300))),
    }
    return header


def _write(path, header: dict) -> None:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    for key, value in header.items():
        if key in ("regions", "pixel_bytes") or value is None:
            continue
        if key in ("PixelSpacing", "FrameTimeVector"):
            value = "\\".join(value)
        if isinstance(value, str):
            _set_raw_text(ds, key, value)
        else:
            setattr(ds, key, value)
    if header["regions"]:
        items = []
        for region in header["regions"]:
            item = Dataset()
            for key, value in region.items():
                setattr(item, key, value)
            items.append(item)
        ds.SequenceOfUltrasoundRegions = Sequence(items)
    if header["pixel_bytes"] is not None:
        pixels = bytes(np.arange(header["pixel_bytes"], dtype=np.uint8) % 251)
        ds.add_new(0x7FE00010, "OB", pixels + b"\x00" * (len(pixels) % 2))
    ds.set_original_encoding(False, True, ds._character_set)  # write raw values as they are
    ds.save_as(path, enforce_file_format=True)


def _set_raw_text(ds: Dataset, keyword: str, text: str) -> None:
    """Store ``text`` as the tag's bytes: pydicom would refuse a DS/IS value like 'abc'."""
    tag = Tag(tag_for_keyword(keyword))
    value = text.encode("latin-1", errors="replace")
    value += b" " * (len(value) % 2)  # DICOM values have an even length
    ds[tag] = RawDataElement(tag, dictionary_VR(tag), len(value), value, 0, False, True)


def _valid_8bit(**changes) -> dict:
    base = {"Rows": 4, "Columns": 5, "BitsAllocated": 8, "BitsStored": 8, "HighBit": 7,
            "SamplesPerPixel": 1, "PixelRepresentation": 0,
            "PhotometricInterpretation": "MONOCHROME2", "NumberOfFrames": None,
            "PixelSpacing": None, "FrameTime": None, "CineRate": None, "FrameTimeVector": None,
            "RescaleSlope": None, "regions": [], "pixel_bytes": 20}
    return {**base, **changes}


@pytest.fixture(autouse=True)
def _lenient_pydicom():
    """Write the values as drawn (pydicom would refuse invalid ones) and hide its warnings."""
    config = pydicom.config.settings
    before = config.writing_validation_mode, config.reading_validation_mode
    config.writing_validation_mode = pydicom.config.IGNORE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
    config.writing_validation_mode, config.reading_validation_mode = before


@fuzz_settings(400)
@given(header=headers())
@example(header=_valid_8bit())  # a plain valid image: decodes
# found by this test: ValueError from read_dicom or frame() ...
@example(header=_valid_8bit(RescaleSlope="abc"))
@example(header=_valid_8bit(FrameTime="abc"))
@example(header=_valid_8bit(PixelSpacing=["abc", "1"]))
# ... and a negative frame count that read_dicom accepted
@example(header=_valid_8bit(NumberOfFrames="-2"))
# hand-picked edge cases (answered cleanly already)
@example(header=_valid_8bit(BitsStored=0))
@example(header=_valid_8bit(BitsStored=200, PixelRepresentation=1))
@example(header=_valid_8bit(FrameTimeVector=["abc"]))
@example(header=_valid_8bit(regions=[{"RegionSpatialFormat": 1, "PhysicalDeltaX": float("nan"),
                                      "PhysicalDeltaY": 0.1, "PhysicalUnitsXDirection": 3,
                                      "PhysicalUnitsYDirection": 3}]))
def test_dicom_headers_give_an_image_or_an_input_error(fuzz_dir, header):
    path = fuzz_dir("x.dcm")
    _write(path, header)
    image = data_or_input_error(lambda: read_dicom(path))
    if isinstance(image, InputError):
        return
    assert image.n_frames >= 1 and min(image.hw) >= 1
    if image.spacing_mm is not None:
        assert all(np.isfinite(image.spacing_mm)) and min(image.spacing_mm) > 0
    frame = data_or_input_error(lambda: image.frame(0))
    if not isinstance(frame, InputError):
        assert frame.shape == image.hw and frame.dtype == np.float32
        assert np.isfinite(frame).all()
    timestamp = data_or_input_error(lambda: image.timestamp_ms(image.n_frames - 1))
    assert timestamp is None or isinstance(timestamp, (float, InputError))
