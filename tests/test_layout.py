"""Architecture rules that a diff can break without any other test noticing.

The layering itself is import-linter's (``lint-imports`` in ``make test``,
contracts in ``pyproject.toml``); these are the rules it cannot state.
"""

from __future__ import annotations

from pathlib import Path

import sonomtl

PACKAGE = Path(sonomtl.__file__).parent
MAX_MODULE_LINES = 500


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_no_module_is_over_500_lines():
    long = {str(p.relative_to(PACKAGE)): n for p in _modules()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES}
    assert not long, f"split these modules (one responsibility each): {long}"


def test_task_and_data_parameters_are_typed_not_read_from_free_dicts():
    # each task reads task.params/data.params into its frozen dataclass (sonomtl.schema)
    found = [f"{p.relative_to(PACKAGE)}:{i}" for p in _modules()
             for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
             if "params.get(" in line]
    assert not found, f"read the typed parameters instead: {found}"
