"""The M-SEN task (paper 000): every row of its Tables 1 and 2 on the training engine.

One task, five kinds of network (``task.params.variant``):

========== ======================== ================================ =====================
variant    module ``G`` (registry)  input -> outputs                 loss terms
========== ======================== ================================ =====================
msen       ``msen``                 frame -> A-hat, class logits     saliency, classification
                                                                     (+ adversarial with D)
ss_att     ``ss_att``               frame -> A-hat                   saliency
sononet    ``sononet16/32``         frame -> class logits            classification
ss_cls     ``ss_cls``               ground-truth A -> class logits   classification
sonoeyenet ``sonoeyenet``           frame + ground-truth A -> logits classification
========== ======================== ================================ =====================

``saliency`` is L_S of the paper: ``task.params.saliency_loss`` ``bce`` (binary
cross-entropy between A-hat and A, computed on the attention *logits*, which
equals the BCE of the sigmoid without its clamping) or ``mse`` (mean squared
error between A-hat and A); ``classification`` is L_C, the cross-entropy of the
{ACP, BG} logits. Frames without a ground-truth map (``has_attention`` false)
are left out of L_S and of the validation ``saliency``. The adversarial terms
(eqs. 1-2, one-sided label smoothing) are computed by the engine from
:meth:`MSENTask.discriminator_inputs`: ``cat(frame, A)`` (real) and
``cat(frame, A-hat)`` (fake), both with a zero map for a frame without
ground truth (identical pairs: nothing learned from it); the attention
discriminator (two inputs) is wrapped by :class:`PairInputDiscriminator`, which
splits the last channel off and returns logits (``adversarial.output: logit``).

Data (``data.root`` = a dataset folder with ``attention`` maps, e.g. written by
``sonomtl gaze maps``; ``data.params``):

* ``folds`` (default 5), ``fold`` (default 0), ``split_seed`` (default 0):
  subject-level k-fold cross-validation (:func:`sonomtl.data.splits.subject_kfold`);
  the training set is the other folds, the validation set this fold;
* ``input_hw`` (default the dataset's ``input_size``): frames are preprocessed
  at the dataset's input size, then resized (area) with their maps to this size;
* ``flip_prob`` (0.5), ``rotate_deg`` (10): horizontal flips and rotations of
  frames and maps together (:class:`sonomtl.data.augment.RandJointAugment`);
* ``normalise`` (``sononet``): intensity normalisation after augmentation;
* ``validate`` (true): give the engine the held-out fold for validation.

Attention maps are read as stored: at the dataset's input size (what
``sonomtl gaze maps`` writes) they are used as they are; at the raw frame's
size they go through the frame's preprocessing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import Dataset

from sonomtl.data.spec import is_background_class
from sonomtl.errors import InputError
from sonomtl.training.tasks import Task, TaskDatasets
from sonomtl.untrusted import LIMITS

__all__ = [
    "MSEN_VARIANTS",
    "MSENFrames",
    "MSENTask",
    "PairInputDiscriminator",
    "resolve_weights_path",
    "saliency_loss",
    "sononet_baseline",
]

#: The kinds of network this task trains (see the module docstring).
MSEN_VARIANTS: tuple[str, ...] = ("msen", "ss_att", "sononet", "ss_cls", "sonoeyenet")
_SALIENCY_LOSSES = ("bce", "mse")
_TASK_PARAMS = {"variant", "saliency_loss", "generator", "discriminator"}
_DATA_PARAMS = {"folds", "fold", "split_seed", "input_hw", "flip_prob", "rotate_deg",
                "normalise", "validate", "cache"}


def saliency_loss(
    attention_logits: torch.Tensor,
    attention: torch.Tensor,
    target: torch.Tensor,
    *,
    kind: str,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """L_S: mean BCE (from the logits) or MSE between predicted and ground-truth maps.

    Parameters
    ----------
    attention_logits, attention
        Predicted map logits and their sigmoid, ``(N, 1, H, W)``.
    target
        Ground-truth maps in [0, 1], ``(N, 1, H, W)``.
    kind
        ``"bce"`` or ``"mse"``.
    mask
        ``(N,)`` bool: samples that have a ground-truth map (default all).
        The mean is over the pixels of those samples; 0 (with gradient) if none.
    """
    if kind not in _SALIENCY_LOSSES:
        raise ValueError(f"kind: expected one of {_SALIENCY_LOSSES}, got {kind!r}")
    target = target.float()
    if kind == "bce":
        per_pixel = F.binary_cross_entropy_with_logits(
            attention_logits.float(), target, reduction="none")
    else:
        per_pixel = (attention.float() - target) ** 2
    per_sample = per_pixel.flatten(1).mean(dim=1)
    if mask is None:
        return per_sample.mean()
    weights = mask.to(per_sample.dtype)
    return (per_sample * weights).sum() / weights.sum().clamp_min(1.0)


def sononet_baseline(
    *, sononet_width: int = 16, num_classes: int = 2, in_chans: int = 1,
    pretrained: str | Path | None = None, pretrained_blocks: int = 5,
) -> nn.Module:
    """SonoNet-``sononet_width`` for the {ACP, BG} baseline rows of Table 1.

    Its batch-norm running statistics are unbiased moving averages
    (:func:`sonomtl.models.msen.debias_batchnorm_statistics_`), as M-SEN's.
    All layers are drawn from N(0, 0.01); with ``pretrained`` (a SonoNet
    ``.npz``/``.safetensors`` of the same width) its first ``pretrained_blocks``
    conv blocks are loaded (all five by default; 3 gives the part M-SEN's
    generator takes from SonoNet) and the rest, with the 2-class adaptation
    layers, stay new.
    """
    from sonomtl.models.layers import init_normal_
    from sonomtl.models.msen import MSEN_CLASS_NAMES, MSEN_INPUT_HW, debias_batchnorm_statistics_
    from sonomtl.models.sononet import SonoNet

    names = MSEN_CLASS_NAMES if num_classes == len(MSEN_CLASS_NAMES) else None
    model = SonoNet(width=sononet_width, num_classes=num_classes, in_chans=in_chans,
                    class_names=names)
    init_normal_(model, std=0.01)
    if not 0 <= pretrained_blocks <= len(model.blocks):
        raise InputError(f"pretrained_blocks: {pretrained_blocks} is not between 0 and "
                         f"{len(model.blocks)} (SonoNet's conv blocks)")
    if pretrained is not None:
        from sonomtl.models.weights import load_weights, sononet_file_config

        file_classes = sononet_file_config(pretrained)["num_classes"]
        source = SonoNet(width=sononet_width, num_classes=file_classes, in_chans=in_chans)
        load_weights(source, pretrained)
        model.blocks[:pretrained_blocks].load_state_dict(
            source.blocks[:pretrained_blocks].state_dict())
    model.default_cfg.update({"input_hw": MSEN_INPUT_HW, "crop": None,
                              "architecture": f"sononet{sononet_width}_acp_bg"})
    return debias_batchnorm_statistics_(model)


def resolve_weights_path(path: str | Path) -> Path:
    """A weights file as given, or relative to the shared data folder (``sononet/...``).

    Raises :class:`InputError` when it is in neither place.
    """
    from sonomtl.fileio import shared_data_dir

    candidate = Path(path)
    if candidate.is_file():
        return candidate
    shared = shared_data_dir()
    if not candidate.is_absolute() and shared is not None and (shared / candidate).is_file():
        return shared / candidate
    raise InputError(f"weights file not found (also looked in the shared data folder "
                     f"{shared}); set the module's pretrained: null to start from N(0, 0.01)",
                     file=path, field="pretrained")


class PairInputDiscriminator(nn.Module):
    """Adapter: ``D(cat(frame, map))`` -> logits ``(N,)`` for the engine's one-tensor call.

    The last channel of the input is the attention map, the others the frame.
    """

    def __init__(self, discriminator: nn.Module) -> None:
        super().__init__()
        self.discriminator = discriminator
        self.default_cfg = dict(getattr(discriminator, "default_cfg", {}))

    def forward(self, pair: torch.Tensor) -> torch.Tensor:
        """Logits that the map (last channel) is the real gaze map of the frame."""
        return self.discriminator.forward_logits(pair[:, :-1], pair[:, -1:])


class MSENFrames(Dataset):
    """Frames, attention maps, fixation maps and labels of some manifest rows (dict samples).

    A thin view of :class:`sonomtl.data.dataset.UltrasoundDataset`: the frame is
    preprocessed as ``dataset.yaml`` asks, then resized (area) to ``input_hw``;
    attention maps follow the data contract (maps at the dataset's
    ``input_size`` are in model-input space, maps at the frame's size go through
    its preprocessing); flips and rotations move frame, map and fixation points
    together. Samples hold ``image``, ``label``, ``index``, ``subject`` and,
    where the row has them, ``attention`` and ``fixation_map``.

    Parameters
    ----------
    folder
        The dataset folder.
    indices
        Positions in the manifest's records to serve.
    input_hw
        Output size (rows, cols); default the dataset's ``input_size``.
    augment
        Apply flips/rotations (``flip_prob``, ``rotate_deg``) to frame and maps together.
    normalise
        Intensity normalisation (see :class:`sonomtl.data.dataset.UltrasoundDataset`).
    cache
        Keep preprocessed frames and maps in memory.
    seed
        Seed of the augmentation draws (with the epoch and the index).
    loaded
        ``(spec, records)`` already loaded from ``folder``.
    """

    _KEYS = ("image", "label", "index", "subject", "attention", "fixation_map")

    def __init__(
        self,
        folder: str | Path,
        *,
        indices: Sequence[int] | np.ndarray,
        input_hw: Sequence[int] | None = None,
        augment: bool = False,
        flip_prob: float = 0.5,
        rotate_deg: float = 10.0,
        normalise: str | None = "sononet",
        cache: bool = True,
        seed: int = 0,
        loaded: tuple[Any, Sequence[Any]] | None = None,
    ) -> None:
        from sonomtl.data.augment import RandJointAugment
        from sonomtl.data.dataset import UltrasoundDataset
        from sonomtl.data.manifest import load_dataset

        self.root = Path(folder)
        spec, records = loaded if loaded is not None else load_dataset(self.root)
        self.spec, self.records = spec, list(records)
        self.indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        self.map_hw = tuple(int(v) for v in spec.input_size)
        self.input_hw = self.map_hw if input_hw is None else tuple(int(v) for v in input_hw)
        if len(self.input_hw) != 2 or not 16 <= min(self.input_hw) <= max(
                self.input_hw) <= LIMITS.input_side_px:
            raise InputError(f"expected [rows, cols] between 16 and {LIMITS.input_side_px} px, "
                             f"got {list(self.input_hw)!r}", field="data.params.input_hw")
        joint = RandJointAugment(flip_prob=flip_prob, rotate_deg=rotate_deg) if augment else None
        self.frames = UltrasoundDataset((self.root, spec, self.records), indices=self.indices,
                                        augment=joint, input_hw=self.input_hw,
                                        normalise=normalise, cache_decoded=cache, seed=seed)
        self.normalise = normalise
        self.labels = self.frames.labels
        self.preprocessing_info = {
            "input_size": list(self.input_hw),
            "classes": list(spec.classes),
            "normalisation": normalise,
            "crop": None if spec.crop is None else spec.crop,
            "mask_rects": [list(r) for r in spec.mask_rects],
            "target_spacing_mm": spec.target_spacing_mm,
            "dataset_input_size": list(self.map_hw),
        }

    def __len__(self) -> int:
        return len(self.frames)

    def set_epoch(self, epoch: int) -> None:
        """Change the augmentation draws."""
        self.frames.set_epoch(epoch)

    def __getitem__(self, position: int) -> dict[str, Any]:
        sample = self.frames[position]
        return {key: sample[key] for key in self._KEYS if key in sample}


def _split(records: Sequence[Any], *, folds: int, fold: int, seed: int) -> tuple[Any, Any]:
    from sonomtl.data.splits import subject_kfold

    if not 0 <= fold < folds:
        raise InputError(f"fold must be in 0..{folds - 1}, got {fold}", field="data.params.fold")
    return subject_kfold(records, k=folds, seed=seed)[fold]


class MSENTask(Task):
    """The M-SEN task (see the module docstring for ``task.params`` and ``data.params``)."""

    def __init__(self, *, params: Mapping[str, Any]) -> None:
        super().__init__(params=params)
        unknown = set(self.params) - _TASK_PARAMS
        if unknown:
            raise ValueError(f"unknown msen task params {sorted(unknown)}; "
                             f"known: {sorted(_TASK_PARAMS)}")
        self.variant = str(self.params.get("variant", "msen"))
        if self.variant not in MSEN_VARIANTS:
            raise ValueError(f"task.params.variant: expected one of {MSEN_VARIANTS}, "
                             f"got {self.variant!r}")
        self.loss_kind = str(self.params.get("saliency_loss", "bce"))
        if self.loss_kind not in _SALIENCY_LOSSES:
            raise ValueError(f"task.params.saliency_loss: expected one of {_SALIENCY_LOSSES}, "
                             f"got {self.loss_kind!r}")
        self.generator = str(self.params.get("generator", "G"))
        self.discriminator = str(self.params.get("discriminator", "D"))

    @property
    def predicts_maps(self) -> bool:
        """The variant outputs attention maps."""
        return self.variant in ("msen", "ss_att")

    @property
    def classifies(self) -> bool:
        """The variant outputs class logits."""
        return self.variant != "ss_att"

    @property
    def loss_terms(self) -> tuple[str, ...]:  # type: ignore[override]
        """``saliency`` for variants with maps, ``classification`` for those with classes."""
        return ("saliency",) * self.predicts_maps + ("classification",) * self.classifies

    # ---- data -----------------------------------------------------------------
    def build_datasets(
        self, *, root: str | None, params: Mapping[str, Any], seed: int
    ) -> TaskDatasets:
        from sonomtl.data.manifest import load_dataset

        unknown = set(params) - _DATA_PARAMS
        if unknown:
            raise InputError(f"unknown msen data params {sorted(unknown)}; known: "
                             f"{sorted(_DATA_PARAMS)}", field="data.params")
        if root is None:
            raise InputError("the msen task needs data.root (a dataset folder)", field="data.root")
        spec, records = load_dataset(root)
        if len(spec.classes) != 2:
            raise InputError(f"M-SEN classifies two classes (plane first, then background); the "
                             f"dataset has {len(spec.classes)}", file=Path(root) / "dataset.yaml",
                             field="classes")
        if is_background_class(spec.classes[0]):
            # the tables report precision/recall/F1 of the first class: the plane
            raise InputError(f"the first class is the standard plane (it is scored), got "
                             f"{list(spec.classes)}; list the plane first",
                             file=Path(root) / "dataset.yaml", field="classes")
        needs_maps = self.variant != "sononet"
        if needs_maps and not any(r.attention for r in records):
            raise InputError("no attention maps in the manifest: run 'sonomtl gaze maps "
                             f"{root}' first", file=Path(root) / "manifest.csv",
                             field="attention")
        train_idx, val_idx = _split(records, folds=int(params.get("folds", 5)),
                                    fold=int(params.get("fold", 0)),
                                    seed=int(params.get("split_seed", 0)))
        if self.variant in ("ss_cls", "sonoeyenet"):  # need A as an input: rows with a map
            train_idx = np.array([i for i in train_idx if records[i].attention], dtype=np.int64)
            val_idx = np.array([i for i in val_idx if records[i].attention], dtype=np.int64)
        common = {
            "input_hw": params.get("input_hw"),
            "normalise": params.get("normalise", "sononet"),
            "cache": bool(params.get("cache", True)),
            "loaded": (spec, records),
        }
        train = MSENFrames(root, indices=train_idx, augment=True, seed=seed,
                           flip_prob=float(params.get("flip_prob", 0.5)),
                           rotate_deg=float(params.get("rotate_deg", 10.0)), **common)
        val = MSENFrames(root, indices=val_idx, augment=False, seed=seed, **common) \
            if params.get("validate", True) else None
        return TaskDatasets(train=train, val=val)

    def collate(self, samples: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        from sonomtl.data.dataset import collate_samples

        return collate_samples(samples)

    def sample_labels(self, dataset: Dataset) -> Sequence[int]:
        return dataset.labels.tolist()

    # ---- modules --------------------------------------------------------------
    def build_module(self, name: str, *, model: str, kwargs: Mapping[str, Any]) -> nn.Module:
        kwargs = dict(kwargs)
        if kwargs.get("pretrained") is not None:
            kwargs["pretrained"] = str(resolve_weights_path(kwargs["pretrained"]))
        module = super().build_module(name, model=model, kwargs=kwargs)
        if name == self.discriminator and hasattr(module, "forward_logits"):
            return PairInputDiscriminator(module)
        return module

    # ---- maths ----------------------------------------------------------------
    def forward(
        self, modules: Mapping[str, nn.Module], batch: Mapping[str, Any]
    ) -> dict[str, torch.Tensor]:
        net = modules[self.generator]
        if self.variant in ("msen", "ss_att"):
            return dict(net(batch["image"])._asdict())
        if self.variant == "sononet":
            return {"logits": net(batch["image"])}
        attention = batch["attention"].to(batch["image"].dtype)
        if self.variant == "ss_cls":
            return {"logits": net(attention)}
        return {"logits": net(batch["image"], attention)}

    def generator_losses(
        self, outputs: Mapping[str, torch.Tensor], batch: Mapping[str, Any], *, terms: Sequence[str]
    ) -> dict[str, torch.Tensor]:
        losses: dict[str, torch.Tensor] = {}
        for term in terms:
            if term == "saliency":
                if not self.predicts_maps:
                    raise ValueError(f"variant {self.variant!r} has no saliency output")
                losses[term] = saliency_loss(
                    outputs["attention_logits"], outputs["attention"], batch["attention"],
                    kind=self.loss_kind, mask=batch.get("has_attention"))
            elif term == "classification":
                if not self.classifies:
                    raise ValueError(f"variant {self.variant!r} has no class output")
                losses[term] = F.cross_entropy(outputs["logits"].float(), batch["label"])
            else:
                raise ValueError(f"unknown loss term {term!r} for the msen task "
                                 "(saliency, classification; adversarial is the engine's)")
        return losses

    def discriminator_inputs(
        self, outputs: Mapping[str, torch.Tensor], batch: Mapping[str, Any]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.predicts_maps:
            raise ValueError(f"variant {self.variant!r} has no map for a discriminator")
        image = batch["image"]
        target, predicted = batch["attention"].to(image.dtype), outputs["attention"].to(image.dtype)
        has_map = batch.get("has_attention")
        if has_map is not None:
            # a frame without a ground-truth map gives D the same (frame, zeros) pair as real
            # and as fake: no "an empty map is real" to learn, no adversarial gradient to G
            keep = has_map.to(image.dtype)[:, None, None, None]
            target, predicted = target * keep, predicted * keep
        return torch.cat([image, target], dim=1), torch.cat([image, predicted], dim=1)

    def predict(
        self, modules: Mapping[str, nn.Module], batch: Mapping[str, Any]
    ) -> dict[str, torch.Tensor]:
        """Per sample: ``scores`` ``(N, C)`` softmax probabilities and/or ``attention`` maps."""
        outputs = self.forward(modules, batch)
        out = {}
        if "logits" in outputs:
            out["scores"] = torch.softmax(outputs["logits"].float(), dim=1)
        if "attention" in outputs:
            out["attention"] = outputs["attention"].float()[:, 0]
        return out

    def validation_outputs(
        self, modules: Mapping[str, nn.Module], batch: Mapping[str, Any]
    ) -> dict[str, torch.Tensor]:
        outputs = self.forward(modules, batch)
        values: dict[str, torch.Tensor] = {}
        if self.classifies:
            logits = outputs["logits"].float()
            values["accuracy"] = (logits.argmax(1) == batch["label"]).float()
            values["classification"] = F.cross_entropy(logits, batch["label"], reduction="none")
        if self.predicts_maps:  # over the frames that have a ground-truth map, as in training
            has_map = batch.get("has_attention")
            frames = range(len(batch["label"])) if has_map is None else \
                torch.nonzero(has_map).flatten().tolist()
            values["saliency"] = torch.stack([
                saliency_loss(outputs["attention_logits"][i:i + 1], outputs["attention"][i:i + 1],
                              batch["attention"][i:i + 1], kind=self.loss_kind)
                for i in frames]) if frames else outputs["attention"].new_zeros(0)
        return values
