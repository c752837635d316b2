"""Inference and deployment: predictors (PyTorch or ONNX), video streams, export, benchmarks.

Nothing is imported here; use the submodules (:mod:`sonomtl.inference.predictor`,
:mod:`~sonomtl.inference.video`, :mod:`~sonomtl.inference.export`,
:mod:`~sonomtl.inference.bench`, :mod:`~sonomtl.inference.overlays`).
"""

from __future__ import annotations

__all__: list[str] = []
