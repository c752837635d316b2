"""Export a model to ONNX (fp32, fp16 or int8) with its preprocessing in the file's metadata.

* **fp32**: ``torch.onnx.export`` (TorchScript exporter, opset >= 17), one
  input ``frame`` ``(batch, in_chans, h, w)`` with a dynamic batch axis, the
  model's outputs by name (``logits``; ``attention_logits``, ``attention``,
  ``logits``; ``view_logits``, ``heatmaps``), checked with ``onnx.checker``
  and against PyTorch on test inputs: an output further than
  :data:`FP32_TOLERANCE` (relative to its largest magnitude, at least 1) from
  PyTorch's is an error and no file is left.
* **fp16**: the fp32 graph with weights and activations in float16
  (onnxruntime's ``convert_float_to_float16``), inputs and outputs kept float32.
* **int8**: onnxruntime static quantisation (QDQ, per-channel int8 weights,
  uint8 activations) calibrated on preprocessed frames from a dataset. The
  first / last ``Conv`` nodes can stay float32 (``keep_fp32_first``,
  ``keep_fp32_last``): for SonoNet-16 keeping the first conv (it sees the
  normalised frame) and the two adaptation convs in fp32 brings the largest
  probability change on the 13 example frames from 0.062 to 0.015 at about the
  same speed (:data:`SONONET_INT8`, measured in ``benchmarks/bench_inference.py``).

``metadata_props`` carries ``sonomtl_config`` (the
:class:`~sonomtl.inference.config.InferenceConfig` as JSON), ``sonomtl_dtype``
and ``sonomtl_version``: ``predict --backend onnx`` needs nothing else.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sonomtl.errors import InputError
from sonomtl.fileio import atomic_path
from sonomtl.inference.config import InferenceConfig, prepare_frame
from sonomtl.inference.predictor import ONNX_CONFIG_KEY

__all__ = [
    "CALIBRATION_METHODS",
    "DTYPES",
    "FP32_TOLERANCE",
    "MAX_OPSET",
    "MIN_OPSET",
    "INT8_POLICIES",
    "SONONET_INT8",
    "ExportReport",
    "export_onnx",
    "dataset_frames",
    "compare_predictions",
    "fp32_node_names",
]

DTYPES = ("fp32", "fp16", "int8")
CALIBRATION_METHODS = ("minmax", "percentile", "entropy")
#: int8 options for SonoNet-16 (``export_onnx(..., **SONONET_INT8)``): first conv and the
#: two adaptation convs (+ the spatial mean after them) in fp32, MinMax calibration.
SONONET_INT8: dict[str, Any] = {"keep_fp32_first": 1, "keep_fp32_last": 2,
                                "calibration_method": "minmax"}
#: The int8 options :func:`export_onnx` uses for an architecture unless told otherwise.
INT8_POLICIES: dict[str, dict[str, Any]] = {"sononet16": SONONET_INT8}
_ALL_CONVS_INT8: dict[str, Any] = {"keep_fp32_first": 0, "keep_fp32_last": 0,
                                   "calibration_method": "minmax"}
MIN_OPSET = 17
#: Largest fp32 difference from PyTorch accepted, per output, times max(1, its largest |value|).
FP32_TOLERANCE = 1e-4
#: The highest opset of torch's TorchScript exporter (ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET).
MAX_OPSET = 20
INPUT_NAME = "frame"


@dataclass
class ExportReport:
    """What was written and how it compares with the fp32 PyTorch model."""

    path: Path
    dtype: str
    opset: int
    size_mb: float
    max_abs_diff_vs_torch: dict[str, float] = field(default_factory=dict)
    validation: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"path": os.fspath(self.path), "dtype": self.dtype, "opset": self.opset,
                "size_mb": self.size_mb, "max_abs_diff_vs_torch": self.max_abs_diff_vs_torch,
                "validation": self.validation}


def _set_metadata(model: Any, config: InferenceConfig, dtype: str) -> None:
    from sonomtl import __version__

    del model.metadata_props[:]
    for key, value in ((ONNX_CONFIG_KEY, json.dumps(config.to_dict())), ("sonomtl_dtype", dtype),
                       ("sonomtl_version", __version__)):
        prop = model.metadata_props.add()
        prop.key, prop.value = key, value


def _export_fp32(module: Any, config: InferenceConfig, target: Path, *, opset: int) -> None:
    import warnings

    import torch

    dummy = torch.zeros(1, config.in_chans, *config.input_hw)
    names = list(config.outputs)
    dynamic = {INPUT_NAME: {0: "batch"}, **{n: {0: "batch"} for n in names}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(module.eval(), (dummy,), str(target), input_names=[INPUT_NAME],
                          output_names=names, dynamic_axes=dynamic, opset_version=opset,
                          do_constant_folding=True, dynamo=False)


class _FramesReader:
    """onnxruntime ``CalibrationDataReader`` over preprocessed frames (one per call)."""

    def __init__(self, batches: list[np.ndarray]) -> None:
        self._items = iter([{INPUT_NAME: b[None]} for b in batches])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._items, None)

    def rewind(self) -> None:  # pragma: no cover - not called by MinMax calibration
        pass


def dataset_frames(
    folder: str | os.PathLike[str], config: InferenceConfig, *, limit: int | None = None,
) -> tuple[list[np.ndarray], list[int]]:
    """Preprocessed inputs ``(in_chans, h, w)`` of a dataset's rows, and their label ids.

    Labels are indices into ``config.class_names`` (-1 when the row has none
    or the name is unknown to the model). Frames are read with the data
    layer (:func:`sonomtl.data.io.read_frame`) and preprocessed as in
    inference. ``limit`` takes evenly spaced rows.
    """
    from sonomtl.data.io import read_frame
    from sonomtl.data.manifest import load_dataset

    root = Path(folder)
    _, records = load_dataset(root)
    if not records:
        raise InputError("dataset has no rows", file=root)
    if limit is not None and limit < len(records):
        picks = np.unique(np.linspace(0, len(records) - 1, limit).astype(int))
        records = [records[i] for i in picks]
    names = list(config.class_names or ())
    inputs, labels = [], []
    for record in records:
        image, spacing = read_frame(root, record)
        model_input, _ = prepare_frame(image, config, spacing_mm=spacing,
                                       file=root / (record.image or str(record.video)))
        inputs.append(model_input)
        labels.append(names.index(record.label) if record.label in names else -1)
    return inputs, labels


def compare_predictions(
    reference: Any, candidate: Any, inputs: Sequence[np.ndarray], labels: Sequence[int],
    config: InferenceConfig,
) -> dict[str, Any]:
    """Accuracy of two runners on the labelled ``inputs`` and how far their probabilities differ."""
    name = config.logits_output
    if name is None:
        return {}
    ref, cand = [], []
    for item in inputs:
        ref.append(_probabilities(reference(item[None])[name])[0])
        cand.append(_probabilities(candidate(item[None])[name])[0])
    ref_p, cand_p = np.stack(ref), np.stack(cand)
    y = np.asarray(labels)
    known = y >= 0
    out: dict[str, Any] = {
        "frames": len(inputs),
        "labelled": int(known.sum()),
        "max_abs_probability_diff": float(np.abs(ref_p - cand_p).max()),
        "same_label_fraction": float(np.mean(ref_p.argmax(1) == cand_p.argmax(1))),
    }
    if known.any():
        out["accuracy_fp32"] = float(np.mean(ref_p[known].argmax(1) == y[known]))
        out["accuracy_exported"] = float(np.mean(cand_p[known].argmax(1) == y[known]))
        out["accuracy_change"] = out["accuracy_exported"] - out["accuracy_fp32"]
    return out


def _probabilities(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def export_onnx(
    module: Any,
    config: InferenceConfig,
    path: str | os.PathLike[str],
    *,
    dtype: str = "fp32",
    opset: int = MIN_OPSET,
    calibration: Iterable[np.ndarray] | None = None,
    validation: tuple[Sequence[np.ndarray], Sequence[int]] | None = None,
    test_inputs: np.ndarray | None = None,
    keep_fp32_first: int | None = None,
    keep_fp32_last: int | None = None,
    exclude_nodes: Sequence[str] = (),
    calibration_method: str | None = None,
) -> ExportReport:
    """Write ``module`` as ONNX to ``path`` (atomically) and compare it with PyTorch.

    Parameters
    ----------
    module, config
        The PyTorch model (eval mode) and its inference config.
    dtype
        ``"fp32"``, ``"fp16"`` or ``"int8"`` (int8 needs ``calibration``).
    calibration
        Preprocessed frames ``(in_chans, h, w)`` for int8 calibration.
    validation
        ``(inputs, label ids)``: the report gives both models' accuracy and its change.
    test_inputs
        A batch compared output by output with PyTorch (default: 2 random frames).
    keep_fp32_first, keep_fp32_last
        int8 only: the first / last this many ``Conv`` nodes (in graph order),
        with every node before / after them, stay float32. ``None``: the
        architecture's policy (:data:`INT8_POLICIES`; SonoNet-16 keeps its first
        and adaptation convs), else 0 (every conv quantised).
    exclude_nodes
        int8 only: further ONNX node names kept float32.
    calibration_method
        int8 only: ``"minmax"``, ``"percentile"`` or ``"entropy"`` (onnxruntime's);
        ``None``: the architecture's policy, else ``"minmax"``.
    """
    import onnx

    from sonomtl.inference.predictor import OnnxRunner, TorchRunner

    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")
    policy = INT8_POLICIES.get(config.architecture, _ALL_CONVS_INT8)
    keep_fp32_first = policy["keep_fp32_first"] if keep_fp32_first is None else keep_fp32_first
    keep_fp32_last = policy["keep_fp32_last"] if keep_fp32_last is None else keep_fp32_last
    calibration_method = calibration_method or policy["calibration_method"]
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise ValueError(f"opset must be from {MIN_OPSET} to {MAX_OPSET}, got {opset}")
    if calibration_method not in CALIBRATION_METHODS:
        raise ValueError(f"calibration_method must be one of {CALIBRATION_METHODS}, "
                         f"got {calibration_method!r}")
    for name, count in (("keep_fp32_first", keep_fp32_first), ("keep_fp32_last", keep_fp32_last)):
        if not isinstance(count, int) or count < 0:
            raise ValueError(f"{name} must be an int >= 0, got {count!r}")
    if isinstance(exclude_nodes, str):
        raise TypeError("exclude_nodes must be a sequence of node names, not a str")
    frames = list(calibration) if calibration is not None else []
    if dtype == "int8" and not frames:
        raise InputError("int8 export needs calibration frames: give --calibration DATASET",
                         field="--calibration")
    target = Path(path)
    with atomic_path(target) as tmp:
        _export_fp32(module, config, tmp, opset=opset)
        model = onnx.load(str(tmp))
        onnx.checker.check_model(model)
        if dtype == "fp16":
            from onnxruntime.transformers.float16 import convert_float_to_float16

            model = convert_float_to_float16(model, keep_io_types=True)
            _sort_nodes(model.graph)  # the converter appends its input casts at the end
        elif dtype == "int8":
            excluded = fp32_node_names(model, first=keep_fp32_first, last=keep_fp32_last)
            model = _quantise(tmp, frames, exclude=sorted(excluded | set(exclude_nodes)),
                              method=calibration_method)
        _set_metadata(model, config, dtype)
        onnx.checker.check_model(model)
        onnx.save(model, str(tmp))
    reference = TorchRunner(module, output_names=config.outputs)
    exported = OnnxRunner(target)
    if test_inputs is None:
        rng = np.random.default_rng(0)
        test_inputs = rng.normal(0, 1, (2, config.in_chans, *config.input_hw)).astype(np.float32)
    ref_out, exp_out = reference(test_inputs), exported(test_inputs)
    report = ExportReport(
        path=target, dtype=dtype, opset=opset, size_mb=target.stat().st_size / 1e6,
        max_abs_diff_vs_torch={k: float(np.abs(ref_out[k] - exp_out[k]).max()) for k in ref_out},
    )
    if dtype == "fp32":
        for name, diff in report.max_abs_diff_vs_torch.items():
            allowed = FP32_TOLERANCE * max(1.0, float(np.abs(ref_out[name]).max()))
            if not diff <= allowed:
                target.unlink(missing_ok=True)
                raise InputError(f"the fp32 export's {name!r} differs from PyTorch by {diff:.3g} "
                                 f"(allowed {allowed:.3g}); no file written", file=target)
    if validation is not None:
        report.validation = compare_predictions(reference, exported, validation[0],
                                                validation[1], config)
    return report


def _sort_nodes(graph: Any) -> None:
    """Reorder ``graph.node`` topologically (in place), keeping the original order otherwise."""
    available = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        progress = False
        for node in list(pending):
            if all(name in available for name in node.input):
                ordered.append(node)
                available.update(node.output)
                pending.remove(node)
                progress = True
        if not progress:
            raise ValueError("ONNX graph has a cycle or an undefined input")
    del graph.node[:]
    graph.node.extend(ordered)


def fp32_node_names(model: Any, *, first: int, last: int) -> set[str]:
    """Names of the nodes up to the ``first``-th ``Conv`` and from the ``last``-th last ``Conv`` on.

    Parameters
    ----------
    model
        An ``onnx.ModelProto`` whose nodes are in topological order.
    first, last
        How many ``Conv`` nodes from the start / the end (0: none).
    """
    nodes = list(model.graph.node)
    convs = [i for i, node in enumerate(nodes) if node.op_type == "Conv"]
    if first + last > len(convs):
        raise ValueError(f"keep_fp32_first + keep_fp32_last must be <= {len(convs)} "
                         f"(the graph's Conv nodes), got {first} + {last}")
    keep = set()
    if first:
        keep.update(range(convs[first - 1] + 1))
    if last:
        keep.update(range(convs[-last], len(nodes)))
    return {nodes[i].name for i in keep}


def _quantise(fp32_path: Path, frames: list[np.ndarray], *, exclude: list[str],
              method: str) -> Any:
    import onnx
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    methods = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
               "entropy": CalibrationMethod.Entropy}
    pre = fp32_path.with_name(fp32_path.stem + ".pre.onnx")
    quantised = fp32_path.with_name(fp32_path.stem + ".int8.onnx")
    try:
        quant_pre_process(str(fp32_path), str(pre), skip_symbolic_shape=True)
        quantize_static(str(pre), str(quantised), _FramesReader(frames),
                        quant_format=QuantFormat.QDQ, per_channel=True,
                        weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8,
                        calibrate_method=methods[method], nodes_to_exclude=exclude)
        return onnx.load(str(quantised))
    finally:
        for leftover in (pre, quantised):
            leftover.unlink(missing_ok=True)
