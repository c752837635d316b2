"""Preprocessing: geometric ops move pixels and landmarks identically; intensity and overlay ops."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from sonomtl.data.preprocess import (
    Crop,
    HFlip,
    PadOrCrop,
    Pipeline,
    ResampleToSpacing,
    Resize,
    Rotate,
    auto_sector_box,
    mask_rectangles,
    normalise_intensity,
    op_from_dict,
    plan_preprocessing,
    static_overlay_mask,
)

PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def blob(hw: tuple[int, int], xy: tuple[float, float], sigma: float) -> np.ndarray:
    """A Gaussian dot of peak 255 centred on ``xy`` (pixel-centre convention)."""
    rows, cols = np.mgrid[0:hw[0], 0:hw[1]]
    d2 = (cols - xy[0]) ** 2 + (rows - xy[1]) ** 2
    return (255.0 * np.exp(-d2 / (2 * sigma * sigma))).astype(np.float32)


def centroid(image: np.ndarray) -> np.ndarray:
    """Intensity-weighted centre (x, y) of the pixels above half the peak (independent decoder)."""
    weights = np.where(image > 0.5 * image.max(), image, 0.0).astype(np.float64)
    rows, cols = np.mgrid[0:image.shape[0], 0:image.shape[1]]
    return np.array([(weights * cols).sum(), (weights * rows).sum()]) / weights.sum()


def check_dot_follows(op, sigma_in: float, xy: tuple[float, float]) -> None:
    """The dot drawn at ``xy`` lands where apply_points says (<= 1 px) and inverts back."""
    out_xy = op.apply_points(np.array([xy]))[0]
    rows, cols = op.output_hw
    assume(8 <= xy[0] <= op.in_hw[1] - 9 and 8 <= xy[1] <= op.in_hw[0] - 9)  # dot not clipped
    assume(8 <= out_xy[0] <= cols - 9 and 8 <= out_xy[1] <= rows - 9)
    warped = op.apply_image(blob(op.in_hw, xy, sigma_in))
    assert warped.shape == op.output_hw
    assert np.linalg.norm(centroid(warped) - out_xy) <= 1.0
    back = op.invert_points(out_xy[None])[0]
    assert np.linalg.norm(back - np.array(xy)) <= 1e-6  # exact inverse (well within 1 px)


# --------------------------------------------------------------------------- hand-computed maps

def test_resize_maps_pixel_centres_with_the_half_pixel_rule() -> None:
    # 10 -> 20 columns: x -> (x + 0.5) * 2 - 0.5; 10 -> 5 rows: y -> (y + 0.5) / 2 - 0.5
    op = Resize((10, 10), (5, 20))
    np.testing.assert_allclose(op.apply_points([[0, 0], [9, 9], [4.5, 4.5]]),
                               [[0.5, -0.25], [18.5, 4.25], [9.5, 2.0]])
    assert op.output_spacing_mm((0.4, 0.4)) == pytest.approx((0.2, 0.8))


def test_resize_image_agrees_with_the_point_map_on_a_linear_ramp() -> None:
    # Linear interpolation reproduces a ramp exactly, so the value at an output pixel
    # is the input coordinate it samples: invert_points of that pixel.
    ramp = np.tile(np.arange(40, dtype=np.float64), (6, 1))
    op = Resize((6, 40), (6, 17))
    out = op.apply_image(ramp)
    xs = np.arange(17, dtype=np.float64)
    expected = op.invert_points(np.stack([xs, np.zeros(17)], 1))[:, 0]
    np.testing.assert_allclose(out[2, 2:-2], expected[2:-2], atol=1e-9)


def test_crop_shifts_points_by_the_box_corner_and_keeps_pixels() -> None:
    image = np.arange(12 * 15, dtype=np.float32).reshape(12, 15)
    op = Crop((2, 10, 3, 14), (12, 15))
    assert op.output_hw == (8, 11)
    np.testing.assert_array_equal(op.apply_image(image), image[2:10, 3:14])
    np.testing.assert_allclose(op.apply_points([[3, 2], [5.5, 7.25]]), [[0, 0], [2.5, 5.25]])


def test_resample_to_spacing_uses_the_exact_scale() -> None:
    # 0.2 mm -> 0.5 mm is a scale of 0.4: x -> 0.4 x - 0.3; 101 px -> round(40.4) = 40 px.
    op = ResampleToSpacing((50, 101), (0.2, 0.25), 0.5)
    assert op.output_hw == (25, 40)
    np.testing.assert_allclose(op.apply_points([[0, 0], [10, 10]]), [[-0.3, -0.25], [3.7, 4.75]])
    assert op.output_spacing_mm((0.2, 0.25)) == (0.5, 0.5)
    ramp = np.tile(np.arange(101, dtype=np.float64), (50, 1))
    out = op.apply_image(ramp)
    # output column c samples input x = (c + 0.5) / 0.4 - 0.5
    np.testing.assert_allclose(out[10, 1:-2], (np.arange(1, 38) + 0.5) / 0.4 - 0.5, atol=1e-9)


def test_pad_or_crop_centres_odd_and_even_differences() -> None:
    # rows 5 -> 8: pad 1 before (floor of 3 / 2); cols 7 -> 4: crop 1 before (floor of 3 / 2).
    image = np.arange(35, dtype=np.float32).reshape(5, 7) + 1
    op = PadOrCrop((5, 7), (8, 4))
    out = op.apply_image(image)
    assert out.shape == (8, 4)
    np.testing.assert_array_equal(out[1:6], image[:, 1:5])
    assert out[0].sum() == 0 and out[6:].sum() == 0
    np.testing.assert_allclose(op.apply_points([[1, 0]]), [[0, 1]])


def test_hflip_and_rotate_by_90_match_numpy() -> None:
    image = np.random.default_rng(0).random((9, 9)).astype(np.float32)
    np.testing.assert_array_equal(HFlip((9, 9)).apply_image(image), image[:, ::-1])
    rotated = Rotate((9, 9), 90.0).apply_image(image)
    np.testing.assert_allclose(rotated, np.rot90(image), atol=1e-5)  # counter-clockwise
    # the pixel at (x=8, y=4) (right middle) moves to the top middle (x=4, y=0)
    np.testing.assert_allclose(Rotate((9, 9), 90.0).apply_points([[8, 4]]), [[4, 0]], atol=1e-12)


def test_nan_points_pass_through_every_op() -> None:
    for op in (Crop((0, 5, 0, 5), (9, 9)), Resize((9, 9), (3, 3)), HFlip((9, 9)),
               Rotate((9, 9), 30), PadOrCrop((9, 9), (12, 12)),
               ResampleToSpacing((9, 9), 0.1, 0.3)):
        out = op.apply_points([[np.nan, np.nan], [1.0, 2.0]])
        assert np.isnan(out[0]).all() and np.isfinite(out[1]).all()
        assert np.isnan(op.invert_points(out)[0]).all()


# --------------------------------------------------------------------------- property tests

@PROPERTY
@given(r0=st.integers(0, 20), c0=st.integers(0, 20), rows=st.integers(25, 40),
       cols=st.integers(25, 40), u=st.floats(0.3, 0.7), v=st.floats(0.3, 0.7))
def test_crop_moves_a_dot_with_its_landmark(r0, c0, rows, cols, u, v) -> None:
    op = Crop((r0, r0 + rows, c0, c0 + cols), (60, 60))
    check_dot_follows(op, 2.0, (c0 + u * cols, r0 + v * rows))


@PROPERTY
@given(out_rows=st.integers(20, 90), out_cols=st.integers(20, 90), u=st.floats(0, 1),
       v=st.floats(0, 1), interpolation=st.sampled_from(["linear", "area", "cubic"]))
def test_resize_moves_a_dot_with_its_landmark(out_rows, out_cols, u, v, interpolation) -> None:
    op = Resize((50, 60), (out_rows, out_cols))
    sigma = 2.0 / min(out_rows / 50, out_cols / 60, 1.0)  # >= 2 px after shrinking
    # a landmark at least 8 px inside the output, drawn where the input has it
    target_xy = np.array([[8 + u * (out_cols - 17), 8 + v * (out_rows - 17)]])
    x, y = op.invert_points(target_xy)[0]
    out_xy = op.apply_points(np.array([[x, y]]))[0]
    warped = op.apply_image(blob((50, 60), (x, y), sigma), interpolation=interpolation)
    assert np.linalg.norm(centroid(warped) - out_xy) <= 1.0
    np.testing.assert_allclose(op.invert_points(out_xy[None])[0], [x, y], atol=1e-9)


@PROPERTY
@given(spacing_x=st.floats(0.08, 0.6), spacing_y=st.floats(0.08, 0.6), x=st.floats(0, 79),
       y=st.floats(0, 69))
def test_resample_moves_a_dot_with_its_landmark(spacing_x, spacing_y, x, y) -> None:
    op = ResampleToSpacing((70, 80), (spacing_x, spacing_y), 0.25)
    sigma_mm = 0.6
    hw = op.in_hw
    rows, cols = np.mgrid[0:hw[0], 0:hw[1]]
    dot = 255 * np.exp(-((cols - x) * spacing_x) ** 2 / (2 * sigma_mm**2)
                       - ((rows - y) * spacing_y) ** 2 / (2 * sigma_mm**2))
    out_xy = op.apply_points(np.array([[x, y]]))[0]
    assume(8 <= out_xy[0] <= op.output_hw[1] - 9 and 8 <= out_xy[1] <= op.output_hw[0] - 9)
    warped = op.apply_image(dot.astype(np.float32), interpolation="area")
    assert np.linalg.norm(centroid(warped) - out_xy) <= 1.0
    np.testing.assert_allclose(op.invert_points(out_xy[None])[0], [x, y], atol=1e-9)


@PROPERTY
@given(out_rows=st.integers(20, 90), out_cols=st.integers(20, 90), u=st.floats(0.3, 0.7),
       v=st.floats(0.3, 0.7))
def test_pad_or_crop_moves_a_dot_with_its_landmark(out_rows, out_cols, u, v) -> None:
    op = PadOrCrop((50, 60), (out_rows, out_cols))
    # a point in the central part of the output, drawn at its place in the input
    out_xy = np.array([[8 + u * (out_cols - 17), 8 + v * (out_rows - 17)]])
    x, y = op.invert_points(out_xy)[0]
    check_dot_follows(op, 2.0, (x, y))


@PROPERTY
@given(angle=st.floats(-180, 180), flip=st.booleans(), x=st.floats(8, 55), y=st.floats(8, 39))
def test_rotate_and_flip_move_a_dot_with_its_landmark(angle, flip, x, y) -> None:
    op = HFlip((48, 64)) if flip else Rotate((48, 64), angle)
    check_dot_follows(op, 2.0, (x, y))


@PROPERTY
@given(crop=st.booleans(), spacing=st.floats(0.1, 0.3), target=st.sampled_from([None, 0.5]),
       angle=st.floats(-30, 30), flip=st.booleans(), x=st.floats(20, 119), y=st.floats(20, 79))
def test_pipelines_move_a_dot_with_its_landmark(crop, spacing, target, angle, flip, x, y) -> None:
    pipe = plan_preprocessing((100, 140), input_hw=(48, 64),
                              crop_box_rc=(10, 100, 15, 140) if crop else None,
                              spacing_mm=spacing, target_spacing_mm=target)
    extra = [HFlip(pipe.output_hw)] if flip else []
    pipe = Pipeline((*pipe.ops, *extra, Rotate(pipe.output_hw, angle)))
    scale = min(pipe.output_hw[0] / 90, pipe.output_hw[1] / 125, 1.0)
    if target is not None:
        scale = spacing / target
    check_dot_follows_pipeline(pipe, 2.0 / scale, (x, y))


def check_dot_follows_pipeline(pipe: Pipeline, sigma_in: float, xy: tuple[float, float]) -> None:
    out_xy = pipe.apply_points(np.array([xy]))[0]
    rows, cols = pipe.output_hw
    assume(8 <= out_xy[0] <= cols - 9 and 8 <= out_xy[1] <= rows - 9)
    warped = pipe.apply_image(blob(pipe.in_hw, xy, sigma_in), interpolation="area")
    assert np.linalg.norm(centroid(warped) - out_xy) <= 1.0
    np.testing.assert_allclose(pipe.invert_points(out_xy[None])[0], xy, atol=1e-9)
    # the composed matrix says the same as op-by-op mapping
    m = pipe.matrix
    np.testing.assert_allclose(m[:, :2] @ np.array(xy) + m[:, 2], out_xy, atol=1e-9)


# --------------------------------------------------------------------------- pipeline plumbing

def test_plan_preprocessing_resize_and_resample_paths() -> None:
    pipe = plan_preprocessing((735, 975), input_hw=(224, 288), crop_box_rc=(115, 734, 81, 874))
    assert [op.kind for op in pipe.ops] == ["crop", "resize"]
    assert pipe.output_hw == (224, 288)
    # paper 2: 0.5 mm isotropic, then zero padding to 512 x 512
    pipe = plan_preprocessing((540, 800), input_hw=(512, 512), spacing_mm=(0.2, 0.2),
                              target_spacing_mm=0.5)
    assert [op.kind for op in pipe.ops] == ["resample_to_spacing", "pad_or_crop"]
    assert pipe.ops[0].output_hw == (216, 320)
    assert pipe.output_spacing_mm(0.2) == (0.5, 0.5)
    # the image centre stays the image centre
    np.testing.assert_allclose(pipe.apply_points([[399.5, 269.5]]), [[255.5, 255.5]], atol=1e-9)
    with pytest.raises(ValueError, match="spacing_mm is required"):
        plan_preprocessing((10, 10), input_hw=(5, 5), target_spacing_mm=0.5)


def test_pipeline_round_trips_through_yaml_and_json() -> None:
    pipe = Pipeline((Crop((1, 9, 2, 10), (10, 12)), ResampleToSpacing((8, 8), (0.2, 0.3), 0.5),
                     PadOrCrop((5, 3), (6, 6)), HFlip((6, 6)), Rotate((6, 6), 12.5),
                     Resize((6, 6), (3, 4))))
    for text in (yaml.safe_dump(pipe.to_dict()), json.dumps(pipe.to_dict())):
        again = Pipeline.from_dict(yaml.safe_load(text))
        assert again == pipe
        np.testing.assert_allclose(again.matrix, pipe.matrix)
    assert op_from_dict(Rotate((6, 6), 3.0).to_dict()) == Rotate((6, 6), 3.0)


def test_apply_image_handles_channels_masks_and_integer_types() -> None:
    stack = np.random.default_rng(1).random((20, 30, 5)).astype(np.float32)
    op = Resize((20, 30), (10, 12))
    out = op.apply_image(stack)
    assert out.shape == (10, 12, 5)
    np.testing.assert_allclose(out[..., 3], op.apply_image(stack[..., 3]), atol=1e-6)
    assert op.apply_image(stack[..., :1]).shape == (10, 12, 1)
    mask = np.zeros((20, 30), dtype=bool)
    mask[5:15, 10:20] = True
    out_mask = Rotate((20, 30), 20).apply_image(mask, interpolation="nearest")
    assert out_mask.dtype == bool and 0 < out_mask.sum() <= 110
    labels = np.random.default_rng(2).integers(0, 4, (20, 30)).astype(np.uint8)
    assert set(np.unique(op.apply_image(labels, interpolation="nearest"))) <= {0, 1, 2, 3}


def test_geometric_ops_reject_bad_arguments() -> None:
    with pytest.raises(ValueError, match="box_rc"):
        Crop((0, 20, 0, 5), (10, 10))
    with pytest.raises(ValueError, match="in_hw"):
        Resize((10, 10), (5, 5)).apply_image(np.zeros((9, 10)))
    with pytest.raises(ValueError, match="ops\\[1\\]"):
        Pipeline((Resize((10, 10), (5, 5)), HFlip((10, 10))))
    with pytest.raises(ValueError, match="spacing_mm"):
        ResampleToSpacing((10, 10), (0.0, 0.1), 0.5)
    with pytest.raises(ValueError, match="interpolation"):
        Resize((10, 10), (5, 5)).apply_image(np.zeros((10, 10)), interpolation="bicubic")
    with pytest.raises(ValueError, match="op"):
        op_from_dict({"op": "shear"})


# --------------------------------------------------------------------------- intensity & overlays

def test_grey_conversion_averages_rgb_and_ignores_alpha() -> None:
    from sonomtl.data.grey import grey_from_array

    rgba = np.array([[[10, 20, 60, 255], [0, 0, 3, 0]]], dtype=np.uint8)
    np.testing.assert_array_equal(grey_from_array(rgba), [[30.0, 1.0]])
    grey_alpha = np.array([[[90, 0]]], dtype=np.uint8)  # LA: the alpha is dropped too
    np.testing.assert_array_equal(grey_from_array(grey_alpha), [[90.0]])
    assert grey_from_array(np.ones((2, 2), np.uint8)).dtype == np.float32


def test_normalise_intensity_methods_by_hand() -> None:
    x = np.array([[2.0, 4.0], [4.0, 6.0]])  # mean 4, std sqrt(2)
    s = np.sqrt(2.0)
    np.testing.assert_allclose(normalise_intensity(x, method="zscore"),
                               [[-2 / s, 0], [0, 2 / s]], rtol=1e-6)
    np.testing.assert_allclose(normalise_intensity(x, method="sononet"),
                               [[-510 / s, 0], [0, 510 / s]], rtol=1e-6)
    np.testing.assert_allclose(normalise_intensity(x, method="minmax"), [[0, 0.5], [0.5, 1]])
    assert not normalise_intensity(np.full((3, 3), 7.0), method="zscore").any()
    with pytest.raises(ValueError, match="method"):
        normalise_intensity(x, method="z")


def test_mask_rectangles_zeroes_half_open_clipped_boxes() -> None:
    image = np.ones((4, 5), np.float32)
    out = mask_rectangles(image, [[3, 1, 9, 3], [0, 0, 1, 1]])
    expected = np.ones((4, 5))
    expected[1:3, 3:5] = 0
    expected[0, 0] = 0
    np.testing.assert_array_equal(out, expected)
    assert image.all()  # input untouched


def test_static_overlay_mask_finds_constant_text_in_a_moving_clip() -> None:
    rng = np.random.default_rng(3)
    frames = rng.integers(20, 255, (6, 40, 50)).astype(np.uint8)  # speckle changes every frame
    frames[:, 2:6, 30:45] = 200  # a text label
    frames[:, 30, 10:20] = 255  # a caliper line
    mask = static_overlay_mask(frames, tolerance=0)
    expected = np.zeros((40, 50), bool)
    expected[2:6, 30:45] = True
    expected[30, 10:20] = True
    np.testing.assert_array_equal(mask, expected)
    grown = static_overlay_mask(frames, tolerance=0, dilate_px=1)
    assert grown[1, 29] and grown[31, 15] and not grown[20, 5]
    with pytest.raises(ValueError, match="T >= 2"):
        static_overlay_mask(frames[:1])


def test_auto_sector_box_finds_a_fan_and_ignores_separate_text_and_bars() -> None:
    import cv2

    rng = np.random.default_rng(4)
    canvas = np.zeros((400, 600), np.float32)
    fan = np.zeros((400, 600), np.uint8)
    cv2.ellipse(fan, (300, 40), (330, 330), 90, -35, 35, 1, thickness=-1)  # apex at the top
    cv2.circle(fan, (300, 40), 60, 0, thickness=-1)  # the sector starts 60 px below the apex
    rows, cols = np.nonzero(fan)
    speckle = rng.gamma(2.0, 40.0, canvas.shape).astype(np.float32)
    canvas[fan > 0] = speckle[fan > 0]
    canvas[220:260, 280:330] = 0  # a dark cyst inside the sector
    text = np.zeros((400, 600), np.uint8)
    cv2.putText(text, "GA 20w3d  15cm", (5, 25), cv2.FONT_HERSHEY_SIMPLEX, 0.7, 255, 1)
    canvas = np.maximum(canvas, text)
    canvas[360:390, 500:590] = 90  # a flat grey bar
    r0, r1, c0, c1 = auto_sector_box(canvas)
    assert abs(r0 - rows.min()) <= 3 and abs(r1 - 1 - rows.max()) <= 3
    assert abs(c0 - cols.min()) <= 3 and abs(c1 - 1 - cols.max()) <= 3
    assert auto_sector_box(np.zeros((10, 20))) == (0, 10, 0, 20)


def test_auto_sector_box_on_real_screens_keeps_the_authors_field_of_view(sononet_dir) -> None:
    import cv2

    for path in sorted((sononet_dir / "example_images").glob("*.tiff")):
        image = cv2.imread(str(path))[..., ::-1]
        r0, r1, c0, c1 = auto_sector_box(image)
        # The image content lies inside the box: the central part of the authors' crop
        # (rows 115:734, cols 81:874) is kept, and the left grey-scale bar (cols < 40) is cut.
        assert r0 <= 200 and r1 >= 650 and c0 <= 250 and c1 >= 700, path.name
        assert (r1 - r0) * (c1 - c0) >= 0.5 * 619 * 793, path.name
