"""Plain data (parsed YAML or JSON) -> typed dataclasses, every error naming its dotted field.

:func:`build_typed` checks a whole tree against the type hints of a dataclass
(the training config, a task's ``params``); :func:`parse_params` reads one
``params`` mapping of a config into its frozen dataclass, where each default is
written once.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, TypeVar

from sonomtl.errors import InputError

__all__ = ["build_typed", "is_number", "parse_params"]

_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
T = TypeVar("T")


def parse_params(tp: type[T], raw: Mapping[str, Any] | T | None, *, key: str,
                 file: Any = None) -> T:
    """A config's ``params`` mapping (or ``None``) as the frozen dataclass ``tp``.

    An instance of ``tp`` is returned as it is. Unknown keys, wrong types and
    values the dataclass refuses (its ``__post_init__`` raising ``ValueError``)
    are :class:`InputError` naming ``key`` (e.g. ``task.params``) and the field.

    Examples
    --------
    >>> @dataclasses.dataclass(frozen=True)
    ... class Params:
    ...     folds: int = 5
    >>> parse_params(Params, {"folds": 3}, key="data.params")
    Params(folds=3)
    >>> parse_params(Params, {"fold": 3}, key="data.params")
    Traceback (most recent call last):
    ...
    sonomtl.errors.InputError: field data.params.fold: unknown key (known keys here: folds)
    """
    if isinstance(raw, tp):
        return raw
    if raw is not None and not isinstance(raw, Mapping):
        raise InputError(f"expected a mapping, got {raw!r}", file=file, field=key)
    try:
        return build_typed(tp, dict(raw or {}), key, file)
    except InputError:
        raise
    except ValueError as error:
        raise InputError(str(error), file=file, field=key) from None


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if tp is type(None):
        return "null"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    if origin is list:
        return f"a list of {_type_name(typing.get_args(tp)[0])}"
    if origin is dict:
        return "a mapping"
    return getattr(tp, "__name__", str(tp))


def _fail(key: str, message: str, file: Any) -> typing.NoReturn:
    raise InputError(message, file=file, field=key or "<root>")


def build_typed(tp: Any, value: Any, key: str, file: Any = None) -> Any:
    """``value`` (parsed YAML or JSON) as type ``tp``, checked all the way down.

    ``tp`` may be a dataclass (unknown keys refused, missing required keys
    named), ``list[...]``, ``dict[str, ...]``, a union, ``Literal``, ``bool``,
    ``int``, ``float`` (numbers as YAML 1.1 may give them: ``2e-4`` is a
    string there), ``str`` or ``Any``. A dataclass with a ``SCALAR_FIELD``
    class attribute also takes a bare number as that field. Every error is an
    :class:`InputError` naming ``file`` and the dotted ``key`` of the value.
    """
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return build_typed(option, value, key, file)
            except InputError as error:
                errors.append(error)
        if len(errors) == 1:
            raise errors[0]
        _fail(key, f"expected {_type_name(tp)}, got {value!r}", file)
    if origin is Literal:
        if value not in typing.get_args(tp):
            _fail(key, f"expected {_type_name(tp)}, got {value!r}", file)
        return value
    if dataclasses.is_dataclass(tp):
        scalar = getattr(tp, "SCALAR_FIELD", None)
        if scalar is not None and is_number(value):
            value = {scalar: value}
        if not isinstance(value, dict):
            _fail(key, f"expected a mapping, got {value!r}", file)
        hints = typing.get_type_hints(tp)
        fields = {f.name: f for f in dataclasses.fields(tp)}
        unknown = sorted(set(value) - set(fields), key=str)  # YAML keys may be numbers
        if unknown:
            name = f"{key}.{unknown[0]}" if key else str(unknown[0])
            _fail(name, f"unknown key (known keys here: {', '.join(fields)})", file)
        kwargs = {}
        for name, spec in fields.items():
            child = f"{key}.{name}" if key else name
            if name not in value:
                if (
                    spec.default is dataclasses.MISSING
                    and spec.default_factory is dataclasses.MISSING
                ):
                    _fail(child, "required key is missing", file)
                continue
            kwargs[name] = build_typed(hints[name], value[name], child, file)
        return tp(**kwargs)
    if origin is list:
        if not isinstance(value, list):
            _fail(key, f"expected {_type_name(tp)}, got {value!r}", file)
        (item_tp,) = typing.get_args(tp)
        return [build_typed(item_tp, v, f"{key}.{i}", file) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            _fail(key, f"expected a mapping, got {value!r}", file)
        _, item_tp = typing.get_args(tp)
        return {str(k): build_typed(item_tp, v, f"{key}.{k}", file) for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            _fail(key, f"expected true or false, got {value!r}", file)
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            _fail(key, f"expected an integer, got {value!r}", file)
        return value
    if tp is float:
        if is_number(value):
            return float(value)
        _fail(key, f"expected a number, got {value!r}", file)
    if tp is str:
        if not isinstance(value, str):
            _fail(key, f"expected a string, got {value!r}", file)
        return value
    raise TypeError(f"config field {key!r} has unsupported type {tp!r}")  # pragma: no cover


def is_number(value: Any) -> bool:
    """A number, or a string that spells one (YAML 1.1 reads ``2e-4`` as a string)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    return isinstance(value, str) and bool(_NUMBER.match(value.strip()))
