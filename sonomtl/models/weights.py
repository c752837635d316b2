"""Model weights on disk: the official Lasagne ``.npz`` of SonoNet, and safetensors.

The Lasagne file (``numpy.savez(*params)``) holds, per conv + batch-norm layer
in network order, five arrays: conv weight ``(out, in, k, k)`` (not flipped,
i.e. cross-correlation as in PyTorch), then BN ``beta``, ``gamma``, ``mean``
and ``inv_std = 1 / sqrt(var + 1e-4)``. They map onto the
:class:`~sonomtl.models.layers.ConvBNReLU` units of a model taken in module
order, with ``running_var = 1 / inv_std**2 - 1e-4``.

Our own checkpoints are safetensors (never pickle): the state dict plus the
model's ``default_cfg`` as JSON metadata, so inference can rebuild its
preprocessing from the file alone.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from sonomtl.errors import InputError
from sonomtl.fileio import atomic_path
from sonomtl.models.layers import ConvBNReLU

__all__ = [
    "weights_file",
    "read_lasagne_npz",
    "load_lasagne_arrays",
    "lasagne_sononet_config",
    "sononet_file_config",
    "save_safetensors",
    "read_safetensors",
    "load_weights",
]

_LASAGNE_BN_EPS = 1e-4
_ARRAYS_PER_UNIT = 5


def weights_file(path: str | os.PathLike[str]) -> Path:
    """``path`` as a file path; a store name (``"sononet16"``) is found through the model store.

    A name that is also an existing file is the file. The store checks the
    file's sha256 and may download it (:func:`sonomtl.store.resolve_weights`).
    """
    from sonomtl.store import REGISTRY, resolve_weights

    if os.fspath(path) in REGISTRY and not Path(path).is_file():
        return resolve_weights(path)
    return Path(path)


def read_lasagne_npz(path: str | os.PathLike[str]) -> list[np.ndarray]:
    """The arrays ``arr_0, arr_1, ...`` of a Lasagne ``numpy.savez`` file, in order.

    Raises :class:`InputError` when the file is missing, not an ``.npz``, holds
    pickled objects, or its names are not ``arr_0 .. arr_{n-1}``.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("weights file not found", file=path)
    from sonomtl.untrusted import load_npz

    archive = load_npz(path)
    names = list(archive)
    expected = [f"arr_{i}" for i in range(len(names))]
    if sorted(names) != sorted(expected):
        raise InputError(
            f"not a Lasagne parameter file: expected arrays arr_0..arr_{len(names) - 1}, "
            f"found {names[:5]}",
            file=path,
        )
    try:
        return [np.asarray(archive[name], dtype=np.float32) for name in expected]
    except (TypeError, ValueError) as error:
        raise InputError(f"not a Lasagne parameter file: {error}", file=path) from None


def lasagne_sononet_config(arrays: list[np.ndarray]) -> dict[str, int]:
    """``width``, ``in_chans`` and ``num_classes`` of a SonoNet parameter list (75 arrays)."""
    if len(arrays) != 15 * _ARRAYS_PER_UNIT:
        raise ValueError(f"a SonoNet file has 75 arrays (15 conv+BN layers), got {len(arrays)}")
    return {
        "width": int(arrays[0].shape[0]),
        "in_chans": int(arrays[0].shape[1]),
        "num_classes": int(arrays[-_ARRAYS_PER_UNIT].shape[0]),
    }


def sononet_file_config(path: str | os.PathLike[str]) -> dict[str, int]:
    """``width``, ``in_chans`` and ``num_classes`` of a SonoNet ``.npz`` or ``.safetensors`` file.

    Raises :class:`InputError` naming the file when it is not a SonoNet weights file.
    """
    path = weights_file(path)
    suffix = path.suffix.lower()
    if suffix == ".npz":
        arrays = read_lasagne_npz(path)
        if len(arrays) != 15 * _ARRAYS_PER_UNIT:
            raise InputError(f"not a SonoNet weights file: {len(arrays)} arrays, expected 75",
                             file=path)
        return lasagne_sononet_config(arrays)
    if suffix == ".safetensors":
        state, _ = read_safetensors(path)
        first, head = state.get("blocks.0.0.0.weight"), state.get("adaptation.1.0.weight")
        if first is None or head is None:
            raise InputError("not a SonoNet weights file (no blocks.0.0.0.weight or "
                             "adaptation.1.0.weight)", file=path)
        return {"width": int(first.shape[0]), "in_chans": int(first.shape[1]),
                "num_classes": int(head.shape[0])}
    raise InputError(f"unknown weights format {suffix!r}: expected .npz or .safetensors",
                     file=path)


