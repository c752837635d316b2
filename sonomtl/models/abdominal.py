"""The abdominal multi-task network of paper 004 and its ablations.

One pass over a 0.5 mm, 512 x 512 B-mode frame gives the view (11 classes) and
one heat map per landmark (14 landmarks in 5 tasks). Layout (paper Fig. 2):

* **Encoder**: ResNet-50 with a single-channel stem (:mod:`sonomtl.models.resnet`).
  ``conv1 .. layer2`` are shared by all tasks; ``layer3`` and ``layer4`` exist twice,
  ``encoder.layer3/4`` for landmark detection and ``view_layer3/4`` for view
  classification (built as copies of the landmark stages, so both start equal).
* **View head** (:class:`MultiLevelViewHead`): global average pooling on the
  output of *every* stage an image passes through on the classification path,
  i.e. the shared ``layer1``, ``layer2`` and the view copies of ``layer3``,
  ``layer4`` (256 + 512 + 1024 + 2048 = 3840 features), concatenated, then two
  fully connected layers (3840 -> 256 -> ReLU -> dropout -> 11). The shared stages
  count because the paper credits the gain over single-task classification to
  "combining these shared low level features with the high level features
  learned by the view classification individually".
* **Landmark decoder** (:class:`LandmarkDecoder`): one decoder for all landmarks,
  FCN skip connections from ``layer1 .. layer4`` (strides 4 .. 32). Every level
  maps its features to ``N_L`` channels: a GCN block then a boundary refinement
  block (``decoder="gcn"``, MGCN) or a 1x1 score convolution as in FCN-8s
  (``decoder="fcn"``, MFCN / SFCN). Coarse scores are upsampled bilinearly to the
  next level and added; the sum at stride 4 is upsampled bilinearly to the input
  size. Bilinear resizing rather than learned transposed convolutions: FCN fixes
  its final upsampling to bilinear anyway, it has no parameters, takes any input
  size (not only multiples of 32) and exports to ONNX as one ``Resize``.
  The heat maps are linear outputs (no sigmoid), regressed onto Gaussian maps
  of peak 1 by the selective L2 loss.

Variants (all factories take ``num_classes, num_landmarks, in_chans, gcn_kernel``):

==========================  ==================================================
``abdominal_mtl``           MGCN_R, the full model. Its regularisers (coordinate
                            and adversarial losses) are training terms, so the
                            network is the same as ``abdominal_mgcn``.
``abdominal_mgcn``          multi-task, GCN + BR decoder.
``abdominal_mfcn``          multi-task, plain FCN decoder.
``abdominal_sfcn``          single-task FCN for one landmark task (no view head).
``resnet50_classifier``     single-task view classifier: ResNet-50, GAP, one FC.
==========================  ==================================================

Outputs are dicts of tensors: ``view_logits`` ``(B, num_classes)`` and/or
``heatmaps`` ``(B, num_landmarks, H, W)``; ``default_cfg["outputs"]`` lists them.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from typing import Any

import torch
import torch.nn as nn

from sonomtl.models.abdominal_heads import LandmarkDecoder, MultiLevelViewHead
from sonomtl.models.resnet import STAGE_CHANNELS, resnet50
from sonomtl.vocabulary import (
    ABDOMINAL_CLASSES,
    ABDOMINAL_LANDMARKS,
    LANDMARK_TASKS,
    VIEW_LANDMARKS,
)

__all__ = [
    "with_encoder_layers",
    "ABDOMINAL_CLASSES",
    "ABDOMINAL_LANDMARKS",
    "ABDOMINAL_INPUT_HW",
    "ABDOMINAL_NORMALISATION",
    "ABDOMINAL_TARGET_SPACING_MM",
    "LANDMARK_TASKS",
    "VIEW_LANDMARKS",
    "PARAMETER_GROUPS",
    "AbdominalNet",
    "ResNetViewClassifier",
    "abdominal_mtl",
    "abdominal_mgcn",
    "abdominal_mfcn",
    "abdominal_sfcn",
    "resnet50_classifier",
]

#: Model input (rows, cols): frames resampled to 0.5 mm and zero-padded (paper 2.1).
ABDOMINAL_INPUT_HW: tuple[int, int] = (512, 512)
ABDOMINAL_TARGET_SPACING_MM = 0.5
#: ``x = (image - mean) / std`` on grey values in [0, 255]; a fixed scale, so that
#: the zero padding stays zero and does not shift per-image statistics.
ABDOMINAL_NORMALISATION: dict[str, float] = {"mean": 0.0, "std": 255.0}
#: The parameter groups of :class:`AbdominalNet` (``*_parameters``).
PARAMETER_GROUPS: tuple[str, ...] = ("shared", "landmark", "classification")


def _names(
    names: Sequence[str] | None, count: int, default: Sequence[str], what: str
) -> list[str] | None:
    if names is None:
        return list(default) if count == len(default) else None
    if len(names) != count:
        raise ValueError(f"{what} must have {count} entries, got {len(names)}")
    return list(names)


class AbdominalNet(nn.Module):
    """Encoder with shared early stages, optional view head, landmark decoder (see the module docs).

    Parameters
    ----------
    num_classes:
        Views of the classification head; ``0`` builds no view path (single-task FCN).
    num_landmarks:
        Heat-map channels ``N_L``.
    in_chans:
        Input channels.
    decoder:
        ``"gcn"`` (GCN + BR skips) or ``"fcn"`` (1x1 score skips).
    gcn_kernel:
        GCN kernel size ``k`` (odd).
    duplicate_late_stages:
        ``True`` (the paper): the view path has its own copies of ``layer3/4``.
        ``False``: both tasks read the same ``layer3/4``, which then count as shared
        (about 88 MB less, a design the paper does not describe).
    view_hidden, view_dropout:
        Width and dropout of the view head's first fully connected layer.
    class_names, landmark_names:
        Stored in ``default_cfg``; default to the abdominal names when the counts match.
    architecture:
        Name recorded in ``default_cfg``.
    """

    def __init__(
        self,
        *,
        num_classes: int = 11,
        num_landmarks: int = 14,
        in_chans: int = 1,
        decoder: str = "gcn",
        gcn_kernel: int = 15,
        duplicate_late_stages: bool = True,
        view_hidden: int = 256,
        view_dropout: float = 0.5,
        class_names: Sequence[str] | None = None,
        landmark_names: Sequence[str] | None = None,
        architecture: str = "abdominal_mgcn",
    ) -> None:
        super().__init__()
        if num_classes < 0:
            raise ValueError(f"num_classes must be >= 0, got {num_classes!r}")
        # validate the names before building ~48M parameters
        landmarks = _names(landmark_names, num_landmarks, ABDOMINAL_LANDMARKS, "landmark_names")
        classes = (
            _names(class_names, num_classes, ABDOMINAL_CLASSES, "class_names")
            if num_classes
            else None
        )
        self.num_classes = num_classes
        self.num_landmarks = num_landmarks
        self.duplicate_late_stages = bool(duplicate_late_stages)
        self.encoder = resnet50(in_chans=in_chans, num_classes=0)
        self.decoder = LandmarkDecoder(
            STAGE_CHANNELS, num_landmarks, skip=decoder, gcn_kernel=gcn_kernel
        )
        self.view_layer3: nn.Module | None = None
        self.view_layer4: nn.Module | None = None
        self.view_head: MultiLevelViewHead | None = None
        if num_classes:
            if self.duplicate_late_stages:
                self.view_layer3 = copy.deepcopy(self.encoder.layer3)
                self.view_layer4 = copy.deepcopy(self.encoder.layer4)
            self.view_head = MultiLevelViewHead(
                STAGE_CHANNELS, num_classes, hidden=view_hidden, dropout=view_dropout
            )
        outputs = (["view_logits"] if num_classes else []) + ["heatmaps"]
        self.default_cfg: dict[str, Any] = {
            "kind": "abdominal",
            "architecture": architecture,
            "input_hw": ABDOMINAL_INPUT_HW,
            "in_chans": in_chans,
            "target_spacing_mm": ABDOMINAL_TARGET_SPACING_MM,
            "normalisation": dict(ABDOMINAL_NORMALISATION),
            "num_classes": num_classes,
            "class_names": classes,
            "num_landmarks": num_landmarks,
            "landmark_names": landmarks,
            "landmark_tasks": {
                task: list(names)
                for task, names in LANDMARK_TASKS.items()
                if landmarks is not None and set(names) <= set(landmarks)
            },
            "outputs": outputs,
        }

    # -- forward -----------------------------------------------------------------------------
    def _shared(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        c1 = self.encoder.layer1(self.encoder.forward_stem(x))
        return c1, self.encoder.layer2(c1)

    def _views(self, c1: torch.Tensor, c2: torch.Tensor) -> torch.Tensor:
        if self.view_head is None:
            raise RuntimeError(
                f"{self.default_cfg['architecture']} has no view classification head"
            )
        if self.view_layer3 is None or self.view_layer4 is None:
            c3 = self.encoder.layer3(c2)
            c4 = self.encoder.layer4(c3)
        else:
            c3 = self.view_layer3(c2)
            c4 = self.view_layer4(c3)
        return self.view_head([c1, c2, c3, c4])

    def _heatmaps(
        self, c1: torch.Tensor, c2: torch.Tensor, output_hw: Sequence[int]
    ) -> torch.Tensor:
        c3 = self.encoder.layer3(c2)
        c4 = self.encoder.layer4(c3)
        return self.decoder([c1, c2, c3, c4], output_hw=output_hw)

    def forward_views(self, x: torch.Tensor) -> torch.Tensor:
        """View logits ``(B, num_classes)`` only (stage 2 training: skips the decoder)."""
        return self._views(*self._shared(x))

    def forward_heatmaps(self, x: torch.Tensor) -> torch.Tensor:
        """Heat maps ``(B, num_landmarks, H, W)`` only (stage 1 training: skips the view path)."""
        return self._heatmaps(*self._shared(x), x.shape[-2:])

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """One pass: ``{"view_logits": (B, C), "heatmaps": (B, L, H, W)}`` (logits need a head)."""
        c1, c2 = self._shared(x)
        out: dict[str, torch.Tensor] = {}
        if self.view_head is not None:
            out["view_logits"] = self._views(c1, c2)
        out["heatmaps"] = self._heatmaps(c1, c2, x.shape[-2:])
        return out

    # -- parameter groups and freezing -------------------------------------------------------
    def _group_modules(self, group: str) -> list[nn.Module]:
        enc = self.encoder
        late = [enc.layer3, enc.layer4]
        if group == "shared":
            shared: list[nn.Module] = [enc.conv1, enc.bn1, enc.layer1, enc.layer2]
            if self.view_head is not None and not self.duplicate_late_stages:
                shared += late
            return shared
        if group == "landmark":
            own = late if self.view_head is None or self.duplicate_late_stages else []
            return [*own, self.decoder]
        if group == "classification":
            modules = [self.view_layer3, self.view_layer4, self.view_head]
            return [m for m in modules if m is not None]
        raise ValueError(f"unknown parameter group {group!r}; expected one of {PARAMETER_GROUPS}")

    def _group_parameters(self, group: str) -> Iterator[nn.Parameter]:
        for module in self._group_modules(group):
            yield from module.parameters()

    def shared_parameters(self) -> Iterator[nn.Parameter]:
        """Parameters used by every task: ``conv1``, ``bn1``, ``layer1``, ``layer2``."""
        return self._group_parameters("shared")

    def landmark_parameters(self) -> Iterator[nn.Parameter]:
        """Parameters only landmark detection uses: its ``layer3/4`` and the decoder."""
        return self._group_parameters("landmark")

    def classification_parameters(self) -> Iterator[nn.Parameter]:
        """Parameters only view classification uses: its ``layer3/4`` copies and the head."""
        return self._group_parameters("classification")


class ResNetViewClassifier(nn.Module):
    """Single-task view classifier (STL baseline): ResNet-50, GAP on ``layer4``, one FC layer."""

    def __init__(
        self,
        *,
        num_classes: int = 11,
        in_chans: int = 1,
        class_names: Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
        self.num_classes = num_classes
        self.backbone = resnet50(in_chans=in_chans, num_classes=num_classes)
        self.default_cfg: dict[str, Any] = {
            "kind": "classifier",
            "architecture": "resnet50_classifier",
            "input_hw": ABDOMINAL_INPUT_HW,
            "in_chans": in_chans,
            "target_spacing_mm": ABDOMINAL_TARGET_SPACING_MM,
            "normalisation": dict(ABDOMINAL_NORMALISATION),
            "num_classes": num_classes,
            "class_names": _names(class_names, num_classes, ABDOMINAL_CLASSES, "class_names"),
            "num_landmarks": 0,
            "landmark_names": None,
            "landmark_tasks": {},
            "outputs": ["view_logits"],
        }

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Outputs of ``layer1 .. layer4``."""
        return self.backbone.forward_features(x)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{"view_logits": (B, num_classes)}``."""
        return {"view_logits": self.backbone(x)}


# -- registry factories (uniform keyword arguments) ----------------------------------------------
def abdominal_mgcn(
    *,
    num_classes: int = 11,
    num_landmarks: int = 14,
    in_chans: int = 1,
    gcn_kernel: int = 15,
    class_names: Sequence[str] | None = None,
    landmark_names: Sequence[str] | None = None,
    duplicate_late_stages: bool = True,
    encoder_layers: Sequence[int] | None = None,
) -> AbdominalNet:
    """Multi-task network with GCN + boundary-refinement skips (MGCN)."""
    model = AbdominalNet(
        num_classes=num_classes,
        num_landmarks=num_landmarks,
        in_chans=in_chans,
        decoder="gcn",
        gcn_kernel=gcn_kernel,
        class_names=class_names,
        landmark_names=landmark_names,
        duplicate_late_stages=duplicate_late_stages,
        architecture="abdominal_mgcn",
    )
    return _layered(model, encoder_layers)


def abdominal_mtl(
    *,
    num_classes: int = 11,
    num_landmarks: int = 14,
    in_chans: int = 1,
    gcn_kernel: int = 15,
    class_names: Sequence[str] | None = None,
    landmark_names: Sequence[str] | None = None,
    duplicate_late_stages: bool = True,
    encoder_layers: Sequence[int] | None = None,
) -> AbdominalNet:
    """The full model (MGCN_R). Same network as :func:`abdominal_mgcn`; "R" is in the losses."""
    model = abdominal_mgcn(
        num_classes=num_classes,
        num_landmarks=num_landmarks,
        in_chans=in_chans,
        gcn_kernel=gcn_kernel,
        class_names=class_names,
        landmark_names=landmark_names,
        duplicate_late_stages=duplicate_late_stages,
    )
    model.default_cfg["architecture"] = "abdominal_mtl"
    return _layered(model, encoder_layers)


def abdominal_mfcn(
    *,
    num_classes: int = 11,
    num_landmarks: int = 14,
    in_chans: int = 1,
    gcn_kernel: int = 15,
    class_names: Sequence[str] | None = None,
    landmark_names: Sequence[str] | None = None,
    encoder_layers: Sequence[int] | None = None,
) -> AbdominalNet:
    """Multi-task network with plain FCN skips (MFCN). ``gcn_kernel`` is accepted and unused."""
    model = AbdominalNet(
        num_classes=num_classes,
        num_landmarks=num_landmarks,
        in_chans=in_chans,
        decoder="fcn",
        gcn_kernel=gcn_kernel,
        class_names=class_names,
        landmark_names=landmark_names,
        architecture="abdominal_mfcn",
    )
    return _layered(model, encoder_layers)


def abdominal_sfcn(
    *,
    num_classes: int = 11,
    num_landmarks: int | None = None,
    in_chans: int = 1,
    gcn_kernel: int = 15,
    task: str | None = None,
    landmark_names: Sequence[str] | None = None,
    encoder_layers: Sequence[int] | None = None,
) -> AbdominalNet:
    """Single-task FCN for one landmark task: encoder + FCN decoder, no view head.

    Give ``task`` (a key of :data:`LANDMARK_TASKS`, e.g. ``"kidney_trans"``: 4 maps
    named after its landmarks) or ``num_landmarks``. ``num_classes`` and
    ``gcn_kernel`` are accepted for a uniform call signature and unused.
    """
    if task is not None:
        if task not in LANDMARK_TASKS:
            raise ValueError(
                f"unknown landmark task {task!r}; expected one of {sorted(LANDMARK_TASKS)}"
            )
        task_names = LANDMARK_TASKS[task]
        if num_landmarks is not None and num_landmarks != len(task_names):
            raise ValueError(
                f"num_landmarks={num_landmarks} disagrees with task {task!r} "
                f"({len(task_names)} landmarks)"
            )
        num_landmarks = len(task_names)
        landmark_names = task_names if landmark_names is None else landmark_names
    if num_landmarks is None:
        raise ValueError("abdominal_sfcn needs task= (a landmark task name) or num_landmarks=")
    model = AbdominalNet(
        num_classes=0,
        num_landmarks=num_landmarks,
        in_chans=in_chans,
        decoder="fcn",
        gcn_kernel=gcn_kernel,
        landmark_names=landmark_names,
        architecture="abdominal_sfcn",
    )
    return _layered(model, encoder_layers)


def resnet50_classifier(
    *,
    num_classes: int = 11,
    num_landmarks: int = 0,
    in_chans: int = 1,
    gcn_kernel: int = 15,
    class_names: Sequence[str] | None = None,
    encoder_layers: Sequence[int] | None = None,
) -> ResNetViewClassifier:
    """Single-task view classifier (STL). ``num_landmarks`` and ``gcn_kernel`` are unused."""
    model = ResNetViewClassifier(num_classes=num_classes, in_chans=in_chans,
                                 class_names=class_names)
    return _layered(model, encoder_layers)


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


def _layered(model: Any, encoder_layers: Sequence[int] | None) -> Any:
    """``model`` with ``encoder_layers`` blocks per ResNet stage (``None``: ResNet-50's).

    The full network is built first and its encoder then rebuilt, so a seeded
    build draws the same initial weights as before ``encoder_layers`` became a
    factory argument (it was applied by the training task).
    """
    return model if encoder_layers is None else with_encoder_layers(model, encoder_layers)
