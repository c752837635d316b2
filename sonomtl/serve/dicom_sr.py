"""A model's results on a DICOM image as a Comprehensive SR (TID 1500) and an overlay SC.

:func:`build_measurement_sr` turns the :class:`~sonomtl.inference.predictor.FramePrediction`
of each frame of one source image into a DICOM Comprehensive SR with
highdicom: an *Imaging Measurement Report* (TID 1500, ``DCM 126000``) whose
procedure is *Ultrasonography* (``SCT 310169008``), observed by a device (the
node: manufacturer ``sonomtl``, model name = the model's name). It holds one
*Measurement Group* (TID 1501) per frame, tracked as ``frame N`` (``N`` from
1, as DICOM numbers frames), with:

* its source image: the SOP Instance UID and, for a multi-frame source, the
  referenced frame number (a single-frame image is referenced by its UID alone,
  as DICOM does for single-frame images);
* the algorithm's name and version (``AlgorithmIdentification``: *Algorithm
  Name* ``DCM 111001``, *Algorithm Version* ``DCM 111003``), on the group and on
  each measurement;
* where the model classifies: a qualitative evaluation *Image View*
  (``DCM 111031``) whose value is the predicted plane/view, coded in the
  private scheme ``99SONOMTL`` (value and meaning = the class name), and the
  probability of that class as a measurement ``99SONOMTL VIEWPROB`` in UCUM
  ``1`` (no units);
* each measurement in mm (UCUM ``mm``), also referencing the source image and
  frame. Measurements with a standard code (DICOM CID 12005 *Fetal Biometry
  Measurements*, LOINC) use it: see :data:`STANDARD_MEASUREMENT_CODES`. Any
  other measurement (the abdominal organ axes ``KL_LA``, ``ST_SA``...: adult
  organ axes, not the fetal kidney lengths of CID 12005) is coded
  ``99SONOMTL`` with the measurement's name as value (names longer than 16
  characters, DICOM's limit, become ``M`` + 15 hex digits of their SHA-1) and
  ``<name> (sonomtl measurement)`` as meaning.

A measurement the model could not give on a frame (a landmark not shown for
the predicted view) is left out of that frame's group, never written as 0.
Values are written exactly: highdicom stores ``FloatingPointValue`` (FD)
beside the 16-character decimal ``NumericValue``.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "PRIVATE_SCHEME",
    "STANDARD_MEASUREMENT_CODES",
    "build_measurement_sr",
    "build_overlay_sc",
    "measurement_code",
    "view_code",
]

#: Coding scheme designator of the project's own codes (DICOM: private schemes start with 99).
PRIVATE_SCHEME = "99SONOMTL"

#: Measurement names with a standard code: LOINC, as DICOM PS3.16 CID 12005 lists them
#: (checked against pydicom's copy of the standard, ``pydicom.sr.codedict.codes.LN``).
STANDARD_MEASUREMENT_CODES: dict[str, tuple[str, str, str]] = {
    "BPD": ("11820-8", "LN", "Biparietal Diameter"),
    "OFD": ("11851-3", "LN", "Occipital-Frontal Diameter"),
    "HC": ("11984-2", "LN", "Head Circumference"),
    "AC": ("11979-2", "LN", "Abdominal Circumference"),
}

_MAX_CODE_VALUE_CHARS = 16  # SH
_MAX_MEANING_CHARS = 64  # LO


def _code(value: str, scheme: str, meaning: str) -> Any:
    from pydicom.sr.coding import Code

    return Code(value=value, scheme_designator=scheme, meaning=meaning)


def _private_value(name: str) -> str:
    """``name`` as a code value: itself when short and plain, else ``M`` + a SHA-1 prefix."""
    plain = name.isascii() and name.isprintable() and "\\" not in name and name.strip() == name
    if plain and 0 < len(name) <= _MAX_CODE_VALUE_CHARS:
        return name
    return "M" + hashlib.sha1(name.encode("utf-8")).hexdigest()[:_MAX_CODE_VALUE_CHARS - 1]


def _meaning(text: str) -> str:
    text = " ".join(text.replace("\\", "/").split())
    return text[:_MAX_MEANING_CHARS]


def measurement_code(name: str) -> Any:
    """The concept name of measurement ``name`` (a pydicom ``Code``).

    Examples
    --------
    >>> measurement_code("HC").value, measurement_code("HC").scheme_designator
    ('11984-2', 'LN')
    >>> c = measurement_code("KL_LA"); (c.value, c.scheme_designator, c.meaning)
    ('KL_LA', '99SONOMTL', 'KL_LA (sonomtl measurement)')
    """
    if name in STANDARD_MEASUREMENT_CODES:
        return _code(*STANDARD_MEASUREMENT_CODES[name])
    return _code(_private_value(name), PRIVATE_SCHEME, _meaning(f"{name} (sonomtl measurement)"))


def view_code(label: str) -> Any:
    """The coded value of a predicted plane/view ``label`` (private scheme).

    Examples
    --------
    >>> c = view_code("kidney_left_long"); (c.value, c.scheme_designator, c.meaning)
    ('kidney_left_long', '99SONOMTL', 'kidney_left_long')
    """
    return _code(_private_value(label), PRIVATE_SCHEME, _meaning(label) or "unnamed")


def _is_multi_frame(source: Any) -> bool:
    return "NumberOfFrames" in source


def _frame_numbers(source: Any, frame_number: int) -> list[int] | None:
    return [int(frame_number)] if _is_multi_frame(source) else None


def _frame_group(source: Any, frame_number: int, prediction: Any, algorithm: Any) -> Any:
    """One TID 1501 group: the frame's view evaluation and its measurements."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    frames = _frame_numbers(source, frame_number)
    image = hd.sr.SourceImageForMeasurement.from_source_image(source, frames)
    measurements = []
    qualitative = []
    if prediction.label is not None:
        qualitative.append(hd.sr.QualitativeEvaluation(codes.DCM.ImageView,
                                                       view_code(prediction.label)))
        probability = float(prediction.probabilities[prediction.label])
        measurements.append(hd.sr.Measurement(
            name=_code("VIEWPROB", PRIVATE_SCHEME, "Probability of the image view"),
            value=probability, unit=codes.UCUM.NoUnits, algorithm_id=algorithm,
            referenced_images=[image]))
    for name, value_mm in prediction.measurements_mm.items():
        if value_mm is None or not np.isfinite(value_mm):
            continue
        measurements.append(hd.sr.Measurement(
            name=measurement_code(name), value=float(value_mm), unit=codes.UCUM.Millimeter,
            algorithm_id=algorithm, referenced_images=[image]))
    return hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(),
                                                     identifier=f"frame {frame_number}"),
        algorithm_id=algorithm,
        source_images=[hd.sr.SourceImageForMeasurementGroup.from_source_image(source, frames)],
        measurements=measurements or None,
        qualitative_evaluations=qualitative or None,
    )


