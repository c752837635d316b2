"""Adult abdominal standard views with landmarks, a view icon and a second annotator (paper 2).

11 classes (liver right/left lobe, right/left kidney, spleen; longitudinal and
transverse; plus ``others``), 14 landmarks in 5 tasks (left and right kidney
views share channels), 7 distance measurements, all named as in
``docs/data-format.md``. Landmarks are the end points of the organ's long
(and, on transverse views, short) axis, i.e. points of the organ boundary.

Each image has its own pixel size (``spacing_mm`` 0.2-0.6) and canvas size,
a body-mark icon + view text in the top-left corner (declared in
``mask_rects``: it leaks the label unless masked) and scanner text. About a
quarter of the images carry a second annotator's label and landmarks.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sonomtl.data.synthetic.formation import CanvasLayout, ScanGeometry, Scanner
from sonomtl.data.synthetic.overlays import (
    ICON_SIZE_PX,
    draw_depth_scale,
    draw_text,
    draw_view_icon,
)
from sonomtl.data.synthetic.scene import Blob, Scene, SpecularLine, render_scene
from sonomtl.vocabulary import (
    ABDOMINAL_CLASSES,
    ABDOMINAL_LANDMARKS,
    LANDMARK_TASKS,
    MEASUREMENTS,
    VIEW_LANDMARKS,
)

__all__ = [
    "ABDOMINAL_CLASSES",
    "ABDOMINAL_LANDMARKS",
    "LANDMARK_TASKS",
    "VIEW_LANDMARKS",
    "MEASUREMENTS",
    "MASK_RECT",
    "AbdominalImage",
    "render_abdominal_image",
    "abdominal_spec",
    "generate_abdominal",
]

#: The top-left overlay rectangle (x0, y0, x1, y1) holding the view icon and the view text.
MASK_RECT = (0, 0, 150, 72)
_SKIN_ROW_PX = 76

# (organ shape carrying the landmarks, prefix per axis)
_VIEW_ORGAN = {
    "kidney_right_long": ("kidney", {"long": "kidney_long"}),
    "kidney_left_long": ("kidney", {"long": "kidney_long"}),
    "kidney_right_trans": ("kidney", {"long": "kidney_trans_la", "short": "kidney_trans_sa"}),
    "kidney_left_trans": ("kidney", {"long": "kidney_trans_la", "short": "kidney_trans_sa"}),
    "liver_right_long": ("liver", {"long": "liver_long"}),
    "spleen_long": ("spleen", {"long": "spleen_long"}),
    "spleen_trans": ("spleen", {"long": "spleen_trans_la", "short": "spleen_trans_sa"}),
}
_VIEW_TEXT = {
    "liver_right_long": "RT LIVER LONG",
    "liver_right_trans": "RT LIVER TRV",
    "liver_left_long": "LT LIVER LONG",
    "liver_left_trans": "LT LIVER TRV",
    "kidney_right_long": "RT KIDNEY LONG",
    "kidney_right_trans": "RT KIDNEY TRV",
    "kidney_left_long": "LT KIDNEY LONG",
    "kidney_left_trans": "LT KIDNEY TRV",
    "spleen_long": "SPLEEN LONG",
    "spleen_trans": "SPLEEN TRV",
    "others": "ABDOMEN",
}


@dataclass
class AbdominalImage:
    """One rendered image with its annotation (pixels of this image)."""

    image: np.ndarray
    label: str
    spacing_mm: float
    landmarks: dict[str, tuple[float, float]]
    organ: str | None
    organ_mask: np.ndarray | None


def _wobble(rng: np.random.Generator, amount: float) -> tuple[tuple[float, float], ...]:
    return tuple(
        (float(rng.uniform(0, amount)), float(rng.uniform(0, 2 * math.pi))) for _ in range(3)
    )


def _view_scene(view: str, rng: np.random.Generator, depth_mm: float, wall_mm: float) -> Scene:
    """The organs of ``view`` (the landmark organ is called ``liver``/``kidney``/``spleen``)."""
    scene = Scene(
        background="soft"
        if view.startswith("kidney")
        else ("lung" if view.startswith("liver") else "bowel")
    )
    shapes, lines = scene.shapes, scene.lines
    mid = wall_mm + 0.5 * (depth_mm - wall_mm)
    side = -1.0 if "right" in view else 1.0
    organ_z = float(rng.uniform(wall_mm + 0.42 * (depth_mm - wall_mm), mid + 8))
    if view.startswith("kidney"):
        neighbour = "liver" if "right" in view else "spleen"
        shapes.append(
            Blob(
                neighbour,
                neighbour,
                (float(rng.uniform(-20, 20)), wall_mm + 30),
                (float(rng.uniform(70, 95)), 45.0),
                angle_deg=float(rng.uniform(-15, 15)),
                wobble=_wobble(rng, 0.05),
                capsule=1.0,
            )
        )
        shapes.append(
            Blob("perirenal_fat", "fat", (float(rng.uniform(-8, 8)), organ_z), (70.0, 40.0))
        )
        if view.endswith("long"):
            axes = (float(rng.uniform(45, 60)), float(rng.uniform(20, 28)))
            angle = float(rng.uniform(-25, 25))
        else:
            axes = (float(rng.uniform(26, 36)), float(rng.uniform(20, 26)))
            angle = float(rng.uniform(-30, 30))
        centre = (float(rng.uniform(-12, 12)), organ_z)
        shapes.append(
            Blob(
                "kidney",
                "kidney_cortex",
                centre,
                axes,
                angle_deg=angle,
                wobble=_wobble(rng, 0.03),
                capsule=2.0,
            )
        )
        sinus_offset = 0.0 if view.endswith("long") else 0.35 * axes[0] * side
        shapes.append(
            Blob(
                "renal_sinus",
                "renal_sinus",
                (
                    centre[0] + sinus_offset * math.cos(math.radians(angle)),
                    centre[1] + sinus_offset * math.sin(math.radians(angle)),
                ),
                (axes[0] * 0.55, axes[1] * 0.38),
                angle_deg=angle,
                wobble=_wobble(rng, 0.1),
            )
        )
        lines.append(
            SpecularLine(((-90.0, depth_mm - 8), (90.0, depth_mm - 14)), 1.5, 2.0, tissue="muscle")
        )
    elif view.startswith("liver"):
        long_view = view.endswith("long")
        axes = (
            (float(rng.uniform(58, 72)), float(rng.uniform(32, 42)))
            if long_view
            else (float(rng.uniform(70, 85)), float(rng.uniform(40, 50)))
        )
        if "left" in view:
            axes = (axes[0] * 0.7, axes[1] * 0.8)
        centre = (float(rng.uniform(-10, 10)), wall_mm + axes[1] + float(rng.uniform(4, 15)))
        angle = float(rng.uniform(-20, 20))
        liver = Blob(
            "liver", "liver", centre, axes, angle_deg=angle, wobble=_wobble(rng, 0.04), capsule=1.5
        )
        shapes.append(liver)
        deep = liver.boundary_mm(np.linspace(0.15 * math.pi, 0.85 * math.pi, 12))
        lines.append(SpecularLine(tuple(map(tuple, deep + [0.0, 2.0])), 3.0, 2.0))  # diaphragm
        n_vessels = 2 if long_view else 3
        for k in range(n_vessels):
            vx = centre[0] + float(rng.uniform(-0.5, 0.5)) * axes[0]
            vz = centre[1] + float(rng.uniform(-0.3, 0.4)) * axes[1]
            shapes.append(
                Blob(
                    f"vessel_{k}",
                    "blood",
                    (vx, vz),
                    (float(rng.uniform(3, 8)), float(rng.uniform(2, 5))),
                    angle_deg=float(rng.uniform(0, 180)),
                    capsule=0.8,
                )
            )
        if "left" in view:
            aorta_z = centre[1] + axes[1] + 10
            aorta_axes = (60.0, 9.0) if long_view else (10.0, 9.0)
            shapes.append(Blob("aorta", "blood", (centre[0], aorta_z), aorta_axes, capsule=1.5))
        elif not long_view:
            shapes.append(
                Blob("ivc", "blood", (centre[0] + 15, centre[1] + 0.7 * axes[1]), (12.0, 8.0))
            )
    elif view.startswith("spleen"):
        long_view = view.endswith("long")
        axes = (
            (float(rng.uniform(45, 60)), float(rng.uniform(18, 24)))
            if long_view
            else (float(rng.uniform(34, 44)), float(rng.uniform(20, 27)))
        )
        centre = (float(rng.uniform(-12, 12)), wall_mm + axes[1] + float(rng.uniform(8, 25)))
        angle = float(rng.uniform(-30, 5))
        spleen = Blob(
            "spleen",
            "spleen",
            centre,
            axes,
            angle_deg=angle,
            wobble=_wobble(rng, 0.03),
            capsule=1.8,
        )
        lungs = Blob("lung_base", "lung", (centre[0] - 45, wall_mm + 4), (30.0, 10.0))
        shapes.extend([lungs, spleen])
        deep = spleen.boundary_mm(np.linspace(1.1 * math.pi, 1.6 * math.pi, 8))
        lines.append(SpecularLine(tuple(map(tuple, deep - [0.0, 2.0])), 2.5, 1.5))
        shapes.append(
            Blob(
                "kidney_tip",
                "kidney_cortex",
                (centre[0] + 35, centre[1] + axes[1] + 25),
                (30.0, 18.0),
                capsule=1.5,
            )
        )
    else:  # others: bowel loops with gas, bladder or vessels
        for k in range(int(rng.integers(2, 5))):
            gx = float(rng.uniform(-60, 60))
            gz = float(rng.uniform(wall_mm + 10, mid + 20))
            lines.append(
                SpecularLine(((gx - 10, gz), (gx, gz - 2), (gx + 10, gz)), 4.0, 2.0, tissue="gas")
            )
            shapes.append(Blob(f"loop_{k}", "soft", (gx, gz + 8), (18.0, 10.0), capsule=1.0))
        if rng.random() < 0.5:
            shapes.append(
                Blob(
                    "bladder",
                    "fluid",
                    (float(rng.uniform(-20, 20)), mid),
                    (40.0, 30.0),
                    wobble=_wobble(rng, 0.05),
                    capsule=1.0,
                )
            )
        else:
            shapes.append(
                Blob(
                    "aorta",
                    "blood",
                    (float(rng.uniform(-20, 20)), mid + 20),
                    (70.0, 9.0),
                    capsule=1.5,
                )
            )
    # abdominal wall (drawn last, so organs never cover it)
    apex = _APEX_MM
    for name, tissue_name, r in (
        ("wall_muscle", "muscle", wall_mm),
        ("wall_fat", "fat", wall_mm * 0.45),
    ):
        shapes.append(Blob(name, tissue_name, (0.0, -apex), (apex + r, apex + r), capsule=1.2))
    return scene


_APEX_MM = 50.0


def render_abdominal_image(index: int, *, seed: int, label: str | None = None) -> AbdominalImage:
    """Render image ``index`` of the data set with ``seed`` (pure: no files).

    ``label`` defaults to the index's class in a seeded balanced order.
    """
    rng = np.random.default_rng([int(seed), int(index), 3])
    if label is None:
        order = np.random.default_rng(
            [int(seed), int(index) // len(ABDOMINAL_CLASSES), 4]
        ).permutation(len(ABDOMINAL_CLASSES))
        label = ABDOMINAL_CLASSES[int(order[int(index) % len(ABDOMINAL_CLASSES)])]
    elif label not in ABDOMINAL_CLASSES:
        raise ValueError(f"label must be one of {ABDOMINAL_CLASSES}, got {label!r}")
    spacing = float(rng.uniform(0.2, 0.6))
    depth = float(min(rng.uniform(150.0, 200.0), (880 - _SKIN_ROW_PX) * spacing))
    fov = float(rng.uniform(60.0, 75.0))
    geometry = ScanGeometry(
        kind="convex",
        depth_mm=depth,
        fov_deg=fov,
        apex_radius_mm=_APEX_MM,
        n_samples=320,
        n_lines=192,
        frequency_mhz=float(rng.uniform(2.5, 4.0)),
    )
    width_mm = 2 * (_APEX_MM + depth) * math.sin(math.radians(fov / 2))
    cols = int(max(MASK_RECT[2] * 2 + 40, math.ceil(width_mm / spacing * rng.uniform(1.05, 1.3))))
    rows = int(math.ceil(_SKIN_ROW_PX + depth / spacing + rng.uniform(4, 30)))
    layout = CanvasLayout((rows, cols), spacing, (cols / 2 - 0.5, float(_SKIN_ROW_PX)))
    scanner = Scanner(geometry, layout, axial_psf_mm=0.5, lateral_psf_mm=1.5)
    wall = float(rng.uniform(12.0, 30.0))
    organ_axes = _VIEW_ORGAN.get(label)
    for _attempt in range(20):
        scene = _view_scene(label, rng, depth, wall)
        if organ_axes is None:
            break
        points = np.concatenate(
            [scene.shape(organ_axes[0]).axis_endpoints_mm(axis) for axis in organ_axes[1]]
        )
        x_px, y_px = layout.mm_to_px(points[:, 0], points[:, 1])
        r, c = np.rint(y_px).astype(int), np.rint(x_px).astype(int)
        inside = (r >= 0) & (r < rows) & (c >= 0) & (c < cols)
        if inside.all() and scanner.sector_mask[r, c].all():
            # keep a margin: every landmark at least 3 mm inside the sector
            margin = int(math.ceil(3.0 / spacing))
            rr = np.clip(r[:, None] + np.array([-margin, margin, 0, 0]), 0, rows - 1)
            cc = np.clip(c[:, None] + np.array([0, 0, -margin, margin]), 0, cols - 1)
            if scanner.sector_mask[rr, cc].all():
                break
    else:
        raise RuntimeError(f"could not place the landmarks of a {label} view")  # pragma: no cover
    rendered = render_scene(
        scene,
        scanner,
        rng=rng,
        gain_db=float(rng.normal(-30.0, 1.5)),
        dynamic_range_db=float(rng.uniform(50.0, 60.0)),
    )
    image = rendered.image
    draw_view_icon(image, label, (6, 6))
    draw_text(image, _VIEW_TEXT[label], (ICON_SIZE_PX + 12, 24), scale=0.32)
    draw_text(image, f"C5-1  {geometry.frequency_mhz:.1f}MHz", (cols - 140, 18), scale=0.35)
    draw_text(
        image, f"D {depth / 10:.1f}cm  G {int(rng.integers(40, 70))}", (cols - 140, 36), scale=0.35
    )
    draw_depth_scale(image, x_px=cols - 12, top_px=_SKIN_ROW_PX, mm_per_px=spacing, depth_mm=depth)
    landmarks: dict[str, tuple[float, float]] = {}
    organ_mask = None
    organ = None
    if organ_axes is not None:
        organ = organ_axes[0]
        blob = scene.shape(organ)
        organ_mask = rendered.shape_map == scene.names().index(organ) + 1
        for axis, prefix in organ_axes[1].items():
            ends = blob.axis_endpoints_mm(axis)
            x_px, y_px = layout.mm_to_px(ends[:, 0], ends[:, 1])
            for k in range(2):
                landmarks[f"{prefix}_{k + 1}"] = (float(x_px[k]), float(y_px[k]))
    return AbdominalImage(
        image=image,
        label=label,
        spacing_mm=spacing,
        landmarks=landmarks,
        organ=organ,
        organ_mask=organ_mask,
    )


def _second_annotator(
    rng: np.random.Generator, item: AbdominalImage
) -> tuple[str, dict[str, tuple[float, float]]]:
    """A less experienced reader: mostly the same view; calipers ~2.5 mm along the boundary."""
    label = item.label
    if rng.random() < 0.12:
        swaps = {"right": "left", "left": "right"}
        parts = label.split("_")
        if len(parts) == 3 and parts[1] in swaps:
            label = f"{parts[0]}_{swaps[parts[1]]}_{parts[2]}"
        else:
            label = "others" if label != "others" else "liver_right_trans"
    points = {}
    names = list(item.landmarks)
    for name in names:
        x, y = item.landmarks[name]
        partner = item.landmarks[name[:-1] + ("2" if name.endswith("1") else "1")]
        axis = np.array([partner[0] - x, partner[1] - y])
        axis /= max(float(np.linalg.norm(axis)), 1e-9)
        tangent = np.array([-axis[1], axis[0]])
        shift_mm = axis * rng.normal(0.0, 1.0) + tangent * rng.normal(0.0, 2.5)
        points[name] = (x + shift_mm[0] / item.spacing_mm, y + shift_mm[1] / item.spacing_mm)
    return label, points


def abdominal_spec(*, input_size: int = 512, extra_metadata: dict | None = None):
    """The ``DatasetSpec`` of the abdominal data (``target_spacing_mm`` keeps a 256 mm field)."""
    from sonomtl.data.manifest import DatasetSpec

    if input_size < 64:
        raise ValueError(f"input_size must be >= 64, got {input_size}")
    return DatasetSpec(
        name="synthetic-abdominal",
        classes=ABDOMINAL_CLASSES,
        landmarks=ABDOMINAL_LANDMARKS,
        view_landmarks=VIEW_LANDMARKS,
        landmark_tasks=LANDMARK_TASKS,
        measurements={k: {"type": "distance", "landmarks": v} for k, v in MEASUREMENTS.items()},
        input_size=(input_size, input_size),
        target_spacing_mm=round(0.5 * 512 / input_size, 6),
        crop=None,
        mask_rects=(MASK_RECT,),
        description="Simulated adult abdominal views with landmarks (sonomtl synth abdominal).",
        metadata=dict(extra_metadata or {}),
    )


def _landmarks_json(points: dict[str, tuple[float, float]]) -> str:
    return json.dumps(
        {k: [round(v[0], 2), round(v[1], 2)] for k, v in points.items()}, separators=(",", ":")
    )


def generate_abdominal(
    out_dir: str | os.PathLike[str],
    *,
    images: int = 1100,
    seed: int = 0,
    input_size: int = 512,
    subjects: int | None = None,
    second_annotator_fraction: float = 0.25,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Write an abdominal-views data set into ``out_dir``.

    Parameters
    ----------
    images
        Number of images (classes balanced in seeded blocks of 11).
    seed
        Same seed, same bytes.
    input_size
        ``input_size`` of ``dataset.yaml``; the target spacing becomes
        ``0.5 * 512 / input_size`` mm so a 256 mm field always fits.
    subjects
        Patients (images are spread over them in order); default ``images // 4``.
    second_annotator_fraction
        Fraction of images with ``label_2`` (and ``landmarks_2`` where annotated).
    """
    from sonomtl.data.manifest import write_dataset
    from sonomtl.data.synthetic.sweeps import _png_bytes
    from sonomtl.fileio import write_bytes

    if images < 1:
        raise ValueError(f"images must be >= 1, got {images}")
    if not 0.0 <= second_annotator_fraction <= 1.0:
        raise ValueError(
            f"second_annotator_fraction must be in [0, 1], got {second_annotator_fraction}"
        )
    n_subjects = max(1, images // 4) if subjects is None else int(subjects)
    if n_subjects < 1:
        raise ValueError(f"subjects must be >= 1, got {subjects}")
    out = Path(out_dir)
    rows = []
    for index in range(images):
        item = render_abdominal_image(index, seed=seed)
        subject = f"patient_{index * n_subjects // images + 1:04d}"
        relative = f"images/{subject}/img_{index:05d}.png"
        write_bytes(out / relative, _png_bytes(item.image))
        row = {
            "image": relative,
            "subject": subject,
            "label": item.label,
            "spacing_mm": round(item.spacing_mm, 6),
            "landmarks": _landmarks_json(item.landmarks) if item.landmarks else None,
            "label_2": None,
            "landmarks_2": None,
        }
        rng2 = np.random.default_rng([int(seed), index, 5])
        if rng2.random() < second_annotator_fraction:
            label_2, points_2 = _second_annotator(rng2, item)
            row["label_2"] = label_2
            row["landmarks_2"] = _landmarks_json(points_2) if points_2 else None
        rows.append(row)
        if progress is not None:
            progress(index + 1, images)
    spec = abdominal_spec(
        input_size=input_size,
        extra_metadata={
            "generator": "sonomtl synth abdominal",
            "seed": int(seed),
            "images": int(images),
            "subjects": n_subjects,
        },
    )
    return write_dataset(out, spec, rows)
