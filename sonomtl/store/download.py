"""Download one file safely: to a temporary file beside the target, sha256-checked, renamed.

Nothing is left behind when the transfer fails, is cut short, is interrupted
(Ctrl-C) or gives the wrong bytes; the error names the URL or file and, for a
wrong file, both checksums. Only the standard library's :mod:`urllib` is used.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from sonomtl.errors import InputError

__all__ = ["DownloadError", "ChecksumError", "download_file", "file_sha256", "DEFAULT_TIMEOUT_S"]

DEFAULT_TIMEOUT_S = 30.0
_CHUNK_BYTES = 1 << 16


class DownloadError(InputError):
    """A download that did not give the expected file (the CLI prints one line, exit 2)."""


class ChecksumError(DownloadError):
    """A file whose bytes do not hash to the registered sha256 (the message gives both)."""


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download_file(url: str, destination: str | os.PathLike[str], *, sha256: str,
                  timeout_s: float = DEFAULT_TIMEOUT_S, progress: bool = True) -> Path:
    """Fetch ``url`` into ``destination`` if and only if its bytes hash to ``sha256``.

    Parameters
    ----------
    url
        An ``http(s)://`` URL.
    destination
        The final file; its folder is created. It is replaced atomically, and
        only by a complete, checked file.
    sha256
        Expected hex digest.
    timeout_s
        Seconds that connecting or any single read may wait (a stalled server
        fails after this long, not never).
    progress
        Show a tqdm progress bar on stderr.

    Raises
    ------
    DownloadError
        HTTP error, connection failure, timeout, short transfer, or checksum
        mismatch; the partial file is removed first.
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(dir=destination.parent, prefix=f".{destination.name}.",
                                         suffix=".part", delete=False)
    partial = Path(handle.name)
    try:
        with handle:
            got_sha256, received = _transfer(url, handle, timeout_s=timeout_s,
                                             progress=progress, label=destination.name)
        if got_sha256 != sha256:
            raise ChecksumError(f"checksum mismatch: expected sha256 {sha256}, got {got_sha256} "
                                f"({received} bytes from {url}); nothing was kept",
                                file=destination)
        os.replace(partial, destination)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return destination


def _transfer(url: str, sink, *, timeout_s: float, progress: bool,
              label: str) -> tuple[str, int]:
    """Stream ``url`` into ``sink``; returns (sha256 hex, bytes received)."""
    from tqdm import tqdm

    digest = hashlib.sha256()
    received = 0
    request = urllib.request.Request(url, headers={"User-Agent": "sonomtl"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            length = response.headers.get("Content-Length")
            expected = int(length) if length and length.isdigit() else None
            with tqdm(total=expected, unit="B", unit_scale=True, desc=label,
                      disable=not progress, leave=False) as bar:
                while chunk := response.read(_CHUNK_BYTES):
                    digest.update(chunk)
                    sink.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
    except urllib.error.HTTPError as error:
        raise DownloadError(f"HTTP {error.code} {error.reason}", file=url) from None
    except urllib.error.URLError as error:
        raise DownloadError(f"cannot connect ({error.reason})", file=url) from None
    except http.client.IncompleteRead as error:
        got = received + len(error.partial)
        wanted = f" of {got + error.expected}" if error.expected else ""
        raise DownloadError(f"transfer cut short: {got}{wanted} bytes", file=url) from None
    except (TimeoutError, OSError, http.client.HTTPException) as error:
        raise DownloadError(f"transfer failed after {received} bytes "
                            f"({type(error).__name__}: {error or 'timed out'})", file=url) from None
    if expected is not None and received != expected:
        raise DownloadError(f"transfer cut short: {received} of {expected} bytes", file=url)
    return digest.hexdigest(), received
