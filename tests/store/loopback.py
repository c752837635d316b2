"""A real HTTP server on 127.0.0.1 (ephemeral port, one thread) for the download tests.

Routes: ``/good``, ``/corrupt`` (one byte changed), ``/truncated`` (announces
more bytes than it sends, then closes), ``/stall`` (headers, then no body until
the test ends, at most 10 s), anything else 404. Every request is counted.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["PAYLOAD", "Loopback", "loopback_server"]

PAYLOAD = bytes(range(256)) * 1000  # 256 kB: several read chunks
_STALL_LIMIT_S = 10.0


@dataclass
class Loopback:
    """The running server: its base URL and the requests it answered, per path."""

    url: str
    requests: Counter = field(default_factory=Counter)


@contextmanager
def loopback_server() -> Iterator[Loopback]:
    """Serve the routes above on 127.0.0.1 until the block ends."""
    release = threading.Event()
    state = Loopback(url="")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format, *args):  # quiet
            pass

        def do_GET(self):
            state.requests[self.path] += 1
            if self.path == "/good":
                self._send(PAYLOAD, len(PAYLOAD))
            elif self.path == "/corrupt":
                body = bytearray(PAYLOAD)
                body[1234] ^= 0xFF
                self._send(bytes(body), len(body))
            elif self.path == "/truncated":
                self._send(PAYLOAD[: len(PAYLOAD) // 2], len(PAYLOAD))
                self.close_connection = True
            elif self.path == "/stall":
                self.send_response(200)
                self.send_header("Content-Length", str(len(PAYLOAD)))
                self.end_headers()
                self.wfile.flush()
                release.wait(_STALL_LIMIT_S)
                self.close_connection = True
            else:
                self.send_error(404, "Not Found")

        def _send(self, body: bytes, length: int) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(length))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
