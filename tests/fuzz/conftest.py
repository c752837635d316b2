"""Shared pieces of the reader fuzz tests.

Every reader of an untrusted file must return data or raise
:class:`sonomtl.errors.InputError`, never anything else. Each test draws
files with Hypothesis under :func:`fuzz_settings`: a fixed example budget,
``derandomize=True`` (the same examples on every run and machine, so CI is
reproducible) and no deadline (the machines are shared). Crashes found while
writing these tests are kept as explicit ``@example`` cases next to the test.
"""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from hypothesis import HealthCheck, settings

from sonomtl.errors import InputError

T = TypeVar("T")

_counter = itertools.count()


def fuzz_settings(max_examples: int) -> settings:
    """Hypothesis settings of the fuzz suite: fixed budget and seed, no deadline."""
    return settings(max_examples=max_examples, derandomize=True, deadline=None,
                    database=None, suppress_health_check=[HealthCheck.too_slow,
                                                          HealthCheck.data_too_large])


def data_or_input_error(read: Callable[[], T]) -> T | InputError:
    """``read()``'s result, or the InputError it raised; any other exception propagates."""
    try:
        return read()
    except InputError as error:
        return error


@pytest.fixture(scope="module")
def fuzz_dir() -> Iterator[Callable[[str], Path]]:
    """A function giving a fresh file path (in a module-wide temporary folder) per example."""
    with tempfile.TemporaryDirectory(prefix="sonomtl-fuzz-") as folder:
        def fresh(name: str) -> Path:
            sub = Path(folder) / str(next(_counter))
            sub.mkdir()
            return sub / name

        yield fresh
