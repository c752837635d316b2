"""Class-balanced batches: the same number of frames of every class in each batch (paper 1).

M-SEN trains with equal numbers of abdominal-circumference and background
frames in every mini-batch although background frames are far more frequent.
:class:`ClassBalancedBatchSampler` draws ``batch_size / n_classes`` frames of
each class per batch: each class is a stream of seeded permutations of its
frames (a new permutation when one is used up, so minority classes are
repeated and the majority class is not), reshuffled per epoch
(:meth:`~ClassBalancedBatchSampler.set_epoch`). Under DDP every rank takes
every ``world_size``-th batch of the same global sequence, so ranks get
disjoint batches.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

__all__ = ["ClassBalancedBatchSampler"]


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