#: Type 2 attributes of the Patient and General Study modules that an SR copies from its source.
_TYPE2_COPIED = ("PatientID", "PatientName", "PatientBirthDate", "PatientSex", "StudyID",
                 "StudyDate", "StudyTime", "ReferringPhysicianName", "AccessionNumber")


def _evidence(source: Any) -> Any:
    """A copy of ``source`` with missing or malformed copied attributes made empty (Type 2).

    highdicom copies the patient and study from the evidence and fails on an
    absent ``PatientID`` or an old-style time such as ``14:04:38``.
    """
    import copy

    evidence = copy.deepcopy(source)
    for keyword in _TYPE2_COPIED:
        if keyword not in evidence:
            setattr(evidence, keyword, "")
    for keyword in ("StudyDate", "StudyTime"):
        if _conformant(evidence, keyword) is None:
            setattr(evidence, keyword, "")
    return evidence


def _derived_uid(*parts: str) -> str:
    """A UID from ``parts``: ``2.25.`` + a name-based (v5) UUID, the same for the same parts.

    Examples
    --------
    >>> _derived_uid("a", "b") == _derived_uid("a", "b") != _derived_uid("a", "c")
    True
    """
    return f"2.25.{uuid.uuid5(uuid.NAMESPACE_OID, chr(0).join(parts)).int}"