def load_lasagne_arrays(
    units: list[ConvBNReLU], arrays: list[np.ndarray], *, file: str | os.PathLike[str] | None = None
) -> None:
    """Copy the first ``5 * len(units)`` Lasagne arrays into ``units`` (in place).

    Raises :class:`InputError` (naming ``file``) when there are too few arrays
    or a shape does not match.
    """
    needed = _ARRAYS_PER_UNIT * len(units)
    if len(arrays) < needed:
        raise InputError(f"expected at least {needed} arrays for {len(units)} layers, "
                         f"found {len(arrays)}", file=file)
    with torch.no_grad():
        for index, unit in enumerate(units):
            weight, beta, gamma, mean, inv_std = arrays[
                _ARRAYS_PER_UNIT * index:_ARRAYS_PER_UNIT * (index + 1)
            ]
            conv, bn = unit[0], unit[1]
            expected = {
                "weight": tuple(conv.weight.shape), "beta": tuple(bn.bias.shape),
                "gamma": tuple(bn.weight.shape), "mean": tuple(bn.running_mean.shape),
                "inv_std": tuple(bn.running_var.shape),
            }
            found = {"weight": weight.shape, "beta": beta.shape, "gamma": gamma.shape,
                     "mean": mean.shape, "inv_std": inv_std.shape}
            for name, shape in expected.items():
                if tuple(found[name]) != shape:
                    raise InputError(
                        f"layer {index}: {name} has shape {tuple(found[name])}, the model "
                        f"expects {shape}", file=file,
                    )
            if not np.all(inv_std > 0):
                raise InputError(f"layer {index}: inv_std must be positive", file=file)
            conv.weight.copy_(torch.from_numpy(weight))
            bn.bias.copy_(torch.from_numpy(beta))
            bn.weight.copy_(torch.from_numpy(gamma))
            bn.running_mean.copy_(torch.from_numpy(mean))
            variance = 1.0 / inv_std.astype(np.float64) ** 2 - _LASAGNE_BN_EPS
            bn.running_var.copy_(torch.from_numpy(variance.astype(np.float32)))
            bn.eps = _LASAGNE_BN_EPS


def _units(model: nn.Module) -> list[ConvBNReLU]:
    return [module for module in model.modules() if isinstance(module, ConvBNReLU)]


def save_safetensors(
    model: nn.Module, path: str | os.PathLike[str], *, metadata: dict[str, Any] | None = None
) -> Path:
    """Write ``model.state_dict()`` to ``path`` (atomically) as safetensors.

    The model's ``default_cfg`` (when present) and ``metadata`` are stored as
    JSON strings in the file header under ``default_cfg`` and ``metadata``.
    """
    from safetensors.torch import save_file

    state = {
        name: tensor.detach().contiguous().cpu() for name, tensor in model.state_dict().items()
    }
    header = {}
    if getattr(model, "default_cfg", None) is not None:
        header["default_cfg"] = json.dumps(model.default_cfg)
    if metadata:
        header["metadata"] = json.dumps(metadata)
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata=header)
    return Path(path)


def read_safetensors(
    path: str | os.PathLike[str],
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """State dict and decoded header (``default_cfg``, ``metadata``) of a safetensors file."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise InputError("weights file not found", file=path)
    try:
        with safe_open(str(path), framework="pt") as handle:
            header = handle.metadata() or {}
            state = {name: handle.get_tensor(name) for name in handle.keys()}
    except (SafetensorError, OSError, ValueError) as error:
        raise InputError(f"cannot read as safetensors ({error})", file=path) from None
    decoded: dict[str, Any] = {}
    for key, value in header.items():
        try:
            decoded[key] = json.loads(value)
        except json.JSONDecodeError:
            decoded[key] = value
    return state, decoded


def load_weights(model: nn.Module, path: str | os.PathLike[str]) -> nn.Module:
    """Load ``path`` into ``model`` in place and return it.

    ``.npz``: a Lasagne parameter file whose conv+BN layers match the model's
    :class:`ConvBNReLU` units one for one. ``.safetensors``: a state dict
    saved by :func:`save_safetensors`, loaded strictly. Any mismatch raises
    :class:`InputError` naming the file.
    """
    path = weights_file(path)
    suffix = path.suffix.lower()
    if suffix == ".npz":
        arrays = read_lasagne_npz(path)
        units = _units(model)
        if len(arrays) != _ARRAYS_PER_UNIT * len(units):
            raise InputError(
                f"holds {len(arrays)} arrays ({len(arrays) / _ARRAYS_PER_UNIT:g} conv+BN layers); "
                f"the model has {len(units)} conv+BN layers", file=path,
            )
        load_lasagne_arrays(units, arrays, file=path)
    elif suffix == ".safetensors":
        state, _ = read_safetensors(path)
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as error:
            first = str(error).strip().splitlines()
            raise InputError(f"does not fit the model: {' '.join(first[:2])}", file=path) from None
    else:
        raise InputError(f"unknown weights format {suffix!r}: expected .npz or .safetensors",
                         file=path)
    return model
