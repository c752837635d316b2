"""The boundary for untrusted input: paths read from files, and sizes read from files.

Datasets, run folders, reports, checkpoints and ONNX files may come from
elsewhere. Two rules hold for everything read from them (``docs/security.md``):

* A path read from a file resolves inside the folder that file belongs to
  (:func:`resolve_inside`): an absolute path, a ``..`` escape or a symbolic
  link that leads out is refused, unless a dataset says
  ``allow_external_paths: true``.
* A size read from a file (input size, network width, frame count, image
  pixels) is checked against :data:`LIMITS` (:func:`check_size`) before
  anything is allocated.

Both raise :class:`sonomtl.errors.InputError` naming the file and field.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sonomtl.errors import InputError

__all__ = [
    "LIMITS", "Limits", "check_input_hw", "check_size", "load_npy", "load_npz", "resolve_inside",
]


@dataclass(frozen=True)
class Limits:
    """The largest sizes the toolkit accepts from a file or a flag.

    Attributes
    ----------
    input_side_px
        Each side of a network input (``input_size``, ``input_hw``).
    image_pixels
        Pixels of one decoded image or frame (rows x columns); PIL's own
        decompression-bomb limit is set to this.
    network_width
        A width read from checkpoint metadata (``sononet_width``, channels).
    frame_count
        Frames of one video or DICOM file.
    report_classes
        Classes of a confusion matrix the report draws.
    """

    input_side_px: int = 4096
    image_pixels: int = 8192 * 8192
    network_width: int = 4096
    frame_count: int = 1_000_000
    report_classes: int = 200


LIMITS = Limits()


def resolve_inside(
    base_dir: str | os.PathLike[str],
    relative: str | os.PathLike[str],
    *,
    file: str | os.PathLike[str] | None,
    field: str | None,
    row: int | None = None,
    allow_external: bool = False,
    hint: str = "dataset.yaml allow_external_paths: true permits others",
) -> Path:
    """``base_dir / relative``, refused when it leaves ``base_dir``.

    Symbolic links are followed before the check, so a link inside the
    folder that points out of it is refused too. With ``allow_external``
    any path is returned (absolute paths as given, relative ones joined).
    ``hint`` ends the message (how to permit outside paths; ``""``: no way).

    Raises
    ------
    InputError
        Naming ``file`` (the file the path was read from), ``row`` and ``field``.

    Examples
    --------
    >>> resolve_inside("/data/set", "../etc/passwd", file="manifest.csv", field="image", row=2)
    Traceback (most recent call last):
    ...
    sonomtl.errors.InputError: manifest.csv: row 2: field image: path '../etc/passwd' leaves \
the folder /data/set; paths must be relative and inside it (dataset.yaml allow_external_paths: \
true permits others)
    """
    base = Path(base_dir)
    text = os.fspath(relative)
    if "\0" in text:
        raise InputError(f"path {text!r} holds a NUL byte", file=file, row=row, field=field)
    candidate = base / text
    if allow_external:
        return candidate
    inside = os.path.realpath(base)
    target = os.path.realpath(candidate)
    if Path(text).is_absolute() or os.path.commonpath([inside, target]) != inside:
        raise InputError(f"path {text!r} leaves the folder {base}; paths must be relative and "
                         "inside it" + (f" ({hint})" if hint else ""),
                         file=file, row=row, field=field)
    return candidate


def check_size(value: Any, limit: int, *, file: str | os.PathLike[str] | None, field: str,
               what: str = "a positive integer") -> int:
    """``value`` as an int in ``[1, limit]``; InputError naming the file and field otherwise."""
    number = _as_int(value)
    if number is None or not 1 <= number <= limit:
        raise InputError(f"expected {what} <= {limit}, got {_short(value)}",
                         file=file, field=field)
    return number


def check_input_hw(value: Any, *, file: str | os.PathLike[str] | None,
                   field: str) -> tuple[int, int]:
    """A network input size ``(rows, cols)``, each side in ``[1, LIMITS.input_side_px]``."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 2:
        raise InputError(f"expected [rows, cols], got {_short(value)}", file=file, field=field)
    limit = LIMITS.input_side_px
    rows, cols = (_as_int(v) for v in value)
    if rows is None or cols is None or not (1 <= rows <= limit and 1 <= cols <= limit):
        raise InputError(f"expected [rows, cols] of positive integers <= {limit} px, got "
                         f"{_short(list(value))}", file=file, field=field)
    return rows, cols


_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = b"PK\x03\x04"


def load_npy(path: str | os.PathLike[str], *, mmap: bool = False) -> Any:
    """A numeric ``.npy`` array, never unpickled; InputError naming the file otherwise.

    The header is checked first, so a text file, an empty file or an ``.npz``
    archive renamed ``.npy`` is named for what it is.
    """
    import numpy as np

    _check_magic(path, _NPY_MAGIC, "a NumPy .npy array")
    try:
        array = np.load(path, allow_pickle=False, mmap_mode="r" if mmap else None)
    except (ValueError, OSError, EOFError) as error:
        raise InputError(_numpy_reason(error, ".npy array"), file=path) from None
    if array.dtype.hasobject:  # pragma: no cover - np.load refuses these above
        raise InputError("holds Python objects; only numeric arrays are read", file=path)
    return array


def load_npz(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The arrays of an ``.npz`` archive as ``{name: array}``, never unpickled."""
    import zipfile

    import numpy as np

    _check_magic(path, _ZIP_MAGIC, "a NumPy .npz archive")
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as error:
        raise InputError(_numpy_reason(error, ".npz archive"), file=path) from None


def _check_magic(path: str | os.PathLike[str], magic: bytes, what: str) -> None:
    """Refuse a missing or empty file, or one whose first bytes are not ``magic``."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(len(_NPY_MAGIC))
    except FileNotFoundError:
        raise InputError("file not found", file=path) from None
    except IsADirectoryError:
        raise InputError(f"is a folder; expected {what}", file=path) from None
    except OSError as error:
        raise InputError(f"cannot read: {error.strerror or error}", file=path) from None
    if head.startswith(magic):
        return
    if not head:
        raise InputError(f"empty file; expected {what}", file=path)
    if head.startswith(_ZIP_MAGIC):
        raise InputError(f"is an .npz archive (a zip file); expected {what}", file=path)
    if head.startswith(_NPY_MAGIC):
        raise InputError(f"is a single .npy array; expected {what}", file=path)
    raise InputError(f"not {what} (its header is missing)", file=path)


def _numpy_reason(error: BaseException, what: str) -> str:
    """numpy's error, worded without ever suggesting to load pickles."""
    text = " ".join(str(error).split())
    if "pickle" in text or "Python objects" in text:
        return f"{what} holds Python objects; only numeric arrays are read, never unpickled"
    return f"damaged or truncated {what}: {text or type(error).__name__}"


def _as_int(value: Any) -> int | None:
    """An integral number as int (``64``, ``64.0``); ``None`` for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    try:  # numpy integers
        import numpy as np

        if isinstance(value, np.integer):
            return int(value)
    except ImportError:  # pragma: no cover
        pass
    return None


def _short(value: Any) -> str:
    """A value's repr, cut to 60 characters for a one-line message."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
