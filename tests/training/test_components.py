"""Sampling, schedules, freezing and RNG checkpointing, each against hand-computed truth."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
import torch.nn as nn

from sonomtl.config import LossWeightConfig, OptimizerConfig, StageConfig
from sonomtl.training.checkpoint import capture_rng_state, restore_rng_state
from sonomtl.training.example import BlobDataset
from sonomtl.training.sampling import (
    SeededDataset,
    ShardedBatchSampler,
    SkipBatches,
    class_balanced_sampler,
    shard_indices,
)
from sonomtl.training.schedules import build_lr_scheduler, loss_weight, lr_factor
from sonomtl.training.stages import apply_stage_freezing, trained_parameters


@pytest.mark.parametrize("world_size", [1, 2, 3, 4])
def test_shards_are_disjoint_cover_the_data_and_have_equal_length(world_size: int) -> None:
    shards = [
        shard_indices(
            num_samples=10,
            rank=r,
            world_size=world_size,
            shuffle=True,
            seed=3,
            epoch=1,
            drop_last=True,
        )
        for r in range(world_size)
    ]
    flat = [i for s in shards for i in s]
    assert len(flat) == len(set(flat)) == 10 - 10 % world_size
    assert {len(s) for s in shards} == {10 // world_size}
    again = shard_indices(
        num_samples=10, rank=0, world_size=world_size, shuffle=True, seed=3, epoch=1, drop_last=True
    )
    assert again == shards[0]


def test_the_batch_order_depends_on_seed_and_epoch_only_and_skipping_resumes_it() -> None:
    sampler = ShardedBatchSampler(20, batch_size=3, shuffle=True, seed=0)
    sampler.set_epoch(0)
    epoch0 = list(sampler)
    assert len(epoch0) == len(sampler) == 6 and all(len(b) == 3 for b in epoch0)
    sampler.set_epoch(1)
    assert list(sampler) != epoch0
    sampler.set_epoch(0)
    assert list(SkipBatches(sampler, skip=4)) == epoch0[4:]
    assert len(SkipBatches(sampler, skip=4)) == 2
    ordered = ShardedBatchSampler(7, batch_size=2, shuffle=False, seed=0, drop_last=False)
    assert list(ordered) == [[0, 1], [2, 3], [4, 5], [6]]


def test_class_balanced_batches_resume_exactly_after_skipping() -> None:
    # M-SEN trains on class-balanced batches: a resumed run must see the same batches
    labels = [0] * 30 + [1] * 7
    fresh = class_balanced_sampler(labels, batch_size=4, seed=3, rank=0, world_size=1)
    fresh.set_epoch(5)
    epoch5 = list(fresh)
    assert all(sorted(labels[i] for i in batch) == [0, 0, 1, 1] for batch in epoch5)
    resumed = class_balanced_sampler(labels, batch_size=4, seed=3, rank=0, world_size=1)
    resumed.set_epoch(5)
    assert list(SkipBatches(resumed, skip=3)) == epoch5[3:]
    resumed.set_epoch(6)
    assert list(resumed) != epoch5


def test_seeded_samples_do_not_depend_on_order_and_leave_the_global_rng_untouched() -> None:
    data = SeededDataset(BlobDataset(num_samples=8, image_size=8, seed=0, augment=True), seed=5)
    data.set_epoch(2)
    torch.manual_seed(123)
    state = torch.get_rng_state()
    forward = [data[i]["image"] for i in range(8)]
    assert torch.equal(torch.get_rng_state(), state)
    backward = [data[i]["image"] for i in reversed(range(8))][::-1]
    assert all(torch.equal(a, b) for a, b in zip(forward, backward))
    flips = [
        not torch.equal(data[i]["image"], torch.from_numpy(data.dataset.images[i])[None])
        for i in range(8)
    ]
    assert 0 < sum(flips) < 8  # the augmentation really is random per sample


def test_loss_weights_fall_linearly_from_start_to_end_over_epochs_or_steps() -> None:
    lambda1 = LossWeightConfig(start=2.0, end=1.0)
    got = [
        loss_weight(lambda1, epoch=e, num_epochs=30, step=0, num_steps=1) for e in (0, 1, 15, 29)
    ]
    assert got == pytest.approx([2.0, 2.0 - 1 / 29, 2.0 - 15 / 29, 1.0])
    per_step = LossWeightConfig(start=0.0, end=1.0, per="step")
    assert loss_weight(per_step, epoch=0, num_epochs=None, step=50, num_steps=101) == 0.5
    assert (
        loss_weight(LossWeightConfig(start=0.3), epoch=9, num_epochs=10, step=3, num_steps=9) == 0.3
    )


@pytest.mark.parametrize("schedule", ["constant", "linear", "cosine"])
def test_the_lr_scheduler_follows_the_documented_factor(schedule: str) -> None:
    config = OptimizerConfig(lr=0.1, schedule=schedule, final_lr_factor=0.2)
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=config.lr)
    scheduler = build_lr_scheduler(optimizer, config, num_steps=10)
    for step in range(11):
        assert optimizer.param_groups[0]["lr"] == pytest.approx(
            0.1 * lr_factor(config, step=step, num_steps=10)
        )
        optimizer.step()
        scheduler.step()
    assert lr_factor(config, step=10, num_steps=10) == pytest.approx(
        1.0 if schedule == "constant" else 0.2
    )


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.shared = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))
        self.head = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5))
        self.drop = nn.Dropout(0.1)


def test_freezing_sets_requires_grad_and_eval_mode_by_sub_module() -> None:
    modules = {"net": _Net(), "D": nn.Linear(2, 1)}
    stage = StageConfig(
        name="views",
        epochs=1,
        train=["net"],
        frozen=["net.shared"],
        optimizers={"net": OptimizerConfig()},
        losses={"x": LossWeightConfig(start=1)},
    )
    counts = apply_stage_freezing(modules, stage)
    net = modules["net"]
    assert not any(p.requires_grad for p in net.shared.parameters())
    assert all(p.requires_grad for p in net.head.parameters())
    assert not any(p.requires_grad for p in modules["D"].parameters())
    assert counts == {"net": 6, "D": 0}
    assert not net.shared[1].training  # frozen batch norm keeps its statistics
    assert net.training and net.head.training and net.head[1].training and net.drop.training
    assert not modules["D"].training
    assert [p.shape for p in trained_parameters(modules, "net", ["net.shared"])] == [(2, 2), (2,)]
    with pytest.raises(ValueError, match="no sub-module 'encoder'"):
        apply_stage_freezing(modules, StageConfig(name="s", epochs=1, train=["net.encoder"]))


def test_rng_states_survive_a_weights_only_round_trip(tmp_path) -> None:
    random.seed(1)
    np.random.seed(2)  # noqa: NPY002
    torch.manual_seed(3)
    np.random.normal()  # noqa: NPY002 - leaves a cached gaussian in the legacy state
    state = capture_rng_state()
    expected = (random.random(), np.random.random(), torch.rand(2))  # noqa: NPY002
    torch.save(state, tmp_path / "rng.pt")
    restore_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True))
    got = (random.random(), np.random.random(), torch.rand(2))  # noqa: NPY002
    assert got[0] == expected[0] and got[1] == expected[1] and torch.equal(got[2], expected[2])
