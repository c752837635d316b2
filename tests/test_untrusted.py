"""The untrusted-input boundary: paths stay in their folder, sizes stay in LIMITS, no pickles."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from sonomtl.errors import InputError
from sonomtl.untrusted import (
    LIMITS,
    check_input_hw,
    check_size,
    load_npy,
    load_npz,
    resolve_inside,
)


def test_a_relative_path_inside_the_folder_is_joined(tmp_path):
    (tmp_path / "images").mkdir()
    assert resolve_inside(tmp_path, "images/a.png", file="m.csv", field="image") == \
        tmp_path / "images" / "a.png"
    # ".." that comes back inside is fine: only where it ends counts
    assert resolve_inside(tmp_path, "images/../b.png", file="m.csv", field="image") == \
        tmp_path / "images/../b.png"


@pytest.mark.parametrize("relative", ["../x.png", "images/../../x.png", "/etc/passwd"])
def test_escapes_and_absolute_paths_are_refused_naming_file_row_and_field(tmp_path, relative):
    with pytest.raises(InputError) as caught:
        resolve_inside(tmp_path, relative, file="m.csv", row=7, field="image")
    assert str(caught.value).startswith(f"m.csv: row 7: field image: path '{relative}' leaves "
                                        f"the folder {tmp_path}")


def test_a_symlink_that_leads_out_is_refused_and_allow_external_permits_it(tmp_path):
    outside = tmp_path / "outside.png"
    outside.write_bytes(b"x")
    (tmp_path / "data").mkdir()
    os.symlink(outside, tmp_path / "data" / "link.png")
    with pytest.raises(InputError, match="path 'link.png' leaves the folder"):
        resolve_inside(tmp_path / "data", "link.png", file="m.csv", field="image")
    assert resolve_inside(tmp_path / "data", "/etc/passwd", file="m.csv", field="image",
                          allow_external=True) == tmp_path / "data" / "/etc/passwd"


def test_a_nul_byte_is_refused(tmp_path):
    with pytest.raises(InputError, match="holds a NUL byte"):
        resolve_inside(tmp_path, "a\0b", file="m.csv", field="image")


@pytest.mark.parametrize(("value", "ok"), [
    ([240, 320], (240, 320)), ([4096, 1], (4096, 1)), ([64.0, 64], (64, 64)),
    ([4097, 64], None), ([0, 64], None), ([1e20, 240], None), ([99999999999999999999, 240], None),
    ([64.5, 64], None), ([True, 64], None), ("64x64", None), ([64], None), (None, None),
])
def test_input_sizes_are_positive_integers_up_to_the_limit(value, ok):
    if ok is not None:
        assert check_input_hw(value, file="d.yaml", field="input_size") == ok
    else:
        with pytest.raises(InputError, match=r"^d.yaml: field input_size: expected \[rows, cols"):
            check_input_hw(value, file="d.yaml", field="input_size")


def test_check_size_names_the_limit():
    assert check_size(16, LIMITS.network_width, file="w", field="width") == 16
    with pytest.raises(InputError, match=r"^w: field width: expected a positive integer <= "
                                         r"4096, got 1000000000.0$"):
        check_size(1e9, LIMITS.network_width, file="w", field="width")


def test_the_limits_are_the_documented_ones():
    assert (LIMITS.input_side_px, LIMITS.image_pixels, LIMITS.network_width,
            LIMITS.frame_count, LIMITS.report_classes) == (4096, 8192 * 8192, 4096, 1_000_000,
                                                           200)


def test_npy_files_are_named_for_what_they_are(tmp_path):
    np.save(tmp_path / "ok.npy", np.arange(6.0).reshape(2, 3))
    assert load_npy(tmp_path / "ok.npy").tolist() == [[0, 1, 2], [3, 4, 5]]
    cases = {
        "empty.npy": (b"", "empty file; expected a NumPy .npy array"),
        "text.npy": (b"1 2 3\n", "not a NumPy .npy array (its header is missing)"),
        "evil.npy": (b"\x80\x04K\x01.", "not a NumPy .npy array (its header is missing)"),
    }
    for name, (data, message) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(InputError) as caught:
            load_npy(tmp_path / name)
        assert str(caught.value) == f"{tmp_path / name}: {message}"
        assert "pickle" not in str(caught.value).replace(str(tmp_path), "")
    np.savez(tmp_path / "z.npz", a=np.zeros(2))
    os.replace(tmp_path / "z.npz", tmp_path / "z.npy")
    with pytest.raises(InputError, match="is an .npz archive"):
        load_npy(tmp_path / "z.npy")
    np.save(tmp_path / "obj.npy", np.array([{}], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match="holds Python objects; only numeric arrays are read, "
                                         "never unpickled") as caught:
        load_npy(tmp_path / "obj.npy")
    assert "allow_pickle" not in str(caught.value)


def test_npz_archives_are_read_without_pickles(tmp_path):
    np.savez(tmp_path / "a.npz", x=np.ones(2), y=np.zeros(1))
    arrays = load_npz(tmp_path / "a.npz")
    assert sorted(arrays) == ["x", "y"] and arrays["x"].tolist() == [1, 1]
    with open(tmp_path / "single.npz", "wb") as handle:
        np.save(handle, np.ones(2))
    with pytest.raises(InputError, match="is a single .npy array; expected a NumPy .npz"):
        load_npz(tmp_path / "single.npz")
    (tmp_path / "cut.npz").write_bytes((tmp_path / "a.npz").read_bytes()[:40])
    with pytest.raises(InputError, match="damaged or truncated .npz archive"):
        load_npz(tmp_path / "cut.npz")


def test_an_image_over_the_pixel_limit_is_refused_from_its_header(tmp_path):
    from sonomtl.data.io import read_image
    from tests.cli.bad_input_fixtures import bomb_png

    with pytest.raises(InputError, match=r"big.png: image too large: 9000x8000 pixels; at most "
                                         r"67108864 are read"):
        read_image(bomb_png(tmp_path / "big.png", width=9000, height=8000))
    with pytest.raises(InputError, match=r"huge.png: image too large \(a decompression bomb\?\): "
                                         r"over 67108864 pixels"):
        read_image(bomb_png(tmp_path / "huge.png"))
    Image.fromarray(np.full((3, 4), 7, np.uint8)).save(tmp_path / "ok.png")
    assert read_image(tmp_path / "ok.png").tolist() == [[7.0] * 4] * 3


def test_a_bad_flag_value_is_one_line_not_a_usage_dump(capsys):
    from sonomtl.cli import main

    with pytest.raises(SystemExit) as caught:
        main(["bench", "model.onnx", "--iters", "0"])
    assert caught.value.code == 2
    assert capsys.readouterr().err == ("sonomtl bench: error: argument --iters: expected a "
                                       "positive integer, got '0'\n")
