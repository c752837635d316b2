"""Load a model (checkpoint, ONNX file or registry name) with its preprocessing and predict frames.

A :class:`Predictor` pairs a *runner* (PyTorch module or onnxruntime session:
``batch (N, C, h, w) float32 -> {output name: array}``) with the model's
:class:`~sonomtl.inference.config.InferenceConfig`. :meth:`Predictor.predict_frames`
preprocesses grey frames, runs one batch, and maps everything back to the
original frame: class probabilities, the attention map warped back onto the
frame and its peak ``(x, y)`` (M-SEN), landmarks in original pixels and
measurements in mm (abdominal network).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sonomtl.decoding.classes import class_answer, softmax
from sonomtl.errors import InputError, one_line
from sonomtl.inference.config import InferenceConfig, config_from_model, prepare_frame
from sonomtl.inference.device import (
    DTYPES,
    is_out_of_memory,
    onnx_providers,
    resolve_device,
    torch_threads,
)

__all__ = [
    "ONNX_CONFIG_KEY",
    "FramePrediction",
    "TorchRunner",
    "OnnxRunner",
    "Predictor",
    "check_onnx_input_hw",
    "load_model",
    "load_predictor",
    "model_outputs",
    "read_onnx_config",
]

#: ``metadata_props`` key of an exported ONNX file holding the inference config (JSON).
ONNX_CONFIG_KEY = "sonomtl_config"
_GENERATOR_NAMES = ("G", "generator", "model", "net")


def model_outputs(output: Any, names: Sequence[str]) -> dict[str, Any]:
    """A model's forward result (tensor, named tuple or dict) as ``{name: tensor}``."""
    if isinstance(output, Mapping):
        return dict(output)
    if hasattr(output, "_asdict"):
        return dict(output._asdict())
    if isinstance(output, (tuple, list)):
        return dict(zip(names, output))
    return {names[0]: output}


