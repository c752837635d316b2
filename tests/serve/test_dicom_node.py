"""The DICOM node end to end on loopback: a pynetdicom scanner sends pydicom's real ultrasound
files, the node answers with a measurement SR, forwards it to an archive node, and each value
read back with highdicom equals what ``sonomtl predict`` gives on the same file."""

from __future__ import annotations

import json
import logging
import time

import numpy as np
import pytest

from sonomtl.serve.dicom_node import NO_PIXEL_SIZE, DicomNode, DicomNodeSettings
from sonomtl.serve.dicom_settings import ForwardTarget
from tests.serve.helpers import associate, calibrated_copy, pydicom_file, send

HEAD_CODES = {"OFD": "11851-3", "BPD": "11820-8", "HC": "11984-2"}
US_IMAGE = "1.2.840.10008.5.1.4.1.1.6.1"


def _node(predictor, out_dir, **changes):
    settings = dict(port=0, out_dir=out_dir, allowed_callers=("SCANNER",))
    settings.update(changes)
    return DicomNode(predictor.predict_frames, DicomNodeSettings(**settings),
                     model_name="head-mfcn-test", model_version="9.8.7", config=predictor.config)


def _groups(path):
    import highdicom as hd

    sr = hd.sr.srread(path)
    return sr, sr.content.get_image_measurement_groups()


def _content_texts(dataset, meaning):
    """Every TEXT value under a concept named ``meaning`` in the SR's content tree."""
    found = []
    for item in dataset.get("ContentSequence", []):
        name = item.get("ConceptNameCodeSequence")
        if name and name[0].CodeMeaning == meaning and "TextValue" in item:
            found.append(str(item.TextValue))
        found.extend(_content_texts(item, meaning))
    return found


def _predict_cli(run, path, out):
    from sonomtl.cli import main

    assert main(["predict", str(run), str(path), "--out", str(out), "--no-progress",
                 "--no-overlays"]) == 0
    lines = (out / "predictions.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_a_real_us_image_gets_an_sr_whose_values_equal_predicts(head_run, head_predictor,
                                                                 archive, tmp_path):
    import pydicom

    source = calibrated_copy("examples_rgb_color.dcm", tmp_path / "us.dcm")
    uid = str(pydicom.dcmread(source, stop_before_pixels=True).SOPInstanceUID)
    out = tmp_path / "out"
    forward = (ForwardTarget("ARCHIVE", "127.0.0.1", archive.port),)
    with _node(head_predictor, out, forward=forward) as node:
        status = send(node.port, source)
        assert status.Status == 0x0000
        forwarded = archive.wait_for(1)
    expected = _predict_cli(head_run, source, tmp_path / "predict")[0]
    assert expected["spacing_mm"] == pytest.approx([0.3, 0.3])  # 0.03 cm from the region
    assert set(expected["measurements_mm"]) == {"OFD", "BPD", "HC"}
    assert sorted(p.name for p in out.iterdir()) == [".incoming", f"{uid}.SR.dcm"]
    assert list((out / ".incoming").iterdir()) == []
    sr, groups = _groups(out / f"{uid}.SR.dcm")
    assert forwarded[0].SOPInstanceUID == sr.SOPInstanceUID  # the archive got the same SR
    assert sr.StudyInstanceUID == pydicom.dcmread(source).StudyInstanceUID
    assert len(groups) == 1
    group = groups[0]
    assert group.tracking_identifier == "frame 1"
    assert [(s.referenced_sop_instance_uid, s.referenced_frame_numbers)
            for s in group.source_images] == [(uid, None)]  # single-frame: the UID alone
    assert [(q.name.value, q.value.value) for q in group.get_qualitative_evaluations()] == [
        ("111031", expected["label"])]
    values = {m.name.value: (m.value, m.unit.value, m.unit.scheme_designator,
                             [r.referenced_sop_instance_uid for r in m.referenced_images])
              for m in group.get_measurements()}
    for name, code in HEAD_CODES.items():
        assert values[code] == (expected["measurements_mm"][name], "mm", "UCUM", [uid])
    assert values["VIEWPROB"][0] == expected["probabilities"][expected["label"]]
    assert set(_content_texts(sr, "Algorithm Name")) == {"head-mfcn-test"}
    assert set(_content_texts(sr, "Algorithm Version")) == {"9.8.7"}
    # the same numbers as the Python API on the frames read by the project's DICOM reader
    from sonomtl.data.dicom import read_dicom

    image = read_dicom(source)
    direct = head_predictor.predict_frames([image.frame(0)], spacings_mm=[image.spacing_mm])[0]
    assert direct.measurements_mm == expected["measurements_mm"]


