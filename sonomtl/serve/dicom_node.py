"""A DICOM node (pynetdicom) that answers each received ultrasound image with a measurement SR.

:class:`DicomNode` is a Storage SCP and Verification SCP:

* it answers C-ECHO;
* it accepts C-STORE of US Image Storage, US Multi-frame Image Storage and
  Secondary Capture Image Storage, in the transfer syntaxes whose pixel data
  pydicom can decode here (uncompressed, RLE, and the JPEG kinds whose plug-ins
  are installed); any other SOP class or transfer syntax is refused at
  association (the presentation context is rejected);
* only calling AE titles in ``allowed_callers`` are accepted (others are
  rejected at association: pynetdicom ``require_calling_aet``), and the called
  AE title must be the node's own (``require_called_aet``).

Each received object is written to a private folder ``out_dir/.incoming/``,
read with :func:`sonomtl.data.dicom.read_dicom` (frames one at a time, pixel size
from ``PixelSpacing`` or the ultrasound regions) and predicted in batches of
``batch_frames`` frames. The node then writes ``<SOP Instance UID>.SR.dcm`` (see
:mod:`sonomtl.serve.dicom_sr`: one measurement group per frame) and, with
``write_overlay``, ``<SOP Instance UID>.SC.dcm``: the overlay of the *key frame*
(the frame whose predicted non-background class is most probable; the first
frame when every frame is background or the model does not classify). Names come
only from the validated SOP Instance UID (digits and dots), files are written to
a temporary name in ``out_dir`` and renamed, and the received copy is deleted.

C-STORE statuses: ``0x0000`` when the report was written; ``0xA900`` when the
data set's SOP Class/Instance UID disagree with the request; ``0xC000`` (cannot
understand) when the object cannot be read or predicted (no pixel data, pixel
data that cannot be decoded, pixel size unknown where the model measures, an
invalid UID), with the reason in ``ErrorComment`` (64 characters) and in full in
the log; ``0xA700`` when the report cannot be written (disk). Nothing is written
for a failed object, and the node goes on serving.

With ``forward`` targets, the written SR (and SC) are sent on with C-STORE by
one worker thread, so the sender's association is not held; a failed forward is
logged and dropped (the files stay in ``out_dir``).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sonomtl.errors import InputError, one_line
from sonomtl.serve.dicom_forward import Forwarder
from sonomtl.serve.dicom_settings import (
    DicomNodeSettings,
    ForwardTarget,
    is_valid_uid,
    valid_ae_title,
)

__all__ = [
    "ACCEPTED_SOP_CLASSES",
    "DicomNode",
    "DicomNodeSettings",
    "ForwardTarget",
    "NO_PIXEL_SIZE",
    "decodable_transfer_syntaxes",
    "is_valid_uid",
    "overlay_rgb",
    "valid_ae_title",
]

logger = logging.getLogger("sonomtl.serve.dicom")

#: SOP classes the node stores: US Image, US Multi-frame Image, Secondary Capture Image.
ACCEPTED_SOP_CLASSES: tuple[str, ...] = (
    "1.2.840.10008.5.1.4.1.1.6.1",
    "1.2.840.10008.5.1.4.1.1.3.1",
    "1.2.840.10008.5.1.4.1.1.7",
)
_VERIFICATION = "1.2.840.10008.1.1"
_MAX_COMMENT_CHARS = 64  # ErrorComment is LO

# C-STORE statuses (PS3.4 B.2.3 and pynetdicom's storage service statuses)
SUCCESS = 0x0000
OUT_OF_RESOURCES = 0xA700
DATA_SET_MISMATCH = 0xA900
CANNOT_UNDERSTAND = 0xC000
#: The ErrorComment of an image whose pixel size is unknown where the model needs it.
NO_PIXEL_SIZE = "pixel size unknown: no PixelSpacing or fitting ultrasound region"


@dataclass
class _Outcome:
    """What became of one received object (for the log and the status)."""

    status: int
    comment: str = ""
    written: list[Path] = field(default_factory=list)


class DicomNode:
    """A Storage + Verification SCP that predicts each received image and writes an SR.

    ``predict_frames`` has :meth:`~sonomtl.inference.predictor.Predictor.predict_frames`'s
    signature; calls to it are serialised (one object predicted at a time).
    ``model_name`` and ``model_version`` go into the SR's algorithm identification.
    ``config`` (optional: the predictor's ``InferenceConfig``) lets the overlay
    draw calipers for the model's measurements.
    """

    def __init__(self, predict_frames: Callable[..., Sequence[Any]],
                 settings: DicomNodeSettings, *, model_name: str, model_version: str,
                 config: Any = None) -> None:
        self.predict_frames = predict_frames
        self.settings = settings
        self.model_name = str(model_name)
        self.model_version = str(model_version)
        self.config = config
        self._predict_lock = threading.Lock()
        self._server: Any = None
        self._forwarder: Forwarder | None = None

    # -- life cycle --------------------------------------------------------
    def start(self) -> None:
        """Listen on ``settings.host:settings.port`` without blocking (threads of pynetdicom)."""
        from pynetdicom import AE, evt

        if self._server is not None:
            raise RuntimeError("the DICOM node is already started")
        settings = self.settings
        settings.out_dir.mkdir(parents=True, exist_ok=True)
        ae = AE(ae_title=settings.ae_title)
        ae.maximum_associations = settings.max_associations
        ae.maximum_pdu_size = settings.max_pdu_bytes
        ae.acse_timeout = settings.acse_timeout_s
        ae.dimse_timeout = settings.dimse_timeout_s
        ae.network_timeout = settings.network_timeout_s
        ae.require_calling_aet = list(settings.allowed_callers)
        ae.require_called_aet = True
        ae.add_supported_context(_VERIFICATION)
        syntaxes = decodable_transfer_syntaxes()
        for sop_class in ACCEPTED_SOP_CLASSES:
            ae.add_supported_context(sop_class, syntaxes)
        if settings.forward:
            self._forwarder = Forwarder(settings.forward, ae_title=settings.ae_title,
                                        timeout_s=settings.network_timeout_s)
            self._forwarder.start()
        handlers = [(evt.EVT_C_ECHO, self._on_echo), (evt.EVT_C_STORE, self._on_store)]
        try:
            self._server = ae.start_server((settings.host, settings.port), block=False,
                                           evt_handlers=handlers)
        except BaseException:  # the port is taken, the address is not ours...
            self.stop()
            raise
        logger.info("DICOM node %s listening on %s:%d (callers: %s)", settings.ae_title,
                    settings.host, self.port, ", ".join(settings.allowed_callers))

    def stop(self) -> None:
        """Stop listening (open associations are closed) and let forwarding finish."""
        if self._server is not None:
            self._server.shutdown()
            self._server = None
        if self._forwarder is not None:
            self._forwarder.stop()
            self._forwarder = None

    @property
    def port(self) -> int:
        """The TCP port listened on (the one chosen when ``settings.port`` is 0)."""
        if self._server is None:
            raise RuntimeError("the DICOM node is not started")
        return int(self._server.server_address[1])

    def __enter__(self) -> DicomNode:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- handlers ----------------------------------------------------------
    def _on_echo(self, event: Any) -> int:
        logger.info("C-ECHO from %s", event.assoc.requestor.ae_title)
        return SUCCESS

    def _on_store(self, event: Any) -> Any:
        """C-STORE: predict the object, write the SR; a status (with ErrorComment on failure)."""
        request = event.request
        caller = event.assoc.requestor.ae_title
        sop_instance = str(request.AffectedSOPInstanceUID)
        try:
            outcome = self._store(event, sop_instance)
        except Exception as error:  # the node keeps serving whatever one object does
            logger.exception("C-STORE from %s of %r: unexpected error", caller, sop_instance)
            outcome = _Outcome(CANNOT_UNDERSTAND, f"internal error: {one_line(error)}")
        if outcome.status != SUCCESS:
            logger.warning("C-STORE from %s of %s refused (0x%04X): %s", caller, sop_instance,
                           outcome.status, outcome.comment)
            return _status(outcome.status, outcome.comment)
        logger.info("C-STORE from %s of %s: wrote %s", caller, sop_instance,
                    ", ".join(p.name for p in outcome.written))
        forwarder = self._forwarder  # stop() may clear it meanwhile
        if forwarder is not None:
            forwarder.submit(outcome.written)
        return SUCCESS

    def _store(self, event: Any, sop_instance: str) -> _Outcome:
        if not is_valid_uid(sop_instance):
            return _Outcome(CANNOT_UNDERSTAND, "invalid Affected SOP Instance UID")
        incoming = self.settings.out_dir / ".incoming"
        incoming.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix="received-", suffix=".dcm", dir=incoming)
        received = Path(name)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(event.encoded_dataset(include_meta=True))
            return self._report(received, event, sop_instance)
        finally:
            received.unlink(missing_ok=True)

    def _report(self, received: Path, event: Any, sop_instance: str) -> _Outcome:
        from sonomtl.data.dicom import read_dicom

        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                image = read_dicom(received)
            for warning in caught:
                logger.warning("%s: %s", sop_instance, warning.message)
        except InputError as error:
            return _Outcome(CANNOT_UNDERSTAND, error.message)
        header = image.header
        if str(header.get("SOPInstanceUID", "")) != sop_instance or \
                str(header.get("SOPClassUID", "")) != str(event.context.abstract_syntax):
            return _Outcome(DATA_SET_MISMATCH, "SOP Class/Instance UID of the data set differ "
                                               "from the request's")
        if not is_valid_uid(str(header.get("StudyInstanceUID", ""))):
            return _Outcome(CANNOT_UNDERSTAND, "missing or invalid Study Instance UID")
        try:
            frames, key = self._predict(image, label=sop_instance)
        except InputError as error:
            if error.field == "spacing_mm":  # the predictor's advice is for the command line
                return _Outcome(CANNOT_UNDERSTAND, f"{NO_PIXEL_SIZE} ({error.message})")
            return _Outcome(CANNOT_UNDERSTAND, error.message)
        try:
            written = self._write(header, frames, key, sop_instance)
        except OSError as error:
            return _Outcome(OUT_OF_RESOURCES, f"cannot write the report: {one_line(error)}")
        return _Outcome(SUCCESS, written=written)

    def _predict(self, image: Any, *, label: str) -> tuple[list[tuple[int, Any]], Any]:
        """Every frame's prediction ``[(frame_number, FramePrediction)]`` and the key frame.

        The key frame is ``(frame_number, frame, prediction)`` of the frame whose
        non-background class is most probable (the first frame when none is).
        Attention maps are dropped from the kept predictions (memory stays bounded).
        """
        from sonomtl.data.spec import is_background_class

        size = self.settings.batch_frames
        frames: list[tuple[int, Any]] = []
        key: tuple[float, int, np.ndarray, Any] | None = None
        batch: list[np.ndarray] = []

        def flush() -> None:
            nonlocal key
            with self._predict_lock:
                results = self.predict_frames(batch, spacings_mm=[image.spacing_mm] * len(batch),
                                              measure=self.settings.measure, file=label)
            for frame, result in zip(batch, results):
                number = len(frames) + 1
                score = -1.0
                if result.label is not None and not is_background_class(result.label):
                    score = float(result.probabilities[result.label])
                if key is None or score > key[0]:
                    key = (score, number, frame, result)
                frames.append((number, dataclasses.replace(result, attention=None)))
            batch.clear()

        for frame in image.iter_frames():
            batch.append(frame)
            if len(batch) == size:
                flush()
        if batch:
            flush()
        if key is None:
            raise InputError("the image holds no frames")
        return frames, key[1:]

    def _write(self, header: Any, frames: list[tuple[int, Any]], key: Any,
               sop_instance: str) -> list[Path]:
        from sonomtl.fileio import atomic_path
        from sonomtl.serve.dicom_sr import build_measurement_sr, build_overlay_sc

        out = self.settings.out_dir
        names = {"model_name": self.model_name, "model_version": self.model_version}
        objects = [(out / f"{sop_instance}.SR.dcm", build_measurement_sr(header, frames, **names))]
        if self.settings.write_overlay:
            number, frame, result = key
            sc = build_overlay_sc(header, overlay_rgb(frame, result, self.config),
                                  frame_number=number, **names)
            objects.append((out / f"{sop_instance}.SC.dcm", sc))
        written = []
        for path, dataset in objects:
            if path.resolve().parent != out.resolve():  # names are UIDs; this cannot happen
                raise OSError(f"refusing to write outside {out}: {path}")
            with atomic_path(path) as tmp:
                dataset.save_as(tmp, enforce_file_format=True)
            written.append(path)
        return written


def overlay_rgb(frame: np.ndarray, result: Any, config: Any = None) -> np.ndarray:
    """The frame with its attention map, or its landmarks and calipers: ``uint8 (H, W, 3)``."""
    from sonomtl.inference.overlays import blend_attention, draw_landmarks, to_rgb_uint8

    if result.attention is not None:
        return blend_attention(frame, result.attention)
    if result.landmarks:
        measurements = getattr(config, "measurements", None)
        return draw_landmarks(frame, result.landmarks, measurements=measurements,
                              values_mm=result.measurements_mm)
    return to_rgb_uint8(frame)


def decodable_transfer_syntaxes() -> list[str]:
    """The transfer syntaxes whose pixel data pydicom can decode here (plug-ins installed)."""
    from pydicom.pixels import get_decoder
    from pydicom.uid import UID
    from pynetdicom import ALL_TRANSFER_SYNTAXES

    syntaxes = []
    for uid in ALL_TRANSFER_SYNTAXES:
        try:
            available = get_decoder(UID(uid)).is_available
        except NotImplementedError:
            available = False
        if available:
            syntaxes.append(uid)
    return syntaxes


def _status(code: int, comment: str) -> Any:
    from pydicom.dataset import Dataset

    status = Dataset()
    status.Status = code
    status.ErrorComment = " ".join(comment.replace("\\", "/").split())[:_MAX_COMMENT_CHARS]
    return status
