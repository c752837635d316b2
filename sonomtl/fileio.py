"""Atomic file writes: nothing is ever half-written.

Every writer in the toolkit goes through :func:`atomic_path`: the data goes to
a temporary file in the same folder, which is renamed over the target only
when the write succeeded.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["atomic_path", "write_text", "write_json", "write_bytes", "shared_data_dir"]


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` on success.

    ``suffix`` defaults to the target's own suffix, so libraries that infer
    the format from the file name (``.png``, ``.npy``, ``.onnx``) keep working.
    """
    target = Path(target)
    if target.is_dir():  # name the target, not the temporary file the rename would fail on
        raise IsADirectoryError(errno.EISDIR, "is a folder; expected a file", str(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=target.suffix if suffix is None else suffix,
        dir=target.parent,
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, _file_mode(target))
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def _file_mode(target: Path) -> int:
    """The target's permissions when it exists, else those of a plain ``open`` (0o666 - umask).

    ``mkstemp`` creates its file readable by its owner only; without this, every
    data set, report and checkpoint would be unreadable to the rest of a lab.
    """
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        return 0o666 & ~_umask()


def _umask() -> int:
    """The process's umask, read without changing it where Linux allows (no race with threads)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    umask = os.umask(0)  # elsewhere: set and restore
    os.umask(umask)
    return umask


def write_bytes(target: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``target`` atomically and return the path."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return Path(target)


def write_text(target: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 ``text`` to ``target`` atomically and return the path."""
    return write_bytes(target, text.encode("utf-8"))


def write_json(target: str | os.PathLike[str], obj: Any, *, indent: int = 2) -> Path:
    """Write ``obj`` as JSON (NaN written as ``null``) atomically."""
    return write_text(target, json.dumps(_json_safe(obj), indent=indent) + "\n")


def _json_safe(obj: Any) -> Any:
    """Convert numpy scalars/arrays and non-finite floats into JSON-safe values."""
    import math

    import numpy as np

    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _json_safe(obj.tolist())
    if isinstance(obj, np.generic):
        return _json_safe(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def shared_data_dir() -> Path | None:
    """The folder of real reference data (``$SONOMTL_SHARED_DATA`` or ``../shared/data``).

    Returns ``None`` when neither exists.
    """
    env = os.environ.get("SONOMTL_SHARED_DATA")
    candidates = [Path(env)] if env else []
    root = Path(__file__).resolve().parent.parent
    candidates.append(root.parent / "shared" / "data")
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return None
