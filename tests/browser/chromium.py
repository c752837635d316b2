"""Headless Debian Chromium driven by Playwright (the system browser: nothing is downloaded)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

__all__ = ["CHROMIUM_ARGS", "find_chromium", "chromium_browser"]

CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--mute-audio",
    "--autoplay-policy=no-user-gesture-required",
)


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome executable on PATH, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


def chromium_browser() -> Iterator[object]:
    """A Playwright ``Browser`` on the system Chromium (a generator for a pytest fixture);
    skips when Playwright or Chromium is missing."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed")
    executable = find_chromium()
    if executable is None:
        pytest.skip("chromium not installed: apt-get install chromium")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=list(CHROMIUM_ARGS))
        try:
            yield browser
        finally:
            browser.close()
