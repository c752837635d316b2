"""``sonomtl weights list|fetch|path|verify``: output, exit codes, one-line errors (loopback)."""

from __future__ import annotations

import hashlib

import pytest

from sonomtl.cli import main
from sonomtl.store import REGISTRY, WeightsEntry
from tests.store.loopback import PAYLOAD, loopback_server

GOOD_SHA256 = hashlib.sha256(PAYLOAD).hexdigest()


@pytest.fixture()
def store(tmp_path, monkeypatch):
    """Only a test entry is registered; weights dir and shared folder are empty temp folders."""
    for name in list(REGISTRY):
        monkeypatch.delitem(REGISTRY, name)
    weights_dir, shared = tmp_path / "weights", tmp_path / "shared"
    shared.mkdir()
    monkeypatch.setenv("SONOMTL_WEIGHTS_DIR", str(weights_dir))
    monkeypatch.setenv("SONOMTL_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("SONOMTL_SHARED_DATA", str(shared))
    monkeypatch.setenv("SONOMTL_OFFLINE", "0")
    with loopback_server() as server:
        monkeypatch.setitem(REGISTRY, "testnet", WeightsEntry(
            name="testnet", filename="TestNet.npz", sha256=GOOD_SHA256,
            size_bytes=len(PAYLOAD), model="sononet16", licence="Apache-2.0",
            citation="a test", description="test-only entry", url=f"{server.url}/good"))
        yield weights_dir, server


def _one_error_line(captured) -> str:
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sonomtl: error: ")
    assert "Traceback" not in captured.err
    return lines[0]


def test_fetch_downloads_and_prints_the_path_then_path_finds_it(store, capsys):
    weights_dir, server = store
    assert main(["weights", "fetch", "testnet"]) == 0
    assert capsys.readouterr().out.strip() == str(weights_dir / "TestNet.npz")
    assert (weights_dir / "TestNet.npz").read_bytes() == PAYLOAD
    assert main(["weights", "path", "testnet"]) == 0
    assert capsys.readouterr().out.strip() == str(weights_dir / "TestNet.npz")
    assert server.requests["/good"] == 1


def test_path_never_downloads_and_says_where_to_get_the_file(store, capsys):
    weights_dir, server = store
    assert main(["weights", "path", "testnet"]) == 2
    line = _one_error_line(capsys.readouterr())
    assert f"download {server.url}/good and save it as {weights_dir}/TestNet.npz" in line
    assert sum(server.requests.values()) == 0


def test_offline_fetch_exits_2_with_one_line(store, capsys, monkeypatch):
    monkeypatch.setenv("SONOMTL_OFFLINE", "1")
    assert main(["weights", "fetch", "testnet"]) == 2
    assert "$SONOMTL_OFFLINE is set; download http://127.0.0.1:" in \
        _one_error_line(capsys.readouterr())


@pytest.mark.parametrize("command", ["fetch", "path", "verify"])
def test_an_unknown_name_exits_2_with_one_line_listing_the_known_ones(store, capsys, command):
    assert main(["weights", command, "nonet"]) == 2
    assert _one_error_line(capsys.readouterr()) == \
        "sonomtl: error: nonet: not a store name (known: testnet)"


def test_verify_reports_ok_missing_and_a_mismatch_with_exit_1(store, capsys):
    weights_dir, _ = store
    assert main(["weights", "verify"]) == 0
    assert capsys.readouterr().out.strip() == "testnet: missing (sonomtl weights fetch testnet)"
    weights_dir.mkdir()
    (weights_dir / "TestNet.npz").write_bytes(PAYLOAD)
    assert main(["weights", "verify", "testnet"]) == 0
    assert capsys.readouterr().out.strip() == f"testnet: ok  {weights_dir / 'TestNet.npz'}"
    (weights_dir / "TestNet.npz").write_bytes(b"tampered")
    assert main(["weights", "verify"]) == 1
    out = capsys.readouterr().out
    assert "MISMATCH" in out and GOOD_SHA256 in out
    assert hashlib.sha256(b"tampered").hexdigest() in out


def test_list_shows_source_checksum_licence_and_where_the_file_is(store, capsys):
    weights_dir, server = store
    assert main(["weights", "list"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("testnet  0.3 MB  model=sononet16  licence=Apache-2.0")
    assert f"sha256 {GOOD_SHA256}" in out and f"source {server.url}/good" in out
    assert "here not downloaded" in out
