"""``sonomtl demo`` end to end at a test size: report, results in range, valid ONNX, cache reuse."""

from __future__ import annotations

import json
import math

import pytest


@pytest.mark.slow
def test_demo_runs_end_to_end_and_a_second_run_reuses_everything(tmp_path):
    import onnx

    from sonomtl.demo import quick_sizes, run_demo

    sizes = quick_sizes()
    lines: list[str] = []
    first = run_demo(tmp_path / "demo", sizes=sizes, log=lines.append)
    report = tmp_path / "demo" / "report.html"
    assert first["report"] == str(report) and report.stat().st_size > 10_000
    assert [line.split("]")[0] for line in lines if line.startswith("[")] == \
        [f"[{k}/8" for k in range(1, 9)]
    assert any(line.startswith("report: ") for line in lines)
    msen = json.loads((tmp_path / "demo" / "runs" / "msen" / "results.json").read_text())
    abdominal = json.loads((tmp_path / "demo" / "runs" / "abdominal" / "results.json")
                           .read_text())
    assert 0.0 <= msen["classification"]["accuracy"] <= 1.0
    assert -1.0 <= msen["saliency"]["CC"] <= 1.0 and 0.0 <= msen["saliency"]["SIM"] <= 1.0
    errors = abdominal["landmarks"]["measurement_abs_error_mm"]
    # a distance inside the simulator's 256 mm field cannot differ by more than its diagonal
    assert errors and all(v["mean"] is None or 0.0 <= v["mean"] <= 256.0 * math.sqrt(2)
                          for v in errors.values())
    headline = first["headlines"]["abdominal_measurement_error_mm"]
    assert headline is not None and math.isfinite(headline)
    model = onnx.load(str(tmp_path / "demo" / "msen.onnx"))
    onnx.checker.check_model(model)
    bench = json.loads((tmp_path / "demo" / "runs" / "msen" / "benchmark.json").read_text())
    assert [b["backend"] for b in bench] == ["torch", "onnx"]
    assert all(b["latency_ms"]["p50"] > 0 and b["throughput_fps"] > 0 for b in bench)
    # the second run rebuilds nothing: every step before the report is reused (no wall-time
    # comparison: on a shared 2-core machine it failed with 4.3 s against 7.9 s / 2)
    stamp = (tmp_path / "demo" / "msen.onnx").stat().st_mtime_ns
    second = run_demo(tmp_path / "demo", sizes=sizes, log=lambda line: None)
    assert [s["reused"] for s in second["steps"]] == [True] * 7 + [False]
    assert (tmp_path / "demo" / "msen.onnx").stat().st_mtime_ns == stamp


def test_a_failing_step_names_itself(tmp_path):
    from sonomtl.demo import DemoSizes, DemoStepError, run_demo

    with pytest.raises(DemoStepError, match=r"demo step 4/8 \(train M-SEN"):
        run_demo(tmp_path / "demo", sizes=DemoSizes(sweep_subjects=3, frames_per_clip=4,
                                                    abdominal_images=11, abdominal_subjects=3,
                                                    abdominal_input_size=64,
                                                    input_size=32),
                 config_dir=tmp_path / "no-configs", log=lambda line: None)


def test_the_demo_starts_msen_from_random_weights_when_sononet_weights_are_absent(
    tmp_path, monkeypatch
):
    from sonomtl.demo import _pretrained_or_random

    lines: list[str] = []
    monkeypatch.setenv("SONOMTL_SHARED_DATA", str(tmp_path))  # a data folder without sononet/
    monkeypatch.setenv("SONOMTL_OFFLINE", "1")
    assert _pretrained_or_random(lines.append) == ["modules.G.kwargs.pretrained=null"]
    assert len(lines) == 1 and lines[0].startswith("SonoNet-16 weights unavailable")
    assert ("download https://raw.githubusercontent.com/baumgach/SonoNet-weights/master/"
            "SonoNet16.npz and save it as ") in lines[0]


def test_the_demo_says_the_weights_are_missing_before_its_first_step(tmp_path, monkeypatch):
    from sonomtl.demo import DemoSizes, DemoStepError, run_demo

    monkeypatch.setenv("SONOMTL_SHARED_DATA", str(tmp_path))
    monkeypatch.setenv("SONOMTL_OFFLINE", "1")
    lines: list[str] = []
    with pytest.raises(DemoStepError):
        run_demo(tmp_path / "demo", sizes=DemoSizes(sweep_subjects=3, frames_per_clip=4,
                                                    abdominal_images=11, abdominal_subjects=3,
                                                    abdominal_input_size=64, input_size=32),
                 config_dir=tmp_path / "no-configs", log=lines.append)
    assert lines[0].startswith("SonoNet-16 weights unavailable")
    assert lines[1].startswith("[1/8]")
    assert sum("weights unavailable" in line for line in lines) == 1


def test_the_demo_uses_the_official_sononet_weights_when_present(sononet_dir, monkeypatch):
    from sonomtl.demo import _pretrained_or_random

    monkeypatch.setenv("SONOMTL_SHARED_DATA", str(sononet_dir.parent))
    assert _pretrained_or_random(print) == []


def test_a_finished_run_is_reused_only_for_the_very_config_it_was_trained_with(tmp_path):
    from pathlib import Path

    from sonomtl.config import load_config
    from sonomtl.demo import _finished
    from sonomtl.training.run import train

    example = Path(__file__).resolve().parents[1] / "sonomtl" / "configs" / "example.yaml"
    common = [f"out_dir={tmp_path}", "name=run", "trainer.progress_bar=false"]
    config = load_config(example, [*common, "stages.pretrain.epochs=1"])
    assert _finished(tmp_path / "run", config) is None  # nothing there yet
    run_dir = train(config).run_dir
    assert _finished(run_dir, config) is True
    # other settings (e.g. after a change of the demo's sizes or configs): trained again
    assert _finished(run_dir, load_config(example, [*common, "stages.pretrain.epochs=2"])) is None
