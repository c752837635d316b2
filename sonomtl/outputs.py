"""Output folders that already hold results: refused, or cleared with ``--overwrite``.

A command that writes a set of known files into a folder (``predict --out``,
``synth ... --out``, ``data import ... --out``) first looks for results of an
earlier run there. Without ``overwrite`` it refuses with one line (exit 2),
so two runs never mix and nothing is silently replaced. With ``overwrite``
it removes the earlier results first, and only them: the files an
:class:`OutputLayout` names, never other files a user keeps in the folder
(empty sub-folders it emptied are removed too).

Layouts
-------
:data:`PREDICT_OUTPUTS`
    ``predictions.jsonl``, ``best_frames.json`` and the ``.png`` files in
    ``attention/``, ``overlays/`` and ``best_frames/`` (and temporary files
    ``.predictions.jsonl.*`` a killed run left).
:data:`DATASET_OUTPUTS`
    ``dataset.yaml``, ``manifest.csv``/``.parquet`` and every file in
    ``images/``, ``videos/``, ``gaze/`` and ``attention/``: the folders
    sonomtl's dataset writers (``synth``, ``data import``, ``gaze maps``) use.
    An existing dataset is recognised by its ``dataset.yaml`` or manifest.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sonomtl.errors import InputError

__all__ = ["OutputLayout", "PREDICT_OUTPUTS", "DATASET_OUTPUTS", "existing_results",
           "prepare_output_folder"]


@dataclass(frozen=True)
class OutputLayout:
    """What a command writes into its folder.

    ``markers``: top-level file names (glob patterns) whose presence means the
    folder holds results. ``files``: further top-level patterns removed with
    them. ``folders``: ``(sub-folder, pattern)`` pairs whose matching files
    (at any depth below the sub-folder) are results too.
    """

    what: str
    markers: tuple[str, ...]
    files: tuple[str, ...] = ()
    folders: tuple[tuple[str, str], ...] = ()


PREDICT_OUTPUTS = OutputLayout(
    what="predictions",
    markers=("predictions.jsonl", "best_frames.json"),
    files=(".predictions.jsonl.*", ".best_frames.json.*"),
    folders=(("attention", "*.png"), ("overlays", "*.png"), ("best_frames", "*.png")),
)

DATASET_OUTPUTS = OutputLayout(
    what="a dataset",
    markers=("dataset.yaml", "manifest.csv", "manifest.parquet"),
    folders=(("images", "*"), ("videos", "*"), ("gaze", "*"), ("attention", "*")),
)


def existing_results(folder: str | os.PathLike[str], layout: OutputLayout) -> list[Path]:
    """The files of ``layout`` present in ``folder`` (empty when it holds no results).

    Top-level files first, then those of each sub-folder; symbolic links are
    listed as links (removing one removes the link, not its target) and never
    followed into another folder.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [p for pattern in layout.markers + layout.files for p in sorted(folder.glob(pattern))
             if p.is_file() or p.is_symlink()]
    for name, pattern in layout.folders:
        sub = folder / name
        if sub.is_dir() and not sub.is_symlink():
            found += [p for p in sorted(sub.rglob(pattern)) if p.is_file() or p.is_symlink()]
    return found


def prepare_output_folder(folder: str | os.PathLike[str], layout: OutputLayout, *,
                          overwrite: bool, option: str = "--out") -> Path:
    """Make ``folder`` ready for a fresh run of a command that writes ``layout``.

    Raises :class:`InputError` (naming the folder and ``option``) when it is
    not a folder, or when it holds results and ``overwrite`` is false. With
    ``overwrite`` those results are removed (see the module doc) before
    anything new is written. Returns the folder (not created here).
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{option} must be a folder, but this is a file", file=folder)
    results = existing_results(folder, layout)
    if not results:
        return folder
    if not overwrite:
        raise InputError(f"{option} already holds {layout.what} ({results[0].name} and "
                         f"{len(results) - 1} more file(s)); give --overwrite to replace them, "
                         "or choose another folder", file=folder)
    for path in results:
        path.unlink(missing_ok=True)
    for name, _ in layout.folders:  # the sub-folders this emptied, deepest first
        sub = folder / name
        if sub.is_dir() and not sub.is_symlink():
            for directory in sorted((d for d in sub.rglob("*") if d.is_dir()), reverse=True):
                _remove_if_empty(directory)
            _remove_if_empty(sub)
    return folder


def _remove_if_empty(directory: Path) -> None:
    try:
        directory.rmdir()
    except OSError:  # not empty: it holds files the layout does not name
        pass