@pytest.mark.slow
def test_a_cine_gets_one_measurement_group_per_frame_and_the_key_frames_overlay(
        head_run, head_predictor, archive, tmp_path):
    import pydicom

    source = calibrated_copy("examples_ybr_color.dcm", tmp_path / "cine.dcm", delta_cm=0.05)
    header = pydicom.dcmread(source, stop_before_pixels=True)
    uid = str(header.SOPInstanceUID)
    out = tmp_path / "out"
    forward = (ForwardTarget("ARCHIVE", "127.0.0.1", archive.port),)
    with _node(head_predictor, out, write_overlay=True, forward=forward) as node:
        assert send(node.port, source).Status == 0x0000
        forwarded = archive.wait_for(2)
    expected = _predict_cli(head_run, source, tmp_path / "predict")
    assert len(expected) == 30
    _, groups = _groups(out / f"{uid}.SR.dcm")
    assert [g.tracking_identifier for g in groups] == [f"frame {n}" for n in range(1, 31)]
    for group, record in zip(groups, expected):
        frame_number = record["frame"] + 1
        assert [s.referenced_frame_numbers for s in group.source_images] == [[frame_number]]
        values = {m.name.value: m.value for m in group.get_measurements()}
        assert {n: values[c] for n, c in HEAD_CODES.items()} == record["measurements_mm"]
        assert all(r.referenced_frame_numbers == [frame_number]
                   for m in group.get_measurements() for r in m.referenced_images)
    key = 1 + int(np.argmax([r["probabilities"]["fetal_head"] if r["label"] == "fetal_head"
                             else -1.0 for r in expected]))
    sc = pydicom.dcmread(out / f"{uid}.SC.dcm")
    assert sc.SOPClassUID == "1.2.840.10008.5.1.4.1.1.7"
    assert (sc.Rows, sc.Columns, sc.SamplesPerPixel) == (240, 320, 3)
    assert sc.StudyInstanceUID == header.StudyInstanceUID
    assert (sc.SourceImageSequence[0].ReferencedSOPInstanceUID,
            sc.SourceImageSequence[0].ReferencedFrameNumber) == (uid, key)
    sr = pydicom.dcmread(out / f"{uid}.SR.dcm")
    assert [(d.SOPClassUID, d.SOPInstanceUID) for d in forwarded] == [
        (sr.SOPClassUID, sr.SOPInstanceUID), (sc.SOPClassUID, sc.SOPInstanceUID)]


def test_real_us_files_without_a_usable_calibration_are_refused_and_nothing_is_written(
        head_predictor, tmp_path, caplog):
    out = tmp_path / "out"
    caplog.set_level(logging.WARNING, logger="sonomtl.serve.dicom")
    with _node(head_predictor, out) as node:
        # no ultrasound regions at all (one in JPEG 2000); a region outside the 800x350 frame
        # (a resized export)
        for name in ("examples_rgb_color.dcm", "examples_jpeg2k.dcm", "examples_palette.dcm"):
            status = send(node.port, pydicom_file(name))
            assert status.Status == 0xC000
            assert status.ErrorComment == NO_PIXEL_SIZE
        assoc = associate(node.port)
        assert assoc.send_c_echo().Status == 0x0000  # still serving
        assoc.release()
    assert [p.name for p in out.iterdir()] == [".incoming"]
    assert list((out / ".incoming").iterdir()) == []
    refused = [r.getMessage() for r in caplog.records if "refused (0xC000)" in r.getMessage()]
    assert len(refused) == 3
    assert refused[2].endswith(f"{NO_PIXEL_SIZE} (pixel size unknown, so measurements in mm "
                               "cannot be given: pass --spacing-mm, use a calibrated DICOM, or "
                               "--no-measurements)")
    assert any("lies outside the 800x350 frame" in r.getMessage() for r in caplog.records)


