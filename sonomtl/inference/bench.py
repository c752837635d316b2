"""Latency, throughput, memory and size of a model on this machine (``sonomtl bench``).

``MODEL`` is a checkpoint, an exported ``.onnx`` file or a registry name
(random weights). With ``backend="onnx"`` a checkpoint or registry model is
exported to a temporary file first (int8 then calibrates on random frames:
right for speed, not for accuracy; use ``sonomtl export --calibration`` for a
deployable int8 model).

Figures: ``latency_ms`` (``p50``, ``p95``, ``mean``, ``min``) of one batch
after ``warmup`` untimed runs, ``throughput_fps`` = batch / mean latency,
``peak_rss_mb`` (the process's peak resident memory, 10^6 bytes),
``parameters`` and ``size_mb`` (weights in 10^6 bytes: the ONNX file, or
parameters + buffers of the PyTorch model). On a CUDA device (``device``),
``peak_gpu_mb`` is the most GPU memory PyTorch held during the timed runs, and
each timed call includes copying the batch to the GPU and the outputs back.
"""

from __future__ import annotations

import os
import platform
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sonomtl.errors import InputError
from sonomtl.inference.device import is_out_of_memory

__all__ = ["benchmark", "time_runner", "torch_model_size", "onnx_model_size"]


def time_runner(runner: Any, batch: np.ndarray, *, iters: int, warmup: int) -> dict[str, float]:
    """Latency statistics (ms) of ``runner(batch)`` over ``iters`` timed calls after ``warmup``."""
    if iters < 1 or warmup < 0:
        raise ValueError(f"iters must be >= 1 and warmup >= 0, got {iters}, {warmup}")
    for _ in range(warmup):
        runner(batch)
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        runner(batch)
        times.append((time.perf_counter() - start) * 1000.0)
    array = np.asarray(times)
    return {"p50": float(np.percentile(array, 50)), "p95": float(np.percentile(array, 95)),
            "mean": float(array.mean()), "min": float(array.min())}


def torch_model_size(module: Any) -> tuple[int, float]:
    """Parameter count and size in MB (10^6 bytes) of parameters + buffers."""
    params = sum(p.numel() for p in module.parameters())
    size = sum(t.numel() * t.element_size() for t in list(module.parameters())
               + list(module.buffers()))
    return int(params), size / 1e6


def onnx_model_size(path: str | os.PathLike[str]) -> tuple[int, float]:
    """Number of stored weight values (initializers) and the file size in MB."""
    import onnx

    model = onnx.load(str(path))
    count = sum(int(np.prod(t.dims)) for t in model.graph.initializer)
    return count, Path(path).stat().st_size / 1e6


def _peak_rss_mb() -> float | None:
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Windows
        return None
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6


def benchmark(
    model: str | os.PathLike[str],
    *,
    backend: str = "torch",
    dtype: str | None = None,
    batch: int = 1,
    input_hw: Sequence[int] | None = None,
    threads: int | None = None,
    iters: int = 20,
    warmup: int = 3,
    device: Any = None,
) -> dict[str, Any]:
    """Benchmark one model; returns the JSON-ready figures (see the module docs).

    ``dtype`` chooses the export of a checkpoint or registry model (default
    fp32) or, with the torch backend, fp32 or fp16 (CUDA autocast); an ``.onnx``
    file runs as it was exported (its ``sonomtl_dtype``), and a different
    ``dtype`` is refused. ``device`` is ``cpu`` (default), ``cuda`` or ``cuda:N``.
    """
    from sonomtl.inference.device import onnx_providers, resolve_device, torch_threads

    if backend not in ("torch", "onnx"):
        raise ValueError(f"backend must be 'torch' or 'onnx', got {backend!r}")
    if dtype not in (None, "fp32", "fp16", "int8"):
        raise ValueError(f"dtype must be fp32, fp16 or int8, got {dtype!r}")
    text = os.fspath(model)
    if text.lower().endswith(".onnx") and os.path.isfile(text):
        from sonomtl.inference.predictor import read_onnx_metadata

        stored = read_onnx_metadata(text).get("sonomtl_dtype", "fp32")
        if dtype is not None and dtype != stored:
            raise InputError(f"this ONNX file was exported as {stored}; --dtype chooses the "
                             "export of a checkpoint or registry model", file=text,
                             field="--dtype")
        dtype = stored
    dtype = dtype or "fp32"
    if batch < 1:
        raise InputError(f"batch must be a positive integer, got {batch}", field="--batch")
    torch_device = resolve_device(device) if backend == "torch" else None
    if backend == "onnx":
        onnx_providers(device)
    threads = int(threads) if threads else None
    with torch_threads(threads):  # restored after, so the caller's setting stays its own
        return _bench(text, backend=backend, dtype=dtype, batch=batch, threads=threads,
                      iters=iters, warmup=warmup, device=device, torch_device=torch_device,
                      input_hw=input_hw)


