"""Print pip constraints that pin each runtime dependency of pyproject.toml to its floor.

``numpy>=1.24`` becomes ``numpy>=1.24,<1.24.1``: the floor's own release (and
its build suffixes, e.g. opencv's 4.8.0.76), never a later minor or patch
release. Dependencies named with ``--skip`` (torch: installed first from
``MIN_TORCH_SPEC``) are left out. Used by ``make test-min``.

Usage: python tools/floor_constraints.py pyproject.toml [--skip torch] [--extras parquet]
"""

from __future__ import annotations

import argparse
import re
import sys

import tomllib

__all__ = ["floor_constraint", "main"]

_SPEC = re.compile(r"^\s*([A-Za-z0-9_.-]+)\s*(?:\[[^\]]*\])?\s*>=\s*([0-9][0-9.]*)\s*$")


def floor_constraint(requirement: str) -> tuple[str, str]:
    """``("numpy", "numpy>=1.24,<1.24.1")`` for ``"numpy>=1.24"``; ValueError without a floor.

    >>> floor_constraint("opencv-python-headless>=4.8")[1]
    'opencv-python-headless>=4.8,<4.8.1'
    >>> floor_constraint("pyyaml>=6.0.1")[1]
    'pyyaml>=6.0.1,<6.0.2'
    """
    match = _SPEC.match(requirement)
    if match is None:
        raise ValueError(f"{requirement!r}: expected NAME>=FLOOR (every runtime dependency "
                         "has exactly one floor)")
    name, floor = match.groups()
    parts = [int(p) for p in floor.split(".")]
    parts += [0] * (3 - len(parts))
    upper = ".".join(map(str, [*parts[:2], parts[2] + 1]))
    return name, f"{name}>={floor},<{upper}"


def main(argv: list[str] | None = None) -> int:
    """Print one constraint per runtime dependency of the given pyproject.toml."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pyproject")
    parser.add_argument("--skip", nargs="*", default=[], metavar="NAME")
    parser.add_argument("--extras", nargs="*", default=[], metavar="EXTRA",
                        help="also pin the floors of these optional-dependency groups")
    args = parser.parse_args(argv)
    with open(args.pyproject, "rb") as handle:
        project = tomllib.load(handle)["project"]
    dependencies = list(project["dependencies"])
    for extra in args.extras:
        dependencies += project["optional-dependencies"][extra]
    skip = {name.lower() for name in args.skip}
    for requirement in dependencies:
        name, constraint = floor_constraint(requirement)
        if name.lower() not in skip:
            print(constraint)
    return 0


if __name__ == "__main__":
    sys.exit(main())
