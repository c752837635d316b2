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
    Bottleneck blocks per ResNet stage (default ``[3, 4, 6, 3]``, ResNet-50);
    ``[1, 1, 1, 1]`` keeps every width and the layout but is about three
    times cheaper, for CPU-scale runs.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import Dataset

from sonomtl.training.tasks import Task, TaskDatasets, build_named_model

__all__ = [
    "AbdominalTask",
    "LOSS_TERMS",
    "load_split_datasets",
    "with_encoder_layers",
]

#: Loss terms the task computes (the engine adds ``adversarial``).
LOSS_TERMS = ("heatmap", "coordinate", "view")
_TASK_PARAMS = {
    "generator",
    "discriminator",
    "landmark_task",
    "annotated_only",
    "coordinate_threshold",
    "intensity_mean",
    "intensity_std",
    "interchangeable_pairs",
    "flip_test",
}
_DATA_PARAMS = {
    "input_size",
    "target_spacing_mm",
    "test_fraction",
    "val_fraction",
    "split_seed",
    "heatmap_sigma_mm",
    "heatmap_sigma_px",
    "augment",
    "mask_overlays",
}


def with_encoder_layers(module: nn.Module, layers: Sequence[int]) -> nn.Module:
    """Rebuild the ResNet encoder of an abdominal network with ``layers`` blocks per stage.

    Widths, strides and the module names are unchanged, so the decoder, the view
    head and checkpoints of the same depth fit. The view copies of ``layer3/4``
    are re-made from the new encoder (they start equal, as in the full model).

    Parameters
    ----------
    module
        An :class:`~sonomtl.models.abdominal.AbdominalNet` or
        :class:`~sonomtl.models.abdominal.ResNetViewClassifier`.
    layers
        Four positive block counts.

    Returns
    -------
    nn.Module
        ``module``, changed in place.
    """
    from sonomtl.models.abdominal import AbdominalNet, ResNetViewClassifier
    from sonomtl.models.resnet import ResNet

    layers = tuple(int(n) for n in layers)
    if len(layers) != 4 or min(layers) < 1:
        raise ValueError(f"encoder_layers must be four positive integers, got {layers!r}")
    if isinstance(module, AbdominalNet):
        module.encoder = ResNet(layers=layers, in_chans=module.encoder.in_chans, num_classes=0)
        if module.view_layer3 is not None:
            module.view_layer3 = copy.deepcopy(module.encoder.layer3)
            module.view_layer4 = copy.deepcopy(module.encoder.layer4)
    elif isinstance(module, ResNetViewClassifier):
        module.backbone = ResNet(
            layers=layers, in_chans=module.backbone.in_chans, num_classes=module.num_classes
        )
    else:
        raise TypeError(
            "encoder_layers applies to the abdominal networks, got "
            f"{type(module).__name__}"
        )
    module.default_cfg["encoder_layers"] = list(layers)
    return module


