"""The HTML document: self-contained, every section present, missing parts said plainly."""

from __future__ import annotations

import base64
import re
from io import BytesIO
from pathlib import Path

import pytest

from sonomtl.report import load_source, render_report, write_report


def test_report_is_self_contained(built_report: Path) -> None:
    text = built_report.read_text(encoding="utf-8")
    assert "<script" not in text.lower() and "<link" not in text.lower()
    sources = re.findall(r'(?:src|href)="([^"]*)"', text)
    assert sources and all(s.startswith(("data:image/png;base64,", "#")) for s in sources)
    assert "http://" not in text and "https://" not in text


def test_every_embedded_image_is_a_decodable_png(built_report: Path) -> None:
    from PIL import Image

    images = re.findall(r'src="data:image/png;base64,([^"]+)"', built_report.read_text())
    # run: confusion, attention, landmarks, curves, benchmark, extra PNG (6);
    # experiment: comparison confusion (1); each of 2 child runs: confusion, curves, benchmark (6)
    assert len(images) == 13
    for data in images:
        with Image.open(BytesIO(base64.b64decode(data))) as image:
            image.verify()


def test_report_holds_config_tables_and_escaped_names(built_report: Path) -> None:
    text = built_report.read_text()
    assert "<title>Test &lt;report&gt;</title>" in text
    assert "<details><summary>Configuration (config.yaml, 6 lines)</summary><pre>model:" in text
    assert "<th class=num>accuracy (%)</th>" in text and "<td class=num>78.0</td>" in text
    # experiment: the given paper table (2 digits) and the per-model comparison
    assert "Table 1: measurement error (mm)" in text and "<td class=num>5.43</td>" in text
    assert "Classification (per model)" in text and "<td class=num>60.0</td>" in text  # STL 30/50


def test_missing_sections_say_not_available(tmp_path: Path) -> None:
    run = tmp_path / "partial"
    run.mkdir()
    (run / "metrics.csv").write_text(
        "step,stage,epoch,split,metric,value\n1,main,0,train,loss,0.5\n"
    )
    (run / "results.json").write_text('{"saliency": {"NSS": 1.5}}')
    text = render_report([load_source(run)])
    for what in (
        "classification results",
        "landmark results",
        "model size and timing",
        "configuration (config.yaml)",
        "attention examples",
        "landmark examples",
        "benchmark",
    ):
        assert f"{what}" in text and "not available" in text
    assert text.count("not available") == 7
    assert "<td class=num>1.500</td>" in text  # NSS


def test_write_report_rejects_an_empty_folder_list(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least one run or experiment folder"):
        write_report([], out=tmp_path / "r.html")
