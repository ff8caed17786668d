"""Program-side map benchmark:
``python -m benchmarks.map_programs [--quick] [--mode loaded|checked|unchecked|jit]``.

The XDP programs of benchmarks/map_programs.o (source map_programs.c, built
by build_map_programs.sh) each do 256 map operations per run: HASH lookup on
a full 64K map with pseudo-random keys and with 256 hot keys, ARRAY and
PERCPU_ARRAY lookup (64K), LRU_HASH lookup (64K), LPM_TRIE lookup hits (1K
and 64K /24 routes), updates of existing entries (with the value already
there) of HASH, ARRAY, PERCPU_ARRAY, LRU_HASH and LPM_TRIE (1K), plus an
empty program and one that only runs the loop and key generation.

The same object is loaded here (``obj.load()``, maps filled through the fd
API) and, where bpf() is permitted, in the kernel (``bpftool prog loadall``
with the maps pinned, filled through bpf() map updates); every program is
run with test_run and repeat on both, interleaved batch by batch, and the
table gives ns per operation: (median ns per run - the empty program's) /
256, and the same net of the loop-only program (the map operation alone).

``--mode`` says how our side runs the programs: ``loaded`` (the default:
as the loader runs them -- proven safe by the verifier, so unchecked, as
x86-64 machine code where the JIT exists), ``checked`` (the interpreter
with bounds checks, as unverified programs run), ``unchecked`` (the
interpreter without them) or ``jit`` (unchecked machine code, forced).

Before timing, one run of every program on each side is checked against
the result computed here (LCG state, hits, sum of values read), so both
sides do the same work on the same map contents.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import statistics
import struct
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from libbpf_compat import libbpf_maps as bpf
from libbpf_compat import libbpf_object as lb
from libbpf_compat.errors import LibbpfError
from libbpf_compat.object import BpfObject
from libbpf_compat.test_run import bpf_prog_test_run_opts, bpf_test_run_opts
from tests import kernel_bpf

OBJECT = Path(__file__).resolve().parent / "map_programs.o"

OPS = 256
ENTRIES = 1 << 16
HOT = 256
ROUTES_SMALL = 1024
ROUTES_BIG = 1 << 16
ROUTE_MUL = 2654435761
PACKET_SIZE = 64
SEED = 0x2545F491
M32 = 0xFFFFFFFF

BPF_OBJ_GET = 7
BPF_PROG_TEST_RUN = 10

#: (program, row label); empty and loop_only are the baselines.
PROGRAMS = [
    ("hash_lookup_random", "HASH lookup (64K entries, random keys)"),
    ("hash_lookup_hot", "HASH lookup (256 hot keys)"),
    ("hash_update_existing", "HASH update of an existing key (64K, random)"),
    ("array_lookup", "ARRAY lookup (64K, random index)"),
    ("percpu_array_lookup", "PERCPU_ARRAY lookup (64K, random index)"),
    ("lru_hash_lookup", "LRU_HASH lookup (64K entries, random keys)"),
    ("lpm_lookup_1k", "LPM_TRIE lookup, hit (1K /24 routes)"),
    ("lpm_lookup_64k", "LPM_TRIE lookup, hit (64K /24 routes)"),
    ("array_update", "ARRAY update (64K, random index)"),
    ("percpu_array_update", "PERCPU_ARRAY update (64K, random index)"),
    ("lru_hash_update", "LRU_HASH update of an existing key (64K, random)"),
    ("lpm_update_1k", "LPM_TRIE update of an existing route (1K /24 routes)"),
]
BASELINES = ["empty", "loop_only"]


def value_of(key: int) -> int:
    return key * 3 + 1


def route(i: int) -> int:
    """The /24 route of index i as a u32 whose little-endian bytes are the
    LPM key's data (the prefix is the low three bytes), as ROUTE() in C."""
    return (i * ROUTE_MUL) & 0x00FFFFFF


def lcg(x: int) -> int:
    return (x * 1103515245 + 12345) & M32


def expected(prog: str, seed: int) -> tuple[int, int, int]:
    """(LCG state, hits, sum) after one run from ``seed``, with full maps."""
    if prog == "empty":
        return seed, 0, 0
    mask = {"hash_lookup_hot": HOT - 1, "lpm_lookup_1k": ROUTES_SMALL - 1,
            "lpm_update_1k": ROUTES_SMALL - 1,
            "lpm_lookup_64k": ROUTES_BIG - 1}.get(prog, ENTRIES - 1)
    x, total = seed, 0
    for _ in range(OPS):
        x = lcg(x)
        key = (x >> 16) & mask
        if prog == "loop_only":
            total += key
        elif prog.startswith("lpm"):
            total += key  # route i has value i
        else:
            total += value_of(key)
    return x, OPS, total & ((1 << 64) - 1)


