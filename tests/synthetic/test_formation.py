"""B-mode formation: speckle statistics, attenuation, shadowing and scan-conversion geometry."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sonomtl.data.synthetic.formation import (
    RAYLEIGH_MEAN_TO_STD,
    CanvasLayout,
    ScanGeometry,
    Scanner,
)
from sonomtl.data.synthetic.scene import Blob, Scene, render_scene


def _scanner(**kw) -> Scanner:
    geometry = ScanGeometry(
        kind="convex",
        depth_mm=120.0,
        fov_deg=60.0,
        apex_radius_mm=50.0,
        n_samples=256,
        n_lines=128,
        **kw,
    )
    layout = CanvasLayout((300, 400), 120.0 / 250, (199.5, 30.0))
    return Scanner(geometry, layout)


def test_homogeneous_speckle_envelope_is_rayleigh_with_snr_1_91():
    scanner = _scanner()
    env = scanner.envelope(np.ones((256, 128), np.float32), rng=np.random.default_rng(0))
    inner = env[20:-20, 10:-10].astype(np.float64)
    assert inner.mean() / inner.std() == pytest.approx(RAYLEIGH_MEAN_TO_STD, rel=0.05)
    # normalised PSF: E[env^2] = 1 for unit backscatter
    assert np.mean(inner**2) == pytest.approx(1.0, rel=0.05)


def test_transmission_decays_by_two_way_attenuation_in_db():
    scanner = _scanner(frequency_mhz=3.5)
    alpha = np.full((256, 128), 0.5, np.float32)
    trans = scanner.transmission(alpha)
    depth_cm = scanner.depth_cm
    loss_db = -20 * np.log10(trans[:, 0])
    # 0.5 dB/cm/MHz x 3.5 MHz x 2 (round trip) = 3.5 dB per cm of depth
    expected = 3.5 * (depth_cm + scanner.geometry.sample_mm / 10)
    np.testing.assert_allclose(loss_db, expected, rtol=1e-4, atol=1e-3)


def test_tgc_compensates_the_default_soft_tissue_decay():
    scanner = _scanner()
    alpha = np.full((256, 128), 0.35, np.float32)
    product = scanner.transmission(alpha)[:, 0] * scanner.tgc()[:, 0]
    assert np.ptp(20 * np.log10(product)) < 0.2


def test_bone_casts_an_acoustic_shadow_and_fluid_is_anechoic():
    scanner = _scanner()
    scene = Scene(
        "liver",
        [
            Blob("bone", "bone", (-20.0, 40.0), (5.0, 5.0)),
            Blob("cyst", "fluid", (25.0, 60.0), (10.0, 10.0)),
        ],
    )
    image = render_scene(scene, scanner, rng=np.random.default_rng(1), gain_db=-28.0).image.astype(
        float
    )
    layout = scanner.layout
    bx, by = layout.mm_to_px(
        -20.0 * 90 / 50, 90.0
    )  # behind the bone along its beam (apex at z=-50)
    sx, sy = layout.mm_to_px(-5.0, 90.0)
    shadow = image[int(by) - 5 : int(by) + 5, int(bx) - 3 : int(bx) + 3].mean()
    beside = image[int(sy) - 5 : int(sy) + 5, int(sx) - 3 : int(sx) + 3].mean()
    cx, cy = layout.mm_to_px(25.0, 60.0)
    cyst = image[int(cy) - 4 : int(cy) + 4, int(cx) - 4 : int(cx) + 4].mean()
    assert shadow < 0.5 * beside
    assert cyst < 0.25 * beside


def test_scan_conversion_puts_a_point_target_where_the_geometry_says():
    scanner = _scanner()
    beam = np.zeros((256, 128), np.float32)
    beam[128, 32] = 255.0  # sample 128 of line 32
    canvas = scanner.scan_convert(beam)
    x_mm, z_mm = scanner.geometry.beam_positions_mm()
    x_px, y_px = scanner.layout.mm_to_px(x_mm[128, 32], z_mm[128, 32])
    row, col = np.unravel_index(np.argmax(canvas), canvas.shape)
    assert math.hypot(col - float(x_px), row - float(y_px)) <= 1.0


def test_outside_the_sector_stays_black():
    scanner = _scanner()
    image = render_scene(Scene("liver"), scanner, rng=np.random.default_rng(2)).image
    assert image[~scanner.sector_mask].max() == 0
    assert image[scanner.sector_mask].mean() > 20


def test_invalid_geometry_names_the_argument():
    with pytest.raises(ValueError, match="depth_mm"):
        ScanGeometry(depth_mm=0)
    with pytest.raises(ValueError, match="kind"):
        ScanGeometry(kind="phased")
