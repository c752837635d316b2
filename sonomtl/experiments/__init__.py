"""Experiments that reproduce the papers' tables: :mod:`sonomtl.experiments.msen` (paper 000)."""

from __future__ import annotations

__all__: list[str] = []