def test_echo_answers_allowed_callers_and_unknown_callers_are_rejected(head_predictor,
                                                                       tmp_path):
    with _node(head_predictor, tmp_path / "out", allowed_callers=("SCANNER", "ECHOSCU")) as node:
        for calling in ("SCANNER", "ECHOSCU"):
            assoc = associate(node.port, calling=calling)
            assert assoc.is_established
            assert assoc.send_c_echo().Status == 0x0000
            assoc.release()
        assert associate(node.port, calling="INTRUDER").is_rejected
        assert associate(node.port, calling="SCANNER", called="OTHER").is_rejected


def test_other_sop_classes_and_undecodable_syntaxes_are_refused_at_association(
        head_predictor, tmp_path):
    import pydicom

    ct = pydicom.dcmread(pydicom_file("CT_small.dcm"))
    hevc = "1.2.840.10008.1.2.4.107"  # no pixel decoder for H.265 here
    with _node(head_predictor, tmp_path / "out") as node:
        assoc = associate(node.port, contexts=((str(ct.SOPClassUID), "1.2.840.10008.1.2.1"),
                                               (US_IMAGE, hevc),
                                               ("1.2.840.10008.1.1", "1.2.840.10008.1.2")))
        assert assoc.is_established
        rejected = {c.abstract_syntax: c.result for c in assoc.rejected_contexts}
        assert rejected == {str(ct.SOPClassUID): 0x03, US_IMAGE: 0x04}
        with pytest.raises(ValueError, match="No presentation context"):
            assoc.send_c_store(ct)
        assoc.release()
    assert [p.name for p in (tmp_path / "out").iterdir()] == []


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI")
def test_a_hostile_instance_uid_writes_nothing_anywhere(head_predictor, tmp_path):
    import pydicom

    ds = pydicom.dcmread(calibrated_copy("examples_rgb_color.dcm", tmp_path / "us.dcm"))
    (tmp_path / "out").mkdir()
    before = sorted(p for p in tmp_path.rglob("*"))
    statuses = []
    with _node(head_predictor, tmp_path / "out") as node:
        assoc = associate(node.port, contexts=((US_IMAGE, "1.2.840.10008.1.2.1"),))
        for hostile in ("1.2.3.4.05", "../../1.2.3", "1.2.3/../../../x"):
            ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = hostile
            statuses.append(assoc.send_c_store(ds))
        assoc.release()
    assert [(s.Status, s.ErrorComment) for s in statuses] == 3 * [
        (0xC000, "invalid Affected SOP Instance UID")]
    assert sorted(p for p in tmp_path.rglob("*")) == before  # refused before anything is written
    for escaped in ("1.2.3.SR.dcm", "x.SR.dcm"):  # where the two paths would have led
        assert not (tmp_path.parent / escaped).exists()


def test_a_forward_target_that_is_down_is_logged_and_the_node_keeps_serving(
        head_predictor, tmp_path, caplog):
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    source = calibrated_copy("examples_rgb_color.dcm", tmp_path / "us.dcm")
    caplog.set_level(logging.WARNING, logger="sonomtl.serve.dicom")
    node = _node(head_predictor, tmp_path / "out",
                 forward=(ForwardTarget("PACS", "127.0.0.1", dead_port),), network_timeout_s=5.0)
    with node:
        assert send(node.port, source).Status == 0x0000
        assert send(node.port, source).Status == 0x0000  # a resend replaces the report
    assert len(list((tmp_path / "out").glob("*.SR.dcm"))) == 1
    messages = [r.getMessage() for r in caplog.records]
    assert messages.count(f"forwarding to PACS@127.0.0.1:{dead_port}: association rejected, "
                          "aborted or timed out") == 2


