"""Files that ship inside the package (configs, templates, small weights), found as paths.

Everything the package reads at run time is package data, read through
:mod:`importlib.resources`, so an installed wheel works the same as a checkout.
A normal install (a folder in site-packages) gives real paths directly; a
zipped install is extracted once to a temporary folder for the process.

>>> packaged_config("example.yaml").name
'example.yaml'
>>> sorted(path.name for path in config_dir("demo").glob("*.yaml"))
['abdominal.yaml', 'msen.yaml']
"""

from __future__ import annotations

import atexit
import contextlib
from importlib import resources
from pathlib import Path

__all__ = ["packaged_path", "config_dir", "packaged_config", "resolve_config_path"]

_EXTRACTED = contextlib.ExitStack()
atexit.register(_EXTRACTED.close)


def packaged_path(*parts: str) -> Path:
    """The file or folder ``sonomtl/<parts...>`` of the installed package, as a path."""
    resource = resources.files("sonomtl").joinpath(*parts)
    if isinstance(resource, Path):
        return resource
    return _EXTRACTED.enter_context(resources.as_file(resource))  # pragma: no cover (zip)


def config_dir(group: str | None = None) -> Path:
    """The packaged config folder (``sonomtl/configs``) or one of its groups (``"msen"``)."""
    return packaged_path("configs", group) if group else packaged_path("configs")


def packaged_config(name: str) -> Path:
    """One packaged config by its name under ``sonomtl/configs`` (``"msen/msen_bce.yaml"``)."""
    return packaged_path("configs", *Path(name).parts)


def resolve_config_path(path: str | Path) -> Path:
    """A config path as given, or else the packaged config it names.

    ``configs/msen/msen_bce.yaml`` and ``sonomtl/configs/msen/msen_bce.yaml``
    (the checkout's spelling) name the packaged file when no such file exists
    relative to the current folder, so the documented commands work from any
    folder with an installed wheel.

    >>> resolve_config_path("configs/example.yaml") == packaged_config("example.yaml")
    True
    """
    given = Path(path)
    if given.exists() or given.is_absolute():
        return given
    parts = given.parts
    for prefix in (("sonomtl", "configs"), ("configs",)):
        if parts[:len(prefix)] == prefix and len(parts) > len(prefix):
            candidate = packaged_config(str(Path(*parts[len(prefix):])))
            if candidate.is_file():
                return candidate
    return given
