"""What inference needs to know about a model, and the frame -> input-tensor preprocessing.

:class:`InferenceConfig` is built from a model's ``default_cfg`` overlaid with
the ``preprocessing`` section of a checkpoint's metadata; it is plain JSON, so
it travels into ONNX ``metadata_props`` (key ``sonomtl_config``) and
``predict --backend onnx`` rebuilds the same preprocessing from the file alone.

Keys a training task may put in ``preprocessing`` (all optional; the model's
``default_cfg`` fills the rest): ``input_hw`` (or ``input_size``), ``crop``
(``[row0, row1, col0, col1]``, ``"auto"`` or ``null``), ``target_spacing_mm``,
``normalisation`` (``"sononet"``, ``"zscore"``, ``"minmax"``, ``{"mean", "std"}``
or ``null``), ``mask_rects``, ``class_names`` (or ``classes``),
``landmark_names`` (or ``landmarks``), ``view_landmarks``, ``measurements``
(``{name: {type, landmarks}}`` as in ``dataset.yaml``), ``heatmap_threshold``,
``flip_test_permutation`` (flip testing: channel ``p[c]`` of a mirrored frame's
heat maps holds landmark ``c``; ``null``: one pass over the frame alone).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from sonomtl.errors import InputError
from sonomtl.untrusted import LIMITS

__all__ = [
    "KINDS",
    "InferenceConfig",
    "abdominal_default_measurements",
    "config_from_model",
    "prepare_frame",
]

#: Model families inference knows how to read (a network's ``default_cfg["kind"]``):
#: attention + plane (M-SEN G), classifier (SonoNet, the STL view classifier),
#: views + landmark heat maps (abdominal network).
KINDS = ("msen", "classifier", "abdominal")


@dataclass(frozen=True)
class InferenceConfig:
    """Everything needed to turn a frame into model input and outputs into results."""

    kind: str
    architecture: str
    input_hw: tuple[int, int]
    in_chans: int = 1
    outputs: tuple[str, ...] = ("logits",)
    crop: tuple[int, int, int, int] | str | None = None
    target_spacing_mm: float | None = None
    normalisation: str | dict[str, float] | None = None
    mask_rects: tuple[tuple[float, float, float, float], ...] = ()
    class_names: tuple[str, ...] | None = None
    landmark_names: tuple[str, ...] | None = None
    view_landmarks: dict[str, tuple[str, ...]] = field(default_factory=dict)
    measurements: dict[str, dict[str, Any]] = field(default_factory=dict)
    heatmap_threshold: float = 0.75
    flip_test_permutation: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        fix = object.__setattr__
        fix(self, "input_hw", _sizes(self.input_hw, "input_hw", count=2, minimum=1,
                                     maximum=LIMITS.input_side_px))
        fix(self, "outputs", tuple(self.outputs))
        if self.crop not in (None, "auto"):
            fix(self, "crop", _sizes(self.crop, "crop", count=4, minimum=0))
        fix(self, "mask_rects", tuple(tuple(float(v) for v in r) for r in self.mask_rects))
        _check_normalisation(self.normalisation)
        if not 0.0 <= float(self.heatmap_threshold) < 1.0:
            raise ValueError(f"heatmap_threshold must be in [0, 1), got {self.heatmap_threshold!r}")
        if self.flip_test_permutation is not None:
            order = tuple(int(v) for v in self.flip_test_permutation)
            count = len(self.landmark_names) if self.landmark_names is not None else len(order)
            if sorted(order) != list(range(count)):
                raise ValueError(f"flip_test_permutation must reorder the {count} landmark "
                                 f"channels, got {list(order)}")
            fix(self, "flip_test_permutation", order)
        if self.class_names is not None:
            fix(self, "class_names", tuple(self.class_names))
        if self.landmark_names is not None:
            fix(self, "landmark_names", tuple(self.landmark_names))
        fix(self, "view_landmarks", {k: tuple(v) for k, v in dict(self.view_landmarks).items()})
        fix(self, "measurements", {k: {"type": v["type"], "landmarks": list(v["landmarks"])}
                                   for k, v in dict(self.measurements).items()})

    @property
    def logits_output(self) -> str | None:
        """Name of the class-logit output (``logits`` or ``view_logits``), if any."""
        for name in ("logits", "view_logits"):
            if name in self.outputs:
                return name
        return None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (:meth:`from_dict` inverts it)."""
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, file: Any = None) -> InferenceConfig:
        """Rebuild from :meth:`to_dict`; malformed: :class:`InputError` naming ``file``."""
        try:
            return cls(**dict(data))
        except (TypeError, ValueError, KeyError, OverflowError) as error:  # inf as a size
            raise InputError(f"malformed sonomtl inference config: {error}", file=file) from None


