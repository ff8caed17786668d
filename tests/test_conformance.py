"""The bpf_conformance suite (../shared/conformance): every positive case
must return its result, with and without bounds checking and as machine
code (the x86-64 JIT, where there is one); every negative
case must be detected (refused, stopped, or a different result)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from libbpf_compat import isa
from libbpf_compat.conformance import (
    conformance_vm,
    detected,
    load_case,
    passes,
    program_of,
    run_case,
)
from libbpf_compat.errors import LibbpfError
from tests.jit_support import JIT_PLATFORM
from tests.shared_data import shared_params, shared_path

POSITIVE = shared_params("*.data", "conformance", "tests")
NEGATIVE = shared_params("*.data", "conformance", "negative")


def test_suite_is_complete() -> None:
    shared_path("conformance")
    assert len(POSITIVE) == 313
    assert len(NEGATIVE) == 60


@pytest.mark.parametrize("mode", ["checked", "unchecked", "jit"])
@pytest.mark.parametrize("path", POSITIVE)
def test_positive(path: Path, mode: str) -> None:
    case = load_case(path)
    run = run_case(case, bounds_check=mode == "checked", jit=mode == "jit")
    assert passes(case, run), f"{path.name}: expected {case.result:#x}, got {run}"


@pytest.mark.skipif(not JIT_PLATFORM, reason="the JIT translates only on x86-64 Linux")
@pytest.mark.parametrize("path", POSITIVE)
def test_positive_cases_are_translated(path: Path, jit_allowed: None) -> None:
    case = load_case(path)
    try:
        vm = conformance_vm(program_of(case), bounds_check=False, jit=True)
        vm.link()
    except LibbpfError:
        pytest.skip("the loader refuses the case (a test of the assembler or loader)")
    assert vm.jitted, f"{path.name}: {vm.jit_note}"


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
