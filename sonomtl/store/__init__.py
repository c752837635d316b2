"""The model store: named weights with checksums (``sonomtl weights``).

The convention of torchvision, timm and huggingface_hub: a registry of named
files (:mod:`sonomtl.store.registry`), a resolution order ending in a checked
download (:mod:`sonomtl.store.resolve`, :mod:`sonomtl.store.download`).

>>> from sonomtl.store import get_entry
>>> get_entry("sononet16").licence
'Apache-2.0'
"""

from __future__ import annotations

from sonomtl.store.download import ChecksumError, DownloadError, download_file, file_sha256
from sonomtl.store.registry import REGISTRY, WeightsEntry, get_entry, registered_names
from sonomtl.store.resolve import (
    Location,
    WeightsUnavailable,
    candidate_locations,
    download_dir,
    fetch_weights,
    find_local,
    offline,
    resolve_weights,
    user_cache_dir,
)

__all__ = [
    "REGISTRY", "WeightsEntry", "get_entry", "registered_names",
    "DownloadError", "ChecksumError", "download_file", "file_sha256",
    "Location", "WeightsUnavailable", "candidate_locations", "download_dir", "fetch_weights",
    "find_local", "offline", "resolve_weights", "user_cache_dir",
]
