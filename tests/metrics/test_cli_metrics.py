"""``sonomtl metrics saliency``: prints the per-image means; bad files exit 2 with one line."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from sonomtl.cli import main
from sonomtl.metrics import saliency


@pytest.fixture
def arrays(tmp_path):
    rng = np.random.default_rng(5)
    pred = rng.random((4, 12, 16)).astype(np.float32)
    fixations = rng.random((4, 12, 16)) > 0.9
    fixations[:, 6, 8] = True
    attention = rng.random((4, 12, 16))
    paths = {}
    for name, array in (("pred", pred), ("fix", fixations), ("att", attention)):
        paths[name] = tmp_path / f"{name}.npy"
        np.save(paths[name], array)
    return paths, pred, fixations, attention


def test_json_output_holds_the_means_of_every_metric(arrays, capsys):
    paths, pred, fixations, attention = arrays
    status = main(
        [
            "metrics",
            "saliency",
            str(paths["pred"]),
            str(paths["fix"]),
            "--attention",
            str(paths["att"]),
            "--json",
        ]
    )
    assert status == 0
    printed = json.loads(capsys.readouterr().out)
    expected = saliency.summarise_saliency(
        saliency.compute_saliency_metrics(pred, fixations, attention_maps=attention)
    )
    assert set(printed) == {
        "IG",
        "CC",
        "NSS",
        "SIM",
        "AUC_Judd",
        "AUC_Borji",
        "sAUC",
        "KLD",
        "n_images",
    }
    for key, value in expected.items():
        assert printed[key] == pytest.approx(value, abs=1e-12)


def test_text_output_and_baseline(arrays, tmp_path, capsys):
    paths, pred, fixations, _ = arrays
    baseline = np.ones((12, 16))
    np.save(tmp_path / "base.npy", baseline)
    assert (
        main(
            [
                "metrics",
                "saliency",
                str(paths["pred"]),
                str(paths["fix"]),
                "--baseline",
                str(tmp_path / "base.npy"),
            ]
        )
        == 0
    )
    lines = dict(line.split() for line in capsys.readouterr().out.splitlines())
    ig = saliency.compute_information_gain(pred, fixations, baseline_map=baseline).mean()
    assert float(lines["IG"]) == pytest.approx(ig, abs=1e-6)
    assert lines["n_images"] == "4"


def test_empty_fixation_map_is_a_warning_and_left_out(arrays, tmp_path, capsys):
    paths, pred, fixations, _ = arrays
    fixations = fixations.copy()
    fixations[0] = False
    np.save(tmp_path / "fix0.npy", fixations)
    assert (
        main(["metrics", "saliency", str(paths["pred"]), str(tmp_path / "fix0.npy"), "--json"]) == 0
    )
    captured = capsys.readouterr()
    assert "warning: IG, NSS and the AUCs is undefined (NaN) for 1 of 4 image(s)" in captured.err
    printed = json.loads(captured.out)
    assert printed["n_images"] == 3
    assert printed["NSS"] == pytest.approx(saliency.compute_nss(pred[1:], fixations[1:]).mean())


def test_shape_mismatch_names_the_file_and_exits_2(arrays, tmp_path, capsys):
    paths, *_ = arrays
    np.save(tmp_path / "small.npy", np.zeros((4, 12, 15), dtype=bool))
    assert main(["metrics", "saliency", str(paths["pred"]), str(tmp_path / "small.npy")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    # either file may be the wrong one: both are named, with their shapes
    assert f"{paths['pred']}: shape " in err and "small.npy (4, 12, 15)" in err
    assert "saliency_maps and fixation_maps must have the same shape" in err
    np.save(tmp_path / "small_att.npy", np.zeros((4, 12, 15)))
    assert main(["metrics", "saliency", str(paths["pred"]), str(paths["fix"]),
                 "--attention", str(tmp_path / "small_att.npy")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith(f"sonomtl: error: {tmp_path / 'small_att.npy'}:")


def test_missing_and_unreadable_files_exit_2(arrays, tmp_path, capsys):
    paths, *_ = arrays
    assert main(["metrics", "saliency", str(tmp_path / "nope.npy"), str(paths["fix"])]) == 2
    assert "nope.npy: file not found" in capsys.readouterr().err
    (tmp_path / "text.npy").write_text("not numpy")
    assert main(["metrics", "saliency", str(paths["pred"]), str(tmp_path / "text.npy")]) == 2
    err = capsys.readouterr().err
    assert "text.npy: not a NumPy .npy array (its header is missing)" in err
    assert "pickle" not in err


def test_nan_in_predictions_exits_2_naming_the_file(arrays, tmp_path, capsys):
    paths, pred, *_ = arrays
    bad = pred.copy()
    bad[0, 0, 0] = math.nan
    np.save(tmp_path / "bad.npy", bad)
    assert main(["metrics", "saliency", str(tmp_path / "bad.npy"), str(paths["fix"])]) == 2
    assert "bad.npy: saliency_maps must hold finite values" in capsys.readouterr().err
