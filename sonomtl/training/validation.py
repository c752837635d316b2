"""The validation pass of the engine: per-sample metric values averaged over every rank."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch.utils.data import DataLoader

__all__ = ["validation_metrics"]


def validation_metrics(
    task: Any, modules: Mapping[str, Any], val_set: Any, *, fabric: Any, batch_size: int,
    num_workers: int, generator: torch.Generator,
) -> dict[str, float]:
    """Each of the task's validation metrics, averaged over the samples that have it.

    Every rank takes its shard of ``val_set`` in order (nothing dropped); a
    task may leave samples out of a metric (e.g. frames without a ground-truth
    map), so each metric is its sum over its count, both summed over ranks in
    float64. The modules are run as they are (the caller sets eval mode).
    """
    from sonomtl.training.sampling import shard_indices

    indices = shard_indices(num_samples=len(val_set), rank=fabric.global_rank,
                            world_size=fabric.world_size, shuffle=False, seed=0, epoch=0,
                            drop_last=False)
    batches = [indices[i : i + batch_size] for i in range(0, len(indices), batch_size)]
    loader = DataLoader(val_set, batch_sampler=batches, num_workers=num_workers,
                        collate_fn=task.collate, generator=generator)
    sums: dict[str, float] = {}
    counts: dict[str, float] = {}
    for batch in loader:
        batch = fabric.to_device(batch)
        with fabric.autocast():
            outputs = task.validation_outputs(modules, batch)
        for name, values in outputs.items():
            sums[name] = sums.get(name, 0.0) + float(values.detach().double().sum())
            counts[name] = counts.get(name, 0.0) + float(values.numel())
    names = sorted(sums)
    totals = torch.tensor([sums[n] for n in names] + [counts[n] for n in names],
                          dtype=torch.float64)
    if fabric.world_size > 1:
        totals = fabric.all_reduce(totals.to(fabric.device), reduce_op="sum").cpu()
    return {n: float(totals[i] / totals[len(names) + i])
            for i, n in enumerate(names) if totals[len(names) + i] > 0}