class TorchRunner:
    """Run a PyTorch module in inference mode on float32 batches; returns numpy outputs.

    ``device`` is ``cpu`` or a CUDA device (:func:`~sonomtl.inference.device.resolve_device`);
    ``dtype="fp16"`` runs under CUDA autocast (weights stay fp32, outputs come back fp32);
    ``threads``: torch's intra-op threads during each call (restored after it; ``None``:
    torch's own setting).
    """

    backend = "torch"

    def __init__(self, module: Any, *, output_names: Sequence[str], device: Any = None,
                 dtype: str = "fp32", threads: int | None = None) -> None:
        import torch

        self.device = resolve_device(device)
        if dtype not in DTYPES:
            raise InputError(f"the torch backend runs {' or '.join(DTYPES)}, not {dtype}; use "
                             "--backend onnx for int8", field="--dtype")
        if dtype == "fp16" and self.device.type != "cuda":
            raise InputError("fp16 with the torch backend needs a CUDA device (--device cuda); "
                             "on a CPU use --backend onnx --dtype fp16", field="--dtype")
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # one input size per run: fastest kernels
        self.dtype = dtype
        self.threads = int(threads) if threads else None
        self.module = module.to(self.device).eval()
        self.output_names = tuple(output_names)

    def __call__(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        import torch

        tensor = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(self.device)
        autocast = (torch.autocast("cuda", dtype=torch.float16) if self.dtype == "fp16"
                    else contextlib.nullcontext())
        with torch_threads(self.threads), torch.inference_mode(), autocast:
            out = model_outputs(self.module(tensor), self.output_names)
        # .cpu() waits for the GPU, so a caller's clock measures the whole pass
        return {k: v.float().cpu().numpy() for k, v in out.items()}


class OnnxRunner:
    """Run an ONNX file with onnxruntime (all graph optimisations, ``threads`` intra-op threads;
    ``device`` cuda needs onnxruntime's CUDA provider)."""

    backend = "onnx"

    def __init__(self, path: str | os.PathLike[str], *, threads: int | None = None,
                 device: Any = None) -> None:
        import onnxruntime as ort

        providers = onnx_providers(device)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = int(threads)
            options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(path), sess_options=options,
                                                providers=providers)
        except Exception as error:  # onnxruntime raises its own exception types
            raise InputError(f"cannot load ONNX model: {' '.join(str(error).split())[:300]}",
                             file=path) from None
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = tuple(o.name for o in self.session.get_outputs())
        self.input_shape = tuple(self.session.get_inputs()[0].shape)

    def __call__(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        values = self.session.run(None, {self.input_name: np.ascontiguousarray(batch,
                                                                                dtype=np.float32)})
        return {name: np.asarray(v, dtype=np.float32) for name, v in zip(self.output_names,
                                                                          values)}


@dataclass
class FramePrediction:
    """The results of one frame, in original-frame pixels; :meth:`record` gives the JSON line."""

    label: str | None
    probabilities: dict[str, float]
    attention: np.ndarray | None = None  # (H, W) float32 in [0, 1], on the original frame
    attention_peak_xy: tuple[float, float] | None = None
    landmarks: dict[str, list[float] | None] = field(default_factory=dict)
    measurements_mm: dict[str, float | None] = field(default_factory=dict)
    spacing_mm: tuple[float, float] | None = None

    def record(self) -> dict[str, Any]:
        """JSON-ready dict (no arrays)."""
        out: dict[str, Any] = {"label": self.label, "probabilities": self.probabilities}
        if self.attention_peak_xy is not None:
            out["attention_peak_xy"] = list(self.attention_peak_xy)
        if self.landmarks:
            out["landmarks"] = self.landmarks
        if self.measurements_mm:
            out["measurements_mm"] = self.measurements_mm
        if self.spacing_mm is not None:
            out["spacing_mm"] = list(self.spacing_mm)
        return out


class Predictor:
    """A runner plus its inference config: frames in, :class:`FramePrediction` out."""

    def __init__(self, runner: Any, config: InferenceConfig, *, source: str = "") -> None:
        from sonomtl.decoding.ellipse_axes import ellipse_axes

        self.runner = runner
        self.config = config
        self.source = source
        # heat-map channels decoded together: the four points of each ellipse measurement
        self._ellipse_axes = ellipse_axes(config.measurements, config.landmark_names or ())

    @property
    def backend(self) -> str:
        return getattr(self.runner, "backend", "torch")

    def run(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """Raw outputs of a preprocessed batch ``(N, in_chans, h, w)``."""
        return self.runner(batch)

    def outputs(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """The outputs predictions are read from: :meth:`run`'s, or with flip testing
        (``config.flip_test_permutation``) those of the batch and its mirror image in
        one call, the heat maps merged (:func:`sonomtl.decoding.landmarks.merge_flip_outputs`)."""
        from sonomtl.decoding.landmarks import merge_flip_outputs

        order = self.config.flip_test_permutation
        if order is None:
            return self.run(batch)
        raw = self.run(np.concatenate([batch, batch[..., ::-1]]))
        return merge_flip_outputs(raw, count=len(batch), permutation=order)

    def predict_frames(
        self,
        images: Sequence[np.ndarray],
        *,
        spacings_mm: Sequence[Any] | None = None,
        measure: bool = True,
        file: Any = None,
    ) -> list[FramePrediction]:
        """Predict grey frames ``(H, W)`` in [0, 255] (one batch).

        ``spacings_mm``: the pixel size ``(x, y)`` of each frame, or ``None``
        entries when unknown. With ``measure`` and a model that measures
        (landmarks + measurements), an unknown pixel size raises
        :class:`InputError` naming ``file``.
        """
        if not images:
            return []
        spacings = list(spacings_mm) if spacings_mm is not None else [None] * len(images)
        if len(spacings) != len(images):
            raise ValueError(f"spacings_mm must have one entry per image ({len(images)}), "
                             f"got {len(spacings)}")
        spacings = [None if s is None else _spacing_xy(s) for s in spacings]
        config = self.config
        if measure and config.measurements and any(s is None for s in spacings):
            raise InputError("pixel size unknown, so measurements in mm cannot be given: pass "
                             "--spacing-mm, use a calibrated DICOM, or --no-measurements",
                             file=file, field="spacing_mm")
        inputs, pipelines = [], []
        for image, spacing in zip(images, spacings):
            model_input, pipeline = prepare_frame(image, config, spacing_mm=spacing, file=file)
            inputs.append(model_input)
            pipelines.append(pipeline)
        batch = np.stack(inputs)
        try:
            outputs = self.outputs(batch)
        except (RuntimeError, ValueError) as error:  # torch and onnxruntime: shape errors
            if is_out_of_memory(error):
                raise InputError(f"out of memory for a batch of {len(batch)} frames of "
                                 f"{batch.shape[-2]}x{batch.shape[-1]}: use a smaller --batch",
                                 file=file, field="--batch") from None
            first = " ".join(str(error).split())[:300] or type(error).__name__
            raise InputError(f"the model cannot take a {batch.shape[-2]}x{batch.shape[-1]} "
                             f"input: {first}", file=file) from None
        names = config.class_names
        logits = outputs.get(config.logits_output) if config.logits_output else None
        if names is not None and logits is not None and logits.shape[-1] != len(names):
            raise InputError(f"the model gives {logits.shape[-1]} class scores but its "
                             f"preprocessing names {len(names)} classes", file=file,
                             field="class_names")
        return [self._frame_result(outputs, i, images[i], pipelines[i], spacings[i],
                                   measure=measure) for i in range(len(images))]

    def _frame_result(self, outputs: Mapping[str, np.ndarray], index: int, image: np.ndarray,
                      pipeline: Any, spacing: tuple[float, float] | None, *,
                      measure: bool) -> FramePrediction:
        config = self.config
        label, probabilities = None, {}
        logits_name = config.logits_output
        if logits_name is not None:
            label, probabilities = class_answer(softmax(outputs[logits_name][index]),
                                                config.class_names)
        result = FramePrediction(label=label, probabilities=probabilities, spacing_mm=spacing)
        if "attention" in outputs:
            attention = outputs["attention"][index, 0]
            result.attention = _warp_back(attention, pipeline, np.shape(image))
            row, col = np.unravel_index(int(np.argmax(attention)), attention.shape)
            peak = pipeline.invert_points(np.array([[col, row]], dtype=np.float64))[0]
            result.attention_peak_xy = (float(peak[0]), float(peak[1]))
        if "heatmaps" in outputs and config.landmark_names:
            self._landmarks(result, outputs["heatmaps"][index], pipeline, spacing,
                            measure=measure)
        return result

    def _landmarks(self, result: FramePrediction, heatmaps: np.ndarray, pipeline: Any,
                   spacing: tuple[float, float] | None, *, measure: bool) -> None:
        from sonomtl.decoding.landmarks import decode_landmarks, frame_answer, shown_landmarks

        config = self.config
        names = list(config.landmark_names or ())
        model_points = decode_landmarks(heatmaps, threshold=config.heatmap_threshold,
                                        ellipse_axes=self._ellipse_axes)
        shown = shown_landmarks(result.label, config.view_landmarks, names)
        landmarks, measurements = frame_answer(
            pipeline.invert_points(model_points), names=names, shown=shown,
            measurements=config.measurements, spacing_mm=spacing if measure else None)
        result.landmarks = {name: landmarks.get(name) for name in names}
        result.measurements_mm = measurements


def _spacing_xy(spacing: Any) -> tuple[float, float]:
    values = np.atleast_1d(np.asarray(spacing, dtype=np.float64)).ravel()
    if values.size == 1:
        values = np.repeat(values, 2)
    if values.size != 2 or not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise InputError(f"pixel size must be one or two positive numbers (mm), got {spacing!r}",
                         field="spacing_mm")
    return float(values[0]), float(values[1])


def _warp_back(model_map: np.ndarray, pipeline: Any, hw: Sequence[int]) -> np.ndarray:
    """A model-input map resampled onto the original frame (0 outside the model's view)."""
    import cv2

    return cv2.warpAffine(np.ascontiguousarray(model_map, dtype=np.float32),
                          np.asarray(pipeline.matrix, dtype=np.float64), (int(hw[1]), int(hw[0])),
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)


def _generator_name(metadata: Mapping[str, Any], *, file: Any) -> str:
    """The checkpoint module that inference runs: the task's ``generator``, else one of
    :data:`_GENERATOR_NAMES`, else the only module that is no discriminator."""
    modules = metadata["modules"]
    task_params = (metadata.get("task") or {}).get("params") or {}
    named = task_params["generator"] if "generator" in task_params else None
    if named in modules:
        return str(named)
    for name in _GENERATOR_NAMES:
        if name in modules:
            return name
    candidates = [n for n, spec in modules.items() if not _is_discriminator(spec["model"])]
    if len(candidates) != 1:
        raise InputError(f"cannot tell which module to run among {sorted(modules)}; name the "
                         "generator 'G' in the training config", file=file)
    return candidates[0]


def _is_discriminator(model: str) -> bool:
    from sonomtl.models.registry import registered_name

    name = registered_name(model) or model
    return "discriminator" in name or name == "patchgan"


def load_model(
    source: str | os.PathLike[str], *, pretrained: bool = True, **kwargs: Any
) -> tuple[Any, InferenceConfig, str]:
    """A PyTorch model and its config from a checkpoint (run folder, checkpoints folder or
    ``.safetensors`` step file), a model-store name (``sononet16``: its published weights,
    found or fetched by :func:`sonomtl.store.resolve_weights`) or a registry name (random
    weights; also a store name with ``pretrained=False``, e.g. for timing). ``kwargs`` go to
    the factory.

    Returns ``(module in eval mode, config, description)``; the description of a
    store model is ``store:NAME=WEIGHTS_FILE``. Raises :class:`InputError` for a
    missing/unreadable checkpoint, a newer format version, a model type inference
    does not support, or store weights that cannot be had (one line saying what
    to download from where).
    """
    from sonomtl.models.registry import MODEL_FACTORIES, build_model
    from sonomtl.store import REGISTRY, resolve_weights

    text = os.fspath(source)
    path = Path(text)
    if not path.exists() and pretrained and text in REGISTRY:
        weights = resolve_weights(text)
        module = build_model(REGISTRY[text].model, pretrained=weights, **kwargs).eval()
        config = config_from_model(getattr(module, "default_cfg", {}) or {}, file=text)
        return module, config, f"store:{text}={weights}"
    if not path.exists() and text in MODEL_FACTORIES:
        module = build_model(text, **kwargs).eval()
        config = config_from_model(getattr(module, "default_cfg", {}) or {}, file=text)
        return module, config, f"registry:{text}"
    if not path.exists():
        raise InputError("no such checkpoint, ONNX file or registry model name", file=path)
    from sonomtl.models.checkpoints import (
        load_checkpoint_module,
        read_model_metadata,
        weights_file,
    )

    weights = weights_file(path)
    metadata = read_model_metadata(weights)
    module = load_checkpoint_module(weights, _generator_name(metadata, file=weights), metadata)
    config = config_from_model(getattr(module, "default_cfg", {}) or {},
                               metadata.get("preprocessing"), file=path)
    return module.eval(), config, f"checkpoint:{path}"


def read_onnx_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """An ONNX file's ``metadata_props`` (``sonomtl_config``, ``sonomtl_dtype``, ...)."""
    import onnx

    if not os.path.isfile(path):
        raise InputError("ONNX file not found" if not os.path.exists(path) else
                         "not a regular file; expected an ONNX model", file=path)
    if os.path.getsize(path) == 0:
        raise InputError("empty file; expected an ONNX model", file=path)
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as error:  # protobuf decode errors have several types
        raise InputError(f"cannot read as an ONNX model ({' '.join(str(error).split())[:200]})",
                         file=path) from None
    if not model.graph.node:
        raise InputError("cannot read as an ONNX model (no graph in it)", file=path)
    return {p.key: p.value for p in model.metadata_props}


def check_onnx_input_hw(input_shape: tuple[Any, ...], config: InferenceConfig, *,
                       file: Any) -> None:
    """Refuse metadata whose ``input_hw`` the graph's fixed input size cannot take.

    ``input_shape`` is the graph's first input (``OnnxRunner.input_shape``);
    symbolic (dynamic) sides are not checked.
    """
    fixed = tuple(input_shape[-2:])
    if len(fixed) == 2 and all(isinstance(v, int) for v in fixed) and \
            fixed != tuple(config.input_hw):
        raise InputError(f"input_hw {list(config.input_hw)} does not match the graph's input "
                         f"{fixed[0]}x{fixed[1]} (rows x cols); the metadata was edited",
                         file=file, field=f"{ONNX_CONFIG_KEY}.input_hw")


def read_onnx_config(path: str | os.PathLike[str]) -> InferenceConfig:
    """The inference config stored in an exported ONNX file's ``metadata_props``."""
    import json

    props = read_onnx_metadata(path)
    if ONNX_CONFIG_KEY not in props:
        raise InputError("ONNX file has no sonomtl metadata (export it with 'sonomtl export')",
                         file=path)
    try:
        data = json.loads(props[ONNX_CONFIG_KEY])
    except (json.JSONDecodeError, RecursionError) as error:  # or nested past the parser's stack
        raise InputError(f"malformed sonomtl metadata: {one_line(error)[:200]}",
                         file=path) from None
    return InferenceConfig.from_dict(data, file=path)


def load_predictor(
    source: str | os.PathLike[str],
    *,
    backend: str = "torch",
    threads: int | None = None,
    device: Any = None,
    dtype: str = "fp32",
) -> Predictor:
    """A :class:`Predictor` for a checkpoint, an exported ``.onnx`` file, or a registry name.

    ``backend="onnx"`` needs an ``.onnx`` file (export a checkpoint first);
    ``backend="torch"`` needs a checkpoint or registry name. ``device`` (``cpu``,
    ``cuda``, ``cuda:N``) is checked before the model is loaded; ``dtype="fp16"``
    is the torch backend on a CUDA device under autocast.
    """
    if backend not in ("torch", "onnx"):
        raise ValueError(f"backend must be 'torch' or 'onnx', got {backend!r}")
    text = os.fspath(source)
    is_onnx = text.lower().endswith(".onnx")
    if backend == "onnx" or is_onnx:
        if not is_onnx:
            raise InputError("--backend onnx needs an .onnx file: run 'sonomtl export' first",
                             file=text)
        if dtype != "fp32":
            raise InputError("an .onnx file runs in the precision it was exported in; "
                             "--dtype is for the torch backend", field="--dtype")
        onnx_providers(device)
        config = read_onnx_config(text)
        runner = OnnxRunner(text, threads=threads, device=device)
        check_onnx_input_hw(runner.input_shape, config, file=text)
        return Predictor(runner, config, source=text)
    device = resolve_device(device)  # before the model is read
    module, config, description = load_model(text)
    if description.startswith("store:"):  # the weights file, so a card can fingerprint it
        text = description.partition("=")[2]
    runner = TorchRunner(module, output_names=config.outputs, device=device, dtype=dtype,
                         threads=threads)
    return Predictor(runner, config, source=text)
