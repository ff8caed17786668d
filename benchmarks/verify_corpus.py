"""Time the verifier over the object corpus: ``python3 -m benchmarks.verify_corpus``.

Verifies every program the corpus inventory lists (as
:mod:`libbpf_compat.verifier.corpus` does) and prints the per-program verification
time: total, median, maximum, the slowest programs and the largest Cilium program
(the issue's targets: median <= 50 ms, the largest Cilium program <= 10 s).
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

from libbpf_compat.conformance import shared_dir
from libbpf_compat.verifier.corpus import evaluate


def main(argv: list[str]) -> int:
    corpus = Path(argv[0]) if argv else shared_dir() / "corpus"
    if not (corpus / "elf_inventory.json").is_file():
        print(f"no corpus at {corpus}", file=sys.stderr)
        return 1
    result = evaluate(corpus)
    timed = [(s.report.seconds, s.report.insns, s.report.processed, s.obj, s.function)
             for s in result.sections
             if s.report is not None and s.report.verdict != "unsupported"]
    if not timed:
        print("nothing verified", file=sys.stderr)
        return 1
    seconds = [t[0] for t in timed]
    print(f"{len(timed)} programs verified (accepted or rejected), "
          f"total {sum(seconds):.2f} s")
    print(f"per program: median {statistics.median(seconds) * 1000:.1f} ms, "
          f"max {max(seconds) * 1000:.1f} ms")
    print("slowest:")
    for sec, insns, processed, obj, name in sorted(timed, reverse=True)[:8]:
        print(f"  {sec * 1000:9.1f} ms  {insns:6} insns  {processed:8} processed  {obj} {name}")
    cilium = [t for t in timed if t[3].startswith("cilium/")]
    if cilium:
        sec, insns, processed, obj, name = max(cilium, key=lambda t: t[1])
        print(f"largest Cilium program: {obj} {name}: {insns} insns, {processed} processed, "
              f"{sec * 1000:.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