def _bench(text: str, *, backend: str, dtype: str, batch: int, threads: int | None, iters: int,
           warmup: int, device: Any, torch_device: Any, input_hw: Any) -> dict[str, Any]:
    import dataclasses

    import torch

    from sonomtl.inference.predictor import (
        OnnxRunner,
        TorchRunner,
        check_onnx_input_hw,
        load_model,
        read_onnx_config,
    )

    result: dict[str, Any] = {"model": text, "backend": backend, "dtype": dtype,
                              "device": _device_name(torch_device, device),
                              "batch_size": batch, "threads": threads or torch.get_num_threads(),
                              "iters": iters, "warmup": warmup,
                              "machine": f"{platform.machine()} {platform.processor() or ''}"
                                         f" {os.cpu_count()} cores".strip(),
                              "torch": torch.__version__}
    with tempfile.TemporaryDirectory(prefix="sonomtl-bench-") as tmp:
        if text.lower().endswith(".onnx"):
            if backend != "onnx":
                raise InputError("an .onnx file runs with --backend onnx", file=text)
            config = read_onnx_config(text)
            onnx_path = text
            if input_hw is not None and tuple(input_hw) != config.input_hw:
                raise InputError(f"this ONNX model takes {config.input_hw[0]}x"
                                 f"{config.input_hw[1]} inputs only, not {input_hw[0]}x"
                                 f"{input_hw[1]}: export again at that size",
                                 file=text, field="--input-size")
        else:
            module, config, _ = load_model(text, pretrained=False)  # timing only
            if input_hw is not None:
                from sonomtl.untrusted import check_input_hw

                config = dataclasses.replace(config, input_hw=check_input_hw(
                    list(input_hw), file=None, field="--input-size"))
            if backend == "torch":
                runner: Any = TorchRunner(module, output_names=config.outputs,
                                          device=torch_device, dtype=dtype)
                _check_input_size(runner, config, text)
                result["parameters"], result["size_mb"] = torch_model_size(module)
            else:
                _check_input_size(TorchRunner(module, output_names=config.outputs), config, text)
                from sonomtl.inference.export import export_onnx

                rng = np.random.default_rng(0)
                frames = [rng.normal(0, 1, (config.in_chans, *config.input_hw)).astype(np.float32)
                          for _ in range(4)] if dtype == "int8" else None
                onnx_path = os.path.join(tmp, "model.onnx")
                export_onnx(module, config, onnx_path, dtype=dtype, calibration=frames)
        if backend == "onnx":
            runner = OnnxRunner(onnx_path, threads=threads, device=device)
            check_onnx_input_hw(runner.input_shape, config, file=onnx_path)
            result["parameters"], result["size_mb"] = onnx_model_size(onnx_path)
        rng = np.random.default_rng(0)
        data = rng.normal(0, 1, (batch, config.in_chans, *config.input_hw)).astype(np.float32)
        on_gpu = torch_device is not None and torch_device.type == "cuda"
        if on_gpu:
            torch.cuda.reset_peak_memory_stats(torch_device)
        latency = time_runner(runner, data, iters=iters, warmup=warmup)
        if on_gpu:
            result["peak_gpu_mb"] = torch.cuda.max_memory_allocated(torch_device) / 1e6
    result.update({"architecture": config.architecture, "input_hw": list(config.input_hw),
                   "latency_ms": latency, "throughput_fps": batch * 1000.0 / latency["mean"],
                   "peak_rss_mb": _peak_rss_mb()})
    return result


def _device_name(torch_device: Any, requested: Any) -> str:
    """``cpu``, or ``cuda:N (GPU name)``; an ONNX run names the device it asked for."""
    import torch

    if torch_device is None:
        return str(requested or "cpu")
    if torch_device.type == "cuda":
        return f"{torch_device} ({torch.cuda.get_device_name(torch_device)})"
    return "cpu"


def _check_input_size(runner: Any, config: Any, source: str) -> None:
    """One pass of a zero frame through ``runner`` (a :class:`TorchRunner`): a size the
    network cannot take is one clear error naming ``--input-size``."""
    try:
        runner(np.zeros((1, config.in_chans, *config.input_hw), dtype=np.float32))
    except RuntimeError as error:
        if is_out_of_memory(error):
            raise InputError(f"out of memory for one {config.input_hw[0]}x{config.input_hw[1]} "
                             "frame on this device", file=source, field="--device") from None
        raise InputError(f"{config.architecture} cannot take a {config.input_hw[0]}x"
                         f"{config.input_hw[1]} input: {' '.join(str(error).split())[:200]}",
                         file=source, field="--input-size") from None
