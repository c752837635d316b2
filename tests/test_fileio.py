"""Atomic writes: a failed write leaves nothing behind, and files get the usual permissions."""

from __future__ import annotations

import os
import stat

import pytest

from sonomtl.fileio import atomic_path, write_text


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask_022():
    before = os.umask(0o022)
    yield
    os.umask(before)


def test_a_new_file_is_readable_by_others_as_open_would_make_it(tmp_path, umask_022):
    written = write_text(tmp_path / "report.html", "<p>hi</p>")
    assert _mode(written) == 0o644
    os.umask(0o077)
    assert _mode(write_text(tmp_path / "private.txt", "x")) == 0o600


def test_replacing_a_file_keeps_its_permissions(tmp_path, umask_022):
    target = tmp_path / "results.json"
    target.write_text("old")
    target.chmod(0o640)
    write_text(target, "new")
    assert target.read_text() == "new" and _mode(target) == 0o640


def test_a_failed_write_leaves_the_target_and_the_folder_as_they_were(tmp_path):
    target = tmp_path / "model.onnx"
    target.write_bytes(b"good")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("killed")
    assert target.read_bytes() == b"good"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]
