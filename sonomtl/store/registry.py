"""The registry of named weights: where each file comes from, its sha256, licence and use.

An entry is a frozen record; the registry maps store names (``sononet16``) to
entries. Configs and commands name weights by these names (``pretrained:
sononet16``, ``--weights sononet16``), and :func:`sonomtl.store.resolve_weights`
finds the file.

Two kinds of entry:

* **downloadable** (``url`` set): a published file, fetched once into the
  per-user cache and checked against ``sha256``;
* **packaged** (``package_file`` set): a small project-trained file that ships
  inside the wheel as package data; nothing is downloaded.

Only files whose sha256 has been computed from the real file are listed. The
official SonoNet-32 and SonoNet-64 weights are published beside SonoNet-16 but
are not listed: no copy was at hand to compute their checksums, and an entry
with an unchecked hash would either refuse the real file or accept a wrong one.

>>> entry = get_entry("sononet16")
>>> entry.filename, entry.model, entry.sha256[:12]
('SonoNet16.npz', 'sononet16', 'bbbf9dde2b3a')
"""

from __future__ import annotations

from dataclasses import dataclass

from sonomtl.errors import InputError

__all__ = ["WeightsEntry", "REGISTRY", "get_entry", "registered_names"]


@dataclass(frozen=True)
class WeightsEntry:
    """One named weights file.

    Attributes
    ----------
    name
        The store name (``sononet16``).
    filename
        The file's name in a weights folder or the cache (``SonoNet16.npz``).
    sha256
        Hex digest of the file's bytes; every file the store hands out matches it.
    size_bytes
        The file's size (shown by ``sonomtl weights list``).
    model
        The ``sonomtl`` model builder it loads into (``build_model(model, pretrained=...)``).
    licence
        SPDX identifier of the weights' licence.
    citation
        What to cite when the weights are used.
    description
        One line for ``sonomtl weights list``.
    url
        Where a downloadable file is published (``None`` for packaged files).
    package_file
        ``(package, relative path)`` of a file that ships in the wheel (``None``
        for downloadable files).
    shared_path
        The file's place under the shared data folder, when it has one there.
    """

    name: str
    filename: str
    sha256: str
    size_bytes: int
    model: str
    licence: str
    citation: str
    description: str
    url: str | None = None
    package_file: tuple[str, str] | None = None
    shared_path: str | None = None

    def __post_init__(self) -> None:
        if len(self.sha256) != 64 or any(c not in "0123456789abcdef" for c in self.sha256):
            raise ValueError(f"sha256: expected 64 lower-case hex digits, got {self.sha256!r}")
        if (self.url is None) == (self.package_file is None):
            raise ValueError(f"{self.name}: give exactly one of url and package_file")


REGISTRY: dict[str, WeightsEntry] = {
    entry.name: entry for entry in (
        WeightsEntry(
            name="sononet16",
            filename="SonoNet16.npz",
            sha256="bbbf9dde2b3af686c247a3074d890ceb685cd63fc1fc2af7e704edc07810c53f",
            size_bytes=3_745_538,
            model="sononet16",
            licence="Apache-2.0",
            citation=("Baumgartner et al., Real-Time Detection and Localisation of Fetal "
                      "Standard Scan Planes in 2D Freehand Ultrasound, IEEE TMI 2017 "
                      "(arXiv:1612.05601)"),
            description="official SonoNet-16 (13 fetal standard planes + background)",
            url=("https://raw.githubusercontent.com/baumgach/SonoNet-weights/master/"
                 "SonoNet16.npz"),
            shared_path="sononet/SonoNet16.npz",
        ),
    )
}


def registered_names() -> list[str]:
    """The store names, sorted."""
    return sorted(REGISTRY)


def get_entry(name: str) -> WeightsEntry:
    """The entry of a store name; :class:`InputError` naming the known ones otherwise."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise InputError(f"not a store name (known: {', '.join(registered_names())})",
                         file=name) from None