def _sizes(values: Any, name: str, *, count: int, minimum: int,
           maximum: int | None = None) -> tuple[int, ...]:
    """``values`` as ``count`` integers in ``[minimum, maximum]``; ValueError naming ``name``."""
    try:
        out = tuple(int(v) for v in values)
        exact = all(float(v) == int(v) for v in values)
    except (TypeError, ValueError):
        out, exact = (), False
    if len(out) != count or not exact or min(out) < minimum:
        raise ValueError(f"{name} must be {count} integers >= {minimum}, got {values!r}")
    if maximum is not None and max(out) > maximum:
        raise ValueError(f"{name} must be {count} integers <= {maximum} (docs/security.md: "
                         f"limits), got {values!r}")
    return out


def _check_normalisation(norm: Any) -> None:
    from sonomtl.data.preprocess import NORMALISATIONS

    if norm is None or norm in NORMALISATIONS:
        return
    if isinstance(norm, Mapping) and set(norm) == {"mean", "std"}:
        try:
            mean, std = float(norm["mean"]), float(norm["std"])
        except (TypeError, ValueError):
            mean, std = float("nan"), float("nan")
        if np.isfinite(mean) and np.isfinite(std) and std > 0:
            return
    raise ValueError(f"normalisation must be one of {NORMALISATIONS}, none, or "
                     f"{{mean, std > 0}}, got {norm!r}")


def abdominal_default_measurements() -> dict[str, dict[str, Any]]:
    """The paper's 7 measurements (Table 1): distance between each ``_1``/``_2`` pair."""
    from sonomtl.vocabulary import MEASUREMENTS

    return {name: {"type": "distance", "landmarks": list(pair)}
            for name, pair in MEASUREMENTS.items()}


