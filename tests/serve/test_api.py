"""The HTTP API on loopback: the same numbers as the Predictor and as ``sonomtl predict``."""

from __future__ import annotations

import json

import httpx
import numpy as np
import pytest

from sonomtl.inference.predict_files import predict_files
from sonomtl.serve.schemas import ModelsResponse, PredictResponse
from tests.data.test_io import write_dicom
from tests.serve.conftest import blob_image, build_app, dot_predictor, png_bytes, running_server


def _post(url: str, name: str, data: bytes, **fields: str) -> httpx.Response:
    return httpx.post(f"{url}/v1/predict", files={"file": (name, data)}, data=fields,
                      timeout=60)


def test_an_image_gives_the_predictors_numbers(server):
    url, _ = server
    image = blob_image()
    response = _post(url, "frame.png", png_bytes(image), model="abdominal", spacing_mm="0.4,0.5")
    assert response.status_code == 200
    body = response.json()
    PredictResponse.model_validate(body)
    expected = dot_predictor("abdominal").predict_frames([image.astype(np.float32)],
                                                         spacings_mm=[(0.4, 0.5)])[0]
    record = body["predictions"][0]
    assert body["frames"] == 1 and body["best_frames"] is None  # one frame: no sweep
    assert record["source"] == "frame.png" and record["frame"] == 0
    assert record["probabilities"] == pytest.approx(expected.probabilities, abs=1e-12)
    assert record["landmarks"] == expected.landmarks
    # the dots are 45 px apart in x and 20 px in y: sqrt((45*0.4)^2 + (20*0.5)^2) = 20.59 mm
    assert record["landmarks"]["a_1"] == pytest.approx([15, 20], abs=0.5)
    assert record["measurements_mm"]["A"] == pytest.approx(expected.measurements_mm["A"])
    assert record["measurements_mm"]["A"] == pytest.approx(np.hypot(45 * 0.4, 20 * 0.5), abs=0.3)
    assert record["spacing_mm"] == [0.4, 0.5]


def test_an_image_with_attention_carries_the_map_as_a_png(server):
    from io import BytesIO

    from PIL import Image

    url, _ = server
    image = blob_image()
    response = _post(url, "f.png", png_bytes(image), model="msen", attention="true")
    record = response.json()["predictions"][0]
    expected = dot_predictor("msen").predict_frames([image.astype(np.float32)])[0]
    assert record["attention_peak_xy"] == pytest.approx(list(expected.attention_peak_xy))
    prefix = "data:image/png;base64,"
    assert record["attention_png"].startswith(prefix)
    import base64

    decoded = np.asarray(Image.open(BytesIO(base64.b64decode(record["attention_png"][len(
        prefix):]))))
    assert decoded.shape == image.shape
    np.testing.assert_allclose(decoded, np.rint(np.clip(expected.attention, 0, 1) * 255), atol=1)


def test_a_video_gives_predicts_lines_and_best_frames(server, clip_mp4, tmp_path):
    url, models = server
    response = _post(url, "sweep.mp4", clip_mp4.read_bytes(), model="msen")
    assert response.status_code == 200
    body = response.json()
    PredictResponse.model_validate(body)
    summary = predict_files(dot_predictor("msen"), [clip_mp4], out_dir=tmp_path, threshold=0.9,
                            smoothing_alpha=0.8, overlays=False)
    assert summary.frames == 7 == body["frames"]
    lines = [json.loads(s) for s in summary.predictions.read_text().splitlines()]
    for line in lines:  # the server writes no files and names the upload
        line.pop("attention_png")
        line["source"] = "sweep.mp4"
    assert body["predictions"] == lines
    best = json.loads(summary.best_frames.read_text())[str(clip_mp4)]
    assert best["planes"]["plane"]["frame"] == 3
    best["planes"]["plane"].pop("image_png")
    assert body["best_frames"] == best


