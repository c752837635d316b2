"""Resolution order, checks and the offline message of the model store (loopback only)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from sonomtl.errors import InputError
from sonomtl.resources import packaged_config
from sonomtl.store import (
    REGISTRY,
    ChecksumError,
    WeightsEntry,
    WeightsUnavailable,
    file_sha256,
    find_local,
    resolve_weights,
    user_cache_dir,
)
from tests.store.loopback import PAYLOAD, loopback_server

GOOD_SHA256 = hashlib.sha256(PAYLOAD).hexdigest()


def _entry(url: str, **changes) -> WeightsEntry:
    fields = dict(name="testnet", filename="TestNet.npz", sha256=GOOD_SHA256,
                  size_bytes=len(PAYLOAD), model="sononet16", licence="Apache-2.0",
                  citation="a test", description="test-only entry", url=url,
                  shared_path="testing/TestNet.npz")
    fields.update(changes)
    return WeightsEntry(**fields)


@pytest.fixture()
def places(tmp_path, monkeypatch):
    """Empty weights dir, cache and shared data folder; downloads allowed; testnet registered."""
    dirs = {name: tmp_path / name for name in ("weights_dir", "cache", "shared")}
    for folder in dirs.values():
        folder.mkdir()
    monkeypatch.setenv("SONOMTL_WEIGHTS_DIR", str(dirs["weights_dir"]))
    monkeypatch.setenv("SONOMTL_CACHE_DIR", str(dirs["cache"]))
    monkeypatch.setenv("SONOMTL_SHARED_DATA", str(dirs["shared"]))
    monkeypatch.setenv("SONOMTL_OFFLINE", "0")
    return dirs


def _put(path: Path, data: bytes = PAYLOAD) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_the_first_place_that_holds_the_file_wins_in_the_documented_order(places, monkeypatch):
    monkeypatch.setitem(REGISTRY, "testnet", _entry("http://127.0.0.1:9/unused"))
    shared = _put(places["shared"] / "testing" / "TestNet.npz")
    assert resolve_weights("testnet") == shared
    cached = _put(user_cache_dir() / "TestNet.npz")
    assert cached == places["cache"] / "weights" / "TestNet.npz"
    assert resolve_weights("testnet") == cached
    in_weights_dir = _put(places["weights_dir"] / "TestNet.npz")
    assert resolve_weights("testnet") == in_weights_dir
    explicit = _put(places["shared"] / "elsewhere.npz", b"not even checked")
    assert resolve_weights(explicit) == explicit


def test_a_missing_file_is_downloaded_once_into_the_weights_dir(places, monkeypatch):
    with loopback_server() as server:
        monkeypatch.setitem(REGISTRY, "testnet", _entry(f"{server.url}/good"))
        first = resolve_weights("testnet", progress=False)
        second = resolve_weights("testnet", progress=False)
        assert server.requests["/good"] == 1
    assert first == second == places["weights_dir"] / "TestNet.npz"
    assert file_sha256(first) == GOOD_SHA256


def test_without_a_weights_dir_the_download_goes_to_the_user_cache(places, monkeypatch):
    monkeypatch.delenv("SONOMTL_WEIGHTS_DIR")
    with loopback_server() as server:
        monkeypatch.setitem(REGISTRY, "testnet", _entry(f"{server.url}/good"))
        assert resolve_weights("testnet", progress=False) == \
            places["cache"] / "weights" / "TestNet.npz"


def test_offline_with_nothing_here_says_what_to_download_from_where_to_where(places,
                                                                             monkeypatch):
    monkeypatch.setenv("SONOMTL_OFFLINE", "1")
    with loopback_server() as server:
        monkeypatch.setitem(REGISTRY, "testnet", _entry(f"{server.url}/good"))
        with pytest.raises(WeightsUnavailable) as caught:
            resolve_weights("testnet")
        assert sum(server.requests.values()) == 0
    message = str(caught.value)
    assert "\n" not in message
    assert message == (f"testnet: not found locally and $SONOMTL_OFFLINE is set; download "
                       f"{server.url}/good and save it as {places['weights_dir']}/TestNet.npz")


def test_a_failed_download_gives_the_same_one_line_with_the_reason(places, monkeypatch):
    with loopback_server() as server:
        monkeypatch.setitem(REGISTRY, "testnet", _entry(f"{server.url}/gone"))
        with pytest.raises(WeightsUnavailable, match=r"the download failed \(HTTP 404 .*\); "
                                                     r"download http://127\.0\.0\.1:\d+/gone "
                                                     r"and save it as "):
            resolve_weights("testnet", progress=False)
    assert list(places["weights_dir"].iterdir()) == []


def test_a_local_copy_with_the_wrong_bytes_is_refused_naming_it_and_both_checksums(
    places, monkeypatch
):
    monkeypatch.setitem(REGISTRY, "testnet", _entry("http://127.0.0.1:9/unused"))
    bad = _put(places["shared"] / "testing" / "TestNet.npz", b"wrong bytes")
    with pytest.raises(ChecksumError) as caught:
        resolve_weights("testnet")
    message = str(caught.value)
    assert message.startswith(f"{bad}: checksum mismatch for testnet")
    assert GOOD_SHA256 in message and hashlib.sha256(b"wrong bytes").hexdigest() in message


def test_a_name_that_is_neither_file_nor_entry_is_an_input_error(places):
    with pytest.raises(InputError, match=r"^sononet99: neither a file nor a store name "
                                         r"\(store names: .*sononet16"):
        resolve_weights("sononet99")


def test_weights_that_ship_in_the_package_need_no_download(places, monkeypatch):
    """A packaged entry (how project-trained weights ship in the wheel), on a real package file."""
    shipped = packaged_config("example.yaml")
    entry = _entry(None, name="packaged", filename="example.yaml", shared_path=None,
                   sha256=file_sha256(shipped), package_file=("sonomtl", "configs/example.yaml"))
    monkeypatch.setitem(REGISTRY, "packaged", entry)
    monkeypatch.setenv("SONOMTL_OFFLINE", "1")
    found = find_local(entry)
    assert found.source == "package" and found.path == shipped
    assert resolve_weights("packaged") == shipped
    # a copy in the weights dir still comes first (a user's override)
    override = _put(places["weights_dir"] / "example.yaml", shipped.read_bytes())
    assert resolve_weights("packaged") == override


def test_a_packaged_entry_whose_file_is_missing_says_to_reinstall(places, monkeypatch):
    entry = _entry(None, name="packaged", filename="gone.npz", shared_path=None,
                   package_file=("sonomtl", "configs/gone.npz"))
    monkeypatch.setitem(REGISTRY, "packaged", entry)
    with pytest.raises(WeightsUnavailable, match=r"not found in the package; it should ship "
                                                 r"inside the sonomtl package \(reinstall"):
        resolve_weights("packaged")


def test_an_entry_needs_a_well_formed_checksum_and_exactly_one_source():
    with pytest.raises(ValueError, match="sha256"):
        _entry("http://x", sha256="abc")
    with pytest.raises(ValueError, match="exactly one of url and package_file"):
        _entry(None)
    with pytest.raises(ValueError, match="exactly one of url and package_file"):
        _entry("http://x", package_file=("sonomtl", "x"))


@pytest.mark.shared_data
def test_the_registered_sononet16_checksum_is_that_of_the_shared_file(sononet_dir):
    entry = REGISTRY["sononet16"]
    path = sononet_dir / "SonoNet16.npz"
    assert file_sha256(path) == entry.sha256
    assert path.stat().st_size == entry.size_bytes


@pytest.mark.shared_data
def test_a_config_naming_sononet16_loads_the_official_blocks(sononet_dir, monkeypatch):
    """``pretrained: sononet16`` in a config is the same weights as the file path."""
    import torch

    from sonomtl.models.msen import msen_generator

    monkeypatch.setenv("SONOMTL_SHARED_DATA", str(sononet_dir.parent))
    by_name = msen_generator(pretrained="sononet16").state_dict()
    by_path = msen_generator(pretrained=sononet_dir / "SonoNet16.npz").state_dict()
    first = next(key for key in by_name if key.endswith("weight"))
    assert torch.equal(by_name[first], by_path[first])
