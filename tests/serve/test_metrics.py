"""The Prometheus text format of the server's counters and histograms."""

from __future__ import annotations

import pytest

from sonomtl.serve.metrics import Counter, Histogram, Metrics


def test_histogram_buckets_are_cumulative_with_sum_and_count():
    histogram = Histogram("h", "help", (1, 4))
    for value in (1, 2, 3, 9):
        histogram.observe(value, model="m")
    assert histogram.render() == [
        "# HELP h help", "# TYPE h histogram",
        'h_bucket{model="m",le="1"} 1', 'h_bucket{model="m",le="4"} 3',
        'h_bucket{model="m",le="+Inf"} 4', 'h_sum{model="m"} 15', 'h_count{model="m"} 4']
    assert histogram.count(model="m") == 4 and histogram.count(model="other") == 0


def test_counter_escapes_label_values_and_refuses_to_go_down():
    counter = Counter("c_total", "help")
    counter.inc(2, path='a"b\\c')
    assert counter.render()[-1] == 'c_total{path="a\\"b\\\\c"} 2'
    with pytest.raises(ValueError, match="only goes up"):
        counter.inc(-1)


def test_every_series_is_declared_once_with_its_type():
    text = Metrics().render()
    types = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")]
    assert types == ["sonomtl_requests_total", "sonomtl_frames_total",
                     "sonomtl_queue_rejections_total", "sonomtl_batch_frames",
                     "sonomtl_request_seconds"]
    assert text.endswith("\n")
