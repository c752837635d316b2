"""Helpers of the DICOM node tests: pydicom's files made scanner-like, an archive, a scanner."""

from __future__ import annotations

import threading
import time
import warnings
from pathlib import Path

#: The measurements of the test model, as the HC18 data set defines them.
HEAD_MEASUREMENTS = {
    "OFD": {"type": "distance", "landmarks": ["ofd_1", "ofd_2"]},
    "BPD": {"type": "distance", "landmarks": ["bpd_1", "bpd_2"]},
    "HC": {"type": "ellipse_circumference", "landmarks": ["ofd_1", "ofd_2", "bpd_1", "bpd_2"]},
}


def calibrated_copy(name: str, target: Path, *, delta_cm: float = 0.03) -> Path:
    """pydicom's test file ``name`` with one tissue region covering its frame, saved to ``target``.

    pydicom's ultrasound files carry no usable calibration (none, or a region
    outside the frame), as a resized export does; a scanner's file would have one.
    """
    import pydicom
    from pydicom.data import get_testdata_file
    from pydicom.dataset import Dataset

    ds = pydicom.dcmread(get_testdata_file(name))
    region = Dataset()
    region.RegionSpatialFormat = 1
    region.RegionDataType = 1
    region.RegionFlags = 0
    region.RegionLocationMinX0, region.RegionLocationMinY0 = 0, 0
    region.RegionLocationMaxX1, region.RegionLocationMaxY1 = ds.Columns - 1, ds.Rows - 1
    region.PhysicalUnitsXDirection = region.PhysicalUnitsYDirection = 3
    region.PhysicalDeltaX = region.PhysicalDeltaY = delta_cm
    ds.SequenceOfUltrasoundRegions = [region]
    ds.save_as(target)
    return target


def pydicom_file(name: str) -> Path:
    from pydicom.data import get_testdata_file

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Path(get_testdata_file(name))


class Archive:
    """A C-STORE SCP on a free loopback port that keeps what it receives (the PACS)."""

    def __init__(self, *, ae_title: str = "ARCHIVE", allowed: tuple[str, ...] = ("SONOMTL",)):
        from pynetdicom import AE, evt

        self.ae_title = ae_title
        self.received: list = []
        self._arrived = threading.Condition()
        ae = AE(ae_title=ae_title)
        ae.require_calling_aet = list(allowed)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
        for sop_class in ("1.2.840.10008.5.1.4.1.1.88.33", "1.2.840.10008.5.1.4.1.1.7"):
            ae.add_supported_context(sop_class, "1.2.840.10008.1.2.1")
        self._server = ae.start_server(("127.0.0.1", 0), block=False,
                                       evt_handlers=[(evt.EVT_C_STORE, self._on_store)])
        self.port = int(self._server.server_address[1])

    def _on_store(self, event) -> int:
        dataset = event.dataset
        dataset.file_meta = event.file_meta
        with self._arrived:
            self.received.append(dataset)
            self._arrived.notify_all()
        return 0x0000

    def wait_for(self, count: int, timeout_s: float = 20.0) -> list:
        """The objects received once there are ``count`` (fails after ``timeout_s``)."""
        deadline = time.monotonic() + timeout_s
        with self._arrived:
            while len(self.received) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"archive got {len(self.received)} of {count} objects"
                self._arrived.wait(left)
            return list(self.received)

    def stop(self) -> None:
        self._server.shutdown()


ECHO_CONTEXT = (("1.2.840.10008.1.1", "1.2.840.10008.1.2"),)


def associate(port: int, *, calling: str = "SCANNER", called: str = "SONOMTL",
              contexts: tuple[tuple[str, str], ...] = ECHO_CONTEXT):
    """An association from a scanner AE (``contexts`` = (SOP class, transfer syntax) pairs)."""
    from pynetdicom import AE

    ae = AE(ae_title=calling)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 30
    for sop_class, syntax in contexts:
        ae.add_requested_context(sop_class, syntax)
    return ae.associate("127.0.0.1", port, ae_title=called)


def send(port: int, path: Path, **kwargs):
    """C-STORE the file at ``path`` from the scanner; returns the status data set."""
    import pydicom

    ds = pydicom.dcmread(path)
    contexts = ((str(ds.SOPClassUID), str(ds.file_meta.TransferSyntaxUID)),)
    assoc = associate(port, contexts=contexts, **kwargs)
    assert assoc.is_established
    try:
        return assoc.send_c_store(ds)
    finally:
        assoc.release()
