"""Networks of both systems, built by name through :func:`build_model`."""

from __future__ import annotations

from sonomtl.models.registry import build_model, list_models

__all__ = ["build_model", "list_models"]
