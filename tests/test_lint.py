"""The package is mypy --strict and ruff clean (part of the suite so CI
holds it)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_mypy_strict() -> None:
    pytest.importorskip("mypy")
    result = run(sys.executable, "-m", "mypy", "--strict", "libbpf_compat", "benchmarks",
                 "tests", "examples")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff() -> None:
    if shutil.which("ruff") is None:
        pytest.importorskip("ruff")
    result = run(sys.executable, "-m", "ruff", "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr
