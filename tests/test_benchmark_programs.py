"""The clang-built benchmark programs (benchmarks/raw_bench.o) compute what
their C source says, on the VM with and without bounds checking, and the
example that runs an object's section works."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.input_data import ANCHOR_RESULTS, bench_input
from benchmarks.vm import program_code
from libbpf_compat.vm import Vm

ROOT = Path(__file__).resolve().parent.parent
M64 = (1 << 64) - 1


def fnv1a(mem: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in mem[:65536]:
        h = ((h ^ b) * 0x100000001B3) & M64
    return h


def sum64(mem: bytes) -> int:
    acc = 0
    for i in range(min(len(mem) // 8, 8192)):
        word = int.from_bytes(mem[8 * i:8 * i + 8], "little")
        acc = (((acc << 7) | (acc >> 57)) & M64) ^ word
    return acc


def sort(mem: bytes) -> int:
    if len(mem) < 64:
        return 0
    a = sorted(mem[:64])
    r = 0
    for i in range(0, 64, 8):
        r = (r * 31 + a[i]) & M64
    return r


MODELS = {"fnv1a": fnv1a, "sum64": sum64, "sort": sort}


@pytest.mark.parametrize("bounds_check", [False, True], ids=["unchecked", "checked"])
@pytest.mark.parametrize("name", ["fnv1a", "sum64", "sort"])
def test_input_dependent_programs_match_their_c_source(name: str, bounds_check: bool) -> None:
    vm = Vm(program_code(name), bounds_check=bounds_check)
    rng = random.Random(7)
    for mem in (bench_input(), rng.randbytes(100), rng.randbytes(63), b"", bytes(64)):
        assert vm.run(mem) == MODELS[name](mem), (name, len(mem))


def test_primes_matches_the_anchor() -> None:
    assert Vm(program_code("primes")).run(b"") == ANCHOR_RESULTS["primes"]


def test_run_section_example() -> None:
    result = subprocess.run(
        [sys.executable, "examples/run_section.py", "benchmarks/raw_bench.o", "raw/sum64",
         "--mem-file", "benchmarks/raw_bench.c"],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    expected = sum64((ROOT / "benchmarks" / "raw_bench.c").read_bytes())
    assert result.stdout.startswith(f"r0 = {expected} ")
