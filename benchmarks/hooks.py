"""Hook benchmark: ``python -m benchmarks.hooks [--quick]``.

The programs of benchmarks/hook_programs.o (source hook_programs.c, built by
build_hook_programs.sh):

1. ``bpf_prog_test_run_opts(repeat=1_000_000)`` of ``xdp_count`` (one ARRAY
   lookup and an atomic add) and of the trivial ``xdp_pass``: the duration
   test_run reports (mean ns per run, timed in C), here and -- where bpf()
   is permitted -- by the kernel's BPF_PROG_TEST_RUN for the same object
   (loaded by ``bpftool prog loadall``), interleaved, median of the batches;
2. one :meth:`XdpHook.receive` call from Python (a 64-byte packet, trivial
   program): µs per call, median of the batches;
3. :meth:`XdpHook.receive_batch` of 100 000 64-byte packets (trivial
   program, and the packet-writing ``xdp_swap``): packets per second over
   the whole call (joining the input and building the result included).

2 and 3 give the wall-clock time and the thread's CPU time (which, like
the kernel's test_run timer, leaves out time the thread spent preempted:
the numbers to compare on a busy machine).
"""

from __future__ import annotations

import ctypes
import os
import shutil
import statistics
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.map_programs import kernel_unavailable, obj_get
from libbpf_compat import libbpf_object as lb
from libbpf_compat.hooks.xdp import XdpHook
from libbpf_compat.object import BpfObject, Program
from libbpf_compat.test_run import bpf_prog_test_run_opts, bpf_test_run_opts
from tests import kernel_bpf

OBJECT = Path(__file__).resolve().parent / "hook_programs.o"
PACKET = bytes(range(64))
REPEAT = 1_000_000
BATCH = 100_000
BPF_PROG_TEST_RUN = 10


