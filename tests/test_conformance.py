"""The bpf_conformance suite (../shared/conformance): every positive case
must return its result, with and without bounds checking; every negative
case must be detected (refused, stopped, or a different result)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from libbpf_compat import isa
from libbpf_compat.conformance import detected, load_case, passes, run_case
from libbpf_compat.errors import LibbpfError
from tests.shared_data import shared_params, shared_path

POSITIVE = shared_params("*.data", "conformance", "tests")
NEGATIVE = shared_params("*.data", "conformance", "negative")


def test_suite_is_complete() -> None:
    shared_path("conformance")
    assert len(POSITIVE) == 313
    assert len(NEGATIVE) == 60


@pytest.mark.parametrize("bounds_check", [True, False], ids=["checked", "unchecked"])
@pytest.mark.parametrize("path", POSITIVE)
def test_positive(path: Path, bounds_check: bool) -> None:
    case = load_case(path)
    run = run_case(case, bounds_check=bounds_check)
    assert passes(case, run), f"{path.name}: expected {case.result:#x}, got {run}"


@pytest.mark.parametrize("path", NEGATIVE)
def test_negative_is_detected(path: Path) -> None:
    case = load_case(path)
    run = run_case(case)
    assert detected(case, run), f"{path.name} was not detected: {run}"
    if path.stem.startswith("unused-"):
        # raw encodings with a non-zero unused field: refused by the loader
        assert run.outcome == "refused" and "instruction 0:" in run.message, run
        assert "non-zero" in run.message or "invalid" in run.message, run
    if path.stem.startswith("invalid_") and case.asm:
        with pytest.raises(LibbpfError):
            isa.assemble(case.asm)


def test_raw_section_matches_the_assembly() -> None:
    case = load_case(shared_path("conformance", "tests", "lddw.data"))
    assert case.asm is not None and case.raw is not None
    assert isa.assemble(case.asm) == case.raw


def plugin(program: bytes, mem: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "libbpf_compat.conformance_plugin", mem],
                          input=program.hex(), capture_output=True, text=True, timeout=60)


def test_plugin_protocol() -> None:
    ok = plugin(isa.assemble("ldxh %r0, [%r1+1]\nexit"), "aa bb cc")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == "ccbb"
    bad = plugin(isa.assemble("ldxdw %r0, [%r1+8]\nexit"), "00")
    assert bad.returncode == 1
    assert "instruction 0" in bad.stdout
    refused = plugin(bytes.fromhex("0700010001000000 9500000000000000"))
    assert refused.returncode == 1
    assert "offset" in refused.stdout
