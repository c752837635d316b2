"""YAML from untrusted files, parsed with PyYAML's own safe constructors only.

``yaml.safe_load`` uses :class:`yaml.SafeLoader`, whose constructor table is
global: any library imported in the same process can add to it. pymovements
(a dependency of the test suite, and of many gaze-analysis notebooks) adds a
constructor for every ``!`` tag that imports the module the tag names. A
``dataset.yaml`` or config read next to it could then import arbitrary
modules. :func:`load_yaml` parses with a loader whose tables are copies of
PyYAML's :class:`~yaml.constructor.SafeConstructor` tables, so an unknown tag
is always a :class:`yaml.YAMLError`.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.constructor import SafeConstructor

__all__ = ["load_yaml"]


class _PlainSafeLoader(yaml.SafeLoader):
    """:class:`yaml.SafeLoader` without constructors other libraries registered on it."""


_PlainSafeLoader.yaml_constructors = dict(SafeConstructor.yaml_constructors)
_PlainSafeLoader.yaml_multi_constructors = dict(SafeConstructor.yaml_multi_constructors)


def load_yaml(text: str) -> Any:
    """Parse YAML ``text`` into plain Python data (dicts, lists, str, numbers, ...).

    Raises :class:`yaml.YAMLError` for invalid YAML and for any ``!tag``
    beyond YAML's standard ones.

    >>> load_yaml("a: [1, 2.5, x]")
    {'a': [1, 2.5, 'x']}
    """
    return yaml.load(text, Loader=_PlainSafeLoader)  # safe: see the module doc