def packet(seed: int) -> bytes:
    return struct.pack("<I", seed) + bytes(PACKET_SIZE - 4)


def fill_maps(update: Callable[[str, bytes, bytes], None], ncpus: Callable[[str], int]) -> None:
    """Fill every map identically: key k -> value_of(k) (in every CPU slot of
    the per-CPU map, ``ncpus`` giving the slot count); LPM route i -> i."""
    for name in ("hash64k", "lru64k", "array64k", "percpu64k"):
        copies = ncpus(name) if name == "percpu64k" else 1
        for k in range(ENTRIES):
            update(name, struct.pack("<I", k), struct.pack("<Q", value_of(k)) * copies)
    for name, count in (("lpm1k", ROUTES_SMALL), ("lpm64k", ROUTES_BIG)):
        for i in range(count):
            update(name, struct.pack("<II", 24, route(i)), struct.pack("<Q", i))


# ---------------------------------------------------------------- this store

MODES = ("loaded", "checked", "unchecked", "jit")


class Ours:
    def __init__(self, mode: str = "loaded") -> None:
        self.obj: BpfObject = lb.bpf_object__open_file(OBJECT)
        self.obj.load()
        self.fds: dict[str, int] = {}
        for prog in self.obj.programs:
            self.fds[prog.name] = lb.bpf_program__fd(prog)
            if mode == "checked" and prog.vm is not None:
                prog.vm.bounds_check = True
            elif mode != "loaded" and prog.vm is not None:
                prog.vm.bounds_check = False
                prog.vm.set_jit(mode == "jit")
                if mode == "jit" and not prog.vm.jitted:
                    raise SystemExit(f"{prog.name}: not JIT-compiled: {prog.vm.jit_note}")

    def map_fd(self, name: str) -> int:
        return lb.bpf_object__find_map_fd_by_name(self.obj, name)

    def fill(self) -> None:
        fds = {name: self.map_fd(name) for name in
               ("hash64k", "lru64k", "array64k", "percpu64k", "lpm1k", "lpm64k")}

        def ncpus(name: str) -> int:
            return len(bpf.bpf_map_lookup_elem(fds[name], bytes(4))) // 8

        def update(name: str, key: bytes, value: bytes) -> None:
            bpf.bpf_map_update_elem(fds[name], key, value)
        fill_maps(update, ncpus)

    def run(self, prog: str, data: bytes, repeat: int) -> tuple[int, bytes]:
        """(mean ns per run, data_out)."""
        opts = bpf_test_run_opts(data_in=data, repeat=repeat)
        bpf_prog_test_run_opts(self.fds[prog], opts)
        assert opts.data_out is not None
        return opts.duration, opts.data_out

    def close(self) -> None:
        self.obj.close()


# ---------------------------------------------------------------- the kernel

