"""ClassBalancedBatchSampler: equal numbers per class in each batch, seeded, sharded for DDP."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from sonomtl.training.sampling import ClassBalancedBatchSampler

# 90 background (0) frames, 10 abdominal-circumference (1) frames, 5 unlabelled.
LABELS = np.array([0] * 90 + [1] * 10 + [-1] * 5)


def test_every_batch_has_equal_numbers_per_class():
    sampler = ClassBalancedBatchSampler(LABELS, batch_size=8, seed=0)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 100 // 8
    for batch in batches:
        assert len(batch) == 8
        assert Counter(int(LABELS[i]) for i in batch) == {0: 4, 1: 4}


def test_minority_class_cycles_through_all_frames_before_repeating():
    sampler = ClassBalancedBatchSampler(LABELS, batch_size=10, seed=1, num_batches=4)
    minority = [i for batch in sampler for i in batch if LABELS[i] == 1]
    assert len(minority) == 20
    assert sorted(minority[:10]) == list(range(90, 100))  # one full pass, then the next
    assert Counter(minority) == {i: 2 for i in range(90, 100)}
    majority = [i for batch in sampler for i in batch if LABELS[i] == 0]
    assert len(set(majority)) == 20  # no repeats while the class has frames left


def test_seeded_and_epoch_dependent():
    a = ClassBalancedBatchSampler(LABELS, batch_size=4, seed=5)
    b = ClassBalancedBatchSampler(LABELS, batch_size=4, seed=5)
    assert list(a) == list(b)
    first = list(a)
    a.set_epoch(1)
    assert list(a) != first
    b.set_epoch(1)
    assert list(a) == list(b)


def test_ranks_get_disjoint_batches_of_one_global_sequence():
    kwargs = {"batch_size": 4, "seed": 2, "num_batches": 5}
    shards = [list(ClassBalancedBatchSampler(LABELS, rank=r, world_size=3, **kwargs))
              for r in range(3)]
    assert all(len(s) == 5 for s in shards)
    majority = [i for shard in shards for batch in shard for i in batch if LABELS[i] == 0]
    assert len(majority) == 30 and len(set(majority)) == 30  # 90 frames: no overlap
    default = ClassBalancedBatchSampler(LABELS, batch_size=4, seed=0, world_size=2, rank=1)
    assert len(default) == 100 // (4 * 2)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"batch_size": 5}, "multiple of the 2 classes"),
        ({"batch_size": 4, "rank": 2, "world_size": 2}, "rank"),
        ({"batch_size": 4, "num_batches": 0}, "num_batches"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ClassBalancedBatchSampler(LABELS, seed=0, **kwargs)
    with pytest.raises(ValueError, match="labelled"):
        ClassBalancedBatchSampler([-1, -1], batch_size=2, seed=0)
    with pytest.raises(TypeError, match="integer class ids"):
        ClassBalancedBatchSampler([0.5, 1.0], batch_size=2, seed=0)


def test_works_as_a_dataloader_batch_sampler():
    import torch

    dataset = torch.utils.data.TensorDataset(torch.from_numpy(LABELS))
    sampler = ClassBalancedBatchSampler(LABELS, batch_size=6, seed=0, num_batches=3)
    loader = torch.utils.data.DataLoader(dataset, batch_sampler=sampler)
    for (labels,) in loader:
        assert sorted(labels.tolist()) == [0, 0, 0, 1, 1, 1]
