"""Killing a run with SIGKILL mid-epoch and resuming it changes nothing (CPU, same seed)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "sonomtl" / "configs" / "example.yaml"
# 64 samples / batch 8 = 8 batches per epoch: checkpoints every 3 steps fall mid-epoch
COMMON = [
    "checkpoint.every_n_steps=3",
    "checkpoint.keep_last=3",
    "trainer.progress_bar=false",
    "trainer.log_every_n_steps=1",
]


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "sonomtl", "train", *args]


def _last_step(run_dir: Path) -> int:
    try:
        return json.loads((run_dir / "checkpoints" / "last.json").read_text())["step"]
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return -1


def _kill_after_checkpoint(command: list[str], run_dir: Path, *, min_step: int) -> int:
    """Start a run, SIGKILL it as soon as a checkpoint of step >= min_step exists."""
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    try:
        while _last_step(run_dir) < min_step:
            if process.poll() is not None:
                raise AssertionError(
                    f"run ended before being killed: {process.stderr.read().decode()}"
                )
            if time.monotonic() > deadline:
                raise AssertionError("no checkpoint appeared in time")
            time.sleep(0.01)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait()
        process.stderr.close()
    assert process.returncode == -signal.SIGKILL
    return _last_step(run_dir)


def _final_weights(run_dir: Path) -> dict:
    pointer = json.loads((run_dir / "checkpoints" / "last.json").read_text())
    return load_file(run_dir / "checkpoints" / pointer["weights"])


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    # the delay only slows the steps so the kill lands mid-run; it does not change any number
    slow = ["task.params.step_delay_s=0.05"]
    reference = tmp_path / "reference"
    # a fresh process like the killed one: the test worker's torch thread count may differ
    # (other tests set it), and a different count reorders float sums
    done = subprocess.run(_cli(str(CONFIG), f"out_dir={tmp_path}", "name=reference", *COMMON),
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr

    killed = tmp_path / "killed"
    first = _kill_after_checkpoint(
        _cli(str(CONFIG), f"out_dir={tmp_path}", "name=killed", *COMMON, *slow), killed, min_step=3
    )
    # killed in the first epoch of the plain stage (steps 1-16, 8 per epoch), not at its end
    assert 3 <= first < 16 and first % 8 != 0
    second = _kill_after_checkpoint(_cli("--resume", str(killed)), killed, min_step=18)
    # killed again inside the adversarial stage (steps 17-22): optimisers of G and D mid-stage
    assert 18 <= second < 22
    done = subprocess.run(_cli("--resume", str(killed)), cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr

    # the same metrics.csv, row for row and digit for digit (no duplicated or missing rows)
    assert (killed / "metrics.csv").read_text() == (reference / "metrics.csv").read_text()
    expected, actual = _final_weights(reference), _final_weights(killed)
    assert sorted(expected) == sorted(actual)
    for key in expected:
        assert actual[key].equal(expected[key]), key
    assert _last_step(killed) == _last_step(reference) == 26


def test_a_stop_after_a_checkpoint_in_the_last_step_of_a_stage_and_epoch_resumes_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # adversarial: 8 steps = one epoch of 8 batches; the checkpoint every 24 steps is taken in
    # the stage's last step (2 x 8 pretrain + 8), before its epoch end was logged
    from sonomtl.config import load_config
    from sonomtl.training.run import resume, train

    def config(name: str):
        return load_config(CONFIG, [f"out_dir={tmp_path}", f"name={name}",
                                    "trainer.progress_bar=false", "stages.adversarial.steps=8",
                                    "checkpoint.every_n_steps=24", "checkpoint.keep_last=10"])

    train(config("ref"))

    _train_stopped_after(24, train, config("cut"), monkeypatch)
    assert json.loads((tmp_path / "cut" / "checkpoints" / "last.json").read_text())["step"] == 24
    resume(tmp_path / "cut")
    assert (tmp_path / "cut" / "metrics.csv").read_text() == \
        (tmp_path / "ref" / "metrics.csv").read_text()


def test_the_gradient_scaler_of_16_mixed_is_checkpointed_and_restored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Fabric's 16-mixed with a gradient scaler, on CPU: a resumed run continues from the scale
    # the scaler had reached (a fresh one starts again at its initial scale) and ends identical
    from lightning.fabric import Fabric
    from lightning.fabric.plugins.precision import MixedPrecision

    from sonomtl.config import load_config
    from sonomtl.training import run as run_module

    def fabric_16_mixed(config):
        scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 20, growth_interval=2)
        fabric = Fabric(accelerator="cpu", devices=1,
                        plugins=[MixedPrecision("16-mixed", "cpu", scaler=scaler)])
        fabric.launch()
        return fabric

    monkeypatch.setattr(run_module, "build_fabric", fabric_16_mixed)

    def config(name: str):
        return load_config(CONFIG, [f"out_dir={tmp_path}", f"name={name}",
                                    "trainer.progress_bar=false", "checkpoint.every_n_steps=5",
                                    "checkpoint.keep_last=10"])

    def final_state(name: str):
        step = json.loads((tmp_path / name / "checkpoints" / "last.json").read_text())["step"]
        weights = load_file(tmp_path / name / "checkpoints" / f"step-{step:09d}.safetensors")
        state = torch.load(tmp_path / name / "checkpoints" / f"step-{step:09d}.state.pt",
                           weights_only=True)
        return weights, state["grad_scaler"]

    run_module.train(config("ref"))
    ref_weights, ref_scaler = final_state("ref")
    assert ref_scaler["scale"] != 2.0 ** 20  # the scale moved during training

    _train_stopped_after(12, run_module.train, config("cut"), monkeypatch)
    run_module.resume(tmp_path / "cut")
    weights, scaler = final_state("cut")
    assert scaler == ref_scaler
    assert all(torch.equal(weights[k], ref_weights[k]) for k in ref_weights)


class _Stop(BaseException):
    """Stands in for a kill right after a training step (in the same process)."""


def _train_stopped_after(step: int, train, config, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run ``train(config)`` and stop it right after global step ``step``."""
    from sonomtl.training import engine as engine_module

    original = engine_module.Engine._train_step

    def step_then_stop(self, stage, batch, *, num_steps):
        original(self, stage, batch, num_steps=num_steps)
        if self.position.global_step == step:
            raise _Stop

    monkeypatch.setattr(engine_module.Engine, "_train_step", step_then_stop)
    with pytest.raises(_Stop):
        train(config)
    monkeypatch.setattr(engine_module.Engine, "_train_step", original)
