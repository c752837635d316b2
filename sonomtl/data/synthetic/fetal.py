"""Transverse sections of a fetal trunk along a bottom-to-top abdominal sweep (paper 1).

The fetus lies across the beam; the sweep moves the imaging plane along the
fetal body, described by a *level* ``u``: 0 at the pelvis (bladder, iliac
bones), about 0.3-0.5 at the kidneys and bowel, the **abdominal
circumference plane** (ACP) for ``u`` in :data:`ACP_LEVELS` (round abdomen,
stomach bubble, intrahepatic umbilical vein, spine in cross-section), and
the thorax above 0.75 (lungs, heart, ribs). Above it the maternal layers
(skin, fat, muscle, uterine wall), the amniotic fluid and a placenta.

:func:`fetal_scene` returns the scene and the points a sonographer looks at
(gaze targets) for that level.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sonomtl.data.synthetic.scene import Blob, Scene, SpecularLine

__all__ = ["ACP_LEVELS", "FetusParams", "random_fetus", "fetal_scene", "is_acp"]

#: Levels ``u`` whose section is the standard abdominal circumference plane.
ACP_LEVELS = (0.53, 0.62)


def is_acp(level: float) -> bool:
    """Whether the section at ``level`` is the standard AC plane."""
    return ACP_LEVELS[0] <= level <= ACP_LEVELS[1]


@dataclass(frozen=True)
class FetusParams:
    """Per-clip anatomy (mm, radians) drawn by :func:`random_fetus`."""

    centre_mm: tuple[float, float]
    radius_mm: float
    ellipticity: float
    spine_angle: float
    handedness: int
    fat_mm: float
    muscle_mm: float
    uterus_mm: float
    placenta_x_mm: float
    placenta_anterior: bool
    posterior_wall_mm: float
    wobble: tuple[tuple[float, float], ...]
    apex_radius_mm: float


def random_fetus(
    rng: np.random.Generator, *, depth_mm: float, apex_radius_mm: float
) -> FetusParams:
    """Draw one fetus (gestational age, position, orientation, maternal habitus)."""
    radius = float(rng.uniform(30.0, 44.0))
    fat = float(rng.uniform(4.0, 18.0))
    muscle = float(rng.uniform(5.0, 10.0))
    uterus = float(rng.uniform(4.0, 8.0))
    top = fat + muscle + uterus
    radius = min(radius, (depth_mm - top - 16.0) / 2.0)
    low = top + radius + 4.0
    high = max(low, min(depth_mm - radius - 10.0, top + radius + 35.0))
    centre_z = float(rng.uniform(low, high))
    return FetusParams(
        centre_mm=(float(rng.uniform(-14.0, 14.0)), centre_z),
        radius_mm=radius,
        ellipticity=float(rng.uniform(0.88, 1.0)),
        spine_angle=float(rng.uniform(0.0, 2 * math.pi)),
        handedness=int(rng.choice([-1, 1])),
        fat_mm=fat,
        muscle_mm=muscle,
        uterus_mm=uterus,
        placenta_x_mm=float(rng.uniform(-50.0, 50.0)),
        placenta_anterior=bool(rng.random() < 0.5),
        posterior_wall_mm=float(min(depth_mm - 5.0, centre_z + radius + rng.uniform(10.0, 40.0))),
        wobble=tuple(
            (float(rng.uniform(0.0, 0.03)), float(rng.uniform(0, 2 * math.pi))) for _ in range(3)
        ),
        apex_radius_mm=apex_radius_mm,
    )


def _window(u: float, lo: float, hi: float, ramp: float = 0.04) -> float:
    """Smooth presence 0..1 of a structure seen for levels ``lo..hi``."""
    if u <= lo - ramp or u >= hi + ramp:
        return 0.0
    rise = min(1.0, (u - lo + ramp) / (2 * ramp))
    fall = min(1.0, (hi + ramp - u) / (2 * ramp))
    return float(max(0.0, min(rise, fall)))


def fetal_scene(
    fetus: FetusParams,
    level: float,
    *,
    offset_mm: tuple[float, float] = (0.0, 0.0),
    rotation: float = 0.0,
) -> tuple[Scene, dict[str, tuple[float, float]]]:
    """The transverse section at ``level`` and its gaze targets ``{name: (x_mm, z_mm)}``.

    ``offset_mm`` and ``rotation`` move the fetus slightly (probe jitter).
    """
    u = float(level)
    cx, cz = fetus.centre_mm[0] + offset_mm[0], fetus.centre_mm[1] + offset_mm[1]
    theta = fetus.spine_angle + rotation
    post = np.array([math.cos(theta), math.sin(theta)])
    left = fetus.handedness * np.array([-math.sin(theta), math.cos(theta)])
    centre = np.array([cx, cz])
    # trunk size along the body: pelvis smaller, abdomen full, thorax a little smaller
    size = 0.82 + 0.18 * math.exp(-(((u - 0.58) / 0.3) ** 2))
    radius = fetus.radius_mm * size
    apex = fetus.apex_radius_mm

    def at(p: float, q: float) -> tuple[float, float]:
        """Body coordinates (posterior p, left q, in trunk radii) -> mm."""
        point = centre + radius * (p * post + q * left)
        return float(point[0]), float(point[1])

    def angle_of(vector: np.ndarray) -> float:
        return math.degrees(math.atan2(vector[1], vector[0]))

    scene = Scene(background="amniotic")
    shapes = scene.shapes
    targets: dict[str, tuple[float, float]] = {}
    # maternal posterior tissues and placenta
    shapes.append(
        Blob(
            "maternal_posterior",
            "soft",
            (0.0, fetus.posterior_wall_mm + 120.0),
            (300.0, 120.0),
            wobble=fetus.wobble,
        )
    )
    layers_mm = fetus.fat_mm + fetus.muscle_mm + fetus.uterus_mm
    if fetus.placenta_anterior:
        shapes.append(
            Blob(
                "placenta",
                "placenta",
                (fetus.placenta_x_mm, layers_mm + 4.0),
                (45.0, 16.0),
                wobble=fetus.wobble,
            )
        )
    else:
        shapes.append(
            Blob(
                "placenta",
                "placenta",
                (fetus.placenta_x_mm, fetus.posterior_wall_mm),
                (50.0, 14.0),
                wobble=fetus.wobble,
            )
        )
    # maternal wall: concentric layers around the convex probe's apex
    for name, tissue_name, thickness in (
        ("uterus", "soft", layers_mm),
        ("muscle", "muscle", fetus.fat_mm + fetus.muscle_mm),
        ("fat", "fat", fetus.fat_mm),
    ):
        r = apex + thickness
        shapes.append(
            Blob(name, tissue_name, (0.0, -apex), (r, r), capsule=1.2 if name != "uterus" else 0.6)
        )
    # fetal trunk
    shapes.append(
        Blob(
            "abdomen",
            "fetal_soft",
            (cx, cz),
            (radius, radius * fetus.ellipticity),
            angle_deg=angle_of(post),
            wobble=fetus.wobble,
            capsule=2.0,
        )
    )
    targets.update(
        {
            f"abdomen_{k}": at(p, q)
            for k, (p, q) in enumerate(((1.0, 0), (-1.0, 0), (0, 1.0), (0, -1.0)))
        }
    )
    liver = _window(u, 0.42, 0.76)
    if liver > 0:
        shapes.append(
            Blob(
                "liver",
                "liver",
                at(-0.15, -0.15),
                (0.72 * radius * liver, 0.62 * radius * liver),
                angle_deg=angle_of(left),
                wobble=fetus.wobble,
            )
        )
    bladder = _window(u, 0.0, 0.26)
    if bladder > 0:
        shapes.append(
            Blob(
                "bladder",
                "fluid",
                at(-0.35, 0.0),
                (0.32 * radius * bladder, 0.28 * radius * bladder),
                wobble=fetus.wobble[:1],
            )
        )
        targets["bladder"] = at(-0.35, 0.0)
    bowel = _window(u, 0.2, 0.5)
    if bowel > 0:
        shapes.append(
            Blob(
                "bowel",
                "bowel",
                at(-0.3, 0.1),
                (0.45 * radius * bowel, 0.35 * radius * bowel),
                wobble=fetus.wobble,
            )
        )
    kidneys = _window(u, 0.3, 0.5)
    if kidneys > 0:
        for side, q in (("left", 0.42), ("right", -0.42)):
            k_centre = at(0.45, q)
            shapes.append(
                Blob(
                    f"kidney_{side}",
                    "kidney_cortex",
                    k_centre,
                    (0.2 * radius * kidneys, 0.15 * radius * kidneys),
                    angle_deg=angle_of(post),
                )
            )
            shapes.append(
                Blob(
                    f"renal_pelvis_{side}",
                    "renal_sinus",
                    k_centre,
                    (0.08 * radius * kidneys, 0.05 * radius * kidneys),
                    angle_deg=angle_of(post),
                )
            )
            targets[f"kidney_{side}"] = k_centre
    lungs = _window(u, 0.78, 1.3)
    if lungs > 0:
        for q in (0.45, -0.45):
            shapes.append(
                Blob("lung", "lung", at(0.05, q), (0.5 * radius * lungs, 0.4 * radius * lungs))
            )
    heart = _window(u, 0.82, 1.3)
    if heart > 0:
        h_centre = at(-0.25, 0.15)
        s = 0.38 * radius * heart
        shapes.append(
            Blob("heart", "myocardium", h_centre, (s, 0.85 * s), angle_deg=angle_of(post) + 30)
        )
        for i, (dp, dq) in enumerate(((-0.1, 0.12), (-0.1, -0.12), (0.12, 0.12), (0.12, -0.12))):
            chamber = (
                h_centre[0] + radius * (dp * post[0] + dq * left[0]),
                h_centre[1] + radius * (dp * post[1] + dq * left[1]),
            )
            shapes.append(
                Blob(
                    f"heart_chamber_{i}",
                    "blood",
                    chamber,
                    (0.09 * radius * heart, 0.07 * radius * heart),
                )
            )
        targets["heart"] = h_centre
    stomach = _window(u, 0.46, 0.68)
    if stomach > 0:
        growth = 0.55 + 0.45 * math.exp(-(((u - 0.57) / 0.07) ** 2))
        shapes.append(
            Blob(
                "stomach",
                "fluid",
                at(-0.05, 0.5),
                (0.24 * radius * stomach * growth, 0.15 * radius * stomach * growth),
                angle_deg=angle_of(post) + 20,
                wobble=fetus.wobble[:2],
            )
        )
        targets["stomach"] = at(-0.05, 0.5)
    if is_acp(u):
        # intrahepatic umbilical vein / portal sinus: the "hockey stick" in the anterior third
        shapes.append(
            Blob(
                "umbilical_vein",
                "blood",
                at(-0.42, -0.05),
                (0.3 * radius, 0.055 * radius),
                angle_deg=angle_of(post) + 15,
            )
        )
        shapes.append(
            Blob(
                "portal_sinus",
                "blood",
                at(-0.18, 0.12),
                (0.14 * radius, 0.05 * radius),
                angle_deg=angle_of(left) - 20,
            )
        )
        targets["umbilical_vein"] = at(-0.35, -0.04)
    aorta = _window(u, 0.3, 0.9)
    if aorta > 0:
        shapes.append(Blob("aorta", "blood", at(0.5, 0.12), (0.05 * radius, 0.05 * radius)))
    # spine: vertebral body + two laminae (ossification centres), bright with shadows
    spine_centre = at(0.72, 0.0)
    for name, (p, q), r in (
        ("vertebra", (0.72, 0.0), 0.07),
        ("lamina_left", (0.86, 0.1), 0.045),
        ("lamina_right", (0.86, -0.1), 0.045),
    ):
        shapes.append(Blob(name, "bone", at(p, q), (r * radius, r * radius), capsule=2.5))
    targets["spine"] = spine_centre
    # ribs (upper abdomen and thorax) and iliac wings (pelvis): short bright arcs with shadow
    lines = scene.lines
    if u > 0.5:
        for centre_psi in (math.pi / 2 - 0.15, -math.pi / 2 + 0.15):
            psis = np.linspace(centre_psi - 0.35, centre_psi + 0.35, 7)
            arc = [at(0.93 * math.cos(psi), 0.93 * math.sin(psi)) for psi in psis]
            lines.append(SpecularLine(tuple(arc), amplitude=3.0, thickness_mm=1.2, tissue="bone"))
    if u < 0.2:
        for q_sign in (1, -1):
            wing = [at(0.35 + 0.1 * t, q_sign * (0.45 + 0.35 * t)) for t in np.linspace(0, 1, 5)]
            lines.append(SpecularLine(tuple(wing), amplitude=3.0, thickness_mm=1.5, tissue="bone"))
    lines.append(
        SpecularLine(
            tuple(
                (r * math.sin(a), r * math.cos(a) - apex)
                for a in np.linspace(-1.2, 1.2, 40)
                for r in (apex + 0.8,)
            ),
            amplitude=1.5,
            thickness_mm=0.8,
        )
    )
    return scene, targets