def config_from_model(
    default_cfg: Mapping[str, Any], preprocessing: Mapping[str, Any] | None = None,
    *, file: Any = None,
) -> InferenceConfig:
    """A model's inference config: ``default_cfg`` overlaid with checkpoint ``preprocessing``.

    Raises :class:`InputError` (naming ``file``) when the model is not one that
    inference supports (a discriminator, SS-att, SS-cls, ...).
    """
    cfg = dict(default_cfg)
    kind = cfg.get("kind")
    architecture = str(cfg.get("architecture", "unknown"))
    if kind not in KINDS or cfg.get("inputs", ["frame"]) != ["frame"]:
        raise InputError(
            f"model type {architecture!r} is not supported by predict/export: expected an M-SEN "
            "generator, a SonoNet classifier or an abdominal network", file=file)
    pre = dict(preprocessing or {})
    outputs = list(cfg.get("outputs") or ["logits"])
    class_names = pre.get("class_names", pre.get("classes", cfg.get("class_names")))
    num_classes = int(cfg.get("num_classes") or 0)
    if class_names is None and num_classes:
        class_names = [f"class_{i}" for i in range(num_classes)]
    landmark_names = pre.get("landmark_names", pre.get("landmarks", cfg.get("landmark_names")))
    if landmark_names is None and cfg.get("num_landmarks"):
        landmark_names = [f"landmark_{i}" for i in range(int(cfg["num_landmarks"]))]
    view_landmarks = pre.get("view_landmarks")
    measurements = pre.get("measurements")
    if kind == "abdominal":
        from sonomtl.vocabulary import ABDOMINAL_CLASSES, VIEW_LANDMARKS

        if view_landmarks is None and class_names is not None and \
                tuple(class_names) == ABDOMINAL_CLASSES:
            view_landmarks = {k: list(v) for k, v in VIEW_LANDMARKS.items()}
        if measurements is None:
            known = set(landmark_names or ())
            measurements = {k: v for k, v in abdominal_default_measurements().items()
                            if set(v["landmarks"]) <= known}
    normalisation = pre.get("normalisation", cfg.get("normalisation"))
    if "normalisation" not in pre and "intensity_mean" in pre:  # earlier abdominal checkpoints
        normalisation = {"mean": pre["intensity_mean"], "std": pre.get("intensity_std")}
    if normalisation == "none":
        normalisation = None
    try:
        return InferenceConfig(
            kind=kind,
            architecture=architecture,
            input_hw=tuple(pre.get("input_hw", pre.get("input_size", cfg.get("input_hw")))),
            in_chans=int(cfg.get("in_chans", 1)),
            outputs=tuple(outputs),
            crop=pre.get("crop", cfg.get("crop")),
            target_spacing_mm=pre.get("target_spacing_mm", cfg.get("target_spacing_mm")),
            normalisation=normalisation,
            mask_rects=tuple(pre.get("mask_rects", ())),
            class_names=None if class_names is None else tuple(class_names),
            landmark_names=None if landmark_names is None else tuple(landmark_names),
            view_landmarks=dict(view_landmarks or {}),
            measurements=dict(measurements or {}),
            heatmap_threshold=float(pre.get("heatmap_threshold", 0.75)),
            flip_test_permutation=pre.get("flip_test_permutation"),
        )
    except (TypeError, ValueError, KeyError, OverflowError) as error:
        raise InputError(f"malformed preprocessing: {error}", file=file) from None


def prepare_frame(
    image: np.ndarray,
    config: InferenceConfig,
    *,
    spacing_mm: float | Sequence[float] | None = None,
    file: Any = None,
) -> tuple[np.ndarray, Any]:
    """One grey frame ``(H, W)`` in [0, 255] -> model input ``(in_chans, h, w)`` and its pipeline.

    Masks the overlay rectangles, crops (a fixed box or the detected sector),
    resizes or resamples to ``target_spacing_mm`` and pads, then normalises,
    with the data layer's functions (:mod:`sonomtl.data.preprocess`). The
    returned :class:`~sonomtl.data.preprocess.Pipeline` maps model pixels back
    to the original frame (``invert_points``).

    Raises :class:`InputError` naming ``file`` when the frame cannot be
    preprocessed (crop outside it, pixel size needed but unknown).
    """
    from sonomtl.data.preprocess import (
        auto_sector_box,
        mask_rectangles,
        normalise,
        plan_preprocessing,
    )

    frame = np.asarray(image, dtype=np.float32)
    if frame.ndim != 2:
        raise ValueError(f"image must be a grey (H, W) array, got shape {frame.shape}")
    if config.mask_rects:
        frame = mask_rectangles(frame, config.mask_rects)
    crop = auto_sector_box(frame) if config.crop == "auto" else config.crop
    if config.target_spacing_mm is not None and spacing_mm is None:
        raise InputError(
            f"pixel size unknown: {config.architecture} resamples frames to "
            f"{config.target_spacing_mm} mm pixels; give --spacing-mm (or a calibrated DICOM)",
            file=file, field="spacing_mm")
    try:
        pipeline = plan_preprocessing(frame.shape, input_hw=config.input_hw, crop_box_rc=crop,
                                      spacing_mm=spacing_mm,
                                      target_spacing_mm=config.target_spacing_mm)
    except ValueError as error:
        raise InputError(f"cannot preprocess a {frame.shape[1]}x{frame.shape[0]} frame for "
                         f"{config.architecture}: {error}", file=file) from None
    model_input = pipeline.apply_image(frame, interpolation="area").astype(np.float32)
    model_input = normalise(model_input, config.normalisation)
    model_input = np.repeat(model_input[None], config.in_chans, axis=0)
    return np.ascontiguousarray(model_input, dtype=np.float32), pipeline
