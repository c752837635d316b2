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

__all__ = ["build_model", "list_models", "MODEL_FACTORIES"]

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
    # paper 2 (abdominal multi-task network) and its ablations
    "abdominal_mtl": "sonomtl.models.abdominal:abdominal_mtl",
    "abdominal_mgcn": "sonomtl.models.abdominal:abdominal_mgcn",
    "abdominal_mfcn": "sonomtl.models.abdominal:abdominal_mfcn",
    "abdominal_sfcn": "sonomtl.models.abdominal:abdominal_sfcn",
    "resnet50_classifier": "sonomtl.models.abdominal:resnet50_classifier",
    "patchgan": "sonomtl.models.discriminators:patchgan",
}


def list_models() -> list[str]:
    """Names accepted by :func:`build_model`, sorted."""
    return sorted(MODEL_FACTORIES)


def build_model(name: str, **kwargs: Any) -> nn.Module:
    """Build the network registered as ``name`` with the factory's keyword arguments.

    Raises ``ValueError`` naming the known models when ``name`` is unknown.
    """
    try:
        target = MODEL_FACTORIES[name]
    except KeyError:
        known = ", ".join(list_models())
        raise ValueError(f"unknown model {name!r}; known models: {known}") from None
    module_name, factory_name = target.split(":")
    factory = getattr(importlib.import_module(module_name), factory_name)
    return factory(**kwargs)
