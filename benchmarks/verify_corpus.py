"""Time the verifier over the object corpus: ``python3 -m benchmarks.verify_corpus``.

Verifies every program the corpus inventory lists (as
:mod:`libbpf_compat.verifier.corpus` does) and prints the per-program verification
time: total, median, maximum, the slowest programs and the largest Cilium program
(the issue's targets: median <= 50 ms, the largest Cilium program <= 10 s).

Where bpf() is permitted (root), each program is also loaded alone in the kernel here
through the system libbpf with log level BPF_LOG_STATS, and the kernel verifier's own
"verification time" is compared with ours (per program and in total); programs the
kernel refuses or libbpf cannot load are listed as skipped with the reason.
``--no-kernel`` leaves the kernel column out.
"""

from __future__ import annotations

import statistics
import sys
from collections import Counter
from pathlib import Path
from typing import NamedTuple

from benchmarks import kernel_libbpf
from benchmarks.kernel_relocated import kernel_verify_relocated
from libbpf_compat.conformance import shared_dir
from libbpf_compat.uapi import BpfProgType
from libbpf_compat.verifier.corpus import CorpusResult, evaluate


class Timed(NamedTuple):
    """Our verifier on one corpus program."""

    seconds: float
    insns: int
    processed: int
    obj: str
    name: str
    prog_type: str
    verdict: str


class Pair(NamedTuple):
    """One program both verifiers ran: ours and the kernel's time (seconds)."""

    ours: float
    kernel: float
    timed: Timed
    kernel_processed: int


def _type_number(name: str) -> int | None:
    try:
        return int(BpfProgType["BPF_PROG_TYPE_" + name])
    except KeyError:
        return None


def _ratio(ours: float, kernel: float) -> str:
    return f"{ours / kernel:8.2f}x" if kernel > 0 else "       -"


def _kernel_run(t: Timed, samples: Path) -> tuple[kernel_libbpf.KernelVerdict, str]:
    """The kernel's verdict on ``t`` and the route that loaded it."""
    path, prog_type = str(samples / t.obj), _type_number(t.prog_type)
    verdict = kernel_libbpf.kernel_verify(path, t.name, prog_type)
    if not verdict.unopened:
        return verdict, "libbpf"
    # legacy ``maps`` sections (libbpf 1.x refuses them) or a program libbpf names
    # otherwise: the kernel verifies the code our loader linked
    return kernel_verify_relocated(path, t.name, prog_type), "linked"


def _compare(title: str, pairs: list[Pair]) -> None:
    if not pairs:
        return
    ours = [p.ours for p in pairs]
    kern = [p.kernel for p in pairs]
    mo, mk = statistics.median(ours), statistics.median(kern)
    ratios = [o / k for o, k in zip(ours, kern, strict=True) if k > 0]
    print(f"{title} ({len(pairs)} programs):")
    print(f"  median: ours {mo * 1000:.2f} ms, kernel {mk * 1000:.3f} ms, "
          f"ratio of medians {_ratio(mo, mk).strip()}")
    print(f"  total: ours {sum(ours) * 1000:.1f} ms, kernel {sum(kern) * 1000:.1f} ms, "
          f"ratio of totals {_ratio(sum(ours), sum(kern)).strip()}")
    if ratios:
        print(f"  per-program ratio ours/kernel: median {statistics.median(ratios):.2f}x, "
              f"min {min(ratios):.2f}x, max {max(ratios):.2f}x")
    for prefix in ("cilium/", "cilium-examples/"):
        cilium = [p for p in pairs if p.timed.obj.startswith(prefix)]
        if cilium:
            p = max(cilium, key=lambda p: p.timed.insns)
            print(f"  largest {prefix[:-1]} program: {p.timed.obj} {p.timed.name} "
                  f"({p.timed.insns} insns; processed ours {p.timed.processed}, kernel "
                  f"{p.kernel_processed}): ours {p.ours * 1000:.2f} ms, kernel "
                  f"{p.kernel * 1000:.3f} ms, ratio {_ratio(p.ours, p.kernel).strip()}")


