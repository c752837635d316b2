"""Typed configs: YAML, dotted overrides, errors naming the key and the file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sonomtl.config import (
    LossWeightConfig,
    apply_overrides,
    config_to_dict,
    load_config,
    save_config,
)
from sonomtl.errors import InputError

EXAMPLE = Path(__file__).resolve().parent.parent / "sonomtl" / "configs" / "example.yaml"


def test_the_example_config_loads_with_its_stages_weights_and_optimisers() -> None:
    config = load_config(EXAMPLE)
    assert [s.name for s in config.stages] == ["pretrain", "adversarial", "head"]
    pretrain, adversarial, head = config.stages
    assert pretrain.losses["saliency"] == LossWeightConfig(start=2.0, end=1.0, per="epoch")
    assert pretrain.losses["classification"] == LossWeightConfig(start=1.0)  # bare number
    assert pretrain.optimizers["G"].lr == 2.0e-3
    assert adversarial.adversarial.real_label == 0.9 and adversarial.steps == 6
    assert adversarial.optimizers["D"].betas == [0.5, 0.999]
    assert head.frozen == ["G.features"] and head.optimizers["G"].kind == "sgd"
    assert config.run_dir == Path("runs") / "example"


def test_dotted_overrides_reach_nested_keys_list_items_by_index_and_by_stage_name() -> None:
    config = load_config(
        EXAMPLE,
        [
            "trainer.devices=2",
            "stages.pretrain.epochs=5",
            "stages.1.steps=7",
            "stages.0.optimizers.G.lr=1e-4",
            "data.params.image_size=32",
            "name=other",
            "checkpoint.every_n_steps=null",
        ],
    )
    assert config.trainer.devices == 2
    assert config.stages[0].epochs == 5 and config.stages[1].steps == 7
    assert config.stages[0].optimizers["G"].lr == 1e-4  # "1e-4" is a string in YAML 1.1
    assert config.data.params["image_size"] == 32
    assert config.name == "other" and config.checkpoint.every_n_steps is None


def test_an_unknown_key_is_an_input_error_naming_the_key_and_the_file(tmp_path: Path) -> None:
    with pytest.raises(InputError) as error:
        load_config(EXAMPLE, ["trainer.max_epochz=3"])
    assert error.value.field == "trainer.max_epochz"
    assert error.value.file == str(EXAMPLE)
    text = EXAMPLE.read_text().replace(
        "    pattern: plain\n    train: [G]\n    optimizers:\n      G: {kind: adam, lr: 2.0e-3}",
        "    pattern: plain\n    train: [G]\n    optimizers:\n"
        "      G: {kind: adam, lr: 2.0e-3, lr_decay: 2}",
        1,
    )
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(InputError, match="unknown key") as error:
        load_config(path)
    assert error.value.field == "stages.0.optimizers.G.lr_decay"
    assert str(path) in str(error.value)


@pytest.mark.parametrize(
    ("override", "field", "message"),
    [
        ("trainer.log_every_n_steps=ten", "trainer.log_every_n_steps", "expected an integer"),
        ("seed=1.5", "seed", "expected an integer"),
        ("trainer.progress_bar=3", "trainer.progress_bar", "expected true or false"),
        ("trainer.precision=fp8", "trainer.precision", "expected one of"),
        ("stages.0.optimizers.G.lr=fast", "stages.0.optimizers.G.lr", "expected a number"),
        ("stages.0.optimizers.G.kind=rmsprop", "stages.0.optimizers.G.kind", "'adam', 'sgd'"),
        ("stages.0.losses.saliency.per=minute", "stages.0.losses.saliency.per", "expected one of"),
    ],
)
def test_a_wrong_type_is_an_input_error_naming_the_key(
    override: str, field: str, message: str
) -> None:
    with pytest.raises(InputError, match=message) as error:
        load_config(EXAMPLE, [override])
    assert error.value.field == field


@pytest.mark.parametrize(
    ("override", "field", "message"),
    [
        ("stages.0.steps=10", "stages.0", "exactly one of epochs or steps"),
        ("stages.0.train=[G, X]", "stages.0.train", "'X' is not in modules"),
        (
            "stages.1.adversarial.discriminator=E",
            "stages.1.adversarial.discriminator",
            "must be one of",
        ),
        ("stages.2.optimizers={}", "stages.2.optimizers", "one optimiser per trained entry"),
        ("stages.1.name=pretrain", "stages.1.name", "used twice"),
        ("data.batch_size=0", "data.batch_size", "at least 1"),
        ("name=a/b", "name", "run name"),
        ("stages.head.train=[G, G.features]", "stages.2.train", "'G.features' is inside 'G'"),
    ],
)
def test_inconsistent_stages_are_input_errors(override: str, field: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as error:
        load_config(EXAMPLE, [override])
    assert error.value.field == field


@pytest.mark.parametrize(
    ("override", "field", "message"),
    [
        ("stages.pretrain.optimizers.G.lr=.nan", "stages.0.optimizers.G.lr", "got nan"),
        ("stages.pretrain.optimizers.G.lr=.inf", "stages.0.optimizers.G.lr", "got inf"),
        ("stages.pretrain.optimizers.G.lr=0", "stages.0.optimizers.G.lr", "positive finite"),
        ("stages.pretrain.optimizers.G.betas=[2, 3]", "stages.0.optimizers.G.betas", "[0, 1)"),
        ("stages.pretrain.optimizers.G.betas=[0.9, 1]", "stages.0.optimizers.G.betas", "[0, 1)"),
        ("stages.pretrain.optimizers.G.betas=[0.9]", "stages.0.optimizers.G.betas", "two numbers"),
        ("stages.head.optimizers.G.momentum=-0.5", "stages.2.optimizers.G.momentum", ">= 0"),
        ("stages.head.optimizers.G.momentum=.nan", "stages.2.optimizers.G.momentum", "finite"),
        ("stages.head.optimizers.G.weight_decay=.inf", "stages.2.optimizers.G.weight_decay", "inf"),
        ("stages.head.optimizers.G.final_lr_factor=.nan", "stages.2.optimizers.G.final_lr_factor",
         "finite"),
        ("stages.pretrain.optimizers.G={kind: adam, schedule: linear, final_lr_factor: 2}",
         "stages.0.optimizers.G.final_lr_factor", "at most 1"),
        ("stages.pretrain.optimizers.G={kind: sgd, nesterov: true}",
         "stages.0.optimizers.G.nesterov", "momentum > 0"),
        ("stages.pretrain.losses.saliency=.nan", "stages.0.losses.saliency", "finite"),
        ("stages.pretrain.losses.saliency.end=.inf", "stages.0.losses.saliency", "finite"),
        ("stages.pretrain.grad_clip_norm=.nan", "stages.0.grad_clip_norm", "positive finite"),
    ],
)
def test_non_finite_and_out_of_range_optimiser_values_name_the_key(
    override: str, field: str, message: str
) -> None:
    with pytest.raises(InputError, match=re.escape(message)) as error:
        load_config(EXAMPLE, [override])
    assert error.value.field == field and error.value.file == str(EXAMPLE)


def test_16_mixed_refuses_a_stage_stepping_several_optimisers_after_one_backward() -> None:
    # the adversarial stage steps G alone in the G step and D alone in the D step: allowed
    assert load_config(EXAMPLE, ["trainer.precision=16-mixed"]).trainer.precision == "16-mixed"
    with pytest.raises(InputError, match="use precision bf16-mixed") as error:
        load_config(EXAMPLE, ["trainer.precision=16-mixed", "stages.pretrain.train=[G, D]",
                              "stages.pretrain.optimizers.D={kind: adam}"])
    assert error.value.field == "stages.0.train"
    load_config(EXAMPLE, ["trainer.precision=bf16-mixed", "stages.pretrain.train=[G, D]",
                          "stages.pretrain.optimizers.D={kind: adam}"])


def test_a_config_that_is_not_utf8_or_has_mixed_key_types_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(EXAMPLE.read_bytes().replace(b"name: example", b"name: caf\xe9"))
    with pytest.raises(InputError, match="not UTF-8 text") as error:
        load_config(path)
    assert error.value.file == str(path)
    path = tmp_path / "keys.yaml"
    path.write_text(EXAMPLE.read_text() + "1: a\nzzz: b\n")
    with pytest.raises(InputError, match="unknown key") as error:
        load_config(path)
    assert error.value.file == str(path) and error.value.field == "1"


def test_overrides_that_cannot_apply_are_input_errors() -> None:
    with pytest.raises(InputError, match="key=value"):
        apply_overrides({}, ["trainer.devices"])
    with pytest.raises(InputError, match="no element named 'finetune'"):
        load_config(EXAMPLE, ["stages.finetune.epochs=1"])
    with pytest.raises(InputError, match="out of range"):
        load_config(EXAMPLE, ["stages.7.epochs=1"])
    with pytest.raises(InputError, match="not found"):
        load_config("/nonexistent/config.yaml")


def test_the_resolved_config_saved_as_yaml_reads_back_identical(tmp_path: Path) -> None:
    config = load_config(EXAMPLE, ["stages.pretrain.epochs=4", "trainer.devices=auto"])
    path = save_config(config, tmp_path / "config.yaml")
    again = load_config(path)
    assert again == config
    assert config_to_dict(again)["stages"][0]["epochs"] == 4
    assert again.trainer.devices == "auto"
