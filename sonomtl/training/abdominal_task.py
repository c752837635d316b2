"""The training task of the abdominal multi-task network (paper 004) and its ablations.

One task serves every variant of the paper's comparison; the config says what
a stage trains through its loss terms:

* ``heatmap``: selective L2 between predicted and Gaussian heat maps over the
  landmarks annotated on each image's view (eq. 2),
* ``coordinate``: Euclidean distance in model-input pixels between the
  thresholded weighted mean of each predicted map (k = 0.75) and the truth (eq. 3),
* ``adversarial``: added by the engine in an ``adversarial`` stage, the PatchGAN
  (``D``) judging the image concatenated with the heat maps (eq. 4),
* ``view``: cross-entropy of the view logits (stage 2).

Stage 1 (landmarks) freezes the view path; stage 2 (views) freezes the encoder
and the decoder (the shared stages pre-trained by stage 1 stay locked), so only
the view copies of ``layer3/4`` and the view head learn. The icons and text on
the frames are masked with ``dataset.yaml``'s ``mask_rects`` before anything
else (they would give the view away).

The discriminator sees only the selected channels: the predicted and the true
maps are both multiplied by the image's landmark mask, so a channel that is not
annotated on a view gets no gradient from the adversarial term either (the
selective scheme of eq. 2 carried over to eq. 4), and an image without
landmarks gives the discriminator identical real and fake inputs.

``task.params``:

``generator`` / ``discriminator``
    Module names (default ``net`` / ``D``).
``landmark_task``
    Train a single-task network (SFCN) on one of ``dataset.yaml``'s
    ``landmark_tasks``: its output channels are that task's landmarks, and
    only images annotated with them are used.
``annotated_only``
    Train only on the frames annotated with at least one of the network's
    landmarks (default false; always true with ``landmark_task``). For runs
    without a view stage, where the other frames add no gradient.
``coordinate_threshold``
    ``k`` of eq. 3 (default 0.75).
``interchangeable_pairs``
    Landmark name pairs ordered by a naming rule, not by anatomy (HC18's
    ``[[ofd_1, ofd_2], [bpd_1, bpd_2]]``: the two ends of each skull axis).
    Per image, the losses and the discriminator take each pair's targets in
    the order the prediction fits best
    (:func:`sonomtl.losses.landmarks.match_interchangeable_pairs`), so a rule
    that flips (an axis near vertical, or rotated across it by augmentation)
    does not give similar frames contradicting targets. Default none.
``flip_test``
    At evaluation and prediction, average each frame's heat maps with those of
    its mirror image, mirrored back with ``dataset.yaml``'s ``flip_pairs``
    swapped (both frames in one forward pass; view scores from the frame
    itself). For networks trained with flips. Default false (the paper's
    single pass).
``intensity_mean`` / ``intensity_std``
    ``x = (grey - mean) / std`` on grey levels in [0, 255] (default 0 / 255:
    the zero padding stays zero).

``data.params``:

``input_size``, ``target_spacing_mm``
    Override ``dataset.yaml`` (e.g. a coarser grid for CPU runs; a
    ``target_spacing_mm`` of ``null`` keeps the dataset's value).
``test_fraction``, ``val_fraction``, ``split_seed``
    Subject-level hold-out: the test subjects are never used here (the
    experiment evaluates on them); ``val_fraction`` of the remaining subjects
    form the validation set (0: none).
``heatmap_sigma_mm`` / ``heatmap_sigma_px``
    Gaussian width of the target heat maps (default: the data layer's 2 % of
    the input side).
``augment``
    Keyword arguments of :class:`sonomtl.data.augment.RandJointAugment`, or null.
``mask_overlays``
    Passed to :class:`sonomtl.data.dataset.UltrasoundDataset` (default true).

``modules.<name>.kwargs.encoder_layers``
    Bottleneck blocks per ResNet stage, an argument of the abdominal networks
    themselves (:func:`sonomtl.models.abdominal.with_encoder_layers`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import Dataset

from sonomtl.training.tasks import Task, TaskDatasets

__all__ = [
    "AbdominalDataParams",
    "AbdominalTask",
    "AbdominalTaskParams",
    "LOSS_TERMS",
    "load_split_datasets",
]

#: Loss terms the task computes (the engine adds ``adversarial``).
LOSS_TERMS = ("heatmap", "coordinate", "view")


@dataclasses.dataclass(frozen=True)
class AbdominalTaskParams:
    """``task.params`` of the abdominal task (each described in the module docstring)."""

    generator: str = "net"
    discriminator: str = "D"
    landmark_task: str | None = None
    annotated_only: bool = False
    coordinate_threshold: float = 0.75
    intensity_mean: float = 0.0
    intensity_std: float = 255.0
    interchangeable_pairs: list[list[str]] = dataclasses.field(default_factory=list)
    flip_test: bool = False

    def __post_init__(self) -> None:
        if not self.intensity_std > 0:
            raise ValueError(f"intensity_std must be positive, got {self.intensity_std}")


@dataclasses.dataclass(frozen=True)
class AbdominalDataParams:
    """``data.params`` of the abdominal task (each described in the module docstring).

    ``split_seed`` ``None`` is the run's seed; ``input_size`` and
    ``target_spacing_mm`` ``None`` keep ``dataset.yaml``'s.
    """

    input_size: int | list[int] | None = None
    target_spacing_mm: float | None = None
    test_fraction: float = 0.2
    val_fraction: float = 0.0
    split_seed: int | None = None
    heatmap_sigma_mm: float | None = None
    heatmap_sigma_px: float | None = None
    augment: dict[str, Any] | None = None
    mask_overlays: bool | Literal["static"] = True


def load_split_datasets(
    root: str, *, params: Mapping[str, Any] | AbdominalDataParams, seed: int,
    augment_train: bool = True,
) -> tuple[Any, list[Any], dict[str, Any]]:
    """The dataset spec (with ``params`` overrides), its records, and one dataset per split.

    Returns ``(spec, records, {"train": ..., "val": ... or None, "test": ...})``;
    every dataset is an :class:`~sonomtl.data.dataset.UltrasoundDataset` without
    intensity normalisation (grey levels in [0, 255]).
    """
    from sonomtl.data.dataset import UltrasoundDataset, make_augment
    from sonomtl.data.manifest import load_dataset
    from sonomtl.errors import InputError
    from sonomtl.schema import parse_params

    params = parse_params(AbdominalDataParams, params, key="data.params")
    if root is None:
        raise InputError("the abdominal task needs data.root (a dataset folder)", field="data.root")
    spec, records = load_dataset(root)
    changes: dict[str, Any] = {}
    if params.input_size is not None:
        size = params.input_size
        changes["input_size"] = (int(size), int(size)) if np.ndim(size) == 0 else tuple(
            int(v) for v in size
        )
    if params.target_spacing_mm is not None:
        changes["target_spacing_mm"] = float(params.target_spacing_mm)
    if changes:
        spec = dataclasses.replace(spec, **changes)
    from sonomtl.data.splits import split_records

    splits = split_records(
        records,
        test_fraction=params.test_fraction,
        val_fraction=params.val_fraction,
        seed=seed if params.split_seed is None else params.split_seed,
    )
    augment_params = params.augment
    common = {
        "heatmap_sigma_mm": params.heatmap_sigma_mm,
        "heatmap_sigma_px": params.heatmap_sigma_px,
        "normalise": None,
        "mask_overlays": params.mask_overlays,
        "cache_decoded": True,
        "seed": seed,
    }
    loaded = (root, spec, records)
    datasets: dict[str, Any] = {}
    for name, indices in splits.items():
        augment = None
        if name == "train" and augment_train and augment_params:
            augment = make_augment(spec, **dict(augment_params))
        datasets[name] = (
            UltrasoundDataset(loaded, indices=indices, augment=augment, **common)
            if len(indices)
            else None
        )
    return spec, records, datasets


class _Subset(Dataset):
    """The samples of ``dataset`` at ``positions`` (keeps ``labels`` for samplers)."""

    def __init__(self, dataset: Any, positions: Sequence[int]) -> None:
        self.dataset = dataset
        self.positions = [int(p) for p in positions]

    def __len__(self) -> int:
        return len(self.positions)

    def __getitem__(self, index: int) -> Any:
        return self.dataset[self.positions[index]]

    def set_epoch(self, epoch: int) -> None:
        self.dataset.set_epoch(epoch)

    @property
    def labels(self) -> np.ndarray:
        return np.asarray(self.dataset.labels)[self.positions]


class AbdominalTask(Task):
    """Landmark heat maps (selective L2 + coordinate + adversarial) and view classification.

    See the module documentation for the parameters.
    """

    kind = "abdominal"
    loss_terms = LOSS_TERMS
    task_params_type = AbdominalTaskParams
    data_params_type = AbdominalDataParams
    params: AbdominalTaskParams

    def __init__(self, *, params: Mapping[str, Any] | AbdominalTaskParams) -> None:
        super().__init__(params=params)
        self.generator = self.params.generator
        self.discriminator = self.params.discriminator
        self.landmark_task = self.params.landmark_task
        self.annotated_only = self.params.annotated_only
        self.threshold = self.params.coordinate_threshold
        self.intensity_mean = self.params.intensity_mean
        self.intensity_std = self.params.intensity_std
        self.spec: Any = None
        self.mask_overlays: bool | str = True
        # channel positions (in the network's output) of the interchangeable pairs
        self.pair_channels: list[tuple[int, int]] = []
        # heat-map channels of the dataset that the network predicts (all, or one task's)
        self.channels: list[int] | None = None
        # output-channel positions of each ellipse measurement's four landmarks, decoded
        # together (sonomtl.decoding.ellipse_axes)
        self.ellipse_axes: list[tuple[int, int, int, int]] = []
        # flip testing: channel flip_permutation[c] of a mirrored frame's maps is landmark c
        self.flip_permutation: list[int] | None = None

    # ---- data ----------------------------------------------------------------------------
    def build_datasets(
        self, *, root: str | None, params: Mapping[str, Any] | AbdominalDataParams, seed: int
    ) -> TaskDatasets:
        from sonomtl.errors import InputError

        params = self.read_data_params(params)
        spec, _, datasets = load_split_datasets(root, params=params, seed=seed)
        names = self.bind_dataset(spec, params)
        train, val = datasets["train"], datasets["val"]
        if self.landmark_task is not None or self.annotated_only:
            train = self._annotated_subset(train, names)
            val = self._annotated_subset(val, names) if val is not None else None
            if train is None or not len(train):
                raise InputError(
                    f"no training image is annotated with any of the landmarks {names}",
                    field="task.params",
                )
        return TaskDatasets(train=train, val=val)

    def bind_dataset(self, spec: Any, params: Mapping[str, Any] | AbdominalDataParams,
                     ) -> list[str]:
        """Set what the task reads from a dataset's spec (its landmark channels, pairs, ellipse
        axes, flip permutation, overlay masking); returns the network's landmark names.

        :meth:`build_datasets` calls it; evaluation calls it alone, with the splits it
        builds itself (:func:`load_split_datasets`), instead of building them twice.
        """
        from sonomtl.decoding.ellipse_axes import ellipse_axes
        from sonomtl.errors import InputError

        self.spec = spec
        self.mask_overlays = self.read_data_params(params).mask_overlays
        self.channels = list(range(len(spec.landmarks)))
        names = list(spec.landmarks)
        if self.landmark_task is not None:
            if self.landmark_task not in spec.landmark_tasks:
                raise InputError(
                    f"landmark_task {self.landmark_task!r} is not in dataset.yaml's "
                    f"landmark_tasks {sorted(spec.landmark_tasks)}",
                    field="task.params.landmark_task",
                )
            names = list(spec.landmark_tasks[self.landmark_task])
            self.channels = [spec.landmark_index(n) for n in names]
        self.pair_channels = self._pair_channels(names)
        self.ellipse_axes = ellipse_axes(spec.measurements, names)
        self.flip_permutation = self._flip_permutation(names)
        return names

    def _pair_channels(self, names: Sequence[str]) -> list[tuple[int, int]]:
        """Output-channel positions of ``interchangeable_pairs`` (pairs the network lacks: none)."""
        from sonomtl.errors import InputError

        field = "task.params.interchangeable_pairs"
        pairs = self.params.interchangeable_pairs
        known = set(self.spec.landmarks)
        out = []
        for k, pair in enumerate(pairs):
            if not isinstance(pair, (list, tuple)) or len(pair) != 2 or pair[0] == pair[1] \
                    or not set(pair) <= known:
                raise InputError(f"expected two different landmarks of dataset.yaml, got {pair!r}",
                                 field=f"{field}[{k}]")
            if set(pair) <= set(names):
                out.append((list(names).index(pair[0]), list(names).index(pair[1])))
        return out

    def _flip_permutation(self, names: Sequence[str]) -> list[int] | None:
        """For ``flip_test``: channel ``p[c]`` of a mirrored frame's maps holds landmark ``c``."""
        from sonomtl.data.heatmaps import mirrored_channels
        from sonomtl.errors import InputError

        field = "task.params.flip_test"
        if not self.params.flip_test:
            return None
        try:
            return mirrored_channels(self.spec.flip_pairs, names)
        except ValueError as error:
            raise InputError(str(error), field=field) from None

    def _annotated_subset(self, dataset: Any, names: Sequence[str]) -> Any:
        wanted = set(names)
        positions = [
            k
            for k, index in enumerate(dataset.indices)
            if wanted & set(dataset.records[int(index)].landmarks)
        ]
        return _Subset(dataset, positions) if positions else None

    def collate(self, samples: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        from sonomtl.data.dataset import collate_samples

        return collate_samples(samples)

    def sample_labels(self, dataset: Dataset) -> Sequence[int]:
        return np.asarray(dataset.labels).tolist()

    def preprocessing_info(self, datasets: TaskDatasets) -> dict[str, Any]:
        """Everything predict needs to see and read frames as training did.

        The network's landmarks, which of them each view shows, the
        measurements made of them and the decoder threshold travel with it,
        so a dataset's own measurements (HC18: OFD, BPD, HC) are not replaced
        by the paper's defaults.
        """
        spec = self.spec
        names = [spec.landmarks[c] for c in self.channels] if self.channels is not None else []
        return {
            "input_size": list(spec.input_size),
            "target_spacing_mm": spec.target_spacing_mm,
            "crop": spec.crop if not isinstance(spec.crop, tuple) else list(spec.crop),
            "mask_rects": [list(r) for r in spec.mask_rects] if self.mask_overlays else [],
            "classes": list(spec.classes),
            "landmarks": names,
            "view_landmarks": {view: [n for n in shown if n in names]
                               for view, shown in spec.view_landmarks.items()},
            "measurements": {name: {"type": m.type, "landmarks": list(m.landmarks)}
                             for name, m in spec.measurements.items()
                             if set(m.landmarks) <= set(names)},
            "normalisation": {"mean": self.intensity_mean, "std": self.intensity_std},
            "heatmap_threshold": self.threshold,
            "flip_test_permutation": self.flip_permutation,
        }

    # ---- modules -------------------------------------------------------------------------
    # ---- maths ---------------------------------------------------------------------------
    def normalise(self, image: torch.Tensor) -> torch.Tensor:
        """Model input from grey levels: ``(image - intensity_mean) / intensity_std``."""
        from sonomtl.data.preprocess import normalise

        return normalise(image.float(), {"mean": self.intensity_mean, "std": self.intensity_std})

    def _targets(self, batch: Mapping[str, Any],
                 predicted: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        """The network's channels of the targets; interchangeable pairs matched to
        ``predicted`` heat maps when given."""
        from sonomtl.losses.landmarks import match_interchangeable_pairs

        heatmaps, points, mask = batch["heatmaps"], batch["landmarks"], batch["landmark_mask"]
        if self.channels is not None and len(self.channels) != heatmaps.shape[1]:
            index = torch.as_tensor(self.channels, device=heatmaps.device)
            heatmaps, points, mask = heatmaps[:, index], points[:, index], mask[:, index]
        if predicted is not None and self.pair_channels:
            heatmaps, points, mask = match_interchangeable_pairs(predicted, heatmaps, points, mask,
                                                                 self.pair_channels)
        return heatmaps, points, mask

    def forward(
        self, modules: Mapping[str, nn.Module], batch: Mapping[str, Any]
    ) -> dict[str, torch.Tensor]:
        outputs = modules[self.generator](self.normalise(batch["image"]))
        return outputs if isinstance(outputs, dict) else dict(outputs._asdict())

    def generator_losses(
        self, outputs: Mapping[str, torch.Tensor], batch: Mapping[str, Any], *, terms: Sequence[str]
    ) -> dict[str, torch.Tensor]:
        from sonomtl.losses.landmarks import coordinate_loss, selective_l2_loss

        unknown = [t for t in terms if t not in LOSS_TERMS]
        if unknown:
            raise ValueError(
                f"the abdominal task has no loss term {unknown}; known: {list(LOSS_TERMS)}"
            )
        losses: dict[str, torch.Tensor] = {}
        if "heatmap" in terms or "coordinate" in terms:
            if "heatmaps" not in outputs:
                raise ValueError("landmark loss terms need a network with a heat-map output")
            pred = outputs["heatmaps"].float()
            target_maps, points, mask = self._targets(batch, pred)
            if "heatmap" in terms:
                losses["heatmap"] = selective_l2_loss(pred, target_maps.float(), landmark_mask=mask)
            if "coordinate" in terms:
                losses["coordinate"] = coordinate_loss(
                    pred, points, landmark_mask=mask, threshold=self.threshold
                )
        if "view" in terms:
            if "view_logits" not in outputs:
                raise ValueError("the view loss term needs a network with a view head")
            labels = batch["label"]
            if bool((labels < 0).any()):
                raise ValueError("the view loss needs every training frame to have a label")
            losses["view"] = F.cross_entropy(outputs["view_logits"].float(), labels)
        return losses

    def discriminator_inputs(
        self, outputs: Mapping[str, torch.Tensor], batch: Mapping[str, Any]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        image = self.normalise(batch["image"])
        target_maps, _, mask = self._targets(batch, outputs["heatmaps"])
        selected = mask[:, :, None, None].to(image.dtype)
        real = torch.cat([image, target_maps.to(image.dtype) * selected], dim=1)
        fake = torch.cat([image, outputs["heatmaps"].to(image.dtype) * selected], dim=1)
        return real, fake

    def validation_outputs(
        self, modules: Mapping[str, nn.Module], batch: Mapping[str, Any]
    ) -> dict[str, torch.Tensor]:
        from sonomtl.losses.landmarks import soft_coordinates

        outputs = self.forward(modules, batch)
        values: dict[str, torch.Tensor] = {}
        if "view_logits" in outputs:
            correct = outputs["view_logits"].argmax(1) == batch["label"]
            values["view_accuracy"] = correct.float()
        if "heatmaps" in outputs:
            _, points, mask = self._targets(batch, outputs["heatmaps"])
            found = soft_coordinates(outputs["heatmaps"].float(), threshold=self.threshold)
            distance = torch.linalg.vector_norm(found - torch.nan_to_num(points), dim=-1)
            distance = torch.where(mask, distance, torch.zeros_like(distance))
            count = mask.sum(1)
            # images without landmarks count as 0 px; the mean is over all validation images
            values["point_error_px"] = distance.sum(1) / count.clamp(min=1)
        return values
