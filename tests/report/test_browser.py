"""The report in a real headless Chromium: images load, no console error, no network, not blank."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

import numpy as np
import pytest

from tests.report.report_browser import find_chromium, render_in_chromium


@pytest.fixture(scope="module")
def chromium() -> str:
    executable = find_chromium()
    if executable is None:
        pytest.skip("chromium not installed: apt-get install chromium")
    return executable


def test_report_renders_in_chromium(built_report: Path, chromium: str, tmp_path: Path) -> None:
    from PIL import Image

    page = render_in_chromium(built_report, executable=chromium)
    assert len(page.images) == 13
    broken = [
        image["alt"]
        for image in page.images
        if not (image["complete"] and image["naturalWidth"] > 0)
    ]
    assert broken == []
    assert page.console_errors == []
    # only the file itself and its embedded data: URLs; nothing from the network
    assert page.requested_urls[0] == built_report.resolve().as_uri()
    assert all(url.startswith(("file://", "data:")) for url in page.requested_urls)
    assert page.headings[:3] == ["Test <report>", "msen-run run", "Results"]
    assert "classification accuracy" in page.text
    screenshot = tmp_path / "report.png"
    screenshot.write_bytes(page.screenshot_png)
    pixels = np.asarray(Image.open(BytesIO(page.screenshot_png)).convert("RGB"))
    assert pixels.shape == (900, 1280, 3)
    assert pixels.std() > 20
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 200
