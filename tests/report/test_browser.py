"""The report in a real headless Chromium (Playwright): images load, no console error, no
network, not blank."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

import numpy as np
import pytest

from tests.browser.chromium import chromium_browser

browser = pytest.fixture(scope="module")(chromium_browser)


def test_report_renders_in_chromium(built_report: Path, browser, tmp_path: Path) -> None:
    from PIL import Image

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    urls: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type in ("error", "assert") else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: urls.append(r.url))
    page.goto(built_report.resolve().as_uri(), wait_until="load")
    images = page.evaluate("""Array.from(document.images).map(i => ({
        alt: i.alt, complete: i.complete, naturalWidth: i.naturalWidth}))""")
    assert len(images) == 13
    broken = [image["alt"] for image in images
              if not (image["complete"] and image["naturalWidth"] > 0)]
    assert broken == []
    assert errors == []
    # only the file itself and its embedded data: URLs; nothing from the network
    assert urls[0] == built_report.resolve().as_uri()
    assert all(url.startswith(("file://", "data:")) for url in urls)
    headings = page.evaluate(
        "Array.from(document.querySelectorAll('h1,h2,h3')).map(h => h.textContent)")
    assert headings[:3] == ["Test <report>", "msen-run run", "Results"]
    assert "classification accuracy" in page.inner_text("body")
    screenshot = page.screenshot(full_page=False)
    (tmp_path / "report.png").write_bytes(screenshot)
    page.close()
    pixels = np.asarray(Image.open(BytesIO(screenshot)).convert("RGB"))
    assert pixels.shape == (900, 1280, 3)
    assert pixels.std() > 20
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 200
