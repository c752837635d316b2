"""HC18 fetal head biometry (van den Heuvel et al., PLoS ONE 2018) to a sonomtl dataset.

Source layout (Zenodo record 1327317, CC BY 4.0)::

    SRC/training_set/NNN_HC.png              (also NNN_2HC.png, NNN_3HC.png: same subject)
    SRC/training_set/NNN_HC_Annotation.png   skull ellipse (drawn filled in the shared copy)
    SRC/training_set_pixel_size_and_HC.csv   filename, pixel size(mm), head circumference (mm)

The images are copied into ``OUT/images`` (the dataset is self-contained).

Each annotation gets an ellipse fitted to its outer boundary (``cv2.fitEllipse``
on the contour pixels, a least-squares conic fit). The filled annotation
includes the drawn outline, so that fit reads slightly too large; its semi-axes
are therefore scaled by ``s = HC_csv / HC_fit`` so the ellipse's circumference
(Ramanujan) equals the CSV's HC, and ``s`` is recorded per image
(``axis_scale`` column) and on average in the report. The landmarks are the
axis end points: ``ofd_1``/``ofd_2`` on the major axis (occipito-frontal
diameter; ``ofd_1`` has the smaller x) and ``bpd_1``/``bpd_2`` on the minor
axis (biparietal diameter; ``bpd_1`` has the smaller y), so a horizontal flip
swaps ``ofd_1`` and ``ofd_2`` (``flip_pairs``) and leaves the BPD order.
"""

from __future__ import annotations

import codecs
import csv
import io
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sonomtl.errors import InputError

__all__ = [
    "import_hc18", "fit_skull_ellipse", "SkullEllipse", "ellipse_circumference",
    "read_hc18_table", "HC18_LANDMARKS", "HC18_CSV",
]

HC18_CSV = "training_set_pixel_size_and_HC.csv"
HC18_LANDMARKS = ("ofd_1", "ofd_2", "bpd_1", "bpd_2")
_COLUMNS = {"filename": "filename", "spacing": "pixel size(mm)", "hc": "head circumference (mm)"}
_SUBJECT = re.compile(r"^(\d{3})_(?:\d+)?HC\.png$", re.IGNORECASE)


def ellipse_circumference(a: float, b: float) -> float:
    """Ramanujan's approximation ``pi (3(a + b) - sqrt((3a + b)(a + 3b)))`` for semi-axes a, b.

    Examples
    --------
    >>> round(ellipse_circumference(1.0, 1.0), 12) == round(2 * math.pi, 12)
    True
    """
    return math.pi * (3 * (a + b) - math.sqrt((3 * a + b) * (a + 3 * b)))


@dataclass(frozen=True)
class SkullEllipse:
    """An ellipse in pixels: centre ``(x, y)``, semi-axes ``a >= b``, major-axis direction.

    ``angle_deg`` is the direction of the major axis measured from +x towards
    +y (image rows grow downwards), in ``[0, 180)``.
    """

    centre_xy: tuple[float, float]
    semi_major_px: float
    semi_minor_px: float
    angle_deg: float

    def scaled(self, factor: float) -> SkullEllipse:
        """The same ellipse with both semi-axes multiplied by ``factor``."""
        return SkullEllipse(self.centre_xy, self.semi_major_px * factor,
                            self.semi_minor_px * factor, self.angle_deg)

    def circumference_px(self) -> float:
        return ellipse_circumference(self.semi_major_px, self.semi_minor_px)

    def landmarks(self) -> dict[str, tuple[float, float]]:
        """Axis end points: ``ofd_1`` (smaller x) / ``ofd_2``, ``bpd_1`` (smaller y) / ``bpd_2``."""
        cx, cy = self.centre_xy
        t = math.radians(self.angle_deg)
        major = np.array([math.cos(t), math.sin(t)])
        minor = np.array([-math.sin(t), math.cos(t)])
        centre = np.array([cx, cy])
        ofd = sorted([centre - self.semi_major_px * major, centre + self.semi_major_px * major],
                     key=lambda p: (p[0], p[1]))
        bpd = sorted([centre - self.semi_minor_px * minor, centre + self.semi_minor_px * minor],
                     key=lambda p: (p[1], p[0]))
        points = (*ofd, *bpd)
        return {name: (float(p[0]), float(p[1])) for name, p in zip(HC18_LANDMARKS, points)}


def fit_skull_ellipse(mask: np.ndarray) -> SkullEllipse:
    """Least-squares ellipse (``cv2.fitEllipse``) through the outer boundary of a filled mask.

    Raises ``ValueError`` when the mask holds no region with enough boundary
    points for a fit.
    """
    import cv2

    binary = (np.asarray(mask) > 0).astype(np.uint8)
    if binary.ndim != 2:
        raise ValueError(f"mask must be (H, W), got shape {binary.shape}")
    contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        raise ValueError("the annotation is empty (no non-zero pixels)")
    contour = max(contours, key=len)
    if len(contour) < 5:
        raise ValueError(f"the annotation's outline has {len(contour)} points; 5 are needed")
    (cx, cy), (width, height), angle = cv2.fitEllipse(contour)
    # cv2: the first axis ("width") lies along angle, the second along angle + 90.
    if width >= height:
        semi_major, semi_minor, major_angle = width / 2, height / 2, angle
    else:
        semi_major, semi_minor, major_angle = height / 2, width / 2, angle + 90.0
    return SkullEllipse((float(cx), float(cy)), float(semi_major), float(semi_minor),
                        float(major_angle % 180.0))


