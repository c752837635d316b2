"""A run started from another run's finished stages equals the whole run (CPU, same seed)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from sonomtl.cli import main
from sonomtl.config import config_to_dict, load_config
from sonomtl.errors import InputError
from sonomtl.training.fork import check_fork_source
from sonomtl.training.logging import read_metrics
from sonomtl.training.run import train

EXAMPLE = Path(__file__).resolve().parents[2] / "sonomtl" / "configs" / "example.yaml"
QUIET = ["trainer.progress_bar=false"]


def _config(tmp_path: Path, name: str, *overrides: str):
    return load_config(EXAMPLE, [f"out_dir={tmp_path}", f"name={name}", *QUIET, *overrides])


def _pretrain_only(tmp_path: Path, name: str, *overrides: str) -> Path:
    """The example config cut to its first stage and the one module that stage trains."""
    raw = config_to_dict(_config(tmp_path, name, *overrides))
    raw["stages"] = raw["stages"][:1]
    raw["modules"] = {"G": raw["modules"]["G"]}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def _final_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    pointer = json.loads((run_dir / "checkpoints" / "last.json").read_text())
    return load_file(run_dir / "checkpoints" / pointer["weights"])


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("fork")
    whole = train(_config(tmp, "whole")).run_dir
    source = train(load_config(_pretrain_only(tmp, "pre"))).run_dir
    forked = train(_config(tmp, "forked"), start_from=source).run_dir
    return {"tmp": tmp, "whole": whole, "source": source, "forked": forked}


@pytest.mark.slow
def test_a_run_started_after_a_finished_stage_ends_with_the_whole_runs_weights_and_metrics(
    runs: dict[str, Path],
) -> None:
    whole, forked = _final_weights(runs["whole"]), _final_weights(runs["forked"])
    assert sorted(whole) == sorted(forked) and any(k.startswith("D.") for k in whole)
    for key in whole:
        assert torch.equal(whole[key], forked[key]), key
    # every row, the source's pre-training rows included, as the whole run logged them
    assert read_metrics(runs["forked"]) == read_metrics(runs["whole"])
    source_rows = read_metrics(runs["source"])
    assert source_rows and read_metrics(runs["forked"])[: len(source_rows)] == source_rows
    assert (runs["forked"] / "tensorboard").is_dir()
    started = json.loads((runs["forked"] / "started_from.json").read_text())
    assert started == {"run": str(runs["source"]), "step": 16}
    # the source is left as it was
    assert _final_weights(runs["source"]).keys() == {k for k in whole if k.startswith("G.")}


def test_a_source_that_trained_other_stages_or_settings_is_refused_naming_them(
    runs: dict[str, Path],
) -> None:
    tmp = runs["tmp"]
    with pytest.raises(InputError, match=r"differs in seed\b"):
        train(_config(tmp, "other-seed", "seed=1"), start_from=runs["source"])
    with pytest.raises(InputError, match=r"differs in stages\.pretrain"):
        train(_config(tmp, "other-lr", "stages.pretrain.optimizers.G.lr=0.1"),
              start_from=runs["source"])
    with pytest.raises(InputError, match=r"differs in modules\.G"):
        train(_config(tmp, "other-g", "modules.G.kwargs.width=4"), start_from=runs["source"])
    with pytest.raises(InputError, match="nothing is left to train"):
        train(_config(tmp, "after-whole"), start_from=runs["whole"])
    # a last checkpoint inside a stage (example: checkpoints every 5 of 16 pre-training steps)
    inside = tmp / "inside"
    shutil.copytree(runs["source"], inside)
    pointer = inside / "checkpoints" / "last.json"
    pointer.write_text(pointer.read_text().replace('"step": 16', '"step": 15')
                       .replace("step-000000016", "step-000000015"))
    with pytest.raises(InputError, match=r"inside stage 'pretrain'"):
        train(_config(tmp, "from-inside"), start_from=inside)
    # loader workers and checkpoint settings do not change what is trained
    allowed = check_fork_source(_config(tmp, "w", "data.num_workers=2",
                                        "checkpoint.keep_last=5"), runs["source"])
    assert (allowed.stages_done, allowed.modules) == (1, ("G",))
    # none of the refused runs left a folder behind
    assert not any((tmp / name).exists() for name in
                   ("other-seed", "other-lr", "other-g", "after-whole", "from-inside"))


def test_the_cli_refuses_a_folder_that_is_no_run_in_one_line_with_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["train", str(EXAMPLE), f"out_dir={tmp_path}", "name=x", *QUIET,
                   "--start-from", str(tmp_path / "missing")])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and "config.yaml missing" in err[0]
    assert not (tmp_path / "x").exists()
