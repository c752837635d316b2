"""The four end points of an ellipse's diameters decoded together (hand-made heat maps)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sonomtl.data.heatmaps import decode_weighted_mean
from sonomtl.decoding.ellipse_axes import decode_ellipse_axes, ellipse_axes
from sonomtl.metrics.landmarks import ellipse_circumference_mm

# a head 40 px long and 24 px wide centred on (32, 30), its long axis along the rows
CROSS = [(12.0, 30.0), (52.0, 30.0), (32.0, 18.0), (32.0, 42.0)]
HC = {"HC": {"type": "ellipse_circumference", "landmarks": ["o1", "o2", "b1", "b2"]},
      "BPD": {"type": "distance", "landmarks": ["b1", "b2"]}}


def _gaussian(x: float, y: float, *, height: float = 1.0, sigma: float = 3.0) -> np.ndarray:
    rows, cols = np.mgrid[0:64, 0:64]
    return height * np.exp(-((cols - x) ** 2 + (rows - y) ** 2) / (2 * sigma**2))


def _maps(distractor: tuple[float, float] | None = None) -> np.ndarray:
    maps = np.stack([_gaussian(x, y) for x, y in CROSS])
    if distractor is not None:  # a brighter second peak of b1, off the crossing
        maps[2] = np.maximum(maps[2], _gaussian(*distractor, height=1.3))
    return maps


def test_a_brighter_peak_off_the_crossing_loses_to_the_one_that_makes_the_cross() -> None:
    maps = _maps(distractor=(14.0, 50.0))
    alone = decode_weighted_mean(maps, threshold=0.75)
    # one by one, b1 is the weighted mean of both peaks above k = 0.75: between them
    assert math.dist(alone[2], CROSS[2]) > 10.0
    chosen = decode_ellipse_axes(maps, alone, [(0, 1, 2, 3)])
    assert chosen == pytest.approx(np.array(CROSS), abs=0.05)
    # the head circumference of the chosen points is the ellipse's (40 x 24 px diameters)
    major = math.dist(chosen[0], chosen[1])
    minor = math.dist(chosen[2], chosen[3])
    assert float(ellipse_circumference_mm(major, minor)) == pytest.approx(
        math.pi * (3 * 32 - math.sqrt((3 * 20 + 12) * (20 + 3 * 12))), abs=0.2)


def test_points_that_already_cross_and_ellipses_with_an_empty_map_are_left_as_they_are() -> None:
    maps = _maps()
    alone = decode_weighted_mean(maps, threshold=0.75)
    assert np.array_equal(decode_ellipse_axes(maps, alone, [(0, 1, 2, 3)]), alone)
    maps = _maps(distractor=(14.0, 50.0))
    maps[3] = 0.0  # b2 absent: nothing to choose with
    alone = decode_weighted_mean(maps, threshold=0.75)
    kept = decode_ellipse_axes(maps, alone, [(0, 1, 2, 3)])
    assert np.array_equal(kept, alone, equal_nan=True) and np.isnan(kept[3]).all()


def test_a_batch_is_decoded_frame_by_frame_and_other_channels_are_untouched() -> None:
    maps = np.stack([_maps(distractor=(14.0, 50.0)), _maps()])
    extra = np.broadcast_to(_gaussian(5.0, 5.0), (2, 1, 64, 64))
    maps = np.concatenate([extra, maps], axis=1)  # channel 0 is no part of the ellipse
    alone = decode_weighted_mean(maps, threshold=0.75)
    batch = decode_ellipse_axes(maps, alone, [(1, 2, 3, 4)])
    for k in range(2):
        assert np.array_equal(batch[k], decode_ellipse_axes(maps[k], alone[k], [(1, 2, 3, 4)]))
    assert np.array_equal(batch[:, 0], alone[:, 0])
    assert batch[0, 3] == pytest.approx([32.0, 18.0], abs=0.05)


def test_the_axes_come_from_the_ellipse_measurements_whose_landmarks_are_all_predicted() -> None:
    assert ellipse_axes(HC, ["b1", "b2", "o1", "o2", "x"]) == [(2, 3, 0, 1)]
    assert ellipse_axes(HC, ["o1", "o2", "b1"]) == []  # b2 not predicted (one task's network)
    assert ellipse_axes({"BPD": HC["BPD"]}, ["o1", "o2", "b1", "b2"]) == []


def test_the_predictor_decodes_the_heads_axes_together() -> None:
    from sonomtl.inference.config import InferenceConfig
    from sonomtl.inference.predictor import Predictor, TorchRunner

    class FixedMaps(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
            maps = torch.from_numpy(_maps(distractor=(14.0, 50.0))).float()
            return {"heatmaps": maps.expand(x.shape[0], -1, -1, -1)}

    config = InferenceConfig(kind="abdominal", architecture="fixed", input_hw=(64, 64),
                             normalisation={"mean": 0.0, "std": 255.0}, outputs=("heatmaps",),
                             landmark_names=("o1", "o2", "b1", "b2"), measurements=HC)
    predictor = Predictor(TorchRunner(FixedMaps(), output_names=("heatmaps",)), config)
    [result] = predictor.predict_frames([np.zeros((64, 64), np.float32)], spacings_mm=[0.5])
    assert result.landmarks["b1"] == pytest.approx([32.0, 18.0], abs=0.05)
    assert result.measurements_mm["BPD"] == pytest.approx(12.0, abs=0.05)  # 24 px of 0.5 mm
