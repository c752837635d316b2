"""Name -> factory registry for every network in the toolkit.

An explicit table (no import-time registration): each entry is the dotted
path of a factory, imported only when that model is built. Every factory
takes keyword arguments with the same names everywhere (``num_classes``,
``in_chans``, ``num_landmarks``, ...) and returns an ``nn.Module`` whose
``default_cfg`` dict carries what inference needs to rebuild the
preprocessing (input size, normalisation, class and landmark names).
"""

from __future__ import annotations

import importlib
from typing import Any

import torch.nn as nn

__all__ = ["build_model", "list_models", "registered_name", "LEGACY_FACTORY_PATHS",
           "MODEL_FACTORIES"]

MODEL_FACTORIES: dict[str, str] = {
    # paper 1 (M-SEN) and its baselines
    "sononet16": "sonomtl.models.sononet:sononet16",
    "sononet32": "sonomtl.models.sononet:sononet32",
    "sononet64": "sonomtl.models.sononet:sononet64",
    "msen": "sonomtl.models.msen:msen_generator",
    "attention_discriminator": "sonomtl.models.discriminators:attention_discriminator",
    "sonoeyenet": "sonomtl.models.sonoeyenet:sonoeyenet",
    "ss_cls": "sonomtl.models.msen:ss_cls_net",
    "ss_att": "sonomtl.models.msen:ss_att_net",
    "sononet_baseline": "sonomtl.models.msen:sononet_baseline",
    # paper 2 (abdominal multi-task network) and its ablations
    "abdominal_mtl": "sonomtl.models.abdominal:abdominal_mtl",
    "abdominal_mgcn": "sonomtl.models.abdominal:abdominal_mgcn",
    "abdominal_mfcn": "sonomtl.models.abdominal:abdominal_mfcn",
    "abdominal_sfcn": "sonomtl.models.abdominal:abdominal_sfcn",
    "resnet50_classifier": "sonomtl.models.abdominal:resnet50_classifier",
    "patchgan": "sonomtl.models.discriminators:patchgan",
    # the engine's example task, tests and benchmarks
    "tiny_generator": "sonomtl.models.toy:tiny_generator",
    "tiny_discriminator": "sonomtl.models.toy:tiny_discriminator",
}

#: Factory paths that configs and checkpoints written before these factories moved into
#: ``models/`` name; they build the registered model of the same name.
LEGACY_FACTORY_PATHS: dict[str, str] = {
    "sonomtl.training.msen_task:sononet_baseline": "sononet_baseline",
    "sonomtl.training.example:tiny_generator": "tiny_generator",
    "sonomtl.training.example:tiny_discriminator": "tiny_discriminator",
}


def list_models() -> list[str]:
    """Names accepted by :func:`build_model`, sorted."""
    return sorted(MODEL_FACTORIES)


def registered_name(name: str) -> str | None:
    """The registry name ``name`` stands for: itself, its factory path, or a legacy path.

    Examples
    --------
    >>> registered_name("sonomtl.training.msen_task:sononet_baseline")
    'sononet_baseline'
    >>> registered_name("sonomtl.models.msen:msen_generator"), registered_name("os:system")
    ('msen', None)
    """
    if name in MODEL_FACTORIES:
        return name
    if name in LEGACY_FACTORY_PATHS:
        return LEGACY_FACTORY_PATHS[name]
    for key, target in MODEL_FACTORIES.items():
        if target == name:
            return key
    return None


def build_model(name: str, **kwargs: Any) -> nn.Module:
    """Build the network registered as ``name`` with the factory's keyword arguments.

    ``name`` may also be the factory's ``module:function`` path (or a path it had
    before it moved: :data:`LEGACY_FACTORY_PATHS`). Raises ``ValueError`` naming
    the known models when ``name`` is unknown.
    """
    key = registered_name(name)
    if key is None:
        known = ", ".join(list_models())
        raise ValueError(f"unknown model {name!r}; known models: {known}")
    target = MODEL_FACTORIES[key]
    module_name, factory_name = target.split(":")
    factory = getattr(importlib.import_module(module_name), factory_name)
    return factory(**kwargs)
