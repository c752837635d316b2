"""Every ```bash block of docs/cli.md runs and exits 0.

Blocks run in order of the page, each as one ``bash -e -o pipefail`` script
from the repository root (the docs are written for it), with the venv's bin
first on PATH (so ``sonomtl`` and ``python`` are the project's) and
``SONOMTL_DOCS_TMP`` set to a fresh temporary folder the block may write to.

A block is skipped only when the line just before it says why::

    <!-- docs-test: skip (needs a GPU) -->

A block that reads ``../shared/data`` is skipped when that data is absent.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from sonomtl.fileio import shared_data_dir

REPO = Path(__file__).resolve().parents[2]
CLI_DOC = REPO / "docs" / "cli.md"
_SKIP = re.compile(r"<!--\s*docs-test:\s*skip\s*\((?P<reason>[^)]+)\)\s*-->")
_BLOCK_TIMEOUT_S = 600


@dataclass(frozen=True)
class ShellBlock:
    """One ```bash block: where it is, its commands, and why it is skipped (if it is)."""

    section: str
    line: int
    script: str
    skip_reason: str | None


def extract_bash_blocks(markdown: str) -> list[ShellBlock]:
    """The ```bash blocks of ``markdown`` with their section and skip marker.

    Examples
    --------
    >>> text = "## a\\n<!-- docs-test: skip (needs a GPU) -->\\n```bash\\nsonomtl x\\n```\\n"
    >>> [(b.section, b.line, b.script, b.skip_reason) for b in extract_bash_blocks(text)]
    [('a', 3, 'sonomtl x\\n', 'needs a GPU')]
    """
    blocks, section, previous = [], "", ""
    lines = markdown.splitlines()
    k = 0
    while k < len(lines):
        line = lines[k]
        if line.startswith("#") and not line.startswith("#!"):
            section = line.lstrip("#").strip()
        fence = line.strip()
        if fence.startswith("```"):
            language = fence[3:].strip()
            end = k + 1
            while end < len(lines) and not lines[end].strip().startswith("```"):
                end += 1
            if language in ("bash", "sh", "shell"):
                match = _SKIP.search(previous)
                blocks.append(
                    ShellBlock(
                        section=section,
                        line=k + 1,
                        script="\n".join(lines[k + 1 : end]) + "\n",
                        skip_reason=match.group("reason").strip() if match else None,
                    )
                )
            k = end + 1
            previous = ""
            continue
        if line.strip():
            previous = line
        k += 1
    return blocks


def _blocks() -> list[ShellBlock]:
    return extract_bash_blocks(CLI_DOC.read_text(encoding="utf-8")) if CLI_DOC.is_file() else []


def test_skip_markers_state_a_reason() -> None:
    text = CLI_DOC.read_text(encoding="utf-8")
    markers = re.findall(r"<!--\s*docs-test:[^>]*-->", text)
    assert all(_SKIP.fullmatch(m) for m in markers), f"malformed docs-test markers: {markers}"


def test_cli_doc_has_runnable_blocks() -> None:
    assert any(block.skip_reason is None for block in _blocks()), "docs/cli.md has no ```bash block"


@pytest.mark.slow
@pytest.mark.parametrize(
    "block",
    _blocks(),
    ids=lambda b: f"{re.sub(r'[^a-z0-9]+', '-', b.section.lower())}-line{b.line}",
)
def test_cli_doc_block_exits_0(block: ShellBlock, tmp_path: Path) -> None:
    if block.skip_reason is not None:
        pytest.skip(f"docs/cli.md line {block.line}: {block.skip_reason}")
    if "../shared/data" in block.script and shared_data_dir() is None:
        pytest.skip("reads ../shared/data, which is not here (set SONOMTL_SHARED_DATA)")
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["SONOMTL_DOCS_TMP"] = str(tmp_path)
    env["MPLBACKEND"] = "Agg"
    result = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", block.script],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=_BLOCK_TIMEOUT_S,
    )
    assert result.returncode == 0, (
        f"docs/cli.md line {block.line} ({block.section}) exited {result.returncode}\n"
        f"--- script ---\n{block.script}--- stdout ---\n{result.stdout[-3000:]}"
        f"--- stderr ---\n{result.stderr[-3000:]}"
    )
