"""Abdominal views: contract names, landmark geometry, spacing, 2nd annotator, leaking icon."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from sonomtl.data.manifest import load_dataset
from sonomtl.data.synthetic.abdominal import ABDOMINAL_CLASSES, MASK_RECT, render_abdominal_image


def test_spec_declares_the_contract_views_landmarks_tasks_and_measurements(abdominal_dir: Path):
    spec, records = load_dataset(abdominal_dir)
    assert spec.classes == ABDOMINAL_CLASSES and len(spec.classes) == 11
    assert len(spec.landmarks) == 14 and len(spec.landmark_tasks) == 5
    assert (
        spec.view_landmarks["kidney_left_long"]
        == spec.view_landmarks["kidney_right_long"]
        == ("kidney_long_1", "kidney_long_2")
    )
    assert spec.view_landmarks["spleen_trans"] == (
        "spleen_trans_la_1",
        "spleen_trans_la_2",
        "spleen_trans_sa_1",
        "spleen_trans_sa_2",
    )
    assert sorted(spec.measurements) == [
        "KL_LA",
        "KT_LA",
        "KT_SA",
        "LL_LA",
        "SL_LA",
        "ST_LA",
        "ST_SA",
    ]
    assert spec.measurements["KT_SA"].landmarks == ("kidney_trans_sa_1", "kidney_trans_sa_2")
    assert (
        spec.input_size == (256, 256) and spec.target_spacing_mm == 1.0
    )  # 256 mm field, like 512 x 0.5
    assert spec.mask_rects == (MASK_RECT,)
    for record in records:  # annotated landmarks are exactly the view's
        assert set(record.landmarks) == set(spec.view_landmarks.get(record.label, ()))


def test_pixel_size_and_image_size_vary(abdominal_dir: Path):
    _, records = load_dataset(abdominal_dir)
    spacings = [r.spacing_mm[0] for r in records]
    shapes = {cv2.imread(str(abdominal_dir / r.image), cv2.IMREAD_UNCHANGED).shape for r in records}
    assert min(spacings) >= 0.2 and max(spacings) <= 0.6 and max(spacings) - min(spacings) > 0.15
    assert len(shapes) > 10


def test_each_landmark_lies_on_the_boundary_of_the_organ_it_names():
    for index, label in enumerate(
        c
        for c in ABDOMINAL_CLASSES
        if c != "others" and "liver_left" not in c and c != "liver_right_trans"
    ):
        item = render_abdominal_image(index, seed=2, label=label)
        assert item.organ in label and item.organ_mask is not None
        mask = item.organ_mask.astype(np.uint8)
        boundary = mask - cv2.erode(mask, np.ones((3, 3), np.uint8))
        rows, cols = np.nonzero(boundary)
        for name, (x, y) in item.landmarks.items():
            distance = np.min(np.hypot(cols - x, rows - y))
            assert distance <= 1.5, (label, name, distance)
        # measurements are organ-sized (mm): kidneys 90-120 long, spleens < 130, livers 110-150
        for axis in ("long", "trans_la"):
            ends = [
                v
                for k, v in item.landmarks.items()
                if f"_{axis}_" in k or k.endswith(f"{axis}_1") or k.endswith(f"{axis}_2")
            ]
            if len(ends) == 2:
                length_mm = math.dist(*ends) * item.spacing_mm
                assert 35 < length_mm < 160, (label, length_mm)


def test_second_annotator_disagrees_by_a_few_millimetres(abdominal_dir: Path):
    from sonomtl.data.synthetic.abdominal import _second_annotator

    rng = np.random.default_rng(0)
    errors = []
    for index in range(6):
        item = render_abdominal_image(index, seed=9, label="kidney_right_trans")
        _, points = _second_annotator(rng, item)
        errors += [math.dist(points[k], item.landmarks[k]) * item.spacing_mm for k in points]
    assert 1.0 < np.mean(errors) < 5.0
    _, records = load_dataset(abdominal_dir)
    assert any(r.extra.get("label_2") or getattr(r, "label_2", None) for r in records)


def _corner_features(image: np.ndarray) -> np.ndarray:
    x0, y0, x1, y1 = MASK_RECT
    return image[y0:y1, x0:x1].astype(np.float32).ravel() / 255.0


def test_a_classifier_cheats_from_the_view_icon_unless_it_is_masked():
    from sklearn.linear_model import LogisticRegression

    def dataset(seed: int, masked: bool):
        x, y = [], []
        for k in range(22):
            label = ABDOMINAL_CLASSES[k % 11]
            image = render_abdominal_image(k, seed=seed, label=label).image
            if masked:
                x0, y0, x1, y1 = MASK_RECT
                image = image.copy()
                image[y0:y1, x0:x1] = 0
            x.append(_corner_features(image))
            y.append(label)
        return np.asarray(x), np.asarray(y)

    x_train, y_train = dataset(20, masked=False)
    x_test, y_test = dataset(21, masked=False)
    cheat = LogisticRegression(max_iter=500).fit(x_train, y_train).score(x_test, y_test)
    x_train_m, _ = dataset(20, masked=True)
    x_test_m, _ = dataset(21, masked=True)
    honest = LogisticRegression(max_iter=500).fit(x_train_m, y_train).score(x_test_m, y_test)
    assert cheat >= 0.9
    assert honest <= 0.2  # chance is 1/11
