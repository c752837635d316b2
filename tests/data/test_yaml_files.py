"""YAML readers ignore constructors other libraries register on ``yaml.SafeLoader``."""

from __future__ import annotations

import pytest
import yaml

from sonomtl.config import load_config
from sonomtl.data.spec import load_spec
from sonomtl.errors import InputError
from sonomtl.yaml_files import load_yaml


@pytest.fixture()
def polluted_safe_loader(monkeypatch):
    """What importing pymovements does: a '!' multi-constructor that imports modules."""
    imported = []

    def type_constructor(loader, tag_suffix, node):
        imported.append(tag_suffix)
        module_name, attribute = tag_suffix.rsplit(".", 1)
        return getattr(__import__(module_name), attribute)

    table = dict(yaml.SafeLoader.yaml_multi_constructors)
    table["!"] = type_constructor
    monkeypatch.setattr(yaml.SafeLoader, "yaml_multi_constructors", table)
    return imported


def test_the_pollution_is_real_for_yaml_safe_load(polluted_safe_loader):
    import os

    assert yaml.safe_load("x: !os.getcwd") == {"x": os.getcwd}  # what sonomtl must not do
    assert polluted_safe_loader == ["os.getcwd"]


def test_load_yaml_refuses_tags_even_when_safe_loader_is_polluted(polluted_safe_loader):
    with pytest.raises(yaml.YAMLError, match="could not determine a constructor"):
        load_yaml("x: !os.getcwd")
    assert polluted_safe_loader == []
    assert load_yaml("a: [1, {b: null}]\nc: 2.5") == {"a": [1, {"b": None}], "c": 2.5}


def test_dataset_yaml_and_configs_with_a_tag_are_input_errors(polluted_safe_loader, tmp_path):
    spec = tmp_path / "dataset.yaml"
    spec.write_text("name: !os.getcwd\n")
    with pytest.raises(InputError, match="dataset.yaml: not valid YAML"):
        load_spec(spec)
    config = tmp_path / "config.yaml"
    config.write_text("name: !subprocess.run\n")
    with pytest.raises(InputError, match="invalid YAML"):
        load_config(config)
    assert polluted_safe_loader == []
