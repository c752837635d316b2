"""Optional dependencies: each belongs to an extra, and a missing one is named in one line.

``pip install 'sonomtl[parquet]'`` adds pyarrow (Parquet manifests),
``'sonomtl[tensorboard]'`` adds TensorBoard event files beside ``metrics.csv``,
``'sonomtl[serve]'`` the server's packages. Code that needs one calls
:func:`require`; code that can do without checks :func:`available`.

>>> available("json")
True
>>> str(missing_error("nopackage_x", "parquet", "reading Parquet", file="m.parquet"))
"m.parquet: reading Parquet needs the optional package nopackage_x: pip install 'sonomtl[parquet]'"
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from types import ModuleType

from sonomtl.errors import InputError

__all__ = ["available", "require", "missing_error"]


def available(module: str) -> bool:
    """Whether ``module`` can be imported (without importing it)."""
    if module in sys.modules:
        return sys.modules[module] is not None  # None: import blocked
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def missing_error(module: str, extra: str, purpose: str, *,
                  file: str | os.PathLike[str] | None = None) -> InputError:
    """The one-line error for a missing optional package (``purpose`` needs ``module``)."""
    return InputError(f"{purpose} needs the optional package {module}: "
                      f"pip install 'sonomtl[{extra}]'", file=file)


def require(module: str, extra: str, purpose: str, *,
            file: str | os.PathLike[str] | None = None) -> ModuleType:
    """Import ``module``, or raise :class:`InputError` naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise missing_error(module.split(".")[0], extra, purpose, file=file) from None
