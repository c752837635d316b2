"""``download_file`` against a real loopback server: good, corrupt, truncated, 404, stalled."""

from __future__ import annotations

import hashlib
import time

import pytest

from sonomtl.store.download import ChecksumError, DownloadError, download_file, file_sha256
from tests.store.loopback import PAYLOAD, loopback_server

GOOD_SHA256 = hashlib.sha256(PAYLOAD).hexdigest()


@pytest.fixture(scope="module")
def server():
    with loopback_server() as running:
        yield running


def test_a_good_file_lands_whole_and_checked_with_nothing_else_beside_it(server, tmp_path):
    target = tmp_path / "weights" / "model.npz"
    assert download_file(f"{server.url}/good", target, sha256=GOOD_SHA256,
                         progress=False) == target
    assert target.read_bytes() == PAYLOAD
    assert file_sha256(target) == GOOD_SHA256
    assert [p.name for p in target.parent.iterdir()] == ["model.npz"]


def test_a_corrupted_file_is_not_kept_and_the_error_gives_both_checksums(server, tmp_path):
    body = bytearray(PAYLOAD)
    body[1234] ^= 0xFF
    bad_sha256 = hashlib.sha256(bytes(body)).hexdigest()
    target = tmp_path / "model.npz"
    with pytest.raises(ChecksumError) as caught:
        download_file(f"{server.url}/corrupt", target, sha256=GOOD_SHA256, progress=False)
    message = str(caught.value)
    assert str(target) in message and GOOD_SHA256 in message and bad_sha256 in message
    assert "\n" not in message
    assert list(tmp_path.iterdir()) == []


def test_a_truncated_transfer_leaves_nothing_behind(server, tmp_path):
    with pytest.raises(DownloadError, match=f"cut short: {len(PAYLOAD) // 2} of {len(PAYLOAD)}"):
        download_file(f"{server.url}/truncated", tmp_path / "model.npz", sha256=GOOD_SHA256,
                      progress=False)
    assert list(tmp_path.iterdir()) == []


def test_a_404_names_the_url_and_leaves_nothing_behind(server, tmp_path):
    with pytest.raises(DownloadError, match=r"/nothing-here: HTTP 404"):
        download_file(f"{server.url}/nothing-here", tmp_path / "model.npz", sha256=GOOD_SHA256,
                      progress=False)
    assert list(tmp_path.iterdir()) == []


def test_a_stalled_server_fails_after_the_timeout_not_never(server, tmp_path):
    started = time.monotonic()
    with pytest.raises(DownloadError, match="transfer failed after 0 bytes"):
        download_file(f"{server.url}/stall", tmp_path / "model.npz", sha256=GOOD_SHA256,
                      timeout_s=1.0, progress=False)
    assert 0.9 <= time.monotonic() - started < 5.0
    assert list(tmp_path.iterdir()) == []


def test_a_failed_download_leaves_an_existing_file_untouched(server, tmp_path):
    target = tmp_path / "model.npz"
    target.write_bytes(b"the old file")
    with pytest.raises(DownloadError):
        download_file(f"{server.url}/truncated", target, sha256=GOOD_SHA256, progress=False)
    assert target.read_bytes() == b"the old file"
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]


def test_nothing_listens_gives_one_line_naming_the_url(tmp_path):
    import socket

    with socket.socket() as probe:  # a port that was free a moment ago: refused, not routed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/model.npz"
    with pytest.raises(DownloadError, match="cannot connect") as caught:
        download_file(url, tmp_path / "model.npz", sha256=GOOD_SHA256, timeout_s=1.0,
                      progress=False)
    assert str(caught.value).startswith(url)
    assert list(tmp_path.iterdir()) == []


def test_an_interrupt_mid_transfer_leaves_nothing_behind(server, tmp_path, monkeypatch):
    class Interrupting:  # a Ctrl-C mid-transfer, while the .part file exists
        def update(self, chunk):
            raise KeyboardInterrupt

    monkeypatch.setattr("sonomtl.store.download.hashlib.sha256", Interrupting)
    with pytest.raises(KeyboardInterrupt):
        download_file(f"{server.url}/good", tmp_path / "model.npz", sha256=GOOD_SHA256,
                      progress=False)
    assert list(tmp_path.iterdir()) == []
