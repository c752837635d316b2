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

import dataclasses
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import Dataset

from sonomtl.data.spec import is_background_class
from sonomtl.errors import InputError
from sonomtl.losses.saliency import SaliencyLossKind, saliency_loss
from sonomtl.training.tasks import Task, TaskDatasets
from sonomtl.untrusted import LIMITS

__all__ = [
    "MSEN_VARIANTS",
    "MSENDataParams",
    "MSENTaskParams",
    "MSENFrames",
    "MSENTask",
    "PairInputDiscriminator",
    "resolve_weights_path",
]

#: The kinds of network this task trains (see the module docstring).
MSENVariant = Literal["msen", "ss_att", "sononet", "ss_cls", "sonoeyenet"]
MSEN_VARIANTS: tuple[str, ...] = typing.get_args(MSENVariant)


@dataclasses.dataclass(frozen=True)
class MSENTaskParams:
    """``task.params`` of the M-SEN task (module docstring)."""

    variant: MSENVariant = "msen"
    saliency_loss: SaliencyLossKind = "bce"
    generator: str = "G"
    discriminator: str = "D"


@dataclasses.dataclass(frozen=True)
class MSENDataParams:
    """``data.params`` of the M-SEN task (module docstring); ``input_hw`` ``None``: the
    dataset's input size; ``cache``: keep decoded frames in memory."""

    folds: int = 5
    fold: int = 0
    split_seed: int = 0
    input_hw: list[int] | None = None
    flip_prob: float = 0.5
    rotate_deg: float = 10.0
    normalise: str | None = "sononet"
    validate: bool = True
    cache: bool = True


def resolve_weights_path(path: str | Path) -> Path:
    """A weights file: a store name (``sononet16``), a path, or a path under the shared data folder.

    Store names go through :func:`sonomtl.store.resolve_weights` (checked,
    downloaded when missing); paths are used as given, or relative to the
    shared data folder (``sononet/SonoNet16.npz``). Raises :class:`InputError`
    when it is in none of these places.
    """
    from sonomtl.fileio import shared_data_dir
    from sonomtl.store import REGISTRY, resolve_weights

    candidate = Path(path)
    if candidate.is_file():
        return candidate
    if str(path) in REGISTRY:
        return resolve_weights(str(path))
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

    kind = "msen"
    task_params_type = MSENTaskParams
    data_params_type = MSENDataParams
    params: MSENTaskParams

    def __init__(self, *, params: Mapping[str, Any] | MSENTaskParams) -> None:
        super().__init__(params=params)
        self.variant = self.params.variant
        self.loss_kind = self.params.saliency_loss
        self.generator = self.params.generator
        self.discriminator = self.params.discriminator

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
        self, *, root: str | None, params: Mapping[str, Any] | MSENDataParams, seed: int
    ) -> TaskDatasets:
        from sonomtl.data.manifest import load_dataset

        params = self.read_data_params(params)
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
        train_idx, val_idx = _split(records, folds=params.folds, fold=params.fold,
                                    seed=params.split_seed)
        if self.variant in ("ss_cls", "sonoeyenet"):  # need A as an input: rows with a map
            train_idx = np.array([i for i in train_idx if records[i].attention], dtype=np.int64)
            val_idx = np.array([i for i in val_idx if records[i].attention], dtype=np.int64)
        common = {
            "input_hw": params.input_hw,
            "normalise": params.normalise,
            "cache": params.cache,
            "loaded": (spec, records),
        }
        train = MSENFrames(root, indices=train_idx, augment=True, seed=seed,
                           flip_prob=params.flip_prob, rotate_deg=params.rotate_deg, **common)
        val = MSENFrames(root, indices=val_idx, augment=False, seed=seed, **common) \
            if params.validate else None
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
