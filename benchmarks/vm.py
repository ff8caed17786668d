"""VM benchmark: the four raw-convention programs of raw_bench.c.

    python -m benchmarks.vm [--batches 5] [--min-time 0.2]

For each program it prints the result, the instructions one run executes
(lddw counted once), and the median over the batches of ns per run and ns
per instruction, with bounds checking off and on. Timing happens in C
(``Vm.run_repeat``), so Python's call overhead is not in the numbers.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

from elftools.elf.elffile import ELFFile

from benchmarks.input_data import EXPECTED, bench_input
from libbpf_compat.vm import Vm

OBJECT = Path(__file__).with_name("raw_bench.o")
PROGRAMS = ("fnv1a", "primes", "sum64", "sort")


@dataclass
class Row:
    name: str
    result: int
    insns: int
    ns: float
    ns_checked: float

    @property
    def ns_per_insn(self) -> float:
        return self.ns / self.insns

    @property
    def check_cost(self) -> float:
        return self.ns_checked / self.ns


def program_code(name: str) -> bytes:
    with OBJECT.open("rb") as f:
        section = ELFFile(f).get_section_by_name(f"raw/{name}")
        if section is None:
            raise SystemExit(f"{OBJECT} has no section raw/{name}; rebuild it with build.sh")
        return bytes(section.data())


def median_ns(vm: Vm, mem: bytes, batches: int, min_time: float) -> float:
    """Median over batches of the mean ns per run; each batch lasts ~min_time."""
    probe = vm.run_repeat(mem, 3).duration_ns
    repeat = max(1, int(min_time * 1e9 / max(probe, 1.0)))
    return statistics.median(vm.run_repeat(mem, repeat).duration_ns for _ in range(batches))


def measure(name: str, mem: bytes, batches: int, min_time: float) -> Row:
    code = program_code(name)
    counter = Vm(code)
    counter.count_instructions = True
    counted = counter.run_repeat(mem, 1)
    fast, checked = Vm(code), Vm(code, bounds_check=True)
    result = fast.run(mem)
    if checked.run(mem) != result or counted.retval != result:
        raise SystemExit(f"{name}: the VM variants disagree on the result")
    return Row(name, result, counted.insn_count, median_ns(fast, mem, batches, min_time),
               median_ns(checked, mem, batches, min_time))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--min-time", type=float, default=0.2, help="seconds per batch")
    args = parser.parse_args(argv)
    mem = bench_input()
    rows = [measure(name, mem, args.batches, args.min_time) for name in PROGRAMS]
    print("| program | result | expected | insns/run | ns/run | ns/insn "
          "| ns/run checked | ns/insn checked | checked/unchecked |")
    print("|---|---|---|---|---|---|---|---|---|")
    ok = True
    for r in rows:
        expected = EXPECTED[r.name]
        ok &= r.result == expected
        print(f"| {r.name} | {r.result} | {'=' if r.result == expected else expected} "
              f"| {r.insns} | {r.ns:.0f} | {r.ns_per_insn:.2f} | {r.ns_checked:.0f} "
              f"| {r.ns_checked / r.insns:.2f} | {r.check_cost:.2f}x |")
    print(f"\nmedian ns/insn: {statistics.median(r.ns_per_insn for r in rows):.2f} unchecked, "
          f"{statistics.median(r.ns_checked / r.insns for r in rows):.2f} checked; "
          f"bounds checking costs at most {max(r.check_cost for r in rows):.2f}x")
    if not ok:
        print("RESULT MISMATCH against ANCHORS.md", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
