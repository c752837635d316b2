"""The page at ``/`` in headless Chromium: upload a file, stream a video, check what is drawn."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.browser.chromium import chromium_browser
from tests.serve.conftest import blob_image, build_app, running_server

# Grey levels of the streamed video: dark, a bright plane in the middle, dark again.
VIDEO_LEVELS = [10] * 6 + [120, 200, 250, 250, 250, 200, 120] + [10] * 6
FPS = 10

browser = pytest.fixture(scope="module")(chromium_browser)


def write_webm(path: Path, levels, *, hw=(48, 64), fps=FPS) -> Path:
    """A VP8 WebM (PyAV) whose frame t is a grey level with a bright dot (Chromium plays VP8)."""
    import av

    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libvpx", rate=fps)
        stream.width, stream.height, stream.pix_fmt = hw[1], hw[0], "yuv420p"
        stream.options = {"crf": "4", "b": "1M"}
        for level in levels:
            rgb = np.full((*hw, 3), level, dtype=np.uint8)
            rgb[20:26, 30:36] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _canvas_stats(page, selector: str) -> dict:
    return page.evaluate("""(selector) => {
        const canvas = document.querySelector(selector);
        const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        let lit = 0, coloured = 0;
        for (let i = 0; i < data.length; i += 4) {
            if (data[i] + data[i + 1] + data[i + 2] > 30) lit++;
            if (Math.abs(data[i] - data[i + 2]) > 60) coloured++;
        }
        return {width: canvas.width, height: canvas.height, lit, coloured};
    }""", selector)


def test_the_page_predicts_a_dropped_file_and_a_streamed_video(browser, tmp_path):
    app, _ = build_app()
    image_path = tmp_path / "frame.png"
    Image.fromarray(blob_image()).save(image_path)
    video_path = write_webm(tmp_path / "sweep.webm", VIDEO_LEVELS)
    with running_server(app) as url:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors, requests = [], []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: requests.append(r.url))
        page.goto(url + "/")
        page.wait_for_function("document.querySelectorAll('#model option').length === 2")
        assert page.inner_text("#status") == "2 model(s) ready"

        # 1. a file: the M-SEN result with its attention overlay
        page.select_option("#model", "msen")
        page.set_input_files("#file", str(image_path))
        page.wait_for_selector("body[data-predicted='1']", timeout=60_000)
        frame = _canvas_stats(page, "#frame")
        assert (frame["width"], frame["height"]) == (80, 60)  # the frame at its own size
        assert frame["lit"] > 0.9 * 80 * 60  # overlay drawn over most of the frame
        assert frame["coloured"] > 0  # the red-yellow attention overlay and the peak marker
        assert page.get_attribute("#timeline", "data-points") == "1"
        assert "frame 0:" in page.inner_text("#readout")
        with page.expect_download() as download:
            page.click("#download")
        lines = Path(download.value.path()).read_text().splitlines()
        record = json.loads(lines[0])
        assert len(lines) == 1 and record["source"] == "frame.png"
        assert set(record["probabilities"]) == {"plane", "BG"}

        # 2. the abdominal model with a pixel size: landmarks, a caliper and the measurement
        page.select_option("#model", "abdominal")
        page.fill("#spacing", "0.4,0.5")
        page.set_input_files("#file", str(tmp_path / "frame.png"))
        page.wait_for_function("document.getElementById('readout').innerText.includes('mm')",
                               timeout=30_000)
        readout = page.inner_text("#readout")
        assert "A: 20.6 mm" in readout  # dots 45 px (x 0.4 mm) and 20 px (x 0.5 mm) apart
        yellow = page.evaluate("""() => {
            const c = document.getElementById('frame');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let n = 0;
            for (let i = 0; i < d.length; i += 4) {
                if (d[i] > 200 && d[i + 1] > 200 && d[i + 2] < 80) n++;
            }
            return n; }""")
        assert yellow >= 30  # the caliper line between the two landmarks
        page.fill("#spacing", "")
        page.select_option("#model", "msen")

        # 3. a video streamed frame by frame over the WebSocket
        page.set_input_files("#video-file", str(video_path))
        page.wait_for_function("!document.getElementById('stream-start').disabled")
        page.click("#stream-start")
        page.wait_for_selector("body[data-stream-done='1']", timeout=90_000)
        answered = int(page.get_attribute("body", "data-streamed"))
        assert 5 <= answered <= len(VIDEO_LEVELS)  # a live feed may drop frames, never add
        assert page.get_attribute("#timeline", "data-points") == str(answered)
        timeline = _canvas_stats(page, "#timeline")
        assert timeline["coloured"] > 50  # the probability curves are drawn
        best = page.query_selector_all("#best li")
        assert [item.get_attribute("data-plane") for item in best] == ["plane"]
        assert best[0].query_selector("img").evaluate("img => img.naturalWidth") == 64
        with page.expect_download() as download:
            page.click("#download")
        streamed = [json.loads(s) for s in Path(download.value.path()).read_text().splitlines()]
        assert [r["frame"] for r in streamed] == list(range(answered))
        peak = max(streamed, key=lambda r: r["smoothed_probabilities"]["plane"])
        assert streamed[-1]["best_frames"]["plane"]["frame"] == peak["frame"]
        assert peak["smoothed_probabilities"]["plane"] >= 0.9
        assert errors == []
        origins = {u.split("/")[2] for u in requests if u.startswith(("http", "ws"))}
        assert origins == {url.split("/")[2]}  # nothing from anywhere else (no CDN)
        page.close()
