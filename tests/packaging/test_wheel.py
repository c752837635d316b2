"""The wheel is the product: built, installed in a fresh venv outside the checkout, run elsewhere.

The new venv gets only the wheel; the test environment's packages (torch and
the rest, not sonomtl) are reused through a ``.pth`` line written after the
install, so nothing is downloaded. Every command runs from a folder that is not
the checkout, with ``PYTHONPATH`` unset, and the test asserts that the
``sonomtl`` it ran is the one in the new venv.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

import sonomtl

REPO = Path(__file__).resolve().parents[2]
_STEP_TIMEOUT_S = 600


def _run(argv: list[str], *, cwd: Path, env: dict[str, str],
         timeout_s: float = _STEP_TIMEOUT_S) -> subprocess.CompletedProcess:
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=timeout_s, check=False)
    assert result.returncode == 0, (argv, result.stdout[-3000:], result.stderr[-3000:])
    return result


def _build_wheel(tmp_path: Path) -> Path:
    """Build from a copy of the sources (no build/ or egg-info left in the checkout)."""
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE", "CHANGELOG.md"):
        shutil.copy2(REPO / name, source / name)
    shutil.copytree(REPO / "sonomtl", source / "sonomtl",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps",
          "--no-build-isolation", "-q", "-w", str(dist)], cwd=tmp_path, env=dict(os.environ))
    (wheel,) = dist.glob("sonomtl-*.whl")
    return wheel


@pytest.mark.slow
def test_the_wheel_installs_in_a_fresh_venv_and_runs_the_demo_from_another_folder(tmp_path):
    wheel = _build_wheel(tmp_path)
    names = zipfile.ZipFile(wheel).namelist()
    version = sonomtl.__version__
    assert f"sonomtl-{version}.dist-info/licenses/LICENSE" in names
    assert "sonomtl/configs/demo/msen.yaml" in names and "sonomtl/configs/example.yaml" in names
    assert "sonomtl/report/templates/report.css" in names and "sonomtl/py.typed" in names
    assert not any(name.startswith(("tests/", "configs/")) for name in names)

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp_path,
         env=dict(os.environ))
    python = venv / "bin" / "python"
    # install first, so that pip sees only the new venv (not the checkout's editable install)
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q",
          str(wheel)], cwd=tmp_path, env=dict(os.environ))
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                      "['purelib'])"], cwd=tmp_path, env=dict(os.environ)).stdout.strip())
    (site / "reuse_test_env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONPATH", "SONOMTL_SHARED_DATA", "VIRTUAL_ENV")}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", SONOMTL_OFFLINE="1",
               SONOMTL_CACHE_DIR=str(tmp_path / "cache"), MPLBACKEND="Agg")
    where = _run([str(python), "-c", "import os, sys, sonomtl; print(sonomtl.__file__); "
                  "print(any(os.path.realpath(p or '.') == sys.argv[1] for p in sys.path))",
                  str(REPO.resolve())], cwd=elsewhere, env=env).stdout.split()
    assert Path(where[0]).is_relative_to(venv), where
    assert where[1] == "False"  # the checkout (the folder holding sonomtl/) is not on sys.path

    sonomtl_cli = str(venv / "bin" / "sonomtl")
    assert _run([sonomtl_cli, "--version"], cwd=elsewhere, env=env).stdout.strip() == \
        f"sonomtl {version}"
    data = Path(_run([sonomtl_cli, "synth", "sweeps", "--quick", "--no-video", "--out",
                      "sweeps"], cwd=elsewhere, env=env).stdout.strip().splitlines()[-1])
    assert (elsewhere / data / "manifest.csv").is_file()
    # a packaged config by its documented name, from a folder without configs/
    loaded = _run([str(python), "-c", "from sonomtl.config import load_config; "
                   "print(load_config('configs/msen/msen_bce.yaml').modules['G'].kwargs"
                   "['pretrained'])"], cwd=elsewhere, env=env)
    assert loaded.stdout.strip() == "sononet16"

    demo = _run([sonomtl_cli, "demo", "--quick", "--out", "demo"], cwd=elsewhere, env=env)
    lines = demo.stdout.splitlines()
    # no SonoNet-16 here (offline, no shared data): said once, on the very first line
    assert lines[0].startswith("SonoNet-16 weights unavailable"), lines[:3]
    assert sum("weights unavailable" in line for line in lines) == 1
    assert lines[1].startswith("[1/8]")
    assert (elsewhere / "demo" / "report.html").stat().st_size > 10_000
    assert not (REPO / "demo").exists()
