"""The engine end to end on the example task (in-process, CPU, a few seconds per run)."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from sonomtl.cli import main
from sonomtl.config import AdversarialConfig, load_config
from sonomtl.errors import InputError
from sonomtl.models.toy import tiny_discriminator, tiny_generator
from sonomtl.training.checkpoint import FORMAT_VERSION, load_checkpoint_modules
from sonomtl.training.example import BlobDataset, ExampleTask
from sonomtl.training.logging import read_metrics
from sonomtl.training.run import train
from sonomtl.training.steps import (
    NonFiniteLossError,
    StepContext,
    _optimise,
    adversarial_step,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "sonomtl" / "configs" / "example.yaml"
QUIET = ["trainer.progress_bar=false"]


def _run(tmp_path: Path, name: str, *overrides: str):
    return train(load_config(EXAMPLE, [f"out_dir={tmp_path}", f"name={name}", *QUIET, *overrides]))


def _weights(run_dir: Path, step: int | None = None) -> dict[str, torch.Tensor]:
    if step is None:
        step = json.loads((run_dir / "checkpoints" / "last.json").read_text())["step"]
    return load_file(run_dir / "checkpoints" / f"step-{step:09d}.safetensors")


@pytest.mark.slow
def test_the_same_seed_on_cpu_gives_identical_metrics_and_weights(tmp_path: Path) -> None:
    first, second = _run(tmp_path, "a"), _run(tmp_path, "b")
    assert first.metrics == second.metrics
    assert (tmp_path / "a" / "metrics.csv").read_text() == (
        tmp_path / "b" / "metrics.csv"
    ).read_text()
    wa, wb = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    assert all(wa[k].equal(wb[k]) for k in wa)
    other = _run(tmp_path, "c", "seed=1")
    assert other.metrics["val/classification"] != first.metrics["val/classification"]


def test_training_learns_and_logs_the_scheduled_weights_per_epoch(tmp_path: Path) -> None:
    result = _run(
        tmp_path, "run", "stages.pretrain.epochs=3", "stages.pretrain.optimizers.G.lr=0.01"
    )
    rows = read_metrics(tmp_path / "run")
    weights = [
        r["value"] for r in rows if r["metric"] == "weight_saliency" and r["stage"] == "pretrain"
    ]
    assert weights == [2.0, 1.5, 1.0]  # lambda1 from 2 to 1 over 3 epochs, first and last included
    saliency = [r["value"] for r in rows if r["metric"] == "saliency" and r["split"] == "train"]
    assert saliency[-1] < saliency[0] - 0.1  # the attention maps are being learned
    steps = sorted({r["step"] for r in rows})
    assert steps[-1] == 3 * 8 + 6 + 4  # 3 epochs of 8 batches, 6 adversarial steps, 4 head batches
    # the adversarial stage logs the discriminator loss and the generator's adversarial term
    adversarial = {
        r["metric"] for r in rows if r["stage"] == "adversarial" and r["split"] == "train"
    }
    assert {"discriminator", "adversarial", "saliency", "classification", "lr_D"} <= adversarial
    assert result.metrics["val/accuracy"] >= 0.0
    assert (tmp_path / "run" / "tensorboard").is_dir()
    assert any((tmp_path / "run" / "tensorboard").iterdir())


@pytest.mark.slow
def test_a_frozen_sub_module_keeps_its_weights_and_batch_norm_statistics(tmp_path: Path) -> None:
    _run(tmp_path, "run", "checkpoint.keep_last=10")
    before, after = (
        _weights(tmp_path / "run", 22),
        _weights(tmp_path / "run", 26),
    )  # head stage: 23-26
    features = [k for k in before if k.startswith("G.features.")]
    assert "G.features.1.running_mean" in features
    for key in features:
        assert after[key].equal(before[key]), key
    assert not after["G.classifier.0.weight"].equal(before["G.classifier.0.weight"])
    assert not after["G.saliency.weight"].equal(before["G.saliency.weight"])
    for key in (k for k in before if k.startswith("D.")):  # untrained module: untouched
        assert after[key].equal(before[key]), key


def test_a_nan_loss_stops_the_run_naming_the_term_and_keeps_the_last_good_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(NonFiniteLossError, match="'classification'") as error:
        _run(tmp_path, "run", "task.params.nan_at_call=5", "checkpoint.every_n_steps=2")
    assert error.value.term == "classification" and error.value.step == 5
    assert error.value.stage == "pretrain"
    assert json.loads((tmp_path / "run" / "checkpoints" / "last.json").read_text())["step"] == 4
    assert all(torch.isfinite(v).all() for v in _weights(tmp_path / "run").values())
    status = main(
        [
            "train",
            str(EXAMPLE),
            f"out_dir={tmp_path}",
            "name=cli",
            *QUIET,
            "task.params.nan_at_call=3",
        ]
    )
    assert status == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("sonomtl: training stopped: loss term 'classification' is not finite")


def test_checkpoints_rebuild_the_modules_from_the_file_alone(tmp_path: Path) -> None:
    result = _run(tmp_path, "run", "stages.pretrain.epochs=1")
    modules, metadata = load_checkpoint_modules(tmp_path / "run")
    assert metadata["format_version"] == FORMAT_VERSION
    assert metadata["modules"]["G"] == {
        "model": "tiny_generator",
        "kwargs": {"width": 8, "dropout": 0.1},
    }
    assert metadata["preprocessing"]["input_size"] == [16, 16]
    assert metadata["finished"] is True
    image = torch.randn(3, 1, 16, 16)
    result.modules["G"].eval()
    with torch.no_grad():
        expected, actual = result.modules["G"](image), modules["G"](image)
    assert torch.equal(expected["logits"], actual["logits"])
    assert not modules["G"].training


def test_a_checkpoint_of_a_newer_format_is_refused(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    path = tmp_path / "future.safetensors"
    save_file(
        {"G.w": torch.zeros(1)},
        str(path),
        metadata={"sonomtl": json.dumps({"format_version": FORMAT_VERSION + 1, "modules": {}})},
    )
    with pytest.raises(InputError, match="newer than this sonomtl supports"):
        load_checkpoint_modules(path)


def test_an_existing_run_folder_is_not_overwritten(tmp_path: Path) -> None:
    _run(tmp_path, "run", "stages.pretrain.epochs=1")
    with pytest.raises(InputError, match="--resume"):
        _run(tmp_path, "run")


def test_the_cli_reports_bad_configs_in_one_line_with_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", str(EXAMPLE), "trainer.devicez=2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"sonomtl: error: {EXAMPLE}: field trainer.devicez: unknown key (known keys here: "
        "accelerator, devices, num_nodes, strategy, precision, log_every_n_steps, "
        "progress_bar, deterministic)"
    ]
    assert main(["train", "--resume", str(tmp_path), "seed=2"]) == 2
    assert main(["train", "--resume", str(tmp_path)]) == 2
    assert "not a run folder" in capsys.readouterr().err


def test_a_rejected_setup_leaves_no_run_folder_and_the_fixed_config_then_trains(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the task lists its loss terms: they are checked before anything is written
    assert ExampleTask.loss_terms == ("saliency", "classification")
    config = ["train", str(EXAMPLE), f"out_dir={tmp_path}", *QUIET]
    args = [*config, "name=t2"]
    for override, field in [
        ("task.name=nope", "task.name"),
        ("modules.G.model=nope", "modules.G"),
        ("modules.D.kwargs.depth=3", "modules.D"),
        ("stages.pretrain.losses.nosuchloss=1", "stages.0.losses.nosuchloss"),
        ("stages.pretrain.losses.adversarial=1", "stages.0.losses.adversarial"),  # plain stage
        ("data.batch_size=1000", "data.batch_size"),  # found by the engine, before a checkpoint
    ]:
        assert main([*args, override]) == 2, override
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"field {field}" in err[0], err
        assert not (tmp_path / "t2").exists(), override
    (tmp_path / "t3").mkdir()  # a folder this call did not create is kept, less config.yaml
    (tmp_path / "t3" / "notes.txt").write_text("mine")
    assert main([*config, "name=t3", "data.batch_size=1000"]) == 2
    assert (tmp_path / "t3" / "notes.txt").is_file()
    assert not (tmp_path / "t3" / "config.yaml").exists()
    assert main([*args, "stages.head.epochs=1"]) == 0  # the same name works once fixed
    assert (tmp_path / "t2" / "checkpoints" / "last.json").is_file()


class _Fabric:
    """The three Fabric calls a step makes, on one CPU process."""

    world_size = 1

    def autocast(self):
        import contextlib

        return contextlib.nullcontext()

    def backward(self, loss: torch.Tensor) -> None:
        loss.backward()


def test_adversarial_step_smooths_real_labels_and_freezes_the_discriminator_in_the_g_step() -> None:
    torch.manual_seed(0)
    generator, discriminator = tiny_generator(dropout=0.0), tiny_discriminator()
    data = BlobDataset(num_samples=4, image_size=16, seed=0, augment=False)
    batch = {
        k: torch.stack([data[i][k] for i in range(4)]) for k in ("image", "attention", "label")
    }
    batch["index"] = torch.arange(4)
    task = ExampleTask(params={})
    d_copy, g_copy = copy.deepcopy(discriminator), copy.deepcopy(generator)
    optimizers = {
        "G": torch.optim.SGD(generator.parameters(), lr=0.1),
        "D": torch.optim.SGD(discriminator.parameters(), lr=0.1),
    }
    schedulers = {
        k: torch.optim.lr_scheduler.ConstantLR(o, factor=1.0, total_iters=0)
        for k, o in optimizers.items()
    }
    modules = {"G": generator, "D": discriminator}
    ctx = StepContext(
        task=task,
        fabric=_Fabric(),
        modules=modules,
        raw_modules=modules,
        optimizers=optimizers,
        schedulers=schedulers,
        weights={"saliency": 1.0, "classification": 1.0, "adversarial": 0.5},
        stage="adv",
        step=1,
        grad_clip_norm=None,
        trained=["G", "D"],
    )
    values = adversarial_step(ctx, batch, AdversarialConfig(discriminator="D", real_label=0.9))

    # eq. 1 with one-sided label smoothing, computed by hand from the untouched copies
    with torch.no_grad():
        out = g_copy(batch["image"])
        real = torch.cat([batch["image"], batch["attention"]], 1)
        fake = torch.cat([batch["image"], out["attention"]], 1)
        p_real, p_fake = d_copy(real), d_copy(fake)
    expected_d = (
        -(0.9 * torch.log(p_real) + 0.1 * torch.log(1 - p_real)).mean()
        - torch.log(1 - p_fake).mean()
    )
    assert math.isclose(values["discriminator"], float(expected_d), rel_tol=1e-5)
    # D moved exactly by its own SGD step: the generator step did not change it
    loss = torch.nn.functional.binary_cross_entropy(
        d_copy(real), torch.full((4,), 0.9)
    ) + torch.nn.functional.binary_cross_entropy(d_copy(fake), torch.zeros(4))
    grads = torch.autograd.grad(loss, list(d_copy.parameters()))
    for param, original, grad in zip(discriminator.parameters(), d_copy.parameters(), grads):
        torch.testing.assert_close(param, original - 0.1 * grad, rtol=1e-5, atol=1e-7)
    assert all(p.requires_grad for p in discriminator.parameters())
    # the generator's adversarial term is -mean log D(fake) under the updated D
    with torch.no_grad():
        p_fake_after = discriminator(fake)
    assert math.isclose(values["adversarial"], float(-torch.log(p_fake_after).mean()), rel_tol=1e-5)
    assert math.isclose(
        values["total"],
        values["saliency"] + values["classification"] + 0.5 * values["adversarial"],
        rel_tol=1e-6,
    )
    assert not torch.equal(generator.saliency.weight, g_copy.saliency.weight)


@pytest.mark.slow
def test_learning_rate_schedules_span_the_stage_when_the_discriminator_steps_twice(
    tmp_path: Path,
) -> None:
    # schedules advance once per batch: D's cosine reaches its floor at the stage's end
    # (stepping it per optimiser update, it hit the floor half-way and climbed back)
    _run(tmp_path, "run", "stages.pretrain.epochs=1",
         "stages.adversarial.adversarial.d_steps=2",
         "stages.adversarial.optimizers.D.schedule=cosine",
         "stages.adversarial.optimizers.D.final_lr_factor=0.0")
    rows = [r for r in read_metrics(tmp_path / "run")
            if r["stage"] == "adversarial" and r["metric"] == "lr_D"]
    assert rows and rows[-1]["value"] == pytest.approx(0.0, abs=1e-12)


def test_gradient_clipping_means_the_same_with_a_gradient_scaler() -> None:
    # 16-mixed scales the loss (here by 1024): the norm must be taken on unscaled gradients
    from lightning.fabric import Fabric
    from lightning.fabric.plugins.precision import MixedPrecision

    def update_norm(scaled: bool) -> float:
        torch.manual_seed(0)
        scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)  # no overflow on step 1
        plugins = ([MixedPrecision("16-mixed", "cpu", scaler=scaler)]
                   if scaled else None)
        fabric = Fabric(accelerator="cpu", devices=1, plugins=plugins)
        net = torch.nn.Linear(4, 1)
        module = fabric.setup_module(net)
        optimizer = fabric.setup_optimizers(torch.optim.SGD(net.parameters(), lr=0.1))
        ctx = StepContext(task=None, fabric=fabric, modules={"G": module}, raw_modules={"G": net},
                          optimizers={"G": optimizer}, schedulers={}, weights={}, stage="s",
                          step=1, grad_clip_norm=0.01, trained=["G"])
        before = torch.cat([p.detach().flatten().clone() for p in net.parameters()])
        with fabric.autocast():
            loss = (module(torch.randn(8, 4)) ** 2).mean()
        _optimise(ctx, loss.float(), ["G"])
        after = torch.cat([p.detach().flatten() for p in net.parameters()])
        return float((after - before).norm())

    assert update_norm(False) == pytest.approx(0.1 * 0.01, rel=1e-3)  # lr x clipped norm
    assert update_norm(True) == pytest.approx(update_norm(False), rel=1e-2)


def test_a_validation_set_smaller_than_the_process_count_is_refused(tmp_path: Path) -> None:
    # with 2 processes and 1 validation sample one process had nothing to reduce: a hang
    from sonomtl.errors import InputError
    from sonomtl.training.engine import Engine
    from sonomtl.training.tasks import TaskDatasets

    config = load_config(EXAMPLE, [f"out_dir={tmp_path}"])
    data = BlobDataset(num_samples=4, image_size=16, seed=0, augment=False)
    engine = Engine(config=config, task=ExampleTask(params={}),
                    fabric=type("TwoProcesses", (), {"world_size": 2})(), run_dir=tmp_path / "r",
                    datasets=TaskDatasets(train=data, val=torch.utils.data.Subset(data, [0])),
                    modules={})
    with pytest.raises(InputError, match=r"validation set \(1 samples\) is smaller than the "
                                         r"number of processes \(2\)"):
        engine.fit()
