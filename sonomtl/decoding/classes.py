"""Class logits -> probabilities and the predicted label, once for evaluation and deployment."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["class_answer", "softmax"]


def softmax(logits: Any) -> np.ndarray:
    """Class probabilities of logits ``(..., C)``, computed in float64.

    Examples
    --------
    >>> softmax([[0.0, np.log(3.0)]]).round(6).tolist()
    [[0.25, 0.75]]
    """
    values = np.asarray(logits, dtype=np.float64)
    shifted = np.exp(values - values.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def class_answer(
    probabilities: Any, class_names: Sequence[str] | None
) -> tuple[str, dict[str, float]]:
    """The most probable class and ``{name: probability}`` (``class_i`` where unnamed).

    Examples
    --------
    >>> class_answer([0.25, 0.75], ["ACP", "BG"])
    ('BG', {'ACP': 0.25, 'BG': 0.75})
    >>> class_answer([0.9, 0.1], None)[0]
    'class_0'
    """
    probs = np.asarray(probabilities, dtype=np.float64)
    names = class_names or tuple(f"class_{i}" for i in range(len(probs)))
    return names[int(np.argmax(probs))], {name: float(p) for name, p in zip(names, probs)}
