"""Sending the DICOM node's reports on to other nodes (C-STORE SCU), off the receiving thread.

:class:`Forwarder` owns one worker thread and a bounded queue of file lists.
For each list it opens one association per target (calling AE title = the
node's, requested contexts = Comprehensive SR and Secondary Capture Image in
Explicit VR Little Endian) and sends every file. A target that is down, refuses
the association or answers a non-success status is logged as a warning and the
work moves on: nothing is retried, and the files stay where the node wrote them.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Sequence
from pathlib import Path

from sonomtl.serve.dicom_settings import ForwardTarget

__all__ = ["Forwarder"]

logger = logging.getLogger("sonomtl.serve.dicom")

_COMPREHENSIVE_SR = "1.2.840.10008.5.1.4.1.1.88.33"
_SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
_EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"
_STOP = None


class Forwarder:
    """A worker thread that C-STOREs files to ``targets`` in the order they were submitted."""

    def __init__(self, targets: Sequence[ForwardTarget], *, ae_title: str, timeout_s: float,
                 max_pending: int = 256) -> None:
        self.targets = tuple(targets)
        self.ae_title = ae_title
        self.timeout_s = float(timeout_s)
        self._queue: queue.Queue[list[Path] | None] = queue.Queue(maxsize=max_pending)
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the worker thread."""
        self._thread = threading.Thread(target=self._run, name="sonomtl-dicom-forward",
                                        daemon=True)
        self._thread.start()

    def submit(self, paths: Sequence[Path]) -> None:
        """Queue ``paths`` for every target; when the queue is full they are dropped (logged)."""
        try:
            self._queue.put_nowait(list(paths))
        except queue.Full:
            logger.warning("forwarding queue full: %s not forwarded",
                           ", ".join(p.name for p in paths))

    def stop(self, timeout_s: float | None = None) -> None:
        """Send what is queued, then end the worker (waits at most ``timeout_s``)."""
        if self._thread is None:
            return
        self._queue.put(_STOP)
        self._thread.join(self.timeout_s * 2 if timeout_s is None else timeout_s)
        self._thread = None

    def _run(self) -> None:
        while True:
            paths = self._queue.get()
            if paths is _STOP:
                return
            for target in self.targets:
                try:
                    self._send(target, paths)
                except Exception:  # the worker must outlive any one target's failure
                    logger.exception("forwarding to %s failed", target)

    def _send(self, target: ForwardTarget, paths: Sequence[Path]) -> None:
        from pydicom import dcmread
        from pynetdicom import AE

        ae = AE(ae_title=self.ae_title)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = self.timeout_s
        for sop_class in (_COMPREHENSIVE_SR, _SECONDARY_CAPTURE):
            ae.add_requested_context(sop_class, _EXPLICIT_VR_LITTLE_ENDIAN)
        assoc = ae.associate(target.host, target.port, ae_title=target.ae_title)
        if not assoc.is_established:
            logger.warning("forwarding to %s: association rejected, aborted or timed out",
                           target)
            return
        try:
            for path in paths:
                status = assoc.send_c_store(dcmread(path))
                code = getattr(status, "Status", None)
                if code == 0x0000:
                    logger.info("forwarded %s to %s", path.name, target)
                else:
                    shown = "no response" if code is None else f"status 0x{code:04X}"
                    logger.warning("forwarding %s to %s: %s", path.name, target, shown)
        finally:
            assoc.release()
