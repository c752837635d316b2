"""The measurement SR's codes and content, built from known predictions (no network)."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest

from sonomtl.inference.predictor import FramePrediction
from sonomtl.serve.dicom_sr import (
    PRIVATE_SCHEME,
    STANDARD_MEASUREMENT_CODES,
    build_measurement_sr,
    build_overlay_sc,
    measurement_code,
)
from tests.serve.helpers import pydicom_file


def test_standard_codes_are_the_ones_dicom_lists_for_fetal_biometry():
    from pydicom.sr.codedict import codes

    standard = {"BPD": codes.LN.BiparietalDiameter, "OFD": codes.LN.OccipitalFrontalDiameter,
                "HC": codes.LN.HeadCircumference, "AC": codes.LN.AbdominalCircumference}
    assert {name: (c.value, c.scheme_designator, c.meaning) for name, c in standard.items()} \
        == STANDARD_MEASUREMENT_CODES
    assert [measurement_code(n).value for n in ("BPD", "OFD", "HC", "AC")] == [
        "11820-8", "11851-3", "11984-2", "11979-2"]


def test_other_measurements_get_private_codes_that_fit_dicoms_limits():
    long_name = "kidney transverse long axis"
    code = measurement_code(long_name)
    assert code.scheme_designator == PRIVATE_SCHEME
    assert len(code.value) == 16 and code.value.startswith("M")
    assert code.value != measurement_code(long_name + "2").value
    assert code.meaning == "kidney transverse long axis (sonomtl measurement)"
    assert measurement_code("A\\B").value.startswith("M")  # a backslash would split the value


def _header(name="ExplVR_BigEnd.dcm"):
    return pydicom.dcmread(pydicom_file(name), stop_before_pixels=True)


def test_each_frame_gets_its_group_and_missing_measurements_are_left_out():
    import highdicom as hd

    header = _header("examples_rgb_color.dcm")
    frames = [(1, FramePrediction(label="fetal_head", probabilities={"fetal_head": 0.8, "BG": 0.2},
                                  measurements_mm={"HC": 170.123456789012, "BPD": None,
                                                   "KL_LA": 41.5}))]
    sr = build_measurement_sr(header, frames, model_name="m", model_version="1")
    written = hd.sr.srread(pydicom.filebase.DicomBytesIO(_bytes(sr)))
    (group,) = written.content.get_image_measurement_groups()
    values = {(m.name.value, m.name.scheme_designator): (m.value, m.unit.value)
              for m in group.get_measurements()}
    assert values == {("VIEWPROB", PRIVATE_SCHEME): (0.8, "1"),
                      ("11984-2", "LN"): (170.123456789012, "mm"),
                      ("KL_LA", PRIVATE_SCHEME): (41.5, "mm")}
    assert written.PatientID == header.PatientID
    assert written.StudyInstanceUID == header.StudyInstanceUID
    assert written.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.33"  # Comprehensive SR
    (library,) = [item for item in written.ContentSequence
                  if item.ConceptNameCodeSequence[0].CodeMeaning == "Image Library"]
    (entry,) = library.ContentSequence[0].ContentSequence
    assert entry.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == header.SOPInstanceUID
    again = build_measurement_sr(header, frames, model_name="m", model_version="1")
    assert again.SeriesInstanceUID == sr.SeriesInstanceUID  # one series per model and study
    assert again.SOPInstanceUID != sr.SOPInstanceUID


def _bytes(dataset) -> bytes:
    buffer = pydicom.filebase.DicomBytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


@pytest.mark.parametrize(("frames", "words"), [
    ([], "at least one"),
    ([(2, FramePrediction(label=None, probabilities={}))], r"must lie in 1..1, got \[2\]"),
])
def test_bad_frame_lists_are_refused(frames, words):
    with pytest.raises(ValueError, match=words):
        build_measurement_sr(_header(), frames, model_name="m", model_version="1")


def test_the_overlay_sc_references_its_source_and_refuses_a_non_rgb_array():
    header = _header()  # an old file: StudyTime '14:04:38' is not a DICOM time
    assert header.StudyTime == "14:04:38"
    overlay = np.zeros((60, 80, 3), dtype=np.uint8)
    overlay[10, 20] = (255, 0, 0)
    sc = build_overlay_sc(header, overlay, frame_number=1, model_name="m", model_version="2")
    back = pydicom.dcmread(pydicom.filebase.DicomBytesIO(_bytes(sc)))
    assert np.array_equal(back.pixel_array, overlay)
    assert back.SourceImageSequence[0].ReferencedSOPInstanceUID == header.SOPInstanceUID
    assert "ReferencedFrameNumber" not in back.SourceImageSequence[0]  # single-frame source
    assert back.DerivationDescription == "sonomtl overlay: m 2"
    assert (back.StudyInstanceUID, back.StudyDate, back.StudyTime) == (
        header.StudyInstanceUID, header.StudyDate, "")  # the malformed time left out
    with pytest.raises(ValueError, match=r"uint8 \(H, W, 3\), got float32"):
        build_overlay_sc(header, overlay.astype(np.float32), frame_number=1,
                         model_name="m", model_version="2")
