"""Overlays: blending weights and caliper drawing, checked pixel by pixel."""

from __future__ import annotations

import numpy as np
import pytest

from sonomtl.inference.overlays import blend_attention, draw_landmarks


def test_blend_leaves_zero_attention_untouched_and_tints_full_attention():
    frame = np.full((4, 4), 100.0, dtype=np.float32)
    attention = np.zeros((4, 4), dtype=np.float32)
    attention[0, 0] = 1.0
    out = blend_attention(frame, attention, alpha=0.5)
    assert out[3, 3].tolist() == [100, 100, 100]
    # JET at 1.0 is BGR (0, 0, 128) -> RGB (128, 0, 0); 0.5 * 100 + 0.5 * colour
    assert out[0, 0].tolist() == [114, 50, 50]
    with pytest.raises(ValueError, match="shape"):
        blend_attention(frame, np.zeros((3, 3)))


def test_landmarks_get_crosses_and_a_caliper_line_with_its_value():
    frame = np.zeros((40, 60), dtype=np.float32)
    out = draw_landmarks(frame, {"a_1": [10.0, 20.0], "a_2": [50.0, 20.0], "b": None},
                         measurements={"A": {"type": "distance", "landmarks": ["a_1", "a_2"]}},
                         values_mm={"A": 12.34})
    assert out[20, 10].tolist() == [255, 220, 0] and out[16, 10].tolist() == [255, 220, 0]
    assert out[20, 30].tolist() == [0, 255, 255]  # the caliper between the two points
    assert (out[26:36, 16:50] > 200).all(axis=2).any()  # white text below the first point
    assert out[5, 5].tolist() == [0, 0, 0]
