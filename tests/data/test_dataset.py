"""UltrasoundDataset samples and collate_samples, on small generated datasets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sonomtl.data.dataset import (
    UltrasoundDataset,
    collate_samples,
    default_heatmap_sigma_px,
    make_augment,
)
from sonomtl.data.manifest import DatasetSpec, write_dataset
from sonomtl.data.preprocess import Pipeline
from sonomtl.errors import InputError

SPEC = DatasetSpec(
    name="dots", classes=("left_view", "right_view"), landmarks=("left", "right", "tip"),
    view_landmarks={"left_view": ("left", "right", "tip")}, flip_pairs=(("left", "right"),),
    input_size=(60, 80),
)


def _dot_image(hw: tuple[int, int], points: dict[str, tuple[int, int]], *,
               background: int = 40) -> np.ndarray:
    image = np.full(hw, background, np.uint8)
    for value, (x, y) in zip((250, 200, 150), points.values()):
        image[y, x] = value  # one bright pixel per landmark, distinct brightness
    return image


def _make_dataset(folder: Path, spec: DatasetSpec = SPEC, *, hw=(120, 160), n=4,
                  attention: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        points = {"left": (20 + 2 * i, 30), "right": (130, 40 + i), "tip": (81, 99)}
        Image.fromarray(_dot_image(hw, points)).save(folder / f"f{i}.png")
        row = {"image": f"f{i}.png", "subject": f"s{i // 2}", "sequence": f"q{i // 2}",
               "label": spec.classes[i % 2] if i < 3 and spec.classes else None,
               "landmarks": points,
               "spacing_mm": 0.25}
        if attention and i % 2 == 0:
            att = np.zeros((hw[0] // 2, hw[1] // 2), np.float32)
            att[15, 10] = 1.0
            np.save(folder / f"a{i}.npy", att)
            row["attention"] = f"a{i}.npy"
        rows.append(row)
    return write_dataset(folder, spec, rows)


def test_sample_fields_types_and_values(tmp_path):
    folder = _make_dataset(tmp_path / "d")
    dataset = UltrasoundDataset(folder, normalise=None)
    assert len(dataset) == 4
    sample = dataset[0]
    assert sample["image"].shape == (1, 60, 80) and sample["image"].dtype == torch.float32
    assert sample["label"].dtype == torch.int64 and int(sample["label"]) == 0
    assert int(dataset[1]["label"]) == 1 and int(dataset[3]["label"]) == -1
    assert dataset.labels.tolist() == [0, 1, 0, -1]
    # 120x160 -> 60x80 is a factor 0.5: x -> (x + 0.5) / 2 - 0.5.
    expected = np.array([[9.75, 14.75], [64.75, 19.75], [40.25, 49.25]])
    np.testing.assert_allclose(sample["landmarks"].numpy(), expected, atol=1e-5)
    assert sample["landmark_mask"].tolist() == [True, True, True]
    assert sample["spacing_mm"].tolist() == [0.5, 0.5]
    assert (sample["subject"], sample["sequence"], int(sample["index"]), int(sample["row"])) == (
        "s0", "q0", 0, 2)
    assert sample["heatmaps"].shape == (3, 60, 80)
    assert "attention" not in sample
    # The geometry maps model-input points back to the original pixels.
    back = Pipeline.from_dict(sample["geometry"]).invert_points(sample["landmarks"].numpy())
    np.testing.assert_allclose(back, [[20, 30], [130, 40], [81, 99]], atol=1e-4)


def test_landmarks_sit_on_their_bright_dots_after_resampling(tmp_path):
    spec = DatasetSpec(name="dots", landmarks=("left", "right", "tip"), input_size=(64, 64),
                       target_spacing_mm=1.0)
    folder = _make_dataset(tmp_path / "d", spec, hw=(120, 160), n=1)
    sample = UltrasoundDataset(folder, normalise=None)[0]
    image = sample["image"][0].numpy()
    # 0.25 mm -> 1 mm: 160x120 becomes 40x30, centred in 64x64 with zero padding.
    assert sample["spacing_mm"].tolist() == [1.0, 1.0]
    for k in range(3):
        x, y = sample["landmarks"][k].tolist()
        r, c = int(round(y)), int(round(x))
        window = image[r - 1:r + 2, c - 1:c + 2]
        # The dot's energy lands in the 3x3 window around the mapped point...
        assert window.max() > image[image > 0].min() + 1.0
        # ...and the heat map peaks at the mapped point.
        peak = np.unravel_index(np.argmax(sample["heatmaps"][k].numpy()), (64, 64))
        assert abs(peak[0] - y) <= 0.5 and abs(peak[1] - x) <= 0.5


def test_heatmaps_have_the_requested_sigma(tmp_path):
    folder = _make_dataset(tmp_path / "d")
    maps = UltrasoundDataset(folder, heatmap_sigma_px=2.0)[0]["heatmaps"].numpy()
    x, y = 40.25, 49.25  # the "tip" landmark
    r, c = 49, 40
    expected = np.exp(-((c - x) ** 2 + (r - y) ** 2) / (2 * 2.0 ** 2))
    assert maps[2, r, c] == pytest.approx(expected, rel=1e-5)
    maps_mm = UltrasoundDataset(folder, heatmap_sigma_mm=1.0)[0]["heatmaps"].numpy()
    np.testing.assert_allclose(maps_mm, maps, atol=1e-6)  # 1 mm at 0.5 mm/px = 2 px
    assert default_heatmap_sigma_px((60, 80)) == pytest.approx(1.2)


def test_zscore_normalisation_is_per_image(tmp_path):
    folder = _make_dataset(tmp_path / "d")
    image = UltrasoundDataset(folder)[0]["image"].numpy()
    assert abs(image.mean()) < 1e-5 and image.std() == pytest.approx(1.0, rel=1e-4)


def test_flip_augmentation_swaps_left_and_right(tmp_path):
    folder = _make_dataset(tmp_path / "d")
    plain = UltrasoundDataset(folder, normalise=None)[0]
    aug = make_augment(SPEC, flip_prob=1.0, rotate_deg=0.0)
    flipped = UltrasoundDataset(folder, normalise=None, augment=aug)[0]
    torch.testing.assert_close(flipped["image"], plain["image"].flip(-1))
    lm, lm_f = plain["landmarks"].numpy(), flipped["landmarks"].numpy()
    # x -> W - 1 - x, and the "left" channel now holds the mirrored "right" point.
    np.testing.assert_allclose(lm_f[0], [79 - lm[1, 0], lm[1, 1]], atol=1e-5)
    np.testing.assert_allclose(lm_f[1], [79 - lm[0, 0], lm[0, 1]], atol=1e-5)
    np.testing.assert_allclose(lm_f[2], [79 - lm[2, 0], lm[2, 1]], atol=1e-5)
    peak = np.unravel_index(np.argmax(flipped["heatmaps"][0].numpy()), (60, 80))
    assert abs(peak[1] - lm_f[0, 0]) <= 0.5


def test_augmentation_is_reproducible_and_changes_with_the_epoch(tmp_path):
    folder = _make_dataset(tmp_path / "d")
    aug = make_augment(SPEC, flip_prob=0.5, rotate_deg=20.0, speckle_std=0.1)
    a, b = (UltrasoundDataset(folder, augment=aug, seed=3) for _ in range(2))
    torch.testing.assert_close(a[1]["image"], b[1]["image"])
    first = a[1]["image"].clone()
    a.set_epoch(1)
    assert not torch.equal(a[1]["image"], first)


def test_attention_maps_follow_the_geometry(tmp_path):
    folder = _make_dataset(tmp_path / "d", attention=True)
    dataset = UltrasoundDataset(folder)
    with_map, without = dataset[0], dataset[1]
    # A 60x80 map of the 120x160 frame: its pixel (10, 15) is the frame's (21, 31)
    # region, which lands back at (10, 15) of the 60x80 model input.
    attention = with_map["attention"][0].numpy()
    assert np.unravel_index(np.argmax(attention), attention.shape) == (15, 10)
    assert "attention" not in without
    batch = collate_samples([with_map, without])
    assert batch["has_attention"].tolist() == [True, False]
    assert batch["attention"].shape == (2, 1, 60, 80) and float(batch["attention"][1].sum()) == 0


def test_indices_select_a_split_and_loaded_tuples_are_accepted(tmp_path):
    from sonomtl.data.manifest import load_dataset

    folder = _make_dataset(tmp_path / "d")
    spec, records = load_dataset(folder)
    dataset = UltrasoundDataset((folder, spec, records), indices=[3, 1], normalise=None)
    assert len(dataset) == 2 and [int(dataset[i]["index"]) for i in range(2)] == [3, 1]
    with pytest.raises(ValueError, match="indices"):
        UltrasoundDataset(folder, indices=[4])


def test_cache_decoded_serves_the_same_preprocessed_frame(tmp_path):
    folder = _make_dataset(tmp_path / "d")
    dataset = UltrasoundDataset(folder, cache_decoded=True)
    first = dataset[2]["image"].clone()
    (folder / "f2.png").unlink()  # served from memory now
    torch.testing.assert_close(dataset[2]["image"], first)


def test_mask_rects_and_static_overlays_are_zeroed(tmp_path):
    spec = DatasetSpec(name="m", input_size=(20, 20), mask_rects=((0, 0, 5, 3),))
    rng = np.random.default_rng(0)
    rows = []
    tmp_path.mkdir(exist_ok=True)
    for i in range(3):
        image = rng.integers(50, 200, (20, 20)).astype(np.uint8)
        image[10:12, 10:15] = 255  # a static overlay: same in every frame of the clip
        Image.fromarray(image).save(tmp_path / f"{i}.png")
        rows.append({"image": f"{i}.png", "subject": "s", "sequence": "clip"})
    write_dataset(tmp_path, spec, rows)
    rects = UltrasoundDataset(tmp_path, normalise=None)[0]["image"][0].numpy()
    assert rects[0:3, 0:5].max() == 0 and rects[10:12, 10:15].min() == 255
    static = UltrasoundDataset(tmp_path, normalise=None, mask_overlays="static")[1]["image"][0]
    assert static[10:12, 10:15].abs().max() == 0 and static[0:3, 0:5].abs().max() == 0
    assert static[13:, :].min() >= 50


def test_resampling_without_pixel_size_names_the_row(tmp_path):
    spec = DatasetSpec(name="x", input_size=(8, 8), target_spacing_mm=0.5)
    tmp_path.mkdir(exist_ok=True)
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "a.png")
    write_dataset(tmp_path, spec, [{"image": "a.png", "subject": "s"}])
    with pytest.raises(InputError) as info:
        UltrasoundDataset(tmp_path)[0]
    assert (info.value.row, info.value.field) == (2, "spacing_mm")


def test_collate_stacks_fills_and_lists():
    s1 = {"image": torch.ones(1, 2, 2), "landmarks": torch.zeros(2, 2), "subject": "a",
          "geometry": {"ops": []}, "weight": 0.5}
    s2 = {"image": torch.zeros(1, 2, 2), "subject": "b", "geometry": {"ops": [1]}, "weight": 1.0}
    batch = collate_samples([s1, s2])
    assert batch["image"].shape == (2, 1, 2, 2)
    assert batch["has_landmarks"].tolist() == [True, False]
    assert torch.isnan(batch["landmarks"][1]).all() and not torch.isnan(batch["landmarks"][0]).any()
    assert batch["subject"] == ["a", "b"] and batch["geometry"] == [{"ops": []}, {"ops": [1]}]
    assert batch["weight"].tolist() == [0.5, 1.0]
    assert "has_image" not in batch
    with pytest.raises(ValueError, match="shapes"):
        collate_samples([{"image": torch.ones(1, 2, 2)}, {"image": torch.ones(1, 3, 2)}])


def test_dataloader_with_workers_batches_samples(tmp_path):
    folder = _make_dataset(tmp_path / "d")
    dataset = UltrasoundDataset(folder, augment=make_augment(SPEC, rotate_deg=10.0))
    loader = torch.utils.data.DataLoader(dataset, batch_size=2, num_workers=2,
                                         collate_fn=collate_samples)
    batches = list(loader)
    serial = collate_samples([dataset[0], dataset[1]])
    torch.testing.assert_close(batches[0]["image"], serial["image"])  # same draws per index
    assert batches[1]["label"].tolist() == [0, -1]


# ---------------------------------------------------------------- attention/fixation geometry

#: A 120x160 frame cropped to rows 20-100, cols 40-140 (80x100), resized to 40x50: frame
#: pixels (2r + 20, 2c + 40) and (2r + 21, 2c + 41) average into model pixel (r, c), and
#: the frame point (x, y) = (2c + 40.5, 2r + 20.5) lands exactly on (c, r).
GEO_SPEC = DatasetSpec(name="geo", classes=("a", "b"), landmarks=("dot",), input_size=(40, 50),
                       crop=(20, 100, 40, 140))
DOT_MODEL_RC = (20, 25)
DOT_FRAME_XY = (2 * 25 + 40.5, 2 * 20 + 20.5)  # (90.5, 60.5)


def _geometry_dataset(folder: Path, *, attention: np.ndarray | None,
                      fixations: list | None = None, extra_rows: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    frame = np.full((120, 160), 30, np.uint8)
    frame[60:62, 90:92] = 250  # the landmark's 2x2 block, centre (90.5, 60.5)
    Image.fromarray(frame).save(folder / "f.png")
    row = {"image": "f.png", "subject": "s", "label": "a", "landmarks": {"dot": DOT_FRAME_XY}}
    if attention is not None:
        np.save(folder / "att.npy", attention.astype(np.float32))
        row["attention"] = "att.npy"
    if fixations is not None:
        row["fixations"] = fixations
    rows = [row] + [{"image": "f.png", "subject": f"t{i}", "label": "b"}
                    for i in range(extra_rows)]
    return write_dataset(folder, GEO_SPEC, rows)


def _argmax_rc(array) -> tuple[int, int]:
    array = np.asarray(array)
    return tuple(int(v) for v in np.unravel_index(np.argmax(array), array.shape))


def _landmark_rc(sample) -> tuple[float, float]:
    x, y = sample["landmarks"][0].tolist()
    return (y, x)


def test_a_map_at_the_input_size_is_in_model_input_space_and_used_as_is(tmp_path):
    model_map = np.zeros((40, 50))
    model_map[DOT_MODEL_RC] = 1.0
    folder = _geometry_dataset(tmp_path / "d", attention=model_map)
    sample = UltrasoundDataset(folder, normalise=None)[0]
    attention = sample["attention"][0].numpy()
    np.testing.assert_array_equal(attention, model_map)  # no crop/resize applied to it
    assert _landmark_rc(sample) == DOT_MODEL_RC == _argmax_rc(attention)
    assert _argmax_rc(sample["image"][0]) == DOT_MODEL_RC  # the frame's dot is there too


def test_a_map_on_the_frame_grid_goes_through_the_frames_preprocessing(tmp_path):
    frame_map = np.zeros((120, 160))
    frame_map[60:62, 90:92] = 1.0  # same 2x2 block as the frame's dot
    folder = _geometry_dataset(tmp_path / "d", attention=frame_map)
    sample = UltrasoundDataset(folder, normalise=None)[0]
    attention = sample["attention"][0].numpy()
    assert attention.shape == (40, 50)
    expected = np.zeros((40, 50))
    expected[DOT_MODEL_RC] = 1.0  # area average of the 2x2 block = 1, nothing elsewhere
    np.testing.assert_allclose(attention, expected, atol=1e-6)
    assert _landmark_rc(sample) == DOT_MODEL_RC


@pytest.mark.parametrize("grid", ["model", "frame"])
def test_both_map_geometries_flip_with_the_frame_and_its_landmark(tmp_path, grid):
    if grid == "model":
        attention = np.zeros((40, 50))
        attention[DOT_MODEL_RC] = 1.0
    else:
        attention = np.zeros((120, 160))
        attention[60:62, 90:92] = 1.0
    folder = _geometry_dataset(tmp_path / "d", attention=attention)
    flip = make_augment(GEO_SPEC, flip_prob=1.0, rotate_deg=0.0)
    sample = UltrasoundDataset(folder, normalise=None, augment=flip)[0]
    flipped_rc = (DOT_MODEL_RC[0], 50 - 1 - DOT_MODEL_RC[1])  # (20, 24)
    assert _argmax_rc(sample["attention"][0]) == flipped_rc == _landmark_rc(sample)
    assert _argmax_rc(sample["image"][0]) == flipped_rc


def test_a_map_of_any_other_size_names_the_row_and_field(tmp_path):
    folder = _geometry_dataset(tmp_path / "d", attention=np.zeros((60, 80)))  # half the frame
    with pytest.raises(InputError) as info:
        UltrasoundDataset(folder)[0]
    assert (info.value.row, info.value.field) == (2, "attention")
    assert "50x40" in info.value.message and "160x120" in info.value.message


def test_fixation_points_land_where_the_frames_landmark_does(tmp_path):
    # one fixation on the dot, one cropped away (x = 10 < column 40), one off the frame
    folder = _geometry_dataset(tmp_path / "d", attention=None, extra_rows=1,
                               fixations=[list(DOT_FRAME_XY), [10.0, 50.0], [500.0, 500.0]])
    dataset = UltrasoundDataset(folder, normalise=None)
    sample, without = dataset[0], dataset[1]
    fixation_map = sample["fixation_map"][0].numpy()
    assert fixation_map.dtype == np.float32 and fixation_map.shape == (40, 50)
    assert fixation_map.sum() == 1.0 and fixation_map[DOT_MODEL_RC] == 1.0
    assert "fixation_map" not in without
    batch = collate_samples([sample, without])
    assert batch["has_fixations"].tolist() == [True, False]
    assert float(batch["fixation_map"][1].sum()) == 0.0


def test_fixation_points_move_with_the_augmentation_and_leave_with_rotation(tmp_path):
    # (49.4, 20.0) on the model grid is frame (2 * 49.4 + 40.5, 60.5): the last column
    near_edge = [2 * 49.4 + 40.5, 2 * 20 + 20.5]
    folder = _geometry_dataset(tmp_path / "d", attention=None,
                               fixations=[list(DOT_FRAME_XY), near_edge])
    flip = make_augment(GEO_SPEC, flip_prob=1.0, rotate_deg=0.0)
    flipped = UltrasoundDataset(folder, normalise=None, augment=flip)[0]
    points = np.argwhere(flipped["fixation_map"][0].numpy() == 1).tolist()
    # x -> 49 - x: 25 -> 24 and 49.4 -> -0.4, which rounds to column 0
    assert points == [[20, 0], [20, 24]]
    assert _landmark_rc(flipped) == (20, 24)  # landmarks are untouched by the extra points
    assert flipped["landmarks"].shape == (1, 2) and flipped["landmark_mask"].tolist() == [True]


def test_an_empty_fixation_list_gives_an_all_zero_map_that_counts_as_present(tmp_path):
    folder = _geometry_dataset(tmp_path / "d", attention=None, fixations=[])
    sample = UltrasoundDataset(folder, normalise=None)[0]
    assert float(sample["fixation_map"].sum()) == 0.0
    assert collate_samples([sample])["has_fixations"].tolist() == [True]


def test_input_hw_resizes_after_preprocessing_and_maps_follow(tmp_path):
    model_map = np.zeros((40, 50))
    model_map[20:22, 24:26] = 1.0  # 2x2 block at the dataset's input size
    folder = _geometry_dataset(tmp_path / "d", attention=model_map,
                               fixations=[[2 * 24.5 + 40.5, 2 * 20.5 + 20.5]])
    sample = UltrasoundDataset(folder, normalise=None, input_hw=(20, 25))[0]
    expected = np.zeros((20, 25))
    expected[10, 12] = 1.0  # the block averages into one pixel of the half-size input
    np.testing.assert_allclose(sample["attention"][0].numpy(), expected, atol=1e-6)
    np.testing.assert_array_equal(sample["fixation_map"][0].numpy(), expected)
    # the landmark (25, 20) of the 40x50 grid is (12.25, 9.75) here, and maps back exactly
    np.testing.assert_allclose(sample["landmarks"][0].numpy(), [12.25, 9.75])
    back = Pipeline.from_dict(sample["geometry"]).invert_points(sample["landmarks"].numpy())
    np.testing.assert_allclose(back, [DOT_FRAME_XY], atol=1e-5)


def test_fixation_map_from_points_rounds_to_the_nearest_pixel_centre():
    from sonomtl.data.dataset import fixation_map_from_points

    points = np.array([[0.49, 0.0], [0.5, 1.0], [2.4, 1.6], [-0.6, 0.0], [np.nan, 1.0]])
    expected = np.zeros((3, 3), np.float32)
    expected[0, 0] = expected[1, 1] = expected[2, 2] = 1.0
    np.testing.assert_array_equal(fixation_map_from_points(points, hw=(3, 3)), expected)
