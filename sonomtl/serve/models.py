"""The models a server holds: each a Predictor, its card and its batcher.

``MODEL`` on the command line is a run folder, a checkpoint, an exported
``.onnx`` file, a model-store name (``sononet16``: its published weights) or a
registry name (random weights), optionally prefixed with
the name to serve it under: ``msen=runs/msen``. Without a prefix the name is
the folder's or file's stem (``runs/msen`` -> ``msen``, ``m.onnx`` -> ``m``).
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sonomtl.errors import InputError

__all__ = ["ModelCard", "ServedModel", "parse_model_spec", "model_card", "weights_digest"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class ModelCard:
    """What a client needs to know about a served model (``GET /v1/models``)."""

    name: str
    kind: str  # msen, classifier or abdominal
    architecture: str
    class_names: list[str]
    landmark_names: list[str]
    measurements: dict[str, list[str]]  # name -> the landmarks it is measured between
    input_hw: list[int]
    needs_spacing: bool  # measurements in mm or resampling need the pixel size
    source: str
    backend: str
    version: str  # sonomtl version + digest of the weights

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ServedModel:
    """A loaded model: its name, Predictor, card, and the batcher in front of it."""

    name: str
    predictor: Any
    card: ModelCard
    batcher: Any = None


def parse_model_spec(spec: str) -> tuple[str, str]:
    """``(name, source)`` of a ``[NAME=]SOURCE`` argument.

    Examples
    --------
    >>> parse_model_spec("runs/msen")
    ('msen', 'runs/msen')
    >>> parse_model_spec("plane=export/model.onnx")
    ('plane', 'export/model.onnx')
    """
    name, sep, source = spec.partition("=")
    if not sep:
        source = spec
        path = Path(spec.rstrip("/\\"))
        name = path.stem if path.suffix.lower() in (".onnx", ".safetensors") else path.name
    if not source or not _NAME.match(name):
        raise InputError(f"a model is [NAME=]SOURCE with NAME of letters, digits, '.', '_', '-' "
                         f"(at most 64), got {spec!r}", field="MODEL")
    return name, source


def weights_digest(source: str) -> str:
    """12 hex digits of the SHA-256 of the weights (a file, or a run folder's newest
    ``.safetensors``); ``untrained`` for a registry name."""
    path = Path(source)
    if path.is_dir():
        files = sorted(path.rglob("*.safetensors"), key=lambda p: (p.stat().st_mtime, p.name))
        if not files:
            return "unknown"
        path = files[-1]
    if not path.is_file():
        return "untrained"
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:12]


def model_card(name: str, predictor: Any) -> ModelCard:
    """The card of a loaded :class:`~sonomtl.inference.predictor.Predictor`."""
    from sonomtl import __version__

    config = predictor.config
    return ModelCard(
        name=name, kind=config.kind, architecture=config.architecture,
        class_names=list(config.class_names or ()),
        landmark_names=list(config.landmark_names or ()),
        measurements={name: list(spec.get("landmarks", ()))
                      for name, spec in sorted(config.measurements.items())},
        input_hw=list(config.input_hw),
        needs_spacing=bool(config.measurements) or config.target_spacing_mm is not None,
        source=os.fspath(predictor.source), backend=predictor.backend,
        version=f"sonomtl-{__version__}+{weights_digest(os.fspath(predictor.source))}",
    )
