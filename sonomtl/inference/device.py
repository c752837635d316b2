"""Where inference runs: ``cpu``, ``cuda`` or ``cuda:N``, checked before any work starts.

A scanner-side machine may have a GPU; a laptop or CI has none. ``--device`` of
``predict`` and ``bench`` goes through :func:`resolve_device`, so asking for a
GPU that is not there is one clear line (exit status 2), not a CUDA traceback
halfway through a sweep. :func:`onnx_providers` does the same for onnxruntime,
whose GPU build (``onnxruntime-gpu``) is a separate package.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from sonomtl.errors import InputError

__all__ = ["DTYPES", "resolve_device", "onnx_providers", "is_out_of_memory", "torch_threads"]

#: Precisions the PyTorch runner offers: fp16 is autocast on a CUDA device.
DTYPES = ("fp32", "fp16")


def resolve_device(name: Any = None) -> Any:
    """``torch.device`` for ``name`` (``None`` = cpu); :class:`InputError` naming ``--device``
    when it is not a CPU or an existing CUDA device of this machine."""
    import torch

    text = str(name or "cpu").strip().lower()  # a torch.device prints as its name
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise InputError(f"unknown device {name!r}: use cpu, cuda or cuda:N",
                         field="--device") from None
    if device.type == "cpu":
        return torch.device("cpu")
    if device.type != "cuda":
        raise InputError(f"device {name!r} is not supported: use cpu, cuda or cuda:N",
                         field="--device")
    if not torch.cuda.is_available():
        cuda = torch.version.cuda
        build = "a CPU-only build" if cuda is None else f"built for CUDA {cuda}"
        raise InputError(f"no CUDA device on this machine (torch {torch.__version__}, {build})",
                         field="--device")
    index = torch.cuda.current_device() if device.index is None else device.index
    count = torch.cuda.device_count()
    if index >= count:
        raise InputError(f"cuda:{index} does not exist: this machine has {count} CUDA "
                         f"device(s)", field="--device")
    return torch.device("cuda", index)


def onnx_providers(device: Any = None) -> list[Any]:
    """onnxruntime execution providers for ``device`` (``cpu`` or ``cuda[:N]``)."""
    import onnxruntime as ort

    text = str(device or "cpu").strip().lower()
    if text == "cpu":
        return ["CPUExecutionProvider"]
    if text != "cuda" and not (text.startswith("cuda:") and text[5:].isdigit()):
        raise InputError(f"unknown device {device!r}: use cpu, cuda or cuda:N", field="--device")
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        raise InputError(f"this onnxruntime ({ort.__version__}) has no CUDA provider: install "
                         "onnxruntime-gpu, or use --backend torch on the GPU", field="--device")
    index = int(text[5:]) if ":" in text else 0
    return [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"]


def is_out_of_memory(error: BaseException) -> bool:
    """Whether a runner's error is the device running out of memory (torch's
    ``OutOfMemoryError`` and onnxruntime's allocation failures say so in words), which a
    smaller batch cures, unlike an input size the network cannot take."""
    return "out of memory" in str(error).lower()


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[int]:
    """Run the block with ``threads`` torch intra-op threads, then restore the previous count.

    ``None`` (or 0) leaves torch's setting alone. Yields the count in force.

    Examples
    --------
    >>> import torch
    >>> before = torch.get_num_threads()
    >>> with torch_threads(1) as inside:
    ...     inside, torch.get_num_threads()
    (1, 1)
    >>> torch.get_num_threads() == before
    True
    """
    import torch

    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int)
                                or threads < 0):
        raise ValueError(f"threads: expected a positive int, got {threads!r}")
    previous = torch.get_num_threads()
    if not threads or threads == previous:  # nothing to set (the predictor's every call)
        yield previous
        return
    torch.set_num_threads(threads)
    try:
        yield threads
    finally:
        torch.set_num_threads(previous)