def test_an_old_us_file_gets_its_view_and_a_secondary_capture_its_measurements(
        head_predictor, tmp_path):
    import dataclasses

    import pydicom

    from sonomtl.data.dicom import read_dicom
    from sonomtl.inference.predictor import Predictor

    old = pydicom_file("ExplVR_BigEnd.dcm")  # big endian, no PatientID, no calibration
    capture = pydicom_file("SC_rgb_rle.dcm")  # Secondary Capture, RLE, PixelSpacing 1 mm
    with _node(head_predictor, tmp_path / "refused", measure=False) as node:
        status = send(node.port, old)  # the model resamples to 0.5 mm pixels: size needed
        assert (status.Status, status.ErrorComment) == (0xC000, NO_PIXEL_SIZE)
    # the same network without resampling classifies it (no measurements asked for)
    plain = Predictor(head_predictor.runner,
                      dataclasses.replace(head_predictor.config, target_spacing_mm=None))
    with _node(plain, tmp_path / "views", measure=False) as node:
        assert send(node.port, old).Status == 0x0000
    uid = pydicom.dcmread(old, stop_before_pixels=True).SOPInstanceUID
    _, (group,) = _groups(tmp_path / "views" / f"{uid}.SR.dcm")
    image = read_dicom(old)
    direct = plain.predict_frames([image.frame(0)], measure=False)[0]
    assert [(q.name.meaning, q.value.value) for q in group.get_qualitative_evaluations()] == [
        ("Image View", direct.label)]
    assert [(m.name.value, m.value) for m in group.get_measurements()] == [
        ("VIEWPROB", direct.probabilities[direct.label])]
    with _node(head_predictor, tmp_path / "sc") as node:
        assert send(node.port, capture).Status == 0x0000
    uid = pydicom.dcmread(capture, stop_before_pixels=True).SOPInstanceUID
    _, (group,) = _groups(tmp_path / "sc" / f"{uid}.SR.dcm")
    image = read_dicom(capture)
    assert image.spacing_mm == (1.0, 1.0)
    direct = head_predictor.predict_frames([image.frame(0)], spacings_mm=[image.spacing_mm])[0]
    values = {m.name.value: m.value for m in group.get_measurements()}
    assert {n: values[c] for n, c in HEAD_CODES.items()} == direct.measurements_mm


def test_an_error_inside_the_model_is_answered_and_the_node_keeps_serving(tmp_path, caplog):
    def broken(images, *, spacings_mm=None, measure=True, file=None):
        raise RuntimeError("weights on fire")

    source = calibrated_copy("examples_rgb_color.dcm", tmp_path / "us.dcm")
    settings = DicomNodeSettings(port=0, out_dir=tmp_path / "out", allowed_callers=("SCANNER",))
    caplog.set_level(logging.ERROR, logger="sonomtl.serve.dicom")
    with DicomNode(broken, settings, model_name="m", model_version="1") as node:
        status = send(node.port, source)
        assert (status.Status, status.ErrorComment) == (0xC000, "internal error: weights on fire")
        assoc = associate(node.port)
        assert assoc.send_c_echo().Status == 0x0000
        assoc.release()
    assert "unexpected error" in caplog.records[0].getMessage()
    assert caplog.records[0].exc_info[0] is RuntimeError
    assert list((tmp_path / "out" / ".incoming").iterdir()) == []


def test_associations_beyond_the_limit_are_rejected(head_predictor, tmp_path):
    with _node(head_predictor, tmp_path / "out", max_associations=1) as node:
        first = associate(node.port)
        assert first.is_established
        second = associate(node.port)
        assert second.is_rejected
        first.release()
        deadline = time.monotonic() + 10  # the node ends the released association's thread
        third = associate(node.port)
        while not third.is_established and time.monotonic() < deadline:
            time.sleep(0.2)
            third = associate(node.port)
        assert third.is_established
        third.release()


def test_a_port_in_use_fails_start_and_leaves_no_thread_behind(head_predictor, archive,
                                                               tmp_path):
    import threading

    node = _node(head_predictor, tmp_path / "out", port=archive.port,
                 forward=(ForwardTarget("ARCHIVE", "127.0.0.1", archive.port),))
    with pytest.raises(OSError):
        node.start()
    assert not [t for t in threading.enumerate() if t.name == "sonomtl-dicom-forward"]
    with pytest.raises(RuntimeError, match="not started"):
        _ = node.port
