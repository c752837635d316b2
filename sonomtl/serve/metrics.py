"""The server's counters and histograms, rendered in the Prometheus text format (version 0.0.4).

A handful of series do not justify a dependency: a :class:`Counter` and a
:class:`Histogram` with labels, thread-safe, and :meth:`Metrics.render`.

Examples
--------
>>> metrics = Metrics()
>>> metrics.requests.inc(endpoint="/v1/predict", status="200")
>>> metrics.batch_frames.observe(3, model="msen")
>>> text = metrics.render()
>>> 'sonomtl_requests_total{endpoint="/v1/predict",status="200"} 1' in text
True
>>> 'sonomtl_batch_frames_bucket{model="msen",le="4"} 1' in text
True
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

__all__ = ["Counter", "Histogram", "Metrics", "CONTENT_TYPE"]

#: The media type of the text format.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _labels(pairs: Sequence[tuple[str, str]]) -> str:
    if not pairs:
        return ""
    escaped = (str(v).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
               for _, v in pairs)
    return "{" + ",".join(f'{k}="{v}"' for (k, _), v in zip(pairs, escaped)) + "}"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class Counter:
    """A monotonically increasing count per label set."""

    def __init__(self, name: str, help_text: str) -> None:
        self.name, self.help_text = name, help_text
        self._values: dict[tuple[tuple[str, str], ...], float] = {}
        self._lock = threading.Lock()

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        """Add ``amount`` (>= 0) to the series of ``labels``."""
        if amount < 0:
            raise ValueError(f"a counter only goes up, got {amount!r}")
        key = tuple(sorted(labels.items()))
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, **labels: str) -> float:
        """The current count of ``labels`` (0 when never incremented)."""
        with self._lock:
            return self._values.get(tuple(sorted(labels.items())), 0.0)

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help_text}", f"# TYPE {self.name} counter"]
        with self._lock:
            for key, value in sorted(self._values.items()):
                lines.append(f"{self.name}{_labels(key)} {_number(value)}")
        return lines


class Histogram:
    """Cumulative buckets, sum and count per label set."""

    def __init__(self, name: str, help_text: str, buckets: Sequence[float]) -> None:
        if list(buckets) != sorted(buckets) or not buckets:
            raise ValueError(f"buckets must be increasing and non-empty, got {buckets!r}")
        self.name, self.help_text = name, help_text
        self.buckets = tuple(float(b) for b in buckets)
        self._series: dict[tuple[tuple[str, str], ...], list[float]] = {}
        self._lock = threading.Lock()

    def observe(self, value: float, **labels: str) -> None:
        """Count one observation of ``value``."""
        key = tuple(sorted(labels.items()))
        with self._lock:
            series = self._series.setdefault(key, [0.0] * (len(self.buckets) + 2))
            for i, bound in enumerate(self.buckets):
                if value <= bound:
                    series[i] += 1
            series[-2] += value
            series[-1] += 1

    def count(self, **labels: str) -> int:
        """How many observations ``labels`` has."""
        with self._lock:
            return int(self._series.get(tuple(sorted(labels.items())), [0.0])[-1])

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help_text}", f"# TYPE {self.name} histogram"]
        with self._lock:
            for key, series in sorted(self._series.items()):
                for bound, count in zip(self.buckets, series):
                    lines.append(f"{self.name}_bucket{_labels((*key, ('le', _number(bound))))} "
                                 f"{_number(count)}")
                lines.append(f"{self.name}_bucket{_labels((*key, ('le', '+Inf')))} "
                             f"{_number(series[-1])}")
                lines.append(f"{self.name}_sum{_labels(key)} {_number(series[-2])}")
                lines.append(f"{self.name}_count{_labels(key)} {_number(series[-1])}")
        return lines


class Metrics:
    """All series of one server."""

    def __init__(self) -> None:
        self.requests = Counter("sonomtl_requests_total",
                                "HTTP requests and WebSocket frames answered, by status")
        self.frames = Counter("sonomtl_frames_total", "frames predicted, by model")
        self.rejected = Counter("sonomtl_queue_rejections_total",
                                "requests refused because the batch queue was full")
        self.batch_frames = Histogram("sonomtl_batch_frames",
                                      "frames per model call (dynamic batching)",
                                      (1, 2, 4, 8, 16, 32, 64))
        self.latency_s = Histogram("sonomtl_request_seconds", "request handling time",
                                   (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))

    def render(self) -> str:
        """The text exposition of every series."""
        lines: list[str] = []
        for series in (self.requests, self.frames, self.rejected, self.batch_frames,
                       self.latency_s):
            lines.extend(series.render())
        return "\n".join(lines) + "\n"
