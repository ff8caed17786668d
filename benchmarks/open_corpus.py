"""Time opening every object of the corpus: ``python -m benchmarks.open_corpus [repeat]``.

Prints each object's median and maximum over ``repeat`` opens (default 5),
the slowest objects, the per-object median and maximum across the corpus
and the total time of one pass (the issue's targets: < 10 s in all,
cilium/bpf_lxc.o < 1 s).
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

from libbpf_compat.conformance import shared_dir
from libbpf_compat.elf.log import libbpf_set_print
from libbpf_compat.errors import LibbpfError
from libbpf_compat.object import BpfObject


def time_open(path: Path, repeat: int) -> tuple[list[float], str]:
    """Seconds of each of ``repeat`` opens of ``path``, and "ok" or the error."""
    times = []
    status = "ok"
    for _ in range(repeat):
        start = time.perf_counter()
        try:
            BpfObject.open_file(path)
        except LibbpfError as exc:
            status = f"refused: {exc}"
        times.append(time.perf_counter() - start)
    return times, status


def main(argv: list[str]) -> int:
    repeat = int(argv[0]) if argv else 5
    root = shared_dir() / "corpus" / "ebpf-samples"
    paths = sorted(p for p in root.glob("*/*") if p.is_file())
    if not paths:
        print(f"no corpus at {root} (set LIBBPF_COMPAT_SHARED)")
        return 1
    libbpf_set_print(None)
    rows = []
    for path in paths:
        times, status = time_open(path, repeat)
        rows.append((statistics.median(times), max(times), path, status))
    for median, worst, path, status in rows:
        name = path.relative_to(root)
        print(f"{median * 1000:8.2f} ms median {worst * 1000:8.2f} ms max  {name}"
              f"{'' if status == 'ok' else '  (' + status[:60] + ')'}")
    medians = [r[0] for r in rows]
    total = sum(medians)
    print(f"\n{len(rows)} objects, {repeat} opens each")
    print("slowest:", ", ".join(f"{r[2].relative_to(root)} {r[0] * 1000:.1f} ms"
                                for r in sorted(rows, key=lambda r: r[0], reverse=True)[:3]))
    print(f"per object: median {statistics.median(medians) * 1000:.2f} ms, "
          f"max {max(medians) * 1000:.2f} ms")
    print(f"one pass over the corpus (sum of medians): {total:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
