"""The DICOM node's settings: where it listens, whom it serves, where reports go, its limits.

Plain frozen data with validation (no pynetdicom here): :class:`DicomNodeSettings`,
the forwarding targets (:class:`ForwardTarget`, parsed from ``AE@host:port``)
and the checks of AE titles and UIDs. :mod:`sonomtl.serve.dicom_node` re-exports
them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DicomNodeSettings", "ForwardTarget", "is_valid_uid", "valid_ae_title"]

_UID = re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))+")


def is_valid_uid(text: object) -> bool:
    """Whether ``text`` is a DICOM UID: dot-separated numbers without leading zeros, <= 64 chars.

    Examples
    --------
    >>> is_valid_uid("1.2.840.10008.1.1"), is_valid_uid("1.02.3"), is_valid_uid("../x")
    (True, False, False)
    """
    return isinstance(text, str) and len(text) <= 64 and _UID.fullmatch(text) is not None


def valid_ae_title(text: str, *, what: str) -> str:
    """``text`` as an AE title (1-16 ASCII printable characters, no backslash), stripped.

    Raises ``ValueError`` naming ``what`` when it is not one.

    Examples
    --------
    >>> valid_ae_title(" SONOMTL ", what="ae_title")
    'SONOMTL'
    """
    stripped = str(text).strip()
    if not (0 < len(stripped) <= 16 and stripped.isascii() and stripped.isprintable()
            and "\\" not in stripped):
        raise ValueError(f"{what} must be an AE title of 1 to 16 printable ASCII characters "
                         f"without a backslash, got {text!r}")
    return stripped


@dataclass(frozen=True)
class ForwardTarget:
    """A node to send reports to: its AE title, host and port."""

    ae_title: str
    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> ForwardTarget:
        """``AE@host:port`` (an IPv6 host in brackets: ``AE@[::1]:104``).

        Raises ``ValueError`` saying what is wrong.

        Examples
        --------
        >>> ForwardTarget.parse("PACS@127.0.0.1:11113")
        ForwardTarget(ae_title='PACS', host='127.0.0.1', port=11113)
        """
        ae_title, at, address = str(text).partition("@")
        host, colon, port_text = address.rpartition(":")
        if not (at and colon and host and port_text):
            raise ValueError(f"expected AE@host:port, got {text!r}")
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            raise ValueError(f"port must be a number in 1..65535, got {port_text!r} in {text!r}")
        return cls(valid_ae_title(ae_title, what="the AE title"), host, int(port_text))

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.ae_title}@{host}:{self.port}"


@dataclass(frozen=True)
class DicomNodeSettings:
    """How the node listens, whom it serves and where it writes (timeouts in seconds).

    ``port`` 0 takes a free port (read :attr:`DicomNode.port` after start).
    ``allowed_callers`` must name at least one AE title: an empty list would let
    pynetdicom accept every caller, so it is refused here.
    """

    port: int
    out_dir: Path
    ae_title: str = "SONOMTL"
    host: str = "127.0.0.1"
    allowed_callers: tuple[str, ...] = ()
    forward: tuple[ForwardTarget, ...] = ()
    max_associations: int = 4
    max_pdu_bytes: int = 65536
    acse_timeout_s: float = 30.0
    dimse_timeout_s: float = 60.0
    network_timeout_s: float = 60.0
    write_overlay: bool = False
    measure: bool = True
    batch_frames: int = 8

    def __post_init__(self) -> None:
        fix = object.__setattr__
        if isinstance(self.port, bool) or not isinstance(self.port, int) \
                or not 0 <= self.port <= 65535:
            raise ValueError(f"port must be an integer in 0..65535, got {self.port!r}")
        fix(self, "out_dir", Path(self.out_dir))
        fix(self, "ae_title", valid_ae_title(self.ae_title, what="ae_title"))
        callers = tuple(valid_ae_title(a, what="allowed_callers") for a in self.allowed_callers)
        if not callers:
            raise ValueError("allowed_callers must name at least one calling AE title "
                             "(unknown callers are refused)")
        fix(self, "allowed_callers", tuple(dict.fromkeys(callers)))
        fix(self, "forward", tuple(self.forward))
        for name in ("max_associations", "max_pdu_bytes", "batch_frames"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name in ("acse_timeout_s", "dimse_timeout_s", "network_timeout_s"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0 < value < float("inf")):
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
