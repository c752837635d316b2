"""Bad-input cases of report, sononet, synth and experiment."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.cli.bad_input_fixtures import (
    CLASSIFICATION,
    case,
    results_run,
)

# ----------------------------------------------------------------------------- report

def _report(run: Path, d: Path) -> list[str]:
    return ["report", str(run), "--out", str(d / "r.html")]


@case("report-ragged-confusion-matrix")
def _(s, d):
    run = results_run(d, {"classification": {**CLASSIFICATION,
                                              "confusion_matrix": [[1, 0], [1]]}})
    return _report(run, d), "field classification.confusion_matrix: expected a square 2x2"


@case("report-string-in-confusion-matrix")
def _(s, d):
    run = results_run(d, {"classification": {**CLASSIFICATION,
                                              "confusion_matrix": [[1, "x"], [1, 0]]}})
    return _report(run, d), "classification.confusion_matrix: row 0: expected non-negative"


@case("report-classification-is-a-string")
def _(s, d):
    run = results_run(d, {"classification": "high"})
    return _report(run, d), "results.json: field classification: expected an object, got str"


@case("report-labels-not-strings")
def _(s, d):
    run = results_run(d, {"classification": {**CLASSIFICATION, "labels": [1, 2]}})
    return _report(run, d), "field classification.labels"


@case("report-saliency-is-a-list")
def _(s, d):
    run = results_run(d, {"saliency": [1, 2]})
    return _report(run, d), "field saliency: expected an object"


@case("report-experiment-model-ragged-matrix")
def _(s, d):
    run = results_run(d, {"models": {"m": {"classification": {
        **CLASSIFICATION, "confusion_matrix": [[1, 0, 3], [1, 0]]}}}})
    return _report(run, d), "field models.m.classification.confusion_matrix"


@case("report-confusion-matrix-of-3000-classes")
def _(s, d):
    labels = [f"c{i}" for i in range(3000)]
    run = results_run(d, {"classification": {"labels": labels,
                                             "confusion_matrix": [[0] * 3000] * 3000}})
    return _report(run, d), "3000 classes; the report draws at most 200"


@case("report-table-digits-not-a-number")
def _(s, d):
    run = results_run(d, {"tables": {"t1": {"columns": ["a"], "rows": [[1]], "digits": "x"}}})
    return _report(run, d), "field tables.t1.digits: expected an integer from 0 to 10"


@case("report-malformed-benchmark-latency")
def _(s, d):
    run = results_run(d, {"backend": "torch", "latency_ms": "fast"}, name="benchmark.json")
    return _report(run, d), "benchmark.json: field latency_ms: expected an object"


@case("report-malformed-benchmark-number")
def _(s, d):
    run = results_run(d, {"backend": "torch", "throughput_fps": "many"}, name="benchmark.json")
    return _report(run, d), "benchmark.json: field throughput_fps: expected a number"


@case("report-benchmark-not-json")
def _(s, d):
    run = results_run(d, "{not json", name="benchmark.json")
    return _report(run, d), "benchmark.json: invalid JSON"


def _landmark_examples(d: Path, image: str) -> Path:
    run = d / "run"
    (run / "figures").mkdir(parents=True)
    (run / "results.json").write_text("{}")
    (run / "figures" / "landmark_examples.json").write_text(json.dumps({"examples": [
        {"image": image, "truth": {}, "prediction": {}}]}))
    return run


@case("report-landmark-image-outside-the-run")
def _(s, d):
    run = _landmark_examples(d, "../../../img/x.png")
    return _report(run, d), "field examples[0].image: path 'figures/../../../img/x.png' leaves"


@case("report-landmark-image-absolute")
def _(s, d):
    run = _landmark_examples(d, str(s.png))
    return _report(run, d), f"field examples[0].image: path '{s.png}' leaves"


@case("report-figure-symlink-outside-the-run")
def _(s, d):
    run = results_run(d, {})
    (run / "figures").mkdir()
    os.symlink(s.png, run / "figures" / "extra.png")
    return _report(run, d), "leaves the folder"


@case("report-results-not-json")
def _(s, d):
    run = results_run(d, "[1, 2")
    return _report(run, d), "results.json: invalid JSON"


@case("report-missing-folder")
def _(s, d):
    return _report(d / "none", d), "none: not a folder"


@case("report-attention-npz-text")
def _(s, d):
    run = results_run(d, {})
    (run / "figures").mkdir()
    (run / "figures" / "attention_examples.npz").write_text("hello")
    return _report(run, d), "attention_examples.npz: not a NumPy .npz archive"


# ----------------------------------------------------------------------------- sononet, synth

def _sononet_weights() -> Path:
    from sonomtl.fileio import shared_data_dir

    root = shared_data_dir()
    if root is None or not (root / "sononet" / "SonoNet16.npz").is_file():
        pytest.skip("needs the official SonoNet-16 weights (shared data)")
    return root / "sononet" / "SonoNet16.npz"


@case("sononet-classify-decompression-bomb")
def _(s, d):
    return ["sononet", "classify", "--weights", str(_sononet_weights()), str(s.bomb)], \
        f"{s.bomb}: image too large"


@case("sononet-classify-text-weights")
def _(s, d):
    (d / "w.npz").write_text("weights")
    return ["sononet", "classify", "--weights", str(d / "w.npz"), str(s.png)], \
        "w.npz: not a NumPy .npz archive"


@case("sononet-classify-missing-image")
def _(s, d):
    return ["sononet", "classify", "--weights", str(_sononet_weights()), str(d / "none.png")], \
        "none.png"


@case("sononet-classify-bad-crop")
def _(s, d):
    return ["sononet", "classify", "--weights", str(d / "w.npz"), "--crop", "a:b",
            str(s.png)], "--crop"


@case("synth-sweeps-zero-subjects")
def _(s, d):
    return ["synth", "sweeps", "--out", str(d / "o"), "--subjects", "0"], "--subjects"


@case("synth-sweeps-frames-not-a-number")
def _(s, d):
    return ["synth", "sweeps", "--out", str(d / "o"), "--frames", "abc"], "--frames"


@case("synth-abdominal-negative-images")
def _(s, d):
    return ["synth", "abdominal", "--out", str(d / "o"), "--images", "-1"], "--images"


@case("synth-abdominal-huge-input-size")
def _(s, d):
    return ["synth", "abdominal", "--out", str(d / "o"), "--input-size", "100000"], \
        "--input-size"


# ----------------------------------------------------------------------------- experiment

@case("experiment-abdominal-model-file-missing")
def _(s, d):
    return ["experiment", "abdominal", "--data", str(s.dataset), "--out", str(d / "x"),
            "--model", f"MGCN_R={d / 'bad.yaml'}"], f"{d / 'bad.yaml'}"


@case("experiment-abdominal-model-file-not-yaml")
def _(s, d):
    (d / "bad.yaml").write_text("a: [1, 2\n")
    return ["experiment", "abdominal", "--data", str(s.dataset), "--out", str(d / "x"),
            "--model", f"MGCN_R={d / 'bad.yaml'}"], f"{d / 'bad.yaml'}"


@case("experiment-abdominal-model-without-name")
def _(s, d):
    return ["experiment", "abdominal", "--data", str(s.dataset), "--out", str(d / "x"),
            "--model", "bad.yaml"], "--model"


@case("experiment-abdominal-threads-negative")
def _(s, d):
    return ["experiment", "abdominal", "--data", str(s.dataset), "--out", str(d / "x"),
            "--threads", "-1"], "argument --threads"


@case("experiment-msen-folds-zero")
def _(s, d):
    return ["experiment", "msen", "--data", str(s.dataset), "--out", str(d / "x"),
            "--folds", "0"], "argument --folds"


@case("experiment-msen-folds-one")
def _(s, d):
    return ["experiment", "msen", "--data", str(s.dataset), "--out", str(d / "x"),
            "--folds", "1"], "--folds"


@case("experiment-msen-missing-data")
def _(s, d):
    return ["experiment", "msen", "--data", str(d / "none"), "--out", str(d / "x")], "none"
