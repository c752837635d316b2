"""Batches that are reproducible, disjoint across DDP ranks and resumable mid-epoch.

Every batch order is a pure function of ``(seed, epoch, rank, world_size)``,
so a resumed run skips the batches it already consumed (without loading
them) and continues with exactly the batches an uninterrupted run would see.
Random augmentation is made just as reproducible by :class:`SeededDataset`,
which seeds Python, NumPy and torch from ``(seed, epoch, index)`` before
each sample is loaded, in the main process and in workers alike.

Class-balanced batches (paper 1): M-SEN trains with equal numbers of
abdominal-circumference and background frames in every mini-batch although
background frames are far more frequent.
:class:`ClassBalancedBatchSampler` draws ``batch_size / n_classes`` frames of
each class per batch: each class is a stream of seeded permutations of its
frames (a new permutation when one is used up, so minority classes are
repeated and the majority class is not), reshuffled per epoch
(:meth:`~ClassBalancedBatchSampler.set_epoch`). Under DDP every rank takes
every ``world_size``-th batch of the same global sequence, so ranks get
disjoint batches.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

__all__ = [
    "ClassBalancedBatchSampler",
    "SeededDataset",
    "ShardedBatchSampler",
    "SkipBatches",
    "class_balanced_sampler",
    "sample_seed",
    "shard_indices",
]


def sample_seed(*, seed: int, epoch: int, index: int) -> int:
    """A 32-bit seed for one sample of one epoch (NumPy's SeedSequence mixing)."""
    return int(np.random.SeedSequence([seed, epoch, index]).generate_state(1)[0])


def shard_indices(
    *,
    num_samples: int,
    rank: int,
    world_size: int,
    shuffle: bool,
    seed: int,
    epoch: int,
    drop_last: bool,
) -> list[int]:
    """Indices of rank ``rank``: a seeded permutation cut into ``world_size`` disjoint shards.

    With ``drop_last`` every rank gets ``num_samples // world_size`` samples
    (the remainder is dropped, so shards never overlap); otherwise the shards
    differ in length by at most one.
    """
    if not 0 <= rank < world_size:
        raise ValueError(f"rank must be in [0, {world_size}), got {rank}")
    if shuffle:
        order = np.random.default_rng([seed, epoch]).permutation(num_samples).tolist()
    else:
        order = list(range(num_samples))
    if drop_last:
        order = order[: num_samples - num_samples % world_size]
    return order[rank::world_size]


class ShardedBatchSampler(Sampler[list[int]]):
    """Seeded, DDP-sharded batch sampler with ``set_epoch`` (a ``batch_sampler`` for DataLoader).

    Parameters
    ----------
    num_samples
        Length of the dataset.
    batch_size
        Samples per batch on each rank.
    shuffle
        Random order per epoch (else dataset order).
    seed, rank, world_size
        Order and shard.
    drop_last
        Drop the last incomplete batch (and the samples that do not divide among ranks).
    """

    def __init__(
        self,
        num_samples: int,
        *,
        batch_size: int,
        shuffle: bool,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        drop_last: bool = True,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.num_samples = num_samples
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.drop_last = drop_last
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose order is drawn."""
        self.epoch = epoch

    def __iter__(self) -> Iterator[list[int]]:
        indices = shard_indices(
            num_samples=self.num_samples,
            rank=self.rank,
            world_size=self.world_size,
            shuffle=self.shuffle,
            seed=self.seed,
            epoch=self.epoch,
            drop_last=self.drop_last,
        )
        for start in range(0, len(indices), self.batch_size):
            batch = indices[start : start + self.batch_size]
            if len(batch) < self.batch_size and self.drop_last:
                return
            yield batch

    def __len__(self) -> int:
        per_rank = (
            self.num_samples // self.world_size
            if self.drop_last
            else -(-self.num_samples // self.world_size)
        )
        if self.drop_last:
            return per_rank // self.batch_size
        return -(-per_rank // self.batch_size)


class SkipBatches(Sampler[list[int]]):
    """Wrap a batch sampler and skip its first ``skip`` batches (mid-epoch resume)."""

    def __init__(self, batch_sampler: Any, *, skip: int) -> None:
        self.batch_sampler = batch_sampler
        self.skip = skip

    def set_epoch(self, epoch: int) -> None:
        """Forward to the wrapped sampler."""
        self.batch_sampler.set_epoch(epoch)

    def __iter__(self) -> Iterator[list[int]]:
        for i, batch in enumerate(self.batch_sampler):
            if i >= self.skip:
                yield list(batch)

    def __len__(self) -> int:
        return max(0, len(self.batch_sampler) - self.skip)


class SeededDataset(Dataset):
    """Load sample ``i`` of epoch ``e`` with the global RNGs seeded from ``(seed, e, i)``.

    In the main process (``num_workers=0``) the RNG states are restored after
    each sample, so data loading does not disturb the training loop's RNG
    (dropout), and results do not depend on ``num_workers``. The wrapped
    dataset's own ``set_epoch`` is called when it has one.
    """

    def __init__(self, dataset: Dataset, *, seed: int) -> None:
        self.dataset = dataset
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch of the per-sample seeds."""
        self.epoch = epoch
        inner = getattr(self.dataset, "set_epoch", None)
        if callable(inner):
            inner(epoch)

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> Any:
        in_worker = torch.utils.data.get_worker_info() is not None
        if not in_worker:
            saved = (random.getstate(), np.random.get_state(), torch.get_rng_state())  # noqa: NPY002
        value = sample_seed(seed=self.seed, epoch=self.epoch, index=int(index))
        random.seed(value)
        np.random.seed(value)  # noqa: NPY002
        torch.random.default_generator.manual_seed(value)
        try:
            return self.dataset[index]
        finally:
            if not in_worker:
                random.setstate(saved[0])
                np.random.set_state(saved[1])  # noqa: NPY002
                torch.set_rng_state(saved[2])


def class_balanced_sampler(
    labels: Sequence[int], *, batch_size: int, seed: int, rank: int, world_size: int
) -> ClassBalancedBatchSampler:
    """A :class:`ClassBalancedBatchSampler` (equal classes per batch) for the engine."""
    return ClassBalancedBatchSampler(
        labels, batch_size=batch_size, seed=seed, rank=rank, world_size=world_size
    )


class ClassBalancedBatchSampler:
    """Yield lists of positions, ``batch_size / n_classes`` of each class per batch.

    Parameters
    ----------
    labels
        Class id per position (e.g. ``UltrasoundDataset.labels``); negative
        ids (unlabelled) are never drawn.
    batch_size
        A multiple of the number of classes present.
    seed
        Seed of the draws (combined with the epoch).
    num_batches
        Batches per epoch and rank; default: the labelled frames divided by
        ``batch_size * world_size`` (at least 1).
    rank, world_size
        This process's rank and the number of processes (DDP).

    Examples
    --------
    >>> sampler = ClassBalancedBatchSampler([0, 0, 0, 0, 0, 0, 1, 1], batch_size=4, seed=0)
    >>> [sorted(int(i) >= 6 for i in batch) for batch in sampler]
    [[False, False, True, True], [False, False, True, True]]
    """

    def __init__(self, labels: Sequence[int] | np.ndarray, *, batch_size: int, seed: int,
                 num_batches: int | None = None, rank: int = 0, world_size: int = 1) -> None:
        labels = np.asarray(labels).reshape(-1)
        if labels.size and not np.issubdtype(labels.dtype, np.integer):
            raise TypeError(f"labels: expected integer class ids, got dtype {labels.dtype}")
        self.classes = np.unique(labels[labels >= 0])
        if self.classes.size == 0:
            raise ValueError("labels: expected at least one labelled (>= 0) sample")
        n_classes = int(self.classes.size)
        if not isinstance(batch_size, (int, np.integer)) or batch_size <= 0 \
                or batch_size % n_classes:
            raise ValueError(f"batch_size: expected a positive multiple of the {n_classes} "
                             f"classes, got {batch_size!r}")
        if not isinstance(world_size, (int, np.integer)) or world_size < 1:
            raise ValueError(f"world_size: expected an integer >= 1, got {world_size!r}")
        if not isinstance(rank, (int, np.integer)) or not 0 <= rank < world_size:
            raise ValueError(f"rank: expected 0 <= rank < world_size={world_size}, got {rank!r}")
        if num_batches is None:
            num_batches = max(1, int((labels >= 0).sum()) // (batch_size * world_size))
        if not isinstance(num_batches, (int, np.integer)) or num_batches < 1:
            raise ValueError(f"num_batches: expected an integer >= 1, got {num_batches!r}")
        self.batch_size = int(batch_size)
        self.per_class = self.batch_size // n_classes
        self.seed = int(seed)
        self.num_batches = int(num_batches)
        self.rank, self.world_size = int(rank), int(world_size)
        self.epoch = 0
        self._members = [np.flatnonzero(labels == c) for c in self.classes]

    def set_epoch(self, epoch: int) -> None:
        """Draw a different (seeded) sequence of batches for ``epoch``."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.num_batches

    def _stream(self, members: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
        """``count`` draws: concatenated permutations of ``members``."""
        cycles = -(-count // members.size)
        return np.concatenate([rng.permutation(members) for _ in range(cycles)])[:count]

    def __iter__(self) -> Iterator[list[int]]:
        total = self.num_batches * self.world_size
        rng = np.random.default_rng([self.seed, self.epoch])
        streams = [self._stream(m, total * self.per_class, rng).reshape(total, self.per_class)
                   for m in self._members]
        batches = np.concatenate(streams, axis=1)  # (total, batch_size), class blocks
        for b in range(self.rank, total, self.world_size):
            yield _shuffle(batches[b], self.seed, self.epoch, b)


def _shuffle(batch: np.ndarray, seed: int, epoch: int, index: int) -> list[int]:
    """Shuffle one batch so classes are interleaved (seeded by batch number)."""
    order = np.random.default_rng([seed, epoch, index, 1]).permutation(batch.size)
    return [int(i) for i in batch[order]]
