"""Evaluation metrics: classification, saliency, landmarks, statistics, results.json.

Import the submodules directly (``from sonomtl.metrics.saliency import
compute_nss``); this package imports nothing eagerly.
"""

from __future__ import annotations

__all__ = ["classification", "saliency", "landmarks", "stats", "results"]
