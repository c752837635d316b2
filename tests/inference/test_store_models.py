"""A model-store name given to predict, export or serve means its published weights."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.shared_data


def test_a_store_name_predicts_with_the_official_weights_not_random_ones(sononet_dir):
    from sonomtl.data.io import read_image
    from sonomtl.inference.predictor import load_model, load_predictor

    predictor = load_predictor("sononet16")  # found in the shared data folder (store order)
    assert predictor.source.endswith("SonoNet16.npz")
    frame = read_image(sononet_dir / "example_images" / "ABDOMINAL.tiff")
    [result] = predictor.predict_frames([frame])
    assert result.label == "Abdominal"
    assert result.probabilities["Abdominal"] > 0.5
    # timing needs no weights: the registry network, random
    module, _, description = load_model("sononet16", pretrained=False)
    assert description == "registry:sononet16"
