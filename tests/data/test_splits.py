"""Subject-level hold-out and k-fold splits, leakage detection, splits files."""

from __future__ import annotations

import csv
import json
from collections import Counter

import numpy as np
import pytest

from sonomtl.data.manifest import FrameRecord
from sonomtl.data.splits import (
    find_leakage,
    read_splits,
    require_no_leakage,
    subject_holdout,
    subject_kfold,
    write_splits,
)
from sonomtl.errors import InputError


def _records(label_of_subject: dict[str, str | None], frames_per_subject: int = 3):
    records = []
    for subject, label in label_of_subject.items():
        for _ in range(frames_per_subject):
            records.append(FrameRecord(row=len(records) + 2, subject=subject,
                                       image=f"{len(records)}.png", label=label))
    return records


# 6 subjects of class A, 4 of class B, 3 frames each.
SUBJECTS = {**{f"a{i}": "A" for i in range(6)}, **{f"b{i}": "B" for i in range(4)}}


def _subjects(records, positions):
    return {records[i].subject for i in positions}


def test_holdout_keeps_subjects_whole_and_labels_in_proportion():
    records = _records(SUBJECTS)
    train, test = subject_holdout(records, test_fraction=0.5, seed=1)
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(30))
    assert not _subjects(records, train) & _subjects(records, test)
    # 5 of 10 subjects: 3 of the 6 A subjects and 2 of the 4 B subjects.
    counts = Counter(SUBJECTS[s] for s in _subjects(records, test))
    assert counts == {"A": 3, "B": 2} and len(test) == 15


def test_holdout_is_seeded():
    records = _records(SUBJECTS)
    first = subject_holdout(records, test_fraction=0.3, seed=7)
    again = subject_holdout(records, test_fraction=0.3, seed=7)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    others = [subject_holdout(records, test_fraction=0.3, seed=s)[1] for s in range(8)]
    assert len({tuple(t) for t in others}) > 1
    # round(0.3 * 10) = 3 subjects, shared 1.8 A -> 2 and 1.2 B -> 1 by largest remainder.
    assert Counter(SUBJECTS[s] for s in _subjects(records, first[1])) == {"A": 2, "B": 1}


def test_holdout_of_unlabelled_subjects_and_tiny_datasets():
    records = _records({"x": None, "y": None, "z": None})
    train, test = subject_holdout(records, test_fraction=0.01, seed=0)
    assert len(_subjects(records, test)) == 1 and len(_subjects(records, train)) == 2
    with pytest.raises(InputError, match="at least 2 subjects"):
        subject_holdout(_records({"x": "A"}), test_fraction=0.5, seed=0)
    with pytest.raises(ValueError, match="test_fraction"):
        subject_holdout(records, test_fraction=1.0, seed=0)


def test_kfold_partitions_subjects_with_balanced_labels():
    records = _records(SUBJECTS)
    folds = subject_kfold(records, k=2, seed=3)
    assert len(folds) == 2
    tests = [_subjects(records, test) for _, test in folds]
    assert tests[0].isdisjoint(tests[1]) and tests[0] | tests[1] == set(SUBJECTS)
    for train, test in folds:
        assert not _subjects(records, train) & _subjects(records, test)
        assert len(train) + len(test) == 30
        assert Counter(SUBJECTS[s] for s in _subjects(records, test)) == {"A": 3, "B": 2}
    folds5 = subject_kfold(records, k=5, seed=3)
    assert sorted(len(_subjects(records, t)) for _, t in folds5) == [2, 2, 2, 2, 2]
    with pytest.raises(InputError, match="at least 11 subjects"):
        subject_kfold(records, k=11, seed=0)


def test_hc18_subjects_never_straddle_a_split(hc18_dir):
    with open(hc18_dir / "training_set_pixel_size_and_HC.csv", newline="") as f:
        names = [row["filename"] for row in csv.DictReader(f)]
    records = [FrameRecord(row=i + 2, subject=name[:3], image=name) for i, name in
               enumerate(names)]
    assert len(records) == 804
    train, test = subject_holdout(records, test_fraction=0.2, seed=0)
    assert not _subjects(records, train) & _subjects(records, test)
    n_subjects = len({r.subject for r in records})
    assert len(_subjects(records, test)) == round(0.2 * n_subjects)
    for train, test in subject_kfold(records, k=5, seed=0):
        assert find_leakage({"train": train, "test": test}, records) == []


def test_find_leakage_reports_subjects_and_frames():
    records = _records({"p": "A", "q": "A", "r": "B"}, frames_per_subject=2)
    splits = {"train": [0, 2, 4], "val": [1], "test": [5, 4]}
    leaks = find_leakage(splits, records)
    assert [str(leak) for leak in leaks] == [
        "subject 'p' appears in splits train, val",
        "subject 'r' appears in splits train, test",
        "the frame at manifest row 6 (subject 'r') appears in splits train, test",
    ]
    with pytest.raises(InputError, match="leaking split: subject 'p'.*2 more"):
        require_no_leakage(splits, records)
    require_no_leakage({"train": [0, 1], "test": [2, 3, 4, 5]}, records)


def test_splits_files_round_trip_and_accept_subject_lists(tmp_path):
    records = _records(SUBJECTS)
    train, test = subject_holdout(records, test_fraction=0.5, seed=0)
    path = write_splits(tmp_path / "splits.json", {"train": train, "test": test}, records)
    data = json.loads(path.read_text())
    assert data["test"]["rows"] == sorted(records[i].row for i in test)
    back = read_splits(path, records)
    assert np.array_equal(back["train"], train) and np.array_equal(back["test"], test)
    (tmp_path / "s.yaml").write_text("train: [a0, a1]\ntest: {subjects: [b0]}\n")
    back = read_splits(tmp_path / "s.yaml", records)
    assert back["train"].tolist() == [0, 1, 2, 3, 4, 5] and back["test"].tolist() == [18, 19, 20]
    (tmp_path / "bad.yaml").write_text("train: [a0, zz]\n")
    with pytest.raises(InputError) as info:
        read_splits(tmp_path / "bad.yaml", records)
    assert info.value.field == "train.subjects" and "zz" in info.value.message
