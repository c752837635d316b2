"""Real 2-process DDP runs on CPU (gloo): disjoint shards, identical weights.

Launched two ways: by Fabric's own launcher (``trainer.devices=2``), and as two
"nodes" of one process each started by two ``torchrun`` launchers on this
machine (``trainer.num_nodes=2``), the multi-node command of docs/training.md.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.mark.slow
def test_two_gloo_processes_see_disjoint_shards_and_end_with_identical_weights(
    tmp_path: Path,
) -> None:
    command = [
        sys.executable,
        str(ROOT / "tests" / "training" / "ddp_worker.py"),
        str(tmp_path),
        f"out_dir={tmp_path}",
        "name=ddp",
        "trainer.devices=2",
        "trainer.strategy=ddp",
        "trainer.progress_bar=false",
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    _check_two_rank_run(tmp_path)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_two_torchrun_nodes_train_as_one_job(tmp_path: Path) -> None:
    torchrun = Path(sys.executable).with_name("torchrun")
    port = _free_port()
    nodes = [
        subprocess.Popen(
            [str(torchrun), "--nnodes", "2", "--nproc-per-node", "1", "--node-rank", str(rank),
             "--master-addr", "127.0.0.1", "--master-port", str(port),
             str(ROOT / "tests" / "training" / "ddp_worker.py"), str(tmp_path),
             f"out_dir={tmp_path}", "name=ddp", "trainer.devices=1", "trainer.num_nodes=2",
             "trainer.strategy=ddp", "trainer.progress_bar=false"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        for rank in (0, 1)
    ]
    for node in nodes:
        output, _ = node.communicate(timeout=300)
        assert node.returncode == 0, output[-3000:]
    _check_two_rank_run(tmp_path)


def _check_two_rank_run(tmp_path: Path) -> None:
    """Both ranks saw disjoint halves of every epoch and step, and ended with the same weights."""
    seen = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [s["world_size"] for s in seen] == [2, 2]

    # pretrain: 2 epochs of 64 samples, batch 8 per process -> 4 batches = 32 samples per process
    for epoch in range(2):
        parts = [set(s["indices"][32 * epoch : 32 * (epoch + 1)]) for s in seen]
        assert len(parts[0]) == len(parts[1]) == 32
        assert parts[0].isdisjoint(parts[1])
        assert parts[0] | parts[1] == set(range(64))
    # a new order every epoch
    assert seen[0]["indices"][:32] != seen[0]["indices"][32:64]
    # every later step too: the two processes never share a sample within a step
    batch_sizes = [8] * 8 + [8] * 6 + [16] * 2  # pretrain, adversarial, head (per process)
    start = 0
    for size in batch_sizes:
        a = set(seen[0]["indices"][start : start + size])
        b = set(seen[1]["indices"][start : start + size])
        assert len(a) == len(b) == size and a.isdisjoint(b)
        start += size
    assert start == len(seen[0]["indices"]) == len(seen[1]["indices"])

    weights = [load_file(tmp_path / f"rank{r}.safetensors") for r in (0, 1)]
    assert sorted(weights[0]) == sorted(weights[1])
    for key in weights[0]:
        assert weights[0][key].equal(weights[1][key]), key
    # the run's final checkpoint (written by rank 0) holds the same weights
    checkpoint = json.loads((tmp_path / "ddp" / "checkpoints" / "last.json").read_text())
    final = load_file(tmp_path / "ddp" / "checkpoints" / checkpoint["weights"])
    for key in weights[0]:
        assert final[key].equal(weights[0][key]), key
