"""A small but real task that exercises every engine feature (used by tests and the benchmark).

Data: generated frames (``image_size`` square, one channel) of two classes;
class 1 frames hold a bright Gaussian blob whose position is the ground-truth
attention map, class 0 frames hold noise and a dim blob. Optional random
horizontal flips (frame and map together) are drawn from the global torch
RNG, so the engine's per-sample seeding is exercised.

Modules: the registry's ``tiny_generator`` (frame -> attention map + class
logits, the map gating the features as in M-SEN) and
``tiny_discriminator`` (frame + map -> probability "real"),
:mod:`sonomtl.models.toy`. Loss terms: ``saliency`` (BCE between
maps), ``classification`` (cross-entropy); validation: ``accuracy`` and
``classification`` per sample.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import Dataset

from sonomtl.training.tasks import Task, TaskDatasets

__all__ = ["ExampleDataParams", "ExampleTask", "ExampleTaskParams", "BlobDataset"]


class BlobDataset(Dataset):
    """Generated frames with a class label and an attention map (dict samples)."""

    def __init__(self, *, num_samples: int, image_size: int, seed: int, augment: bool) -> None:
        rng = np.random.default_rng(seed)
        self.labels = (np.arange(num_samples) % 2).astype(np.int64)
        yy, xx = np.mgrid[0:image_size, 0:image_size].astype(np.float32)
        centres = rng.uniform(0.25 * image_size, 0.75 * image_size, size=(num_samples, 2))
        sigma = image_size / 8
        maps = np.exp(
            -(
                (xx[None] - centres[:, 0, None, None]) ** 2
                + (yy[None] - centres[:, 1, None, None]) ** 2
            )
            / (2 * sigma**2)
        ).astype(np.float32)
        noise = rng.normal(0.0, 0.3, size=(num_samples, image_size, image_size)).astype(np.float32)
        brightness = np.where(self.labels == 1, 1.0, 0.3).astype(np.float32)
        self.images = noise + brightness[:, None, None] * maps
        self.maps = maps
        self.augment = augment
        self.preprocessing_info = {
            "input_size": [image_size, image_size],
            "classes": ["background", "plane"],
            "normalisation": "none",
        }

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict[str, Any]:
        image = torch.from_numpy(self.images[index])[None]
        attention = torch.from_numpy(self.maps[index])[None]
        if self.augment and float(torch.rand(())) < 0.5:
            image, attention = image.flip(-1), attention.flip(-1)
        return {
            "image": image,
            "attention": attention,
            "label": torch.tensor(self.labels[index]),
            "index": torch.tensor(index),
        }


@dataclasses.dataclass(frozen=True)
class ExampleTaskParams:
    """``task.params`` of the example task: module names, and two hooks for tests."""

    generator: str = "G"
    discriminator: str = "D"
    nan_at_call: int | None = None  # the classification term is NaN at this training call
    step_delay_s: float = 0.0  # sleep in every step: lets tests kill a run mid-epoch


@dataclasses.dataclass(frozen=True)
class ExampleDataParams:
    """``data.params`` of the example task."""

    num_samples: int = 64
    val_samples: int = 16
    image_size: int = 16
    augment: bool = True


class ExampleTask(Task):
    """The example task.

    ``task.params``: ``generator`` / ``discriminator`` (module names, default
    ``G``/``D``), ``nan_at_call`` (make ``classification`` NaN at that training
    call) and ``step_delay_s`` (sleep in every step), both for tests.
    ``data.params``: ``num_samples``, ``val_samples``, ``image_size``, ``augment``.
    """

    loss_terms = ("saliency", "classification")
    task_params_type = ExampleTaskParams
    data_params_type = ExampleDataParams
    params: ExampleTaskParams

    def __init__(self, *, params: Mapping[str, Any] | ExampleTaskParams) -> None:
        super().__init__(params=params)
        self.generator = self.params.generator
        self.discriminator = self.params.discriminator
        self._calls = 0
        self.seen_indices: list[int] = []  # sample indices of every training batch, in order

    def build_datasets(
        self, *, root: str | None, params: Mapping[str, Any], seed: int
    ) -> TaskDatasets:
        params = self.read_data_params(params)
        size = params.image_size
        train = BlobDataset(num_samples=params.num_samples, image_size=size, seed=seed,
                            augment=params.augment)
        val = (
            BlobDataset(num_samples=params.val_samples, image_size=size, seed=seed + 1,
                        augment=False)
            if params.val_samples
            else None
        )
        return TaskDatasets(train=train, val=val)

    def sample_labels(self, dataset: Dataset) -> Sequence[int]:
        return dataset.labels.tolist()

    def forward(
        self, modules: Mapping[str, nn.Module], batch: Mapping[str, Any]
    ) -> dict[str, torch.Tensor]:
        outputs = modules[self.generator](batch["image"])
        # registry generators (msen) return a NamedTuple with the same field names
        return outputs if isinstance(outputs, dict) else dict(outputs._asdict())

    def generator_losses(
        self, outputs: Mapping[str, torch.Tensor], batch: Mapping[str, Any], *, terms: Sequence[str]
    ) -> dict[str, torch.Tensor]:
        self._calls += 1
        self.seen_indices.extend(int(i) for i in batch["index"].tolist())
        if self.params.step_delay_s:
            import time

            time.sleep(self.params.step_delay_s)
        losses = {}
        if "saliency" in terms:
            losses["saliency"] = F.binary_cross_entropy(
                outputs["attention"].float().clamp(1e-6, 1 - 1e-6), batch["attention"].float()
            )
        if "classification" in terms:
            losses["classification"] = F.cross_entropy(outputs["logits"].float(), batch["label"])
            if self.params.nan_at_call == self._calls:
                losses["classification"] = losses["classification"] * float("nan")
        return losses

    def discriminator_inputs(
        self, outputs: Mapping[str, torch.Tensor], batch: Mapping[str, Any]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        image = batch["image"]
        real = torch.cat([image, batch["attention"].to(image.dtype)], dim=1)
        fake = torch.cat([image, outputs["attention"].to(image.dtype)], dim=1)
        return real, fake

    def validation_outputs(
        self, modules: Mapping[str, nn.Module], batch: Mapping[str, Any]
    ) -> dict[str, torch.Tensor]:
        outputs = self.forward(modules, batch)
        logits = outputs["logits"].float()
        return {
            "accuracy": (logits.argmax(1) == batch["label"]).float(),
            "classification": F.cross_entropy(logits, batch["label"], reduction="none"),
        }
