"""Splits by subject only: seeded hold-out and k-fold, stratified by label, and leakage checks.

A split is a mapping ``name -> positions`` into the dataset's records (e.g.
``{"train": array([...]), "test": array([...])}``). All frames of a subject
fall in the same split. Stratification works on subjects: a subject's
stratum is its most frequent label (``-1``/``None`` when unlabelled), and each
stratum is spread over the splits/folds in proportion.

A splits file (``--splits`` of ``sonomtl data check``, or training configs) is
JSON or YAML: ``{name: {"subjects": [...]}}`` or ``{name: {"rows": [...]}}``
(manifest row numbers, header = row 1), as written by :func:`write_splits`.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sonomtl.data.manifest import FrameRecord
from sonomtl.errors import InputError

__all__ = [
    "Leak",
    "find_leakage",
    "read_splits",
    "require_no_leakage",
    "split_records",
    "subject_holdout",
    "subject_kfold",
    "write_splits",
]


def _subject_strata(records: Sequence[FrameRecord]) -> tuple[list[str], dict[str, str],
                                                              dict[str, list[int]]]:
    """Subjects in first-seen order, each one's stratum, and the positions of its frames."""
    positions: dict[str, list[int]] = {}
    labels: dict[str, Counter] = {}
    for i, record in enumerate(records):
        positions.setdefault(record.subject, []).append(i)
        labels.setdefault(record.subject, Counter())[record.label or ""] += 1
    strata = {}
    for subject, counts in labels.items():
        # Most frequent label; ties broken by name so the result does not depend on row order.
        strata[subject] = min(counts, key=lambda label: (-counts[label], label))
    return list(positions), strata, positions


def _shuffled_strata(records: Sequence[FrameRecord], seed: int,
                     stratify: bool) -> tuple[list[list[str]], dict[str, list[int]]]:
    subjects, strata, positions = _subject_strata(records)
    rng = np.random.default_rng(seed)
    groups: dict[str, list[str]] = {}
    for subject in sorted(subjects):
        groups.setdefault(strata[subject] if stratify else "", []).append(subject)
    ordered = []
    for key in sorted(groups):
        members = groups[key]
        ordered.append([members[i] for i in rng.permutation(len(members))])
    return ordered, positions


def _positions(subjects: Sequence[str], positions: Mapping[str, list[int]]) -> np.ndarray:
    out = [i for s in subjects for i in positions[s]]
    return np.array(sorted(out), dtype=np.int64)


