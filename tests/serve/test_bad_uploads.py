"""Bad uploads: each a 4xx with a JSON body naming the problem; the server keeps serving."""

from __future__ import annotations

import json

import httpx
import numpy as np
import pytest

from tests.serve.conftest import blob_image, build_app, png_bytes, running_server


@pytest.fixture(scope="module")
def small_server():
    """Limits: 200 kB per upload, 3 frames per request."""
    app, _ = build_app(max_upload_bytes=200_000, max_frames=3)
    with running_server(app) as url:
        yield url


def _form(name: str, data: bytes, *, model: str | None = "msen", **fields: str) -> dict:
    if model is not None:
        fields["model"] = model
    return {"files": {"file": (name, data)}, "data": fields}


PNG = png_bytes(blob_image())

CASES = {
    "empty body": ({"content": b"", "headers": {"content-type": "multipart/form-data; "
                                                               "boundary=x"}}, 400, "file"),
    "no file part": ({"data": {"model": "msen"}, "files": {"other": ("a", b"1")}}, 400, "file"),
    "empty file": (_form("a.png", b""), 400, "empty"),
    "not an image": (_form("a.png", b"hello, I am text " * 20), 400, "cannot read image"),
    "truncated png": (_form("a.png", PNG[: len(PNG) // 2]), 400, "truncated"),
    "unsupported type": (_form("notes.txt", b"plain text"), 400, "unsupported input type"),
    "oversized upload": (_form("big.png", b"\0" * 300_000), 413, "limit"),
    "too many frames": (None, 413, "more than 3 frames"),
    "wrong content type": ({"content": PNG, "headers": {"content-type": "image/png"}},
                           415, "multipart/form-data"),
    "bad spacing value": (_form("a.png", PNG, model="abdominal", spacing_mm="-1"), 400,
                          "positive numbers"),
    "spacing missing for measurements": (_form("a.png", PNG, model="abdominal"), 400,
                                         "pixel size unknown"),
    "unknown model name": (_form("a.png", PNG, model="sononet99"), 404, "no model"),
    "model not named among several": (_form("a.png", PNG, model=None), 400, "several models"),
    "garbage DICOM": (_form("scan.dcm", b"\0" * 128 + b"DICM" + b"\x07\x00garbage" * 30), 400,
                      "DICOM"),
    "corrupt video": (_form("sweep.mp4", b"\x00\x00\x00\x18ftypmp42" + b"\xff" * 500), 400,
                      "video"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_upload_is_a_4xx_naming_the_problem(small_server, case, tmp_path):
    request, status, words = CASES[case]
    if case == "too many frames":
        from tests.data.test_io import write_dicom

        frames = np.stack([blob_image()] * 4).astype(np.uint16)
        path = write_dicom(tmp_path / "long.dcm", frames, pixel_spacing=[0.3, 0.3])
        request = _form("long.dcm", path.read_bytes(), model="abdominal")
    response = httpx.post(f"{small_server}/v1/predict", timeout=60, **request)
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "field"}
    assert words.lower() in body["error"].lower()
    assert "/tmp" not in body["error"]  # the upload's temporary path is not leaked
    assert httpx.get(f"{small_server}/healthz").status_code == 200


def test_the_server_still_predicts_after_every_kind_of_bad_upload(small_server):
    for case in CASES:  # everything again, in one go, then a good request
        request = CASES[case][0]
        if request is not None:
            assert httpx.post(f"{small_server}/v1/predict", timeout=60,
                              **request).status_code >= 400
    good = httpx.post(f"{small_server}/v1/predict", timeout=60,
                      **_form("a.png", PNG, model="abdominal", spacing_mm="0.3"))
    assert good.status_code == 200 and good.json()["frames"] == 1
    assert httpx.get(f"{small_server}/readyz").json() == {"status": "ready"}
    metrics = httpx.get(f"{small_server}/metrics").text  # refusals are counted by status
    for status in ("400", "404", "415"):
        assert f'sonomtl_requests_total{{endpoint="/v1/predict",status="{status}"}}' in metrics
    # an upload over the limit is refused before routing
    assert 'sonomtl_requests_total{endpoint="unmatched",status="413"}' in metrics


@pytest.mark.parametrize(("header", "payload", "field", "words"), [
    ({"format": "raw", "shape": [10, 12]}, b"\1" * 100, "shape", "needs 120 bytes"),
    ({"format": "raw", "shape": [10]}, b"\1" * 10, "shape", "[H, W]"),
    ({"format": "raw", "shape": [100000, 100000]}, b"\1", "shape", "over the limit"),
    ({"format": "png"}, b"not a png", "payload", "cannot read the frame"),
    ({"format": "jpeg2000"}, b"\1", "format", "'raw' or 'png'"),
    ({"format": "raw", "shape": [4, 4], "spacing_mm": "wide"}, b"\1" * 16, "spacing_mm",
     "positive numbers"),
    ("not json", b"", "header", "JSON object"),
])
def test_a_malformed_stream_frame_is_refused_and_the_stream_goes_on(small_server, header,
                                                                     payload, field, words):
    from websockets.sync.client import connect

    ws_url = small_server.replace("http", "ws") + "/v1/stream?model=msen"
    with connect(ws_url) as socket:
        socket.send(header if isinstance(header, str) else json.dumps(header))
        if not isinstance(header, str):
            socket.send(payload)
        reply = json.loads(socket.recv(timeout=30))
        assert reply["field"] == field and reply["status"] in (400, 413)
        assert words in reply["error"]
        socket.send(json.dumps({"format": "raw", "shape": [60, 80]}))
        socket.send(blob_image().tobytes())
        good = json.loads(socket.recv(timeout=30))
        assert good["frame"] == 0 and good["label"] in ("plane", "BG")


def test_an_oversized_upload_without_a_length_is_cut_off_as_it_arrives(small_server):
    boundary = "sonomtlboundary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"big.png\"\r\nContent-Type: image/png\r\n\r\n").encode()

    def chunks():  # no Content-Length: chunked transfer encoding, 400 kB in all
        yield head
        for _ in range(40):
            yield b"\0" * 10_000
        yield f"\r\n--{boundary}--\r\n".encode()

    response = httpx.post(f"{small_server}/v1/predict", content=chunks(), timeout=60,
                          headers={"content-type": f"multipart/form-data; boundary={boundary}"})
    assert response.status_code == 413
    assert response.json() == {"error": "upload is over the limit of 200000 bytes",
                               "field": "file"}
    assert httpx.get(f"{small_server}/healthz").status_code == 200