class KernelPrograms:
    """hook_programs.o loaded into the kernel by bpftool, pinned meanwhile."""

    def __init__(self, names: list[str]) -> None:
        bpftool = shutil.which("bpftool", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
        assert bpftool is not None
        self.pin = Path(f"/sys/fs/bpf/lbc_hook_programs_{os.getpid()}")
        load = subprocess.run([bpftool, "prog", "loadall", str(OBJECT), str(self.pin),
                               "type", "xdp"], capture_output=True, text=True, timeout=120)
        if load.returncode != 0:
            self.unpin()
            raise RuntimeError("the kernel refused hook_programs.o: "
                               + (load.stderr or load.stdout).strip()[-2000:])
        self.fds = {name: obj_get(self.pin / name) for name in names}

    def run(self, name: str, repeat: int) -> int:
        """BPF_PROG_TEST_RUN: the mean ns per run the kernel reports."""
        attr = ctypes.create_string_buffer(kernel_bpf.ATTR_SIZE)
        data_in = ctypes.create_string_buffer(PACKET, len(PACKET))
        data_out = ctypes.create_string_buffer(len(PACKET))
        struct.pack_into("IIIIQQII", attr, 0, self.fds[name], 0, len(PACKET), len(PACKET),
                         ctypes.addressof(data_in), ctypes.addressof(data_out), repeat, 0)
        rc = kernel_bpf.bpf(BPF_PROG_TEST_RUN, attr)
        if rc < 0:
            raise OSError(-rc, f"BPF_PROG_TEST_RUN {name}: {os.strerror(-rc)}")
        return int(struct.unpack_from("I", attr, 36)[0])

    def unpin(self) -> None:
        if self.pin.exists():
            for path in sorted(self.pin.rglob("*"), key=lambda p: -len(p.parts)):
                path.rmdir() if path.is_dir() else path.unlink()
            self.pin.rmdir()

    def close(self) -> None:
        for fd in self.fds.values():
            os.close(fd)
        self.unpin()


def program(obj: BpfObject, name: str) -> Program:
    prog = obj.find_program_by_name(name)
    assert prog is not None, name
    return prog


def ours_test_run(obj: BpfObject, name: str, repeat: int) -> int:
    opts = bpf_test_run_opts(data_in=PACKET, repeat=repeat)
    bpf_prog_test_run_opts(lb.bpf_program__fd(program(obj, name)), opts)
    return opts.duration


def test_run_rows(obj: BpfObject, batches: int, repeat: int) -> list[str]:
    why = kernel_unavailable()
    kernel: KernelPrograms | None = None
    if why is None:
        try:
            kernel = KernelPrograms(["xdp_count", "xdp_pass"])
        except (RuntimeError, OSError) as e:
            why = str(e)
    lines = [f"test_run, repeat={repeat}, median of {batches} batches (ns per run):", "",
             "| program | here | kernel (JIT) | ratio |", "|---|---|---|---|"]
    try:
        for name in ("xdp_count", "xdp_pass"):
            ours: list[int] = []
            kern: list[int] = []
            for _ in range(batches):
                ours.append(ours_test_run(obj, name, repeat))
                if kernel is not None:
                    kern.append(kernel.run(name, repeat))
            o = statistics.median(ours)
            k = statistics.median(kern) if kern else None
            lines.append(f"| {name} | {o:.0f} | {'-' if k is None else f'{k:.0f}'} | "
                         f"{'-' if not k else f'{o / k:.2f}x'} |")
    finally:
        if kernel is not None:
            kernel.close()
    if kernel is None:
        lines.append(f"(kernel column skipped: {why})")
    return lines


def timed(fn: Callable[[], object], calls: int) -> tuple[float, float]:
    """(wall ns, thread CPU ns) per call over ``calls`` calls."""
    w0, c0 = time.perf_counter_ns(), time.thread_time_ns()
    for _ in range(calls):
        fn()
    return ((time.perf_counter_ns() - w0) / calls, (time.thread_time_ns() - c0) / calls)


def receive_rows(obj: BpfObject, batches: int, calls: int, batch_size: int) -> list[str]:
    hook = XdpHook(interfaces=[1, 2])
    hook.attach(program(obj, "xdp_pass"), 1)
    hook.attach(program(obj, "xdp_swap"), 2)
    one = [timed(lambda: hook.receive(PACKET, 1), calls // 10) for _ in range(10 * batches)]
    lines = ["", "XdpHook from Python, median of the batches (wall clock; the "
             "thread's CPU time, which leaves out time the thread was preempted):", "",
             "| call | wall | CPU | CPU, best batch |", "|---|---|---|---|",
             f"| receive (64-byte packet, xdp_pass) | "
             f"{statistics.median(w for w, _ in one) / 1000:.2f} µs per call | "
             f"{statistics.median(c for _, c in one) / 1000:.2f} µs per call | "
             f"{min(c for _, c in one) / 1000:.2f} µs per call |"]
    packets = [PACKET] * batch_size
    for ifindex, name in ((1, "xdp_pass"), (2, "xdp_swap")):
        runs = [timed(lambda i=ifindex: hook.receive_batch(packets, i), 1)  # type: ignore[misc]
                for _ in range(batches)]
        wall = batch_size / (statistics.median(w for w, _ in runs) / 1e9)
        cpu = batch_size / (statistics.median(c for _, c in runs) / 1e9)
        best = batch_size / (min(c for _, c in runs) / 1e9)
        lines.append(f"| receive_batch ({batch_size} 64-byte packets, {name}) | "
                     f"{wall / 1e6:.2f} M packets/s | {cpu / 1e6:.2f} M packets/s | "
                     f"{best / 1e6:.2f} M packets/s |")
    return lines


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    batches = 3 if quick else 7
    obj = lb.bpf_object__open_file(OBJECT)
    obj.load()
    try:
        lines = test_run_rows(obj, batches, REPEAT // 10 if quick else REPEAT)
        lines += receive_rows(obj, batches, 20_000 if quick else 100_000,
                              BATCH // 10 if quick else BATCH)
    finally:
        obj.close()
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