def subject_holdout(records: Sequence[FrameRecord], *, test_fraction: float, seed: int,
                    stratify: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Split subjects into train and test; returns sorted record positions ``(train, test)``.

    The number of test subjects is ``round(test_fraction * n_subjects)`` (at
    least 1 and at most ``n_subjects - 1``), shared among the strata by largest
    remainders so each label keeps its share.

    Examples
    --------
    >>> from sonomtl.data.manifest import FrameRecord
    >>> recs = [FrameRecord(row=i + 2, subject=f"s{i // 2}", image=f"{i}.png") for i in range(8)]
    >>> train, test = subject_holdout(recs, test_fraction=0.25, seed=0)
    >>> len(train), len(test), {recs[i].subject for i in test} & {recs[i].subject for i in train}
    (6, 2, set())
    """
    if not 0.0 < float(test_fraction) < 1.0:
        raise ValueError(f"test_fraction: expected a number in (0, 1), got {test_fraction!r}")
    strata, positions = _shuffled_strata(records, seed, stratify)
    n_subjects = sum(len(s) for s in strata)
    if n_subjects < 2:
        raise InputError(f"a hold-out split needs at least 2 subjects, the dataset has "
                         f"{n_subjects}", field="subject")
    n_test = min(max(1, round(test_fraction * n_subjects)), n_subjects - 1)
    quotas = [test_fraction * len(s) for s in strata]
    counts = [int(np.floor(q)) for q in quotas]
    order = sorted(range(len(strata)), key=lambda i: (-(quotas[i] - counts[i]), i))
    for i in order[: n_test - sum(counts)]:
        counts[i] += 1
    test = [s for members, k in zip(strata, counts) for s in members[:k]]
    train = [s for members, k in zip(strata, counts) for s in members[k:]]
    return _positions(train, positions), _positions(test, positions)


def subject_kfold(records: Sequence[FrameRecord], *, k: int, seed: int,
                  stratify: bool = True) -> list[tuple[np.ndarray, np.ndarray]]:
    """``k`` folds of subjects; returns ``[(train_positions, test_positions), ...]``.

    Subjects of each stratum are dealt round-robin to the folds (continuing
    where the previous stratum stopped), so fold sizes differ by at most one
    subject and each label is spread evenly. Every subject is in exactly one
    test fold.
    """
    if not isinstance(k, (int, np.integer)) or k < 2:
        raise ValueError(f"k: expected an integer >= 2, got {k!r}")
    strata, positions = _shuffled_strata(records, seed, stratify)
    n_subjects = sum(len(s) for s in strata)
    if n_subjects < k:
        raise InputError(f"{k}-fold cross-validation needs at least {k} subjects, the "
                         f"dataset has {n_subjects}", field="subject")
    folds: list[list[str]] = [[] for _ in range(k)]
    slot = 0
    for members in strata:
        for subject in members:
            folds[slot % k].append(subject)
            slot += 1
    out = []
    for i in range(k):
        train = [s for j, fold in enumerate(folds) if j != i for s in fold]
        out.append((_positions(train, positions), _positions(folds[i], positions)))
    return out


@dataclass(frozen=True)
class Leak:
    """A subject (or a frame, ``position`` set) found in more than one split."""

    subject: str
    splits: tuple[str, ...]
    position: int | None = None
    row: int | None = None

    def __str__(self) -> str:
        what = f"subject {self.subject!r}"
        if self.position is not None:
            what = f"the frame at manifest row {self.row} (subject {self.subject!r})"
        return f"{what} appears in splits {', '.join(self.splits)}"


def find_leakage(splits: Mapping[str, Sequence[int] | np.ndarray],
                 records: Sequence[FrameRecord]) -> list[Leak]:
    """Subjects (and frames) that appear in more than one split, sorted by subject."""
    where: dict[str, set[str]] = {}
    frame_where: dict[int, set[str]] = {}
    for name, indices in splits.items():
        for i in np.asarray(indices, dtype=np.int64).reshape(-1):
            if not 0 <= i < len(records):
                raise ValueError(f"splits[{name!r}]: position {i} out of range for "
                                 f"{len(records)} records")
            where.setdefault(records[i].subject, set()).add(name)
            frame_where.setdefault(int(i), set()).add(name)
    order = {name: j for j, name in enumerate(splits)}
    leaks = [Leak(s, tuple(sorted(names, key=order.get)))
             for s, names in sorted(where.items()) if len(names) > 1]
    leaks += [Leak(records[i].subject, tuple(sorted(names, key=order.get)), i, records[i].row)
              for i, names in sorted(frame_where.items()) if len(names) > 1]
    return leaks


def require_no_leakage(splits: Mapping[str, Sequence[int] | np.ndarray],
                       records: Sequence[FrameRecord], *,
                       file: str | os.PathLike[str] | None = None) -> None:
    """Raise :class:`InputError` when a subject appears in more than one split (training calls
    this before it starts)."""
    leaks = find_leakage(splits, records)
    if leaks:
        more = f" (and {len(leaks) - 1} more)" if len(leaks) > 1 else ""
        raise InputError(f"leaking split: {leaks[0]}{more}; every split must be by subject",
                         file=file, field="subject")


def write_splits(path: str | os.PathLike[str], splits: Mapping[str, Sequence[int] | np.ndarray],
                 records: Sequence[FrameRecord]) -> Path:
    """Write splits as JSON ``{name: {"subjects": [...], "rows": [...]}}`` atomically."""
    from sonomtl.fileio import write_json

    out = {}
    for name, indices in splits.items():
        chosen = [records[int(i)] for i in np.asarray(indices, dtype=np.int64).reshape(-1)]
        out[name] = {"subjects": sorted({r.subject for r in chosen}),
                     "rows": sorted(r.row for r in chosen)}
    return write_json(path, out)


def read_splits(path: str | os.PathLike[str],
                records: Sequence[FrameRecord]) -> dict[str, np.ndarray]:
    """Read a splits file (JSON/YAML) into ``name -> record positions``.

    ``rows`` wins over ``subjects`` when a split gives both. Unknown subjects
    or rows raise :class:`InputError` naming the file and the split.
    """
    import yaml

    from sonomtl.yaml_files import load_yaml

    path = Path(path)
    if not path.is_file():
        raise InputError("splits file not found", file=path)
    try:
        data: Any = load_yaml(path.read_text(encoding="utf-8"))  # JSON is YAML
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise InputError(f"not valid JSON/YAML: {' '.join(str(error).split())}",
                         file=path) from None
    if not isinstance(data, Mapping) or not data:
        raise InputError("expected a mapping {split name: {subjects: [...]} or {rows: [...]}}",
                         file=path)
    by_subject: dict[str, list[int]] = {}
    by_row: dict[int, int] = {}
    for i, record in enumerate(records):
        by_subject.setdefault(record.subject, []).append(i)
        by_row[record.row] = i
    splits = {}
    for name, entry in data.items():
        field = str(name)
        if isinstance(entry, list):
            entry = {"subjects": entry}
        if not isinstance(entry, Mapping) or not ({"subjects", "rows"} & set(entry)):
            raise InputError("expected {subjects: [...]} or {rows: [...]}", file=path,
                             field=field)
        positions: list[int] = []
        if "rows" in entry:
            for row in entry["rows"] or []:
                if not isinstance(row, int) or row not in by_row:
                    raise InputError(f"no manifest record at row {row!r}", file=path,
                                     field=f"{field}.rows")
                positions.append(by_row[row])
        else:
            for subject in entry["subjects"] or []:
                if str(subject) not in by_subject:
                    raise InputError(f"unknown subject {subject!r}", file=path,
                                     field=f"{field}.subjects")
                positions.extend(by_subject[str(subject)])
        splits[field] = np.array(sorted(positions), dtype=np.int64)
    return splits


def split_records(
    records: Sequence[Any], *, test_fraction: float, val_fraction: float, seed: int
) -> dict[str, np.ndarray]:
    """Subject-level ``train`` / ``val`` / ``test`` record positions (``val`` may be empty).

    The test subjects are drawn first (``test_fraction`` of all subjects,
    stratified by label), then ``val_fraction`` of the remaining subjects.
    """
    train, test = subject_holdout(records, test_fraction=test_fraction, seed=seed)
    val = np.zeros(0, dtype=np.int64)
    if val_fraction > 0:
        rest = [records[i] for i in train]
        inner_train, inner_val = subject_holdout(rest, test_fraction=val_fraction, seed=seed + 1)
        train, val = train[inner_train], train[inner_val]
    return {"train": np.asarray(train), "val": np.asarray(val), "test": np.asarray(test)}
