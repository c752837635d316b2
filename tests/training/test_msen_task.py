"""The M-SEN task: G needs no gaze, hand-computed loss terms, discriminator inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sonomtl.losses.saliency import saliency_loss
from sonomtl.models.discriminators import attention_discriminator
from sonomtl.models.msen import msen_generator
from sonomtl.training.msen_task import MSENTask, PairInputDiscriminator
from sonomtl.training.tasks import build_task


def test_msen_is_registered_as_a_task():
    task = build_task("msen", params={"variant": "msen", "saliency_loss": "mse"})
    assert isinstance(task, MSENTask) and task.loss_kind == "mse"


def test_generator_runs_on_frames_alone_without_any_gaze_input():
    torch.manual_seed(0)
    task = MSENTask(params={"variant": "msen"})
    modules = {"G": msen_generator(sononet_width=4).eval()}
    batch = {"image": torch.randn(3, 1, 48, 48)}  # no "attention" key at all
    with torch.no_grad():
        outputs = task.forward(modules, batch)
        predicted = task.predict(modules, batch)
    assert outputs["attention"].shape == (3, 1, 48, 48)
    assert outputs["logits"].shape == (3, 2)
    assert torch.allclose(outputs["attention"], torch.sigmoid(outputs["attention_logits"]))
    assert torch.allclose(predicted["scores"].sum(1), torch.ones(3))
    assert predicted["attention"].shape == (3, 48, 48)


def _hand_batch():
    # sample 0: logits (0, ln 3) -> A-hat (0.5, 0.75), target (1, 0); sample 1 has no map
    logits = torch.tensor([[[[0.0, math.log(3.0)]]], [[[5.0, -5.0]]]])
    outputs = {"attention_logits": logits, "attention": torch.sigmoid(logits),
               "logits": torch.tensor([[math.log(3.0), 0.0], [0.0, 0.0]])}
    batch = {"attention": torch.tensor([[[[1.0, 0.0]]], [[[0.0, 0.0]]]]),
             "has_attention": torch.tensor([True, False]), "label": torch.tensor([0, 1])}
    return outputs, batch


def test_bce_and_classification_terms_equal_the_hand_computed_values():
    outputs, batch = _hand_batch()
    task = MSENTask(params={"variant": "msen", "saliency_loss": "bce"})
    terms = task.generator_losses(outputs, batch, terms=["saliency", "classification"])
    # BCE of sample 0 only: (-ln 0.5 - ln 0.25) / 2
    assert float(terms["saliency"]) == pytest.approx((math.log(2) + math.log(4)) / 2, rel=1e-6)
    # CE: sample 0 -ln(3/4), sample 1 -ln(1/2)
    assert float(terms["classification"]) == pytest.approx(
        (-math.log(0.75) + math.log(2)) / 2, rel=1e-6)


def test_mse_term_equals_the_hand_computed_value():
    outputs, batch = _hand_batch()
    task = MSENTask(params={"variant": "ss_att", "saliency_loss": "mse"})
    terms = task.generator_losses(outputs, batch, terms=["saliency"])
    assert float(terms["saliency"]) == pytest.approx((0.25 + 0.5625) / 2, rel=1e-6)


def test_saliency_loss_without_mask_averages_every_sample():
    outputs, batch = _hand_batch()
    both = saliency_loss(outputs["attention_logits"], outputs["attention"], batch["attention"],
                         kind="bce")
    second = torch.nn.functional.binary_cross_entropy(
        torch.sigmoid(torch.tensor([5.0, -5.0])), torch.zeros(2))
    assert float(both) == pytest.approx(((math.log(2) + math.log(4)) / 2 + float(second)) / 2,
                                        rel=1e-5)


def test_terms_a_variant_lacks_are_refused():
    outputs, batch = _hand_batch()
    with pytest.raises(ValueError, match="no class output"):
        MSENTask(params={"variant": "ss_att"}).generator_losses(outputs, batch,
                                                                terms=["classification"])
    with pytest.raises(ValueError, match="variant"):
        MSENTask(params={"variant": "gan"})


def test_discriminator_sees_frame_with_true_map_and_frame_with_predicted_map():
    torch.manual_seed(1)
    task = MSENTask(params={"variant": "msen"})
    image, truth = torch.randn(2, 1, 16, 16), torch.rand(2, 1, 16, 16)
    predicted = torch.rand(2, 1, 16, 16)
    real, fake = task.discriminator_inputs({"attention": predicted},
                                           {"image": image, "attention": truth})
    assert torch.equal(real, torch.cat([image, truth], 1))
    assert torch.equal(fake, torch.cat([image, predicted], 1))
    inner = attention_discriminator(input_hw=(16, 16))
    wrapped = task.build_module("D", model="attention_discriminator",
                                kwargs={"input_hw": (16, 16)})
    assert isinstance(wrapped, PairInputDiscriminator)
    wrapped.discriminator.load_state_dict(inner.state_dict())
    assert torch.allclose(wrapped(fake), inner.forward_logits(image, predicted))


def test_ss_cls_classifies_the_ground_truth_map_and_sonoeyenet_takes_both():
    from sonomtl.models.msen import ss_cls_net
    from sonomtl.models.sonoeyenet import sonoeyenet

    torch.manual_seed(2)
    image, truth = torch.randn(2, 1, 32, 32), torch.rand(2, 1, 32, 32)
    batch = {"image": image, "attention": truth}
    cls = ss_cls_net(sononet_width=4).eval()
    out = MSENTask(params={"variant": "ss_cls"}).forward({"G": cls}, batch)
    assert torch.allclose(out["logits"], cls(truth))
    eye = sonoeyenet(sononet_width=4).eval()
    out = MSENTask(params={"variant": "sonoeyenet"}).forward({"G": eye}, batch)
    assert torch.allclose(out["logits"], eye(image, truth))


def test_msen_frames_resize_maps_and_fixations_with_the_frame(tmp_path):
    from PIL import Image

    from sonomtl.data.manifest import DatasetSpec, write_dataset
    from sonomtl.training.msen_task import MSENFrames

    # 64x64 frames -> dataset input 32x32 -> quick input 16x16: the 2x2 frame block at
    # rows 40-41, cols 20-21 is pixel (20, 10) at 32x32 and pixel (10, 5) at 16x16.
    spec = DatasetSpec(name="m", classes=("ACP", "BG"), input_size=(32, 32))
    frame = np.zeros((64, 64), np.uint8)
    frame[40:42, 20:22] = 255
    Image.fromarray(frame).save(tmp_path / "f.png")
    attention = np.zeros((32, 32), np.float32)
    attention[20, 10] = 1.0  # at the dataset's input size: model-input space
    np.save(tmp_path / "a.npy", attention)
    write_dataset(tmp_path, spec, [
        {"image": "f.png", "subject": "s1", "label": "ACP", "attention": "a.npy",
         "fixations": [[20.5, 40.5]]},
        {"image": "f.png", "subject": "s2", "label": "BG"}])
    frames = MSENFrames(tmp_path, indices=[0, 1], input_hw=(16, 16), normalise=None)
    sample = frames[0]
    assert sample["image"].shape == sample["attention"].shape == (1, 16, 16)
    assert float(sample["attention"][0, 10, 5]) == pytest.approx(0.25)  # 2x2 area average
    assert float(sample["image"][0, 10, 5]) == pytest.approx(255 / 4)
    assert np.argwhere(sample["fixation_map"][0].numpy() == 1).tolist() == [[10, 5]]
    flipped = MSENFrames(tmp_path, indices=[0, 1], input_hw=(16, 16), normalise=None,
                         augment=True, flip_prob=1.0, rotate_deg=0.0)[0]
    assert np.argwhere(flipped["fixation_map"][0].numpy() == 1).tolist() == [[10, 10]]
    assert float(flipped["attention"][0, 10, 10]) == pytest.approx(0.25)
    batch = MSENTask(params={"variant": "msen"}).collate([sample, frames[1]])
    assert batch["has_fixations"].tolist() == [True, False]
    assert batch["has_attention"].tolist() == [True, False]


@pytest.mark.parametrize("classes", [("BG", "ACP"), ("background", "plane")])
def test_a_dataset_listing_background_first_is_refused(tmp_path, classes):
    # the tables score the first class; background first would report BG's precision/recall/F1
    from PIL import Image

    from sonomtl.data.manifest import DatasetSpec, write_dataset
    from sonomtl.errors import InputError

    Image.fromarray(np.zeros((32, 32), np.uint8)).save(tmp_path / "f.png")
    write_dataset(tmp_path, DatasetSpec(name="m", classes=classes, input_size=(32, 32)), [
        {"image": "f.png", "subject": "s1", "label": classes[0]},
        {"image": "f.png", "subject": "s2", "label": classes[1]}])
    task = MSENTask(params={"variant": "sononet"})
    with pytest.raises(InputError, match="list the plane first") as caught:
        task.build_datasets(root=str(tmp_path), params={}, seed=0)
    assert caught.value.field == "classes"


@pytest.mark.parametrize(("variant", "terms"), [
    ("msen", ("saliency", "classification")), ("ss_att", ("saliency",)),
    ("sononet", ("classification",)), ("ss_cls", ("classification",)),
])
def test_each_variant_declares_the_loss_terms_it_computes(variant, terms):
    # a stage weighing another term is refused before the run folder is written
    assert MSENTask(params={"variant": variant}).loss_terms == terms


def test_validation_saliency_covers_only_frames_with_a_ground_truth_map():
    # as the training loss: a frame without a map (zero-filled by collate) is not scored
    task = MSENTask(params={"variant": "msen", "saliency_loss": "mse"})
    generator = msen_generator(sononet_width=4).eval()
    batch = {"image": torch.rand(3, 1, 64, 64), "label": torch.tensor([0, 1, 0]),
             "attention": torch.rand(3, 1, 64, 64), "has_attention": torch.tensor([1, 0, 1]) > 0}
    with torch.no_grad():
        values = task.validation_outputs({"G": generator}, batch)
        maps = task.forward({"G": generator}, batch)["attention"]
    assert values["accuracy"].shape == (3,) and values["saliency"].shape == (2,)
    expected = ((maps - batch["attention"]) ** 2).flatten(1).mean(1)[[0, 2]]
    assert torch.allclose(values["saliency"], expected, atol=1e-6)


def test_frames_without_a_map_give_the_discriminator_identical_pairs_and_g_no_gradient():
    task = MSENTask(params={"variant": "msen"})
    image, truth = torch.randn(2, 1, 8, 8), torch.rand(2, 1, 8, 8)
    predicted = torch.rand(2, 1, 8, 8, requires_grad=True)
    real, fake = task.discriminator_inputs(
        {"attention": predicted},
        {"image": image, "attention": truth, "has_attention": torch.tensor([True, False])})
    assert torch.equal(real[0], torch.cat([image[0], truth[0]]))
    assert torch.equal(fake[0], torch.cat([image[0], predicted[0].detach()]))
    assert torch.equal(real[1], fake[1]) and not real[1, 1].any()  # frame, zeros
    fake.sum().backward()
    assert predicted.grad[0].eq(1).all() and predicted.grad[1].eq(0).all()
