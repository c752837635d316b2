"""A tiny Chrome DevTools Protocol client over ``--remote-debugging-pipe`` (standard library only).

Chromium reads commands from its fd 3 and writes replies and events to its
fd 4, each message one JSON object followed by a NUL byte. We open a page,
navigate to a file, wait for the load event, evaluate JavaScript, take a
screenshot, and collect console errors, exceptions and network requests.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["find_chromium", "PageReport", "render_in_chromium", "CHROMIUM_FLAGS"]

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--mute-audio",
)


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome executable on PATH, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass
class PageReport:
    """What the browser saw."""

    images: list[dict[str, Any]]
    console_errors: list[str]
    requested_urls: list[str]
    screenshot_png: bytes
    document_height_px: int
    text: str = ""
    headings: list[str] = field(default_factory=list)


class _Pipe:
    def __init__(self, executable: str, profile: str) -> None:
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        # The child sees our pipe ends as its fd 3 (commands in) and 4 (messages out).
        def child_fds() -> None:  # runs in the child before exec
            import fcntl

            # Move both ends above 9 first: a pipe end may itself be fd 3 or 4.
            high_r = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 10)
            high_w = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 10)
            os.dup2(high_r, 3)  # os.dup2 makes the copy inheritable
            os.dup2(high_w, 4)

        self.process = subprocess.Popen(
            [
                executable,
                *CHROMIUM_FLAGS,
                "--remote-debugging-pipe",
                f"--user-data-dir={profile}",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            # close_fds=False: the dup2'd fds 3 and 4 are inheritable, every other pipe end is
            # close-on-exec (os.pipe's default), so only 3 and 4 reach Chromium.
            close_fds=False,
            preexec_fn=child_fds,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def send(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        session: str | None = None,
        timeout_s: float = 60.0,
    ) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        reply = self._wait(lambda m: m.get("id") == self._next_id, timeout_s=timeout_s)
        if "error" in reply:
            raise RuntimeError(f"CDP {method} failed: {reply['error']}")
        return reply.get("result", {})

    def wait_event(self, method: str, *, timeout_s: float = 60.0) -> dict[str, Any]:
        for event in self.events:
            if event.get("method") == method:
                return event
        return self._wait(lambda m: m.get("method") == method, timeout_s=timeout_s)

    def _wait(self, match: Any, *, timeout_s: float) -> dict[str, Any]:
        import select

        deadline = time.monotonic() + timeout_s
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                message = json.loads(raw)
                if "method" in message:
                    self.events.append(message)
                if match(message):
                    return message
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no CDP answer within {timeout_s} s")
            ready, _, _ = select.select([self._from_browser], [], [], left)
            if ready:
                chunk = os.read(self._from_browser, 1 << 20)
                if not chunk:
                    raise RuntimeError("chromium closed the pipe: " + self._stderr_tail())
                self._buffer += chunk

    def _stderr_tail(self) -> str:
        if self.process.poll() is None:
            return "(still running)"
        return (self.process.stderr.read() or b"").decode(errors="replace")[-2000:]

    def close(self) -> None:
        try:
            if self.process.poll() is None:
                self.send("Browser.close", timeout_s=10)
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        for fd in (self._to_browser, self._from_browser):
            try:
                os.close(fd)
            except OSError:
                pass
        if self.process.stderr:
            self.process.stderr.close()


_IMAGES_JS = """JSON.stringify(Array.from(document.images).map(i => ({
  alt: i.alt, complete: i.complete, naturalWidth: i.naturalWidth, naturalHeight: i.naturalHeight,
  src: i.src.slice(0, 30)})))"""


def render_in_chromium(
    html_path: Path,
    *,
    executable: str,
    width_px: int = 1280,
    full_page: bool = False,
    timeout_s: float = 90.0,
) -> PageReport:
    """Open ``html_path`` in headless Chromium; return images, errors, requests and a screenshot
    (of the first 900 px, or of the whole page up to 16000 px with ``full_page``)."""
    with tempfile.TemporaryDirectory(prefix="sonomtl-chromium-") as profile:
        pipe = _Pipe(executable, profile)
        try:
            target = pipe.send("Target.createTarget", {"url": "about:blank"}, timeout_s=timeout_s)[
                "targetId"
            ]
            session = pipe.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
                "sessionId"
            ]
            for domain in ("Page", "Runtime", "Log", "Network"):
                pipe.send(f"{domain}.enable", session=session)
            pipe.send(
                "Emulation.setDeviceMetricsOverride",
                {"width": width_px, "height": 900, "deviceScaleFactor": 1, "mobile": False},
                session=session,
            )
            pipe.events.clear()
            pipe.send("Page.navigate", {"url": html_path.resolve().as_uri()}, session=session)
            pipe.wait_event("Page.loadEventFired", timeout_s=timeout_s)

            def evaluate(expression: str) -> Any:
                result = pipe.send(
                    "Runtime.evaluate",
                    {"expression": expression, "returnByValue": True},
                    session=session,
                )
                return result["result"].get("value")

            images = json.loads(evaluate(_IMAGES_JS))
            height = int(evaluate("document.documentElement.scrollHeight"))
            text = evaluate("document.body.innerText")
            headings = json.loads(
                evaluate(
                    "JSON.stringify(Array.from(document.querySelectorAll('h1,h2,h3'))"
                    ".map(h => h.textContent))"
                )
            )
            if full_page:
                pipe.send(
                    "Emulation.setDeviceMetricsOverride",
                    {
                        "width": width_px,
                        "height": min(height, 16000),
                        "deviceScaleFactor": 1,
                        "mobile": False,
                    },
                    session=session,
                )
            shot = pipe.send(
                "Page.captureScreenshot",
                {"format": "png", "captureBeyondViewport": False},
                session=session,
                timeout_s=timeout_s,
            )
        finally:
            pipe.close()
    errors, urls = [], []
    for event in pipe.events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.exceptionThrown":
            errors.append(str(params.get("exceptionDetails", {}).get("text")))
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            errors.append(
                " ".join(str(a.get("value", a.get("description"))) for a in params.get("args", []))
            )
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            errors.append(str(params["entry"].get("text")))
        elif method == "Network.requestWillBeSent":
            urls.append(str(params.get("request", {}).get("url", "")))
    return PageReport(
        images=images,
        console_errors=errors,
        requested_urls=urls,
        screenshot_png=base64.b64decode(shot["data"]),
        document_height_px=height,
        text=text or "",
        headings=headings,
    )
