"""``sonomtl evaluate``'s per-frame answers against ``sonomtl predict``'s, frame by frame.

The tests evaluate with ``--batch-size 1``, as ``predict`` runs an image file: a
batched convolution rounds differently (here 4e-7 on a heat map), and where an
untrained network's map has no pixel above the threshold, two pixels can tie
for the brightest to that precision; the same batches give the same bits.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest


def evaluated_lines(out_dir: Path) -> list[dict[str, Any]]:
    """The ``predictions.jsonl`` that ``sonomtl evaluate --out OUT_DIR/results.json`` wrote."""
    text = (out_dir / "predictions.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


def assert_predict_gives_the_evaluated_answers(
    lines: list[dict[str, Any]], predictor: Any, data_root: Path, *, atol_px: float
) -> int:
    """Predict every evaluated frame alone; assert label, probabilities, landmarks, measurements.

    Returns the number of landmark coordinates compared.
    """
    from sonomtl.data.io import read_frame
    from sonomtl.data.manifest import load_dataset

    _, records = load_dataset(data_root)
    by_row = {record.row: record for record in records}
    compared = 0
    for line in lines:
        image, spacing = read_frame(data_root, by_row[line["row"]])
        [result] = predictor.predict_frames([image], spacings_mm=[spacing],
                                            measure=spacing is not None)
        got = result.record()
        where = f"row {line['row']}"
        assert got["label"] == line["label"], where
        assert list(got["probabilities"]) == list(line["probabilities"]), where
        np.testing.assert_allclose(list(got["probabilities"].values()),
                                   list(line["probabilities"].values()), atol=1e-6,
                                   err_msg=where)
        assert set(got.get("landmarks", {})) == set(line.get("landmarks", {})), where
        for name, point in line.get("landmarks", {}).items():
            assert (got["landmarks"][name] is None) == (point is None), (where, name)
            if point is not None:
                np.testing.assert_allclose(got["landmarks"][name], point, atol=atol_px,
                                           err_msg=f"{where}, {name}")
                compared += 2
        measured = line.get("measurements_mm", {})
        assert set(got.get("measurements_mm", {})) == set(measured), where
        for name, value in measured.items():
            assert got["measurements_mm"][name] == pytest.approx(value, abs=1e-3), (where, name)
    return compared