@dataclass(frozen=True)
class _Row:
    row: int
    filename: str
    spacing_mm: float
    hc_mm: float


def read_hc18_table(path: str | os.PathLike[str]) -> list[_Row]:
    """Rows of the HC18 CSV (``filename``, ``pixel size(mm)``, ``head circumference (mm)``).

    Raises :class:`InputError` naming the file, row (header = row 1) and column
    for a missing file or column, text that is not UTF-8, an empty or
    duplicated file name, or a pixel size / HC that is not a positive finite
    number.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("HC18 pixel-size table not found", file=path)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        bad = error.start + (3 if data.startswith(codecs.BOM_UTF8) else 0)
        raise InputError(f"not UTF-8 text (byte 0x{data[bad]:02x})",
                         file=path, row=data[:bad].count(b"\n") + 1) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [h.strip() for h in next(reader, [])]
    index = {}
    for key, column in _COLUMNS.items():
        if column not in header:
            raise InputError(f"missing column {column!r} (found {header})",
                             file=path, row=1, field=column)
        index[key] = header.index(column)
    rows: list[_Row] = []
    seen: dict[str, int] = {}
    for number, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue

        def cell(key: str, cells: list[str] = cells, number: int = number) -> str:
            i = index[key]
            if i >= len(cells) or not cells[i].strip():
                raise InputError("empty value", file=path, row=number, field=_COLUMNS[key])
            return cells[i].strip()

        def positive(key: str, number: int = number) -> float:
            text = cell(key)
            try:
                value = float(text)
            except ValueError:
                value = math.nan
            if not (math.isfinite(value) and value > 0):
                raise InputError(f"expected a positive number, got {text!r}",
                                 file=path, row=number, field=_COLUMNS[key])
            return value

        filename = cell("filename")
        if filename in seen:
            raise InputError(f"{filename!r} is listed twice (first in row {seen[filename]})",
                             file=path, row=number, field=_COLUMNS["filename"])
        seen[filename] = number
        rows.append(_Row(number, filename, positive("spacing"), positive("hc")))
    if not rows:
        raise InputError("the table lists no images", file=path)
    return rows


def _subject(filename: str, table: Path, row: int) -> str:
    match = _SUBJECT.match(filename)
    if match is None:
        raise InputError(f"expected a file name like 012_HC.png or 012_2HC.png, got {filename!r}",
                         file=table, row=row, field=_COLUMNS["filename"])
    return match.group(1)


def _copy_file(source: Path, target: Path) -> None:
    """Copy ``source`` to ``target`` atomically.

    Deliberately a copy, not a hard link: a hard link shares the file with the
    source, so editing an image of the dataset in place (a test corrupting a
    file on purpose, an annotation tool) would silently change the original.
    """
    import shutil

    from sonomtl.fileio import atomic_path

    with atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)


def import_hc18(*, src: str | os.PathLike[str], out: str | os.PathLike[str]) -> dict[str, Any]:
    """Import the HC18 training set into a self-contained dataset folder ``out``.

    Parameters
    ----------
    src : the HC18 folder holding ``training_set/`` and ``training_set_pixel_size_and_HC.csv``.
    out : the dataset folder to write (``dataset.yaml``, ``manifest.csv``, ``images/``).

    Returns
    -------
    dict
        ``n_images``, ``n_subjects``, ``hc_mean_abs_diff_mm`` (HC of the written
        landmarks vs the CSV), ``raw_fit_hc_mean_abs_diff_mm`` (the boundary fit
        before scaling), ``raw_fit_hc_mean_diff_mm`` (signed), ``mean_axis_scale``,
        ``min_axis_scale``, ``max_axis_scale``, ``out`` and a one-line ``summary``.

    Raises
    ------
    InputError
        Missing folder, table, image or annotation; bad table rows; unreadable
        or empty annotations. Everything is checked before anything is written.
    """
    from sonomtl.data.io import open_image, read_image
    from sonomtl.data.manifest import write_dataset

    src, out = Path(src), Path(out)
    if not src.is_dir():
        raise InputError("HC18 folder not found", file=src)
    table = src / HC18_CSV
    rows = read_hc18_table(table)
    images_dir = src / "training_set"
    records, raw_diffs, final_diffs, scales = [], [], [], []
    for row in rows:
        image_path = images_dir / row.filename
        annotation_path = image_path.with_name(image_path.stem + "_Annotation.png")
        for path, what in ((image_path, "image"), (annotation_path, "annotation")):
            if not path.is_file():
                raise InputError(f"{what} not found: {path}", file=table, row=row.row,
                                 field=_COLUMNS["filename"])
        try:  # through PIL: no stray libpng lines on stderr
            mask = np.rint(read_image(annotation_path)).astype(np.uint8)
        except InputError as error:
            raise InputError(f"cannot read the annotation image: {error.message}",
                             file=annotation_path) from None
        try:
            with open_image(image_path) as handle:
                image_wh = handle.size
        except OSError as error:
            raise InputError(f"cannot read the image: {error}", file=image_path) from None
        if image_wh != (mask.shape[1], mask.shape[0]):
            raise InputError(f"image is {image_wh[0]}x{image_wh[1]} but its annotation is "
                             f"{mask.shape[1]}x{mask.shape[0]} (width x height)", file=image_path)
        try:
            raw = fit_skull_ellipse(mask)
        except ValueError as error:
            raise InputError(str(error), file=annotation_path) from None
        raw_hc_mm = raw.circumference_px() * row.spacing_mm
        scale = row.hc_mm / raw_hc_mm
        landmarks = {k: (round(x, 4), round(y, 4)) for k, (x, y) in raw.scaled(scale)
                     .landmarks().items()}
        hc_mm = _hc_from_landmarks(landmarks) * row.spacing_mm
        raw_diffs.append(raw_hc_mm - row.hc_mm)
        final_diffs.append(hc_mm - row.hc_mm)
        scales.append(scale)
        records.append({
            "image": f"images/{row.filename}",
            "subject": _subject(row.filename, table, row.row),
            "label": "fetal_head",
            "landmarks": landmarks,
            "spacing_mm": row.spacing_mm,
            "hc_reference_mm": row.hc_mm,
            "raw_fit_hc_mm": round(raw_hc_mm, 4),
            "axis_scale": round(scale, 6),
        })
    report = {
        "n_images": len(records),
        "n_subjects": len({r["subject"] for r in records}),
        "hc_mean_abs_diff_mm": float(np.mean(np.abs(final_diffs))),
        "raw_fit_hc_mean_abs_diff_mm": float(np.mean(np.abs(raw_diffs))),
        "raw_fit_hc_mean_diff_mm": float(np.mean(raw_diffs)),
        "mean_axis_scale": float(np.mean(scales)),
        "min_axis_scale": float(np.min(scales)),
        "max_axis_scale": float(np.max(scales)),
        "out": str(out),
    }
    report["summary"] = (
        f"HC18: {report['n_images']} images of {report['n_subjects']} subjects; HC vs CSV: "
        f"mean |diff| {report['hc_mean_abs_diff_mm']:.4f} mm after axis scaling "
        f"(mean scale {report['mean_axis_scale']:.4f}), "
        f"{report['raw_fit_hc_mean_abs_diff_mm']:.3f} mm for the raw boundary fit"
    )
    spec = _spec(report)
    for row in rows:
        _copy_file(images_dir / row.filename, out / "images" / row.filename)
    write_dataset(out, spec, records)
    return report


def _hc_from_landmarks(points: dict[str, tuple[float, float]]) -> float:
    """HC in pixels from the written end points, as the measurement layer computes it."""
    p = {k: np.asarray(v, dtype=np.float64) for k, v in points.items()}
    a = float(np.linalg.norm(p["ofd_2"] - p["ofd_1"])) / 2
    b = float(np.linalg.norm(p["bpd_2"] - p["bpd_1"])) / 2
    return ellipse_circumference(a, b)


def _spec(report: dict[str, Any]) -> Any:
    from sonomtl.data.manifest import DatasetSpec

    return DatasetSpec(
        name="hc18",
        description="HC18 fetal head biometry training set (van den Heuvel et al., PLoS ONE "
                    "2018; Zenodo 1327317; CC BY 4.0): skull ellipse axis end points.",
        classes=("fetal_head",),
        landmarks=HC18_LANDMARKS,
        view_landmarks={"fetal_head": HC18_LANDMARKS},
        landmark_tasks={"fetal_head": HC18_LANDMARKS},
        flip_pairs=(("ofd_1", "ofd_2"),),
        measurements={
            "OFD": {"type": "distance", "landmarks": ("ofd_1", "ofd_2")},
            "BPD": {"type": "distance", "landmarks": ("bpd_1", "bpd_2")},
            "HC": {"type": "ellipse_circumference", "landmarks": HC18_LANDMARKS},
        },
        input_size=(272, 400),
        metadata={
            "source": "HC18 (Zenodo record 1327317)",
            "license": "CC BY 4.0",
            "importer": "sonomtl.data.importers.hc18",
            "ellipse_fit": "cv2.fitEllipse on the annotation's outer boundary, semi-axes "
                           "scaled per image so that the Ramanujan circumference equals the "
                           "CSV's HC (column axis_scale)",
            **{k: v for k, v in report.items() if k not in ("out", "summary")},
        },
    )