def kernel_unavailable() -> str | None:
    why = kernel_bpf.unavailable()
    if why is not None:
        return why
    if shutil.which("bpftool", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin") is None:
        return "bpftool is not installed (it loads the object into the kernel)"
    if not Path("/sys/fs/bpf").is_dir() or not os.access("/sys/fs/bpf", os.W_OK):
        return "no writable bpffs at /sys/fs/bpf to pin the kernel's programs"
    return None


def obj_get(path: Path) -> int:
    name = ctypes.create_string_buffer(str(path).encode())
    attr = ctypes.create_string_buffer(kernel_bpf.ATTR_SIZE)
    struct.pack_into("Q", attr, 0, ctypes.addressof(name))
    fd = kernel_bpf.bpf(BPF_OBJ_GET, attr)
    if fd < 0:
        raise OSError(-fd, f"BPF_OBJ_GET {path}: {os.strerror(-fd)}")
    return fd


class Kernel:
    """The same object loaded by bpftool, maps pinned beside the programs."""

    def __init__(self) -> None:
        bpftool = shutil.which("bpftool", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
        assert bpftool is not None
        self.pin = Path(f"/sys/fs/bpf/lbc_map_programs_{os.getpid()}")
        self.fds: dict[str, int] = {}
        self.maps: dict[str, kernel_bpf.KernelMap] = {}
        load = subprocess.run([bpftool, "prog", "loadall", str(OBJECT), str(self.pin),
                               "type", "xdp", "pinmaps", str(self.pin / "maps")],
                              capture_output=True, text=True, timeout=120)
        if load.returncode != 0:
            self.unpin()
            raise RuntimeError("the kernel refused map_programs.o: "
                               + (load.stderr or load.stdout).strip()[-2000:])
        for prog in BASELINES + [p for p, _ in PROGRAMS]:
            self.fds[prog] = obj_get(self.pin / prog)
        for name, key_size, percpu in (("hash64k", 4, False), ("lru64k", 4, False),
                                       ("array64k", 4, False), ("percpu64k", 4, True),
                                       ("lpm1k", 8, False), ("lpm64k", 8, False)):
            self.maps[name] = kernel_bpf.KernelMap(obj_get(self.pin / "maps" / name),
                                                   key_size, 8, percpu)
        self._attr = ctypes.create_string_buffer(kernel_bpf.ATTR_SIZE)
        self._in = ctypes.create_string_buffer(PACKET_SIZE)
        self._out = ctypes.create_string_buffer(PACKET_SIZE)

    def fill(self) -> None:
        def ncpus(name: str) -> int:
            return self.maps[name].user_value_size // 8

        def update(name: str, key: bytes, value: bytes) -> None:
            rc = self.maps[name].update(key, value)
            if rc:
                raise OSError(-rc, f"kernel map {name} update: {os.strerror(-rc)}")
        fill_maps(update, ncpus)

    def run(self, prog: str, data: bytes, repeat: int) -> tuple[int, bytes]:
        """BPF_PROG_TEST_RUN: (mean ns per run, data_out)."""
        a = self._attr
        ctypes.memset(a, 0, kernel_bpf.ATTR_SIZE)
        ctypes.memmove(self._in, data, len(data))
        struct.pack_into("IIIIQQII", a, 0, self.fds[prog], 0, len(data), PACKET_SIZE,
                         ctypes.addressof(self._in), ctypes.addressof(self._out), repeat, 0)
        rc = kernel_bpf.bpf(BPF_PROG_TEST_RUN, a)
        if rc < 0:
            raise OSError(-rc, f"BPF_PROG_TEST_RUN {prog}: {os.strerror(-rc)}")
        size_out = struct.unpack_from("I", a, 12)[0]
        return int(struct.unpack_from("I", a, 36)[0]), self._out.raw[:size_out]

    def unpin(self) -> None:
        if self.pin.exists():
            for path in sorted(self.pin.rglob("*"), key=lambda p: -len(p.parts)):
                if path.is_dir():
                    path.rmdir()
                else:
                    path.unlink()
            self.pin.rmdir()

    def close(self) -> None:
        for km in self.maps.values():
            km.close()
        for fd in self.fds.values():
            os.close(fd)
        self.unpin()


# ---------------------------------------------------------------- measuring

Runner = Callable[[str, bytes, int], tuple[int, bytes]]


def check(side: str, run: Runner) -> list[str]:
    """One run of every program from SEED against the computed result; the
    problems found (hits short of OPS are reported, not fatal: a kernel LRU
    map may evict a few entries while it is being filled)."""
    notes = []
    for prog in BASELINES + [p for p, _ in PROGRAMS]:
        _, out = run(prog, packet(SEED), 1)
        got = struct.unpack_from("<IIQ", out)
        want = expected(prog, SEED)
        if got != want:
            notes.append(f"{side} {prog}: (state, hits, sum) {got}, expected {want}")
        # with repeat the packet (and so the LCG state) carries over from run
        # to run, so repeated runs keep drawing new keys
        _, out = run(prog, packet(SEED), 3)
        want = expected(prog, expected(prog, want[0])[0])
        if prog != "empty" and struct.unpack_from("<I", out)[0] != want[0]:
            notes.append(f"{side} {prog}: the LCG state did not carry over between repeats")
    return notes


def lru_missing(lookup: Callable[[bytes], bool]) -> int:
    """How many of the ENTRIES keys the filled LRU_HASH map lacks (an LRU map
    may evict while it fills up to max_entries)."""
    return sum(not lookup(struct.pack("<I", k)) for k in range(ENTRIES))


def calibrate(run: Runner, prog: str, target_ns: float) -> int:
    """The repeat count that makes one batch last about target_ns."""
    repeat = 16
    while True:
        ns, _ = run(prog, packet(SEED), repeat)
        if ns * repeat >= target_ns / 8 or repeat >= 1 << 24:
            return max(1, min(1 << 24, int(target_ns / max(ns, 1))))
        repeat *= 8


@dataclass
class Timing:
    ours: float
    kernel: float | None


def measure(ours: Ours, kernel: Kernel | None, batches: int,
            target_ns: float) -> dict[str, Timing]:
    """Median ns per run of every program, the two sides interleaved batch by
    batch; each batch starts from a new seed."""
    result: dict[str, Timing] = {}
    for prog in BASELINES + [p for p, _ in PROGRAMS]:
        rep_o = calibrate(ours.run, prog, target_ns)
        rep_k = calibrate(kernel.run, prog, target_ns) if kernel else 0
        ns_o: list[int] = []
        ns_k: list[int] = []
        seed = SEED
        for _ in range(batches):
            seed = lcg(seed ^ 0x9E3779B9)
            ns_o.append(ours.run(prog, packet(seed), rep_o)[0])
            if kernel:
                ns_k.append(kernel.run(prog, packet(seed), rep_k)[0])
        result[prog] = Timing(statistics.median(ns_o),
                              statistics.median(ns_k) if kernel else None)
    return result


def fmt(ns: float | None) -> str:
    return "-" if ns is None else (f"{ns:.1f}" if ns < 100 else f"{ns:.0f}")


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None:
        return "-"
    if b <= 0.05:
        return "n/a"
    return f"{a / b:.1f}x"


def table(t: dict[str, Timing], with_kernel: bool) -> list[str]:
    e, lo = t["empty"], t["loop_only"]

    def per_op(x: float | None, base: float | None) -> float | None:
        return None if x is None or base is None else (x - base) / OPS

    head = ["operation", "ns/op here", "ns/op kernel", "ratio",
            "op alone here", "op alone kernel", "ratio"]
    rows = [["empty program (ns per run)", fmt(e.ours), fmt(e.kernel), ratio(e.ours, e.kernel),
             "", "", ""],
            ["loop + key generation, no map op", fmt(per_op(lo.ours, e.ours)),
             fmt(per_op(lo.kernel, e.kernel)),
             ratio(per_op(lo.ours, e.ours), per_op(lo.kernel, e.kernel)), "", "", ""]]
    for prog, label in PROGRAMS:
        x = t[prog]
        here, kern = per_op(x.ours, e.ours), per_op(x.kernel, e.kernel)
        here_alone, kern_alone = per_op(x.ours, lo.ours), per_op(x.kernel, lo.kernel)
        rows.append([label, fmt(here), fmt(kern), ratio(here, kern),
                     fmt(here_alone), fmt(kern_alone), ratio(here_alone, kern_alone)])
    if not with_kernel:
        head = [h for h in head if "kernel" not in h and h != "ratio"]
        rows = [[r[0], r[1], r[4]] for r in rows]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    mode = next((a.split("=", 1)[1] for a in argv if a.startswith("--mode=")), "loaded")
    if "--mode" in argv:
        mode = argv[argv.index("--mode") + 1]
    if mode not in MODES:
        raise SystemExit(f"--mode must be one of {', '.join(MODES)}, not {mode!r}")
    batches, target_ns = (3, 2e7) if quick else (5, 1.5e8)
    why = kernel_unavailable()
    ours = Ours(mode)
    kernel: Kernel | None = None
    notes: list[str] = []
    try:
        ours.fill()
        notes += check("here", ours.run)
        lru_fd = ours.map_fd("lru64k")

        def ours_has(key: bytes) -> bool:
            try:
                bpf.bpf_map_lookup_elem(lru_fd, key)
            except LibbpfError:
                return False
            return True
        if missing := lru_missing(ours_has):
            notes.append(f"here: LRU_HASH lacks {missing} of {ENTRIES} keys after the fill")
        if why is None:
            try:
                kernel = Kernel()
            except (RuntimeError, OSError) as e:
                why = str(e)
        if kernel is not None:
            kernel.fill()
            notes += check("kernel", kernel.run)
            lru = kernel.maps["lru64k"]
            if missing := lru_missing(lambda key: lru.lookup(key)[0] == 0):
                notes.append(f"kernel: LRU_HASH lacks {missing} of {ENTRIES} keys after the "
                             "fill (lookups of those keys miss)")
        timings = measure(ours, kernel, batches, target_ns)
    finally:
        ours.close()
        if kernel is not None:
            kernel.close()
    print(f"Program-side map operations: {OPS} per run, XDP test_run with repeat, median of "
          f"{batches} batches of ~{target_ns / 1e9:.2f} s; ns/op = (run - empty run) / {OPS}, "
          f"'op alone' = (run - loop-only run) / {OPS}. Our side: {mode}.")
    if kernel is None:
        print(f"Kernel columns skipped: {why}")
    else:
        print("Kernel: the same map_programs.o loaded by bpftool, run by BPF_PROG_TEST_RUN.")
    print()
    print("\n".join(table(timings, kernel is not None)))
    for note in notes:
        print("note:", note)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
