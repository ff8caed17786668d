"""VM benchmark: the four raw-convention programs of raw_bench.c.

    python -m benchmarks.vm [--batches 5] [--min-time 0.2] [--no-native]

For each program it prints the result (checked against the same C compiled
natively, and against ANCHORS.md where the result does not depend on the
input), the instructions one run executes (lddw counted once), and the
median over the batches of ns per run and ns per instruction with bounds
checking off and on, as x86-64 machine code (the JIT; "-" where the
platform has none), and the native C time from the same run. Timing
happens in C (``Vm.run_repeat``), so Python's call overhead is not in the
numbers.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from elftools.elf.elffile import ELFFile

from benchmarks.input_data import ANCHOR_RESULTS, INPUT_INDEPENDENT, bench_input
from benchmarks.native_ref import NativeBench
from libbpf_compat.vm import Vm

OBJECT = Path(__file__).with_name("raw_bench.o")
PROGRAMS = ("fnv1a", "primes", "sum64", "sort")
#: uBPF interpreter ns per instruction on this machine kind (ANCHORS.md)
UBPF_NS_PER_INSN = {"fnv1a": 7.6, "primes": 8.2, "sum64": 7.6, "sort": 8.2}


@dataclass
class Row:
    name: str
    result: int
    expected: int | None
    insns: int
    ns: float
    ns_checked: float
    ns_native: float | None
    ns_jit: float | None

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


def median_ns(timers: list[Callable[[int], float]], batches: int,
              min_time: float) -> list[float]:
    """For each timer, the median over batches of the mean ns per run. The
    timers' batches are interleaved so that a noisy stretch of the shared
    machine hits them alike; each batch lasts about ``min_time``."""
    repeats = [max(1, int(min_time * 1e9 / max(t(3), 1.0))) for t in timers]
    samples: list[list[float]] = [[] for _ in timers]
    for _ in range(batches):
        for t, repeat, out in zip(timers, repeats, samples, strict=True):
            out.append(t(repeat))
    return [statistics.median(s) for s in samples]


def measure(name: str, mem: bytes, batches: int, min_time: float,
            native: NativeBench | None) -> Row:
    code = program_code(name)
    counter = Vm(code)
    counter.count_instructions = True
    counted = counter.run_repeat(mem, 1)
    fast, checked = Vm(code, jit=False), Vm(code, bounds_check=True)
    jitted = Vm(code, jit=True)
    result = fast.run(mem)
    if checked.run(mem) != result or counted.retval != result or jitted.run(mem) != result:
        raise SystemExit(f"{name}: the VM variants disagree on the result")
    expected = ANCHOR_RESULTS[name] if name in INPUT_INDEPENDENT else None
    if native is not None:
        native_result, _ = native.run(name, mem, 1)
        expected = native_result if expected is None else expected
        if native_result != expected:
            raise SystemExit(f"{name}: native C gives {native_result}, ANCHORS {expected}")
    timers: list[Callable[[int], float]] = [
        lambda n: fast.run_repeat(mem, n).duration_ns,
        lambda n: checked.run_repeat(mem, n).duration_ns,
    ]
    if jitted.jitted:
        timers.append(lambda n: jitted.run_repeat(mem, n).duration_ns)
    if native is not None:
        timers.append(lambda n: native.run(name, mem, n)[1])
    ns = median_ns(timers, batches, min_time)
    ns_jit = ns[2] if jitted.jitted else None
    ns_native = ns[-1] if native is not None else None
    return Row(name, result, expected, counted.insn_count, ns[0], ns[1], ns_native, ns_jit)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--min-time", type=float, default=0.2, help="seconds per batch")
    parser.add_argument("--no-native", action="store_true", help="skip the native C reference")
    args = parser.parse_args(argv)
    mem = bench_input()
    native = None if args.no_native else NativeBench()
    rows = [measure(name, mem, args.batches, args.min_time, native) for name in PROGRAMS]
    print("| program | result | check | insns/run | ns/run | ns/insn | ns/run checked "
          "| checked/unchecked | uBPF ns/insn (ANCHORS) | speed-up vs uBPF | native C ns "
          "| VM/native | JIT ns/run | JIT ns/insn | JIT/native |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    ok = True
    for r in rows:
        match = r.expected is None or r.result == r.expected
        ok &= match
        check = "unchecked" if r.expected is None else ("ok" if match else f"!= {r.expected}")
        native_ns = "-" if r.ns_native is None else f"{r.ns_native:.0f}"
        ratio = "-" if r.ns_native is None else f"{r.ns / r.ns_native:.1f}x"
        ubpf = UBPF_NS_PER_INSN[r.name]
        jit = ("- | - | -" if r.ns_jit is None else
               f"{r.ns_jit:.0f} | {r.ns_jit / r.insns:.2f} | "
               + ("-" if r.ns_native is None else f"{r.ns_jit / r.ns_native:.1f}x"))
        print(f"| {r.name} | {r.result} | {check} | {r.insns} | {r.ns:.0f} | {r.ns_per_insn:.2f} "
              f"| {r.ns_checked:.0f} | {r.check_cost:.2f}x | {ubpf} "
              f"| {ubpf / r.ns_per_insn:.1f}x | {native_ns} | {ratio} | {jit} |")
    med = statistics.median(r.ns_per_insn for r in rows)
    print(f"\nmedian ns/insn: {med:.2f} (target <= 3.0); bounds checking costs at most "
          f"{max(r.check_cost for r in rows):.2f}x (target <= 1.3x)")
    if not ok:
        print("RESULT MISMATCH", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
