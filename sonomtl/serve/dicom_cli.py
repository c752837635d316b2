"""The DICOM node's command-line options (used by ``sonomtl serve``).

``--dicom-port PORT`` turns the node on (0: a free port). ``--ae-title`` is the
node's own AE title (default ``SONOMTL``). ``--dicom-allow AE`` (repeatable)
lists the calling AE titles served: it has **no default**, and ``--dicom-port``
without at least one ``--dicom-allow`` is an error, because pynetdicom treats an
empty list as "accept every caller". ``--forward AE@host:port`` (repeatable)
sends each report on; ``--dicom-overlay`` also writes a Secondary Capture of
the overlay. Only argparse is imported here, so ``sonomtl --help`` stays fast.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from sonomtl.errors import InputError

__all__ = ["add_dicom_arguments", "dicom_settings_from_args"]


def add_dicom_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the DICOM node's options to ``parser`` (a group titled "DICOM node")."""
    group = parser.add_argument_group(
        "DICOM node", "receive images by C-STORE and answer with a measurement SR")
    group.add_argument("--dicom-port", type=int, default=None, metavar="PORT",
                       help="start the DICOM node on this port (0: a free port)")
    group.add_argument("--ae-title", default="SONOMTL", metavar="TITLE",
                       help="the node's AE title (default: SONOMTL)")
    group.add_argument("--dicom-allow", action="append", default=[], metavar="AE",
                       help="a calling AE title allowed to associate (repeatable; required "
                            "with --dicom-port: unknown callers are refused)")
    group.add_argument("--forward", action="append", default=[], metavar="AE@HOST:PORT",
                       help="send each SR (and SC) on to this node by C-STORE (repeatable)")
    group.add_argument("--dicom-overlay", action="store_true",
                       help="also write a Secondary Capture of the key frame's overlay")


def dicom_settings_from_args(args: argparse.Namespace,
                             out_dir: str | os.PathLike[str]) -> Any:
    """The node's :class:`~sonomtl.serve.dicom_settings.DicomNodeSettings`, or ``None`` without
    ``--dicom-port``.

    Raises :class:`~sonomtl.errors.InputError` naming the flag whose value is bad.
    The host is ``args.host`` when the serve command has one (default ``127.0.0.1``).
    """
    from sonomtl.serve.dicom_settings import DicomNodeSettings, ForwardTarget, valid_ae_title

    port = getattr(args, "dicom_port", None)
    if port is None:
        return None
    if not 0 <= port <= 65535:
        raise InputError(f"expected a port in 0..65535, got {port}", field="--dicom-port")
    try:
        ae_title = valid_ae_title(args.ae_title, what="the AE title")
    except ValueError as error:
        raise InputError(str(error), field="--ae-title") from None
    if not args.dicom_allow:
        raise InputError("give at least one calling AE title to serve (unknown callers are "
                         "refused), e.g. --dicom-allow STORESCU", field="--dicom-allow")
    try:
        allowed = tuple(valid_ae_title(a, what="a calling AE title") for a in args.dicom_allow)
    except ValueError as error:
        raise InputError(str(error), field="--dicom-allow") from None
    try:
        forward = tuple(ForwardTarget.parse(t) for t in args.forward)
    except ValueError as error:
        raise InputError(str(error), field="--forward") from None
    host = getattr(args, "host", None) or "127.0.0.1"
    return DicomNodeSettings(port=port, out_dir=out_dir, ae_title=ae_title, host=host,
                             allowed_callers=allowed, forward=forward,
                             write_overlay=bool(args.dicom_overlay))
