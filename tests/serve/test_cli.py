"""``sonomtl serve`` as a real process: start-up, one-line load failures, SIGTERM draining."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.serve.conftest import blob_image, png_bytes, write_tiny_msen_run

START_TIMEOUT_S = 120


@pytest.fixture(scope="module")
def tiny_msen_run(tmp_path_factory) -> Path:
    return write_tiny_msen_run(tmp_path_factory.mktemp("msen_run"))


def _start(*args: str) -> tuple[subprocess.Popen, str]:
    """``sonomtl serve ARGS --port 0``; returns the process and its base URL."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("SONOMTL_SERVE_TOKEN", None)
    process = subprocess.Popen([sys.executable, "-m", "sonomtl", "serve", *args, "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=env)
    lines: list[str] = []
    found = threading.Event()

    def read() -> None:
        for line in process.stdout:
            lines.append(line)
            if "http://" in line:
                found.set()

    threading.Thread(target=read, daemon=True).start()
    if not found.wait(START_TIMEOUT_S):
        process.kill()
        raise AssertionError(f"no start-up line: {lines} {process.stderr.read()}")
    match = re.search(r"http://([\d.]+):(\d+)/", lines[-1])
    return process, f"http://{match.group(1)}:{match.group(2)}"


def test_sigterm_lets_the_request_in_flight_finish_then_exits_0(tiny_msen_run):
    # a batch waits up to 3 s for company: the one request sent is slow, but completes
    process, url = _start(str(tiny_msen_run), "--max-wait-ms", "3000")
    try:
        assert url.startswith("http://127.0.0.1:")  # loopback unless --host says otherwise
        assert httpx.get(f"{url}/readyz").json() == {"status": "ready"}
        answer: dict = {}

        def slow_request() -> None:
            answer["response"] = httpx.post(f"{url}/v1/predict", timeout=60,
                                            files={"file": ("f.png", png_bytes(blob_image()))})

        client = threading.Thread(target=slow_request)
        started = time.monotonic()
        client.start()
        time.sleep(1.0)
        assert "response" not in answer  # still in flight
        process.send_signal(signal.SIGTERM)
        client.join(30)
        status = process.wait(30)
        elapsed = time.monotonic() - started
    finally:
        if process.poll() is None:
            process.kill()
    response = answer["response"]
    assert response.status_code == 200 and response.json()["frames"] == 1
    assert status == 0, process.stderr.read()
    assert 2.5 < elapsed < 30
    with pytest.raises(httpx.ConnectError):  # and it is gone
        httpx.get(f"{url}/healthz", timeout=5)


@pytest.mark.parametrize(("make", "words"), [
    (lambda tmp: str(tmp / "missing_run"), "no such checkpoint"),
    (lambda tmp: _write(tmp / "broken.onnx", b"not a protobuf"), "cannot read as an ONNX model"),
])
def test_a_model_that_fails_to_load_stops_start_up_with_one_line(tmp_path, make, words):
    result = subprocess.run([sys.executable, "-m", "sonomtl", "serve", make(tmp_path),
                             "--port", "0"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("sonomtl: error: model ") and words in lines[0]


def _write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def test_the_dicom_node_starts_with_the_server_and_refuses_unknown_callers(tiny_msen_run, tmp_path):
    # the command line's wiring of the node (tests/serve/test_dicom_node.py tests the node):
    # C-ECHO from an allowed AE title succeeds; another title is refused at association
    import socket

    from pynetdicom import AE

    with socket.socket() as probe:  # a free port for the node (the HTTP port is 0)
        probe.bind(("127.0.0.1", 0))
        dicom_port = probe.getsockname()[1]
    process, url = _start(str(tiny_msen_run), "--out", str(tmp_path / "srv"),
                          "--dicom-port", str(dicom_port), "--dicom-allow", "SCANNER")
    try:
        def echo(calling: str) -> object:
            ae = AE(ae_title=calling)
            ae.add_requested_context("1.2.840.10008.1.1")  # Verification
            ae.acse_timeout = ae.network_timeout = 10
            assoc = ae.associate("127.0.0.1", dicom_port, ae_title="SONOMTL")
            if not assoc.is_established:
                return None
            status = assoc.send_c_echo()
            assoc.release()
            return status.Status

        assert echo("SCANNER") == 0x0000
        assert echo("STRANGER") is None
        assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    assert not any(p.is_file() for p in (tmp_path / "srv").rglob("*"))  # an echo writes nothing