def build_measurement_sr(
    source: Any,
    frames: Sequence[tuple[int, Any]],
    *,
    model_name: str,
    model_version: str,
    series_number: int = 9901,
) -> Any:
    """A ``highdicom.sr.ComprehensiveSR`` of ``frames`` = ``[(frame_number, FramePrediction)]``.

    ``source`` is the image's pydicom data set (its header is enough: the SR
    copies the patient and study and references the image by UID).
    ``frame_number`` counts from 1. The SR's series is derived from the study
    and the model (all reports of one model on one study share a series); its
    SOP Instance UID is new each time.

    Raises
    ------
    ValueError
        No frames, or a frame number outside ``1 .. NumberOfFrames``.
    """
    import highdicom as hd
    from pydicom.sr.codedict import codes

    if not frames:
        raise ValueError("frames must hold at least one (frame_number, prediction) pair")
    count = int(source.get("NumberOfFrames", 1) or 1)
    bad = [n for n, _ in frames if not 1 <= int(n) <= count]
    if bad:
        raise ValueError(f"frame numbers must lie in 1..{count}, got {bad[:5]}")
    algorithm = hd.sr.AlgorithmIdentification(name=model_name, version=model_version)
    device = hd.sr.DeviceObserverIdentifyingAttributes(
        uid=_derived_uid("sonomtl device", model_name, model_version),
        name=model_name[:_MAX_MEANING_CHARS], manufacturer_name="sonomtl",
        model_name=model_name[:_MAX_MEANING_CHARS])
    context = hd.sr.ObservationContext(observer_device_context=hd.sr.ObserverContext(
        observer_type=codes.DCM.Device, observer_identifying_attributes=device))
    report = hd.sr.MeasurementReport(
        observation_context=context,
        procedure_reported=codes.SCT.Ultrasonography,
        imaging_measurements=[_frame_group(source, int(n), p, algorithm) for n, p in frames],
        referenced_images=[source])
    study = str(source.StudyInstanceUID)
    return hd.sr.ComprehensiveSR(
        evidence=[_evidence(source)], content=report,
        series_instance_uid=_derived_uid("sonomtl SR", study, model_name, model_version),
        series_number=series_number, sop_instance_uid=hd.UID(),
        instance_number=int(source.get("InstanceNumber", 1) or 1),
        manufacturer="sonomtl", is_complete=True, is_final=False, is_verified=False)


def _conformant(source: Any, keyword: str) -> Any:
    """``source``'s date or time when DICOM-conformant; ``None`` when absent or malformed.

    Old files write times as ``14:04:38``; highdicom refuses those, and a report
    without the study time is better than none.
    """
    from pydicom.valuerep import DA, TM

    value = source.get(keyword)
    if not value:
        return None
    try:
        return (DA if keyword.endswith("Date") else TM)(str(value))
    except ValueError:
        return None


def build_overlay_sc(
    source: Any,
    overlay_rgb: np.ndarray,
    *,
    frame_number: int,
    model_name: str,
    model_version: str,
    series_number: int = 9902,
) -> Any:
    """A ``highdicom.sc.SCImage`` of one frame's overlay (``uint8 (H, W, 3)`` RGB).

    The image keeps the source's patient and study (and its ``PatientOrientation``,
    usually empty for ultrasound), names the source image and frame in
    ``SourceImageSequence`` and says what drew it in ``DerivationDescription``.
    """
    import highdicom as hd
    from pydicom.dataset import Dataset

    array = np.asarray(overlay_rgb)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[-1] != 3:
        raise ValueError(f"overlay_rgb must be uint8 (H, W, 3), got {array.dtype} "
                         f"{array.shape}")
    study = str(source.StudyInstanceUID)
    sc = hd.sc.SCImage(
        pixel_array=array, photometric_interpretation="RGB", bits_allocated=8,
        coordinate_system="PATIENT",
        study_instance_uid=study,
        series_instance_uid=_derived_uid("sonomtl SC", study, model_name, model_version),
        series_number=series_number, sop_instance_uid=hd.UID(),
        instance_number=int(source.get("InstanceNumber", 1) or 1), manufacturer="sonomtl",
        patient_id=source.get("PatientID"), patient_name=source.get("PatientName"),
        patient_birth_date=source.get("PatientBirthDate"),
        patient_sex=source.get("PatientSex") or None,
        accession_number=source.get("AccessionNumber"), study_id=source.get("StudyID"),
        study_date=_conformant(source, "StudyDate"), study_time=_conformant(source, "StudyTime"),
        referring_physician_name=source.get("ReferringPhysicianName"),
        patient_orientation=("A", "F"))  # highdicom needs one; replaced below
    # An ultrasound frame has no patient orientation of its own: copy the source's (Type 2,
    # often empty) rather than claim one.
    sc.PatientOrientation = source.get("PatientOrientation", "")
    reference = Dataset()
    reference.ReferencedSOPClassUID = source.SOPClassUID
    reference.ReferencedSOPInstanceUID = source.SOPInstanceUID
    if _is_multi_frame(source):
        reference.ReferencedFrameNumber = int(frame_number)
    sc.SourceImageSequence = [reference]
    sc.DerivationDescription = _meaning(f"sonomtl overlay: {model_name} {model_version}")
    return sc