def test_a_multiframe_dicom_takes_its_pixel_size_from_the_file(server, tmp_path):
    url, _ = server
    frames = np.stack([blob_image(), blob_image(dots=((20, 25), (70, 45)))]).astype(np.uint16)
    path = write_dicom(tmp_path / "cine.dcm", frames, pixel_spacing=[0.25, 0.2])  # row, col
    response = _post(url, "cine.dcm", path.read_bytes(), model="abdominal")
    assert response.status_code == 200, response.text
    records = response.json()["predictions"]
    expected = dot_predictor("abdominal").predict_frames(
        [f.astype(np.float32) for f in frames], spacings_mm=[(0.2, 0.25)] * 2)
    assert [r["spacing_mm"] for r in records] == [[0.2, 0.25], [0.2, 0.25]]
    assert [r["measurements_mm"]["A"] for r in records] == pytest.approx(
        [e.measurements_mm["A"] for e in expected])
    assert "smoothed_probabilities" in records[0]


def test_models_health_readiness_metrics_and_openapi(server):
    url, _ = server
    cards = ModelsResponse.model_validate(httpx.get(f"{url}/v1/models").json()).models
    assert [c.name for c in cards] == ["msen", "abdominal"]
    abdominal = cards[1]
    assert abdominal.kind == "abdominal" and abdominal.class_names == ["plane", "BG"]
    assert abdominal.measurements == {"A": ["a_1", "a_2"]} and abdominal.needs_spacing
    assert abdominal.input_hw == [64, 64] and abdominal.version.startswith("sonomtl-")
    assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{url}/readyz").json() == {"status": "ready"}
    metrics = httpx.get(f"{url}/metrics")
    assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "# TYPE sonomtl_batch_frames histogram" in metrics.text
    schema = httpx.get(f"{url}/openapi.json").json()
    assert {"/v1/predict", "/v1/models", "/healthz", "/readyz", "/metrics"} <= set(
        schema["paths"])
    ok = schema["paths"]["/v1/predict"]["post"]["responses"]["200"]["content"]
    assert ok["application/json"]["schema"]["$ref"].endswith("/PredictResponse")
    page = httpx.get(f"{url}/")
    assert page.status_code == 200 and "<canvas id=\"timeline\"" in page.text


def test_the_token_refuses_a_request_without_it_and_leaves_health_open():
    app, _ = build_app(token="s3cret")
    image = png_bytes(blob_image())
    with running_server(app) as url:
        refused = _post(url, "f.png", image, model="msen")
        assert refused.status_code == 401 and refused.json()["field"] == "authorization"
        wrong = httpx.get(f"{url}/v1/models", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert httpx.get(f"{url}/metrics").status_code == 401
        assert httpx.get(f"{url}/healthz").status_code == 200
        good = httpx.post(f"{url}/v1/predict", files={"file": ("f.png", image)},
                          data={"model": "msen"}, headers={"Authorization": "Bearer s3cret"})
        assert good.status_code == 200 and good.json()["frames"] == 1


def _png_grey(data_url: str) -> np.ndarray:
    import base64
    import io

    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))))


def test_pictures_come_back_as_the_grey_levels_the_server_read(server, clip_mp4, tmp_path):
    # a browser cannot show a TIFF (or DICOM): the page draws the frame the server decoded;
    # the best frames' pictures are grey levels too (they came back white before: the frame's
    # 0-255 levels were scaled like a 0-1 map)
    from PIL import Image

    from sonomtl.data.io import read_image
    from sonomtl.inference.video import read_source_frames

    url, _ = server
    path = tmp_path / "frame.tiff"
    Image.fromarray(blob_image().astype(np.uint8)).save(path)
    body = _post(url, "frame.tiff", path.read_bytes(), model="msen", images="true").json()
    PredictResponse.model_validate(body)
    np.testing.assert_array_equal(_png_grey(body["predictions"][0]["image_png"]),
                                  read_image(path).astype(np.uint8))
    body = _post(url, "sweep.mp4", clip_mp4.read_bytes(), model="msen", images="true").json()
    best = body["best_frames"]["planes"]["plane"]
    [frame] = read_source_frames(clip_mp4, [best["frame"]]).values()
    picture = _png_grey(best["image_png"])
    np.testing.assert_array_equal(picture, np.clip(np.rint(frame.image), 0, 255).astype(np.uint8))
    assert picture.max() == 250  # the clip's plane frame is grey 250 (scaled as a map: 255)
