"""Importers: HC18 and the SonoNet example frames to self-contained datasets."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy.special import ellipe

from sonomtl.data.importers import import_hc18, import_sononet_examples
from sonomtl.data.importers.hc18 import (
    HC18_CSV,
    SkullEllipse,
    ellipse_circumference,
    fit_skull_ellipse,
    read_hc18_table,
)
from sonomtl.data.importers.sononet_examples import SONONET_LABELS, label_from_filename
from sonomtl.data.manifest import load_dataset
from sonomtl.errors import InputError

SUBSET = ("000_HC.png", "003_HC.png", "010_2HC.png", "010_HC.png", "014_3HC.png")


def hc18_subset(hc18_dir: Path, folder: Path, names: tuple[str, ...] = SUBSET) -> Path:
    """A small HC18 folder (same layout, COPIES: tests corrupt files in it) holding ``names``."""
    lines = (hc18_dir / HC18_CSV).read_text().splitlines()
    keep = [lines[0]] + [line for line in lines[1:] if line.split(",")[0] in names]
    assert len(keep) == len(names) + 1, "subset names must exist in the real table"
    (folder / "training_set").mkdir(parents=True)
    (folder / HC18_CSV).write_text("\n".join(keep) + "\n")
    for name in names:
        for file in (name, name.replace(".png", "_Annotation.png")):
            shutil.copyfile(hc18_dir / "training_set" / file, folder / "training_set" / file)
    return folder


def draw_filled_ellipse(centre, semi_axes, angle_deg, hw=(300, 400)) -> np.ndarray:
    import cv2

    mask = np.zeros(hw, np.uint8)
    cv2.ellipse(mask, (int(centre[0]), int(centre[1])), semi_axes, angle_deg, 0, 360, 255, -1)
    return mask


# --------------------------------------------------------------------------- ellipse geometry

def test_ramanujan_matches_the_exact_perimeter() -> None:
    for a, b in [(50.0, 50.0), (80.0, 60.0), (100.0, 35.0)]:
        exact = 4 * a * ellipe(1 - (b / a) ** 2)  # complete elliptic integral of the 2nd kind
        assert ellipse_circumference(a, b) == pytest.approx(exact, rel=5e-5)


def test_fit_recovers_a_drawn_rotated_ellipse() -> None:
    mask = draw_filled_ellipse((200, 150), (120, 70), 30)
    fit = fit_skull_ellipse(mask)
    assert fit.centre_xy == pytest.approx((200, 150), abs=0.3)
    # the outer boundary pixels' centres lie about half a pixel inside the drawn edge
    assert fit.semi_major_px == pytest.approx(120, abs=0.8)
    assert fit.semi_minor_px == pytest.approx(70, abs=0.8)
    assert fit.angle_deg == pytest.approx(30, abs=0.5)


def test_axis_end_points_by_hand_and_their_order() -> None:
    ellipse = SkullEllipse((100.0, 50.0), 40.0, 20.0, 0.0)
    assert ellipse.landmarks() == {"ofd_1": (60.0, 50.0), "ofd_2": (140.0, 50.0),
                                   "bpd_1": (100.0, 30.0), "bpd_2": (100.0, 70.0)}
    tilted = SkullEllipse((0.0, 0.0), 10.0, 5.0, 150.0).landmarks()
    assert tilted["ofd_1"][0] < tilted["ofd_2"][0] and tilted["bpd_1"][1] < tilted["bpd_2"][1]
    # major axis along (cos 150, sin 150) = (-0.866, 0.5): the end with smaller x is +10 * that
    angle = math.radians(150.0)
    assert tilted["ofd_1"] == pytest.approx((10 * math.cos(angle), 10 * math.sin(angle)))


def test_fit_rejects_empty_annotations() -> None:
    with pytest.raises(ValueError, match="empty"):
        fit_skull_ellipse(np.zeros((10, 10)))


# --------------------------------------------------------------------------- HC18 on real data

def test_hc18_subset_imports_to_a_readable_self_contained_dataset(hc18_dir, tmp_path) -> None:
    src = hc18_subset(hc18_dir, tmp_path / "src")
    report = import_hc18(src=src, out=tmp_path / "out")
    assert report["n_images"] == 5 and report["n_subjects"] == 4
    assert report["hc_mean_abs_diff_mm"] < 1e-3
    assert 0.2 < report["raw_fit_hc_mean_abs_diff_mm"] < 2.0
    spec, records = load_dataset(tmp_path / "out")
    assert spec.landmarks == ("ofd_1", "ofd_2", "bpd_1", "bpd_2")
    assert spec.measurements["HC"].type == "ellipse_circumference"
    assert [r.subject for r in records] == ["000", "003", "010", "010", "014"]
    table = {line.split(",")[0]: line.split(",") for line in
             (hc18_dir / HC18_CSV).read_text().splitlines()[1:]}
    for record in records:
        image = tmp_path / "out" / record.image
        assert image.is_file() and image.resolve().parent == (tmp_path / "out" / "images")
        name = Path(record.image).name
        spacing, hc_csv = float(table[name][1]), float(table[name][2])
        assert record.spacing_mm == (spacing, spacing)
        p = {k: np.array(v) for k, v in record.landmarks.items()}
        a = np.linalg.norm(p["ofd_2"] - p["ofd_1"]) / 2
        b = np.linalg.norm(p["bpd_2"] - p["bpd_1"]) / 2
        # the independent exact perimeter of the written ellipse equals the CSV's HC
        assert 4 * a * ellipe(1 - (b / a) ** 2) * spacing == pytest.approx(hc_csv, abs=0.01)
        # both axes share their midpoint (the ellipse centre) and are perpendicular
        np.testing.assert_allclose(p["ofd_1"] + p["ofd_2"], p["bpd_1"] + p["bpd_2"], atol=1e-3)
        assert abs(np.dot(p["ofd_2"] - p["ofd_1"], p["bpd_2"] - p["bpd_1"])) < 1e-2 * a * b
        assert 0.98 < float(record.extra["axis_scale"]) < 1.01


def test_hc18_end_points_lie_on_the_annotated_skull_outline(hc18_dir, tmp_path) -> None:
    import cv2

    src = hc18_subset(hc18_dir, tmp_path / "src", names=("000_HC.png", "014_3HC.png"))
    import_hc18(src=src, out=tmp_path / "out")
    _, records = load_dataset(tmp_path / "out")
    for record in records:
        name = Path(record.image).name.replace(".png", "_Annotation.png")
        mask = cv2.imread(str(src / "training_set" / name), cv2.IMREAD_GRAYSCALE) > 0
        distance_outside = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 5)
        distance_inside = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5)
        for x, y in record.landmarks.values():
            r, c = int(round(y)), int(round(x))
            # within 3 px of the edge of the filled annotation (outline thickness + scaling)
            assert min(distance_outside[r, c], distance_inside[r, c]) <= 3.0


@pytest.mark.slow
def test_hc18_full_import_agrees_with_the_csv_hc(hc18_dir, tmp_path) -> None:
    report = import_hc18(src=hc18_dir, out=tmp_path / "hc18")
    assert report["n_images"] == 804
    assert report["hc_mean_abs_diff_mm"] <= 0.3  # the contract; measured ~1e-5 mm
    assert report["hc_mean_abs_diff_mm"] < 1e-3
    # the raw boundary fit reads too large (the filled annotation includes the outline)
    assert 0.5 < report["raw_fit_hc_mean_diff_mm"] < 1.3
    assert 0.99 < report["mean_axis_scale"] < 1.0
    assert "mm" in report["summary"]
    spec, records = load_dataset(tmp_path / "hc18")
    assert len(records) == 804 and len({r.subject for r in records}) == report["n_subjects"]


def test_hc18_bad_inputs_name_file_row_and_field(hc18_dir, tmp_path) -> None:
    src = hc18_subset(hc18_dir, tmp_path / "src", names=("000_HC.png", "003_HC.png"))
    table = src / HC18_CSV
    good = table.read_text()

    def fails(text: str, out_name: str) -> InputError:
        table.write_text(text)
        with pytest.raises(InputError) as info:
            import_hc18(src=src, out=tmp_path / out_name)
        assert not (tmp_path / out_name).exists()  # nothing half-written
        return info.value

    error = fails(good.replace("0.069135804", "-0.1"), "neg")
    assert (error.row, error.field) == (2, "pixel size(mm)") and error.file == str(table)
    error = fails(good.replace(",69\n", ",nan\n"), "nan")
    assert (error.row, error.field) == (3, "head circumference (mm)")
    error = fails(good.replace("pixel size(mm)", "pixel size"), "col")
    assert (error.row, error.field) == (1, "pixel size(mm)")
    error = fails(good + "999_HC.png,0.1,100\n", "missing")
    assert (error.row, error.field) == (4, "filename") and "999_HC.png" in str(error)
    table.write_text(good)
    (src / "training_set" / "003_HC_Annotation.png").write_bytes(b"not a png")
    with pytest.raises(InputError, match="annotation") as info:
        import_hc18(src=src, out=tmp_path / "corrupt")
    assert info.value.file.endswith("003_HC_Annotation.png")
    with pytest.raises(InputError, match="not found"):
        import_hc18(src=tmp_path / "nowhere", out=tmp_path / "x")
    shutil.rmtree(src / "training_set")
    with pytest.raises(InputError, match="image not found"):
        import_hc18(src=src, out=tmp_path / "noimages")


def test_hc18_table_that_is_not_utf8_is_one_error_line_naming_file_and_row(
    tmp_path, capsys
) -> None:
    from sonomtl.cli import main

    src = tmp_path / "src"
    (src / "training_set").mkdir(parents=True)
    table = src / HC18_CSV
    table.write_bytes(b"filename,pixel size(mm),head circumference (mm)\n"
                      b"000_HC.png,0.0691,44.3\n001_HC.png,0.0\xe9,56.8\n")
    assert main(["data", "import", "hc18", "--src", str(src), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"sonomtl: error: {table}: row 3: not UTF-8 text (byte 0xe9)"]
    assert not (tmp_path / "o").exists()
    table.write_bytes(b"\xef\xbb\xbf" + b"filename,pixel size(mm),head circumference\xff\n")
    with pytest.raises(InputError, match="byte 0xff") as info:
        read_hc18_table(table)  # a byte-order mark does not shift the reported byte
    assert info.value.row == 1


# --------------------------------------------------------------------------- SonoNet examples

def test_sononet_file_names_map_to_the_published_labels() -> None:
    assert SONONET_LABELS[3] == "Background" and len(SONONET_LABELS) == 14
    assert label_from_filename("BRAIN-TV.tiff") == "Brain (Tv.)"
    assert label_from_filename("SPINE-CORONAL.tiff") == "Spine (cor.)"
    assert label_from_filename("abdominal.tif") == "Abdominal"
    assert label_from_filename("LIVER.tiff") is None


def test_sononet_examples_import_with_the_authors_crop(sononet_dir, tmp_path) -> None:
    report = import_sononet_examples(src=sononet_dir, out=tmp_path / "out")
    assert report["n_images"] == 13 and report["classes_without_images"] == ["Background"]
    spec, records = load_dataset(tmp_path / "out")
    assert spec.classes == SONONET_LABELS
    assert spec.crop == (115, 734, 81, 874) and spec.input_size == (224, 288)
    by_file = {Path(r.image).name: r.label for r in records}
    assert by_file["BRAIN-CB.tiff"] == "Brain (Cb.)" and by_file["3VV.tiff"] == "3VV"
    assert by_file["SPINE-SAGITTAL.tiff"] == "Spine (sag.)"
    assert all((tmp_path / "out" / r.image).is_file() for r in records)


def test_sononet_examples_reject_unknown_names_and_small_frames(tmp_path) -> None:
    from PIL import Image

    folder = tmp_path / "frames"
    folder.mkdir()
    Image.new("RGB", (975, 735)).save(folder / "LIVER.tiff")
    with pytest.raises(InputError, match="not a SonoNet label") as info:
        import_sononet_examples(src=folder, out=tmp_path / "a")
    assert info.value.file.endswith("LIVER.tiff") and info.value.field == "label"
    (folder / "LIVER.tiff").unlink()
    Image.new("RGB", (640, 480)).save(folder / "FEMUR.tiff")
    with pytest.raises(InputError, match="crop"):
        import_sononet_examples(src=folder, out=tmp_path / "b")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="no .tiff"):
        import_sononet_examples(src=empty, out=tmp_path / "c")
