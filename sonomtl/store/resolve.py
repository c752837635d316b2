"""Find a weights file by store name: the resolution order, the cache folder, verification.

Order, first hit wins:

1. an explicit path (a file that exists is used as it is, unchecked);
2. ``$SONOMTL_WEIGHTS_DIR/<filename>``;
3. the per-user cache: ``$XDG_CACHE_HOME/sonomtl/weights`` (default
   ``~/.cache/sonomtl/weights``), ``~/Library/Caches/sonomtl/weights`` on
   macOS, ``%LOCALAPPDATA%\\sonomtl\\Cache\\weights`` on Windows
   (``$SONOMTL_CACHE_DIR/weights`` when that is set);
4. the shared data folder (``$SONOMTL_SHARED_DATA`` or ``../shared/data``);
5. the package itself, for weights that ship in the wheel;
6. a download (progress bar) into ``$SONOMTL_WEIGHTS_DIR`` when set, else the
   cache; skipped when ``$SONOMTL_OFFLINE=1``.

Every file found by name is checked against the registry's sha256 before use.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from sonomtl.errors import InputError
from sonomtl.store.download import (
    DEFAULT_TIMEOUT_S,
    ChecksumError,
    DownloadError,
    download_file,
    file_sha256,
)
from sonomtl.store.registry import REGISTRY, WeightsEntry, get_entry

__all__ = [
    "WeightsUnavailable", "Location", "user_cache_dir", "download_dir", "candidate_locations",
    "find_local", "resolve_weights", "fetch_weights", "offline",
]


class WeightsUnavailable(InputError):
    """Named weights neither here nor downloadable now (says what, from where, to where)."""


@dataclass(frozen=True)
class Location:
    """One place a weights file may be: a label for people and the path."""

    source: str
    path: Path


def user_cache_dir() -> Path:
    """The per-user cache folder of downloaded weights (platform convention).

    ``$SONOMTL_CACHE_DIR`` replaces it (the test suite points it at a
    temporary folder).
    """
    if os.environ.get("SONOMTL_CACHE_DIR"):
        return Path(os.environ["SONOMTL_CACHE_DIR"]) / "weights"
    if sys.platform == "win32":  # pragma: no cover (not tested here)
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "sonomtl" / "Cache" / "weights"
    if sys.platform == "darwin":  # pragma: no cover (not tested here)
        return Path.home() / "Library" / "Caches" / "sonomtl" / "weights"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "sonomtl" / "weights"


def download_dir() -> Path:
    """Where downloads go: ``$SONOMTL_WEIGHTS_DIR`` when set, else :func:`user_cache_dir`."""
    env = os.environ.get("SONOMTL_WEIGHTS_DIR")
    return Path(env) if env else user_cache_dir()


def offline() -> bool:
    """``$SONOMTL_OFFLINE`` is set to 1/true/yes: never download."""
    return os.environ.get("SONOMTL_OFFLINE", "").strip().lower() in {"1", "true", "yes"}


def candidate_locations(entry: WeightsEntry) -> list[Location]:
    """The local places of ``entry``'s file, in resolution order (steps 2-5)."""
    from sonomtl.fileio import shared_data_dir

    places = []
    env = os.environ.get("SONOMTL_WEIGHTS_DIR")
    if env:
        places.append(Location("$SONOMTL_WEIGHTS_DIR", Path(env) / entry.filename))
    places.append(Location("cache", user_cache_dir() / entry.filename))
    shared = shared_data_dir()
    if shared is not None and entry.shared_path is not None:
        places.append(Location("shared data", shared / entry.shared_path))
    if entry.package_file is not None:
        from importlib import resources

        package, relative = entry.package_file
        resource = resources.files(package).joinpath(relative)
        if isinstance(resource, Path):
            places.append(Location("package", resource))
    return places


def find_local(entry: WeightsEntry) -> Location | None:
    """The first existing local file of ``entry``, checked against its sha256.

    Raises :class:`InputError` (naming the file and both checksums) when that
    file's bytes are not the registered ones.
    """
    for place in candidate_locations(entry):
        if place.path.is_file():
            got = file_sha256(place.path)
            if got != entry.sha256:
                raise ChecksumError(
                    f"checksum mismatch for {entry.name}: expected sha256 {entry.sha256}, got "
                    f"{got}; delete it (sonomtl weights fetch {entry.name} downloads it again)",
                    file=place.path)
            return place
    return None


def _unavailable(entry: WeightsEntry, reason: str) -> WeightsUnavailable:
    target = download_dir() / entry.filename
    if entry.url is None:
        return WeightsUnavailable(f"{reason}; it should ship inside the sonomtl package "
                                  "(reinstall sonomtl)", file=entry.name)
    return WeightsUnavailable(f"{reason}; download {entry.url} and save it as {target}",
                              file=entry.name)


def fetch_weights(entry: WeightsEntry, *, progress: bool = True,
                  timeout_s: float = DEFAULT_TIMEOUT_S) -> Path:
    """Download ``entry`` into :func:`download_dir` (checked, atomic) and return the path."""
    if entry.url is None:
        raise _unavailable(entry, "not found in the package")
    if offline():
        raise _unavailable(entry, "not found locally and $SONOMTL_OFFLINE is set")
    try:
        return download_file(entry.url, download_dir() / entry.filename, sha256=entry.sha256,
                             timeout_s=timeout_s, progress=progress)
    except ChecksumError:
        raise
    except DownloadError as error:
        raise _unavailable(entry, f"not found locally and the download failed "
                                  f"({error.message})") from None


def resolve_weights(name_or_path: str | os.PathLike[str], *, download: bool = True,
                    progress: bool = True, timeout_s: float = DEFAULT_TIMEOUT_S) -> Path:
    """The weights file for a store name (``"sononet16"``) or an explicit path.

    Parameters
    ----------
    name_or_path
        A path to an existing file (used as given) or a registered store name.
    download
        Allow step 6 (a download); ``False`` raises :class:`WeightsUnavailable`
        instead, as does ``$SONOMTL_OFFLINE=1``.
    progress, timeout_s
        Passed to the download.

    Raises
    ------
    InputError
        Neither a file nor a store name; a local copy with the wrong checksum.
    WeightsUnavailable
        Not here and not downloadable now; the message says what to download
        from where and where to put it.
    """
    given = os.fspath(name_or_path)
    if Path(given).is_file():
        return Path(given)
    if given not in REGISTRY:
        raise InputError(f"neither a file nor a store name (store names: "
                         f"{', '.join(sorted(REGISTRY))})", file=given)
    entry = get_entry(given)
    found = find_local(entry)
    if found is not None:
        return found.path
    if not download:
        raise _unavailable(entry, "not found locally")
    return fetch_weights(entry, progress=progress, timeout_s=timeout_s)