def load_split_datasets(
    root: str, *, params: Mapping[str, Any], seed: int, augment_train: bool = True
) -> tuple[Any, list[Any], dict[str, Any]]:
    """The dataset spec (with ``params`` overrides), its records, and one dataset per split.

    Returns ``(spec, records, {"train": ..., "val": ... or None, "test": ...})``;
    every dataset is an :class:`~sonomtl.data.dataset.UltrasoundDataset` without
    intensity normalisation (grey levels in [0, 255]).
    """
    from sonomtl.data.dataset import UltrasoundDataset, make_augment
    from sonomtl.data.manifest import load_dataset
    from sonomtl.errors import InputError

    unknown = sorted(set(params) - _DATA_PARAMS)
    if unknown:
        raise InputError(
            f"unknown data.params {unknown}; known: {sorted(_DATA_PARAMS)}", field="data.params"
        )
    if root is None:
        raise InputError("the abdominal task needs data.root (a dataset folder)", field="data.root")
    spec, records = load_dataset(root)
    changes: dict[str, Any] = {}
    if params.get("input_size") is not None:
        size = params["input_size"]
        changes["input_size"] = (int(size), int(size)) if np.ndim(size) == 0 else tuple(
            int(v) for v in size
        )
    if params.get("target_spacing_mm") is not None:
        changes["target_spacing_mm"] = float(params["target_spacing_mm"])
    if changes:
        spec = dataclasses.replace(spec, **changes)
    from sonomtl.data.splits import split_records

    splits = split_records(
        records,
        test_fraction=float(params.get("test_fraction", 0.2)),
        val_fraction=float(params.get("val_fraction", 0.0)),
        seed=int(params.get("split_seed", seed)),
    )
    augment_params = params.get("augment")
    common = {
        "heatmap_sigma_mm": params.get("heatmap_sigma_mm"),
        "heatmap_sigma_px": params.get("heatmap_sigma_px"),
        "normalise": None,
        "mask_overlays": params.get("mask_overlays", True),
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

    def __init__(self, *, params: Mapping[str, Any]) -> None:
        super().__init__(params=params)
        unknown = sorted(set(self.params) - _TASK_PARAMS)
        if unknown:
            raise ValueError(
                f"unknown abdominal task params {unknown}; known: {sorted(_TASK_PARAMS)}"
            )
        self.generator = str(self.params.get("generator", "net"))
        self.discriminator = str(self.params.get("discriminator", "D"))
        self.landmark_task = self.params.get("landmark_task")
        self.annotated_only = bool(self.params.get("annotated_only", False))
        self.threshold = float(self.params.get("coordinate_threshold", 0.75))
        self.intensity_mean = float(self.params.get("intensity_mean", 0.0))
        self.intensity_std = float(self.params.get("intensity_std", 255.0))
        if self.intensity_std <= 0:
            raise ValueError(f"intensity_std must be positive, got {self.intensity_std}")
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
        self, *, root: str | None, params: Mapping[str, Any], seed: int
    ) -> TaskDatasets:
        from sonomtl.decoding.ellipse_axes import ellipse_axes
        from sonomtl.errors import InputError

        spec, _, datasets = load_split_datasets(root, params=params, seed=seed)
        self.spec = spec
        self.mask_overlays = params.get("mask_overlays", True)
        self.channels = list(range(len(spec.landmarks)))
        train, val = datasets["train"], datasets["val"]
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
        if self.landmark_task is not None or self.annotated_only:
            train = self._annotated_subset(train, names)
            val = self._annotated_subset(val, names) if val is not None else None
            if train is None or not len(train):
                raise InputError(
                    f"no training image is annotated with any of the landmarks {names}",
                    field="task.params",
                )
        return TaskDatasets(train=train, val=val)

    def _pair_channels(self, names: Sequence[str]) -> list[tuple[int, int]]:
        """Output-channel positions of ``interchangeable_pairs`` (pairs the network lacks: none)."""
        from sonomtl.errors import InputError

        field = "task.params.interchangeable_pairs"
        pairs = self.params.get("interchangeable_pairs") or []
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
        wanted = self.params.get("flip_test", False)
        if not isinstance(wanted, bool):
            raise InputError(f"expected true or false, got {wanted!r}", field=field)
        if not wanted:
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
    def build_module(self, name: str, *, model: str, kwargs: Mapping[str, Any]) -> nn.Module:
        kwargs = dict(kwargs)
        layers = kwargs.pop("encoder_layers", None)
        module = build_named_model(model, kwargs)
        if layers is not None:
            with_encoder_layers(module, layers)
        return module

    # ---- maths ---------------------------------------------------------------------------
    def normalise(self, image: torch.Tensor) -> torch.Tensor:
        """Model input from grey levels: ``(image - intensity_mean) / intensity_std``."""
        return (image.float() - self.intensity_mean) / self.intensity_std

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
        from sonomtl.data.heatmaps import soft_coordinates

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
