"""Head circumference from OFD/BPD end points reproduces the HC18 reference values (real data)."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from sonomtl.metrics import landmarks as lm

NAMES = ["ofd_1", "ofd_2", "bpd_1", "bpd_2"]
HC = {"HC": {"type": "ellipse_circumference", "landmarks": NAMES}}


def _axis_end_points(mask: np.ndarray) -> np.ndarray:
    """OFD then BPD end points (x, y) of the moment ellipse of a filled ellipse mask."""
    ys, xs = np.nonzero(mask)
    centre = np.array([xs.mean(), ys.mean()])
    eigenvalues, eigenvectors = np.linalg.eigh(np.cov(np.stack([xs, ys])))
    # a filled ellipse with semi-axes a, b has variances a^2/4 and b^2/4 along its axes
    minor, major = 2 * np.sqrt(eigenvalues)
    return np.array(
        [
            centre + major * eigenvectors[:, 1],
            centre - major * eigenvectors[:, 1],
            centre + minor * eigenvectors[:, 0],
            centre - minor * eigenvectors[:, 0],
        ]
    )


@pytest.mark.shared_data
def test_ramanujan_hc_from_annotation_end_points_matches_the_published_hc(hc18_dir):
    from PIL import Image

    with open(hc18_dir / "training_set_pixel_size_and_HC.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))[::40][:20]  # 20 images across gestational ages
    points, spacing, published = [], [], []
    for row in rows:
        annotation = hc18_dir / "training_set" / row["filename"].replace(".png", "_Annotation.png")
        mask = np.asarray(Image.open(annotation).convert("L")) > 0
        points.append(_axis_end_points(mask))
        spacing.append(float(row["pixel size(mm)"]))
        published.append(float(row["head circumference (mm)"]))
    values = lm.measurement_values_mm(
        np.stack(points), landmark_names=NAMES, measurements=HC, spacing_mm=np.array(spacing)
    )["HC"]
    errors = np.abs(values - np.array(published))
    # data README: the moment ellipse of the filled mask gives the CSV HC within ~1.2 mm on average
    assert errors.mean() < 1.5
    assert np.all(errors / np.array(published) < 0.02)