def kernel_column(timed: list[Timed], samples: Path) -> None:
    """Load each program alone in the kernel and compare verification times."""
    why = kernel_libbpf.unavailable()
    if why is not None:
        print(f"kernel comparison skipped: {why}")
        return
    pairs: list[Pair] = []
    skipped: list[tuple[Timed, str]] = []
    routes: Counter[str] = Counter()
    for t in timed:
        verdict, route = _kernel_run(t, samples)
        if verdict.loaded:
            routes[route] += 1
            pairs.append(Pair(t.seconds, verdict.usec / 1e6, t, verdict.processed))
        else:
            skipped.append((t, f"{verdict.error} ({route})"))
    print(f"\nkernel verifier (BPF_PROG_LOAD, log level BPF_LOG_STATS): {len(pairs)} programs "
          f"loaded ({routes['libbpf']} through the system libbpf, {routes['linked']} from "
          f"the code our loader linked), {len(skipped)} skipped")
    if pairs:
        print(f"  {'ours ms':>9} {'kernel ms':>9} {'ratio':>9}  {'ours':8}  "
              f"{'processed ours/kernel':>21}  program")
        for p in sorted(pairs, key=lambda p: (p.timed.obj, p.timed.name)):
            print(f"  {p.ours * 1000:9.2f} {p.kernel * 1000:9.3f} {_ratio(p.ours, p.kernel)}  "
                  f"{p.timed.verdict:8}  {p.timed.processed:>10}/{p.kernel_processed:<10}  "
                  f"{p.timed.obj} {p.timed.name}")
    _compare("every program the kernel loaded", pairs)
    _compare("programs both verifiers accept", [p for p in pairs
                                                if p.timed.verdict == "verified"])
    big = max((t for t in timed if t.obj.startswith("cilium/")), key=lambda t: t.insns,
              default=None)
    reason = next((r for t, r in skipped if t is big), "")
    if big is not None and reason:
        print(f"largest Cilium program: {big.obj} {big.name} ({big.insns} insns): ours "
              f"{big.seconds * 1000:.1f} ms; kernel skipped: {reason}")
    print("skipped (kernel refused or libbpf could not load):")
    for t, reason in skipped:
        print(f"  {t.obj} {t.name}: {reason[:160]}")


def main(argv: list[str]) -> int:
    kernel = "--no-kernel" not in argv
    argv = [a for a in argv if a != "--no-kernel"]
    corpus = Path(argv[0]) if argv else shared_dir() / "corpus"
    if not (corpus / "elf_inventory.json").is_file():
        print(f"no corpus at {corpus}", file=sys.stderr)
        return 1
    result = evaluate(corpus)
    timed = _timed(result)
    if not timed:
        print("nothing verified", file=sys.stderr)
        return 1
    seconds = [t[0] for t in timed]
    print(f"{len(timed)} programs verified (accepted or rejected), "
          f"total {sum(seconds):.2f} s")
    print(f"per program: median {statistics.median(seconds) * 1000:.1f} ms, "
          f"max {max(seconds) * 1000:.1f} ms")
    print("slowest:")
    for sec, insns, processed, obj, name, _type, _verdict in sorted(timed, reverse=True)[:8]:
        print(f"  {sec * 1000:9.1f} ms  {insns:6} insns  {processed:8} processed  {obj} {name}")
    cilium = [t for t in timed if t[3].startswith("cilium/")]
    if cilium:
        sec, insns, processed, obj, name, _type, _verdict = max(cilium, key=lambda t: t[1])
        print(f"largest Cilium program: {obj} {name}: {insns} insns, {processed} processed, "
              f"{sec * 1000:.1f} ms")
    if kernel:
        kernel_column(timed, corpus / "ebpf-samples")
    return 0


def _timed(result: CorpusResult) -> list[Timed]:
    return [Timed(s.report.seconds, s.report.insns, s.report.processed, s.obj, s.function,
                  s.report.prog_type, s.report.verdict)
            for s in result.sections
            if s.report is not None and s.report.verdict != "unsupported"]


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
