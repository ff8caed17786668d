"""The helpers implemented in C, called from programs as Linux's (and
eBPF for Windows') documentation describes them."""

from __future__ import annotations

import errno
import os
import random
import shutil
import struct
import subprocess
import time
from pathlib import Path

import pytest

from libbpf_compat import isa
from libbpf_compat.helpers import helper_by_name
from libbpf_compat.helpers.native import register_c_helpers
from libbpf_compat.mapstore import num_possible_cpus
from libbpf_compat.runtime import Runtime, Task, TracePipe
from libbpf_compat.vm import Vm

#: every test twice: interpreted, then as machine code (conftest.py)
pytestmark = pytest.mark.usefixtures("vm_mode")

M64 = (1 << 64) - 1


def hid(name: str) -> int:
    helper = helper_by_name(name)
    assert helper is not None
    return helper.internal


def call_program(name: str, nargs: int) -> bytes:
    """A program calling helper `name` with r1..r{nargs} taken from the
    u64 array its memory starts with, returning r0."""
    lines = ["mov %r6, %r1"]
    lines += [f"ldxdw %r{i}, [%r6+{8 * (i - 1)}]" for i in range(1, nargs + 1)]
    lines += [f"call {hid(name)}", "exit"]
    return isa.assemble("\n".join(lines))


class Caller:
    """Runs one helper with arguments, in memory it can point into."""

    def __init__(self, name: str, nargs: int, runtime: Runtime | None = None) -> None:
        self.vm = Vm(call_program(name, nargs), bounds_check=True)
        register_c_helpers(self.vm)
        self.vm.runtime = runtime or Runtime()
        self.mem = bytearray(4096)
        self.base = self.vm.add_region(self.mem)

    def addr(self, offset: int) -> int:
        return self.base + offset

    def put(self, offset: int, data: bytes) -> int:
        self.mem[offset:offset + len(data)] = data
        return self.addr(offset)

    def __call__(self, *args: int) -> int:
        struct.pack_into(f"<{len(args)}Q", self.mem, 0, *(a & M64 for a in args))
        r0 = self.vm.run(self.mem)
        return r0 - (1 << 64) if r0 >> 63 else r0


def test_clocks() -> None:
    before = time.monotonic_ns()
    now = Caller("ktime_get_ns", 0)()
    after = time.monotonic_ns()
    assert before <= now <= after
    assert Caller("ktime_get_boot_ns", 0)() >= now
    assert abs(Caller("ktime_get_ms", 0)() - now // 1_000_000) <= 1000


def test_prandom_is_32_bit_and_varies() -> None:
    rnd = Caller("get_prandom_u32", 0)
    values = {rnd() for _ in range(200)}
    assert len(values) > 190
    assert all(0 <= v < (1 << 32) for v in values)


def test_task_helpers_report_the_runtime_task() -> None:
    rt = Runtime(Task(pid=1234, tgid=1200, uid=1000, gid=100, comm="curl", logon_id=77,
                      is_admin=True, process_start_key=5, thread_create_time=-9))
    assert Caller("get_current_pid_tgid", 0, rt)() == (1200 << 32) | 1234
    assert Caller("get_current_uid_gid", 0, rt)() == (100 << 32) | 1000
    assert 0 <= Caller("get_smp_processor_id", 0, rt)() < num_possible_cpus()
    assert Caller("get_current_logon_id", 0, rt)() == 77
    assert Caller("is_current_admin", 0, rt)() == 1
    assert Caller("get_current_process_start_key", 0, rt)() == 5
    assert Caller("get_current_thread_create_time", 0, rt)() == -9


def test_get_current_comm_pads_and_truncates() -> None:
    comm = Caller("get_current_comm", 2, Runtime(Task(comm="a-long-process-name")))
    buf = comm.addr(512)
    comm.mem[512:540] = b"\xff" * 28
    assert comm(buf, 20) == 0
    assert bytes(comm.mem[512:532]) == b"a-long-process-\0\0\0\0\0"   # 15 chars + NUL, padded
    assert comm(buf, 4) == 0 and bytes(comm.mem[512:516]) == b"a-l\0"
    assert comm(buf, 0) == -errno.EINVAL


def test_probe_read_reads_registered_memory_only() -> None:
    rt = Runtime()
    secret = rt.add_probe_region(b"kernel data!")
    read = Caller("probe_read_kernel", 3, rt)
    dst = read.addr(512)
    assert read(dst, 5, secret + 7) == 0
    assert bytes(read.mem[512:517]) == b"data!"
    read.mem[512:520] = b"\xff" * 8
    assert read(dst, 6, secret + 7) == -errno.EFAULT          # one byte past the region
    assert bytes(read.mem[512:520]) == bytes(6) + b"\xff\xff"  # dst zeroed, as Linux
    assert read(dst, 4, 0x1000) == -errno.EFAULT


def test_probe_read_str() -> None:
    rt = Runtime()
    s = rt.add_probe_region(b"hello\0world")
    read = Caller("probe_read_user_str", 3, rt)
    dst = read.addr(512)
    assert read(dst, 32, s) == 6 and bytes(read.mem[512:518]) == b"hello\0"
    assert read(dst, 4, s) == 4 and bytes(read.mem[512:516]) == b"hel\0"
    assert read(dst, 32, s + 6) == -errno.EFAULT             # no NUL before the region ends


def test_windows_memory_helpers() -> None:
    cpy = Caller("memcpy_s", 4)
    src = cpy.put(600, b"abcdef")
    assert cpy(cpy.addr(512), 8, src, 6) == 0 and bytes(cpy.mem[512:518]) == b"abcdef"
    assert cpy(cpy.addr(512), 4, src, 6) == -errno.EINVAL
    cmp = Caller("memcmp_s", 4)
    a, b = cmp.put(512, b"abc"), cmp.put(520, b"abd")
    assert (cmp(a, 3, b, 3), cmp(b, 3, a, 3), cmp(a, 2, b, 2)) == (-1, 1, 0)
    assert (cmp(a, 2, b, 3), cmp(a, 3, b, 2)) == (-1, 1)      # shorter is smaller
    fill = Caller("memset", 3)
    assert fill(fill.addr(512), 4, 0x41) == fill.addr(512)
    assert bytes(fill.mem[512:516]) == b"AAAA"
    move = Caller("memmove_s", 4)
    move.put(512, b"12345678")
    assert move(move.addr(514), 6, move.addr(512), 6) == 0
    assert bytes(move.mem[512:520]) == b"12123456"


def test_windows_string_helpers() -> None:
    cpy = Caller("strncpy_s", 4)
    src = cpy.put(600, b"network\0")
    dst = cpy.addr(512)
    cpy.mem[512:528] = b"\xff" * 16
    assert cpy(dst, 16, src, 100) == 0 and bytes(cpy.mem[512:528]) == b"network" + bytes(9)
    assert cpy(dst, 16, src, 3) == 0 and bytes(cpy.mem[512:516]) == b"net\0"
    assert cpy(dst, 4, src, 100) == -errno.ENOSPC and bytes(cpy.mem[512:516]) == b"net\0"
    cat = Caller("strncat_s", 4)
    cat.put(512, b"ab\0" + bytes(13))
    more = cat.put(600, b"cdef\0")
    assert cat(cat.addr(512), 16, more, 2) == 0 and bytes(cat.mem[512:517]) == b"abcd\0"
    assert cat(cat.addr(512), 6, more, 10) == -errno.ENOSPC
    assert bytes(cat.mem[512:518]) == b"abcdc\0"
    length = Caller("strnlen_s", 2)
    text = length.put(512, b"four\0xx")
    assert (length(text, 16), length(text, 3), length(0, 5)) == (4, 3, 0)


def ones_complement_fold(value: int) -> int:
    while value >> 16:
        value = (value & 0xFFFF) + (value >> 16)
    return value


def test_csum_diff_updates_a_checksum_incrementally() -> None:
    csum = Caller("csum_diff", 5)
    old = struct.pack(">II", 0xC0A80001, 0x0A000001)
    new = struct.pack(">II", 0xC0A80002, 0x0A0000FE)
    frm, to = csum.put(512, old), csum.put(600, new)
    # the checksum of `new` equals the checksum of `old` adjusted by the diff
    diff = csum(frm, 8, to, 8, 0)
    assert ones_complement_fold(words(old) + diff) == ones_complement_fold(words(new))
    assert csum(0, 0, to, 8, 0x1234) == ones_complement_fold(0x1234 + words32(new))
    assert csum(frm, 6, to, 8, 0) == -errno.EINVAL          # sizes must be multiples of 4
    assert csum(frm, 516, to, 8, 0) == -errno.EINVAL


def words(b: bytes) -> int:
    return sum(struct.unpack(f"<{len(b) // 2}H", b))


def words32(b: bytes) -> int:
    return sum(struct.unpack(f"<{len(b) // 4}I", b))


def csum_diff_of(packet: bytes) -> int:
    """Our csum_diff(packet[0:8], 8, packet[8:16], 8, seed=packet[16:20])."""
    csum = Caller("csum_diff", 5)
    frm, to = csum.put(512, packet[:8]), csum.put(600, packet[8:16])
    return csum(frm, 8, to, 8, struct.unpack_from("<I", packet, 16)[0])


# Measured with tests/fixtures/kernel/csum_diff.o on this project's Linux 6.18
# machine (bpftool prog run): packet hex -> the kernel's csum_diff result.
KERNEL_CSUM_DIFF = [
    ("ff" * 24, 65535),
    ("00" * 24, 65535),
    ("9a01ad219eb59cf6a15ef6f15a1d830bb7ce09d6bbc004e7", 20148),
    ("175c643c7decb0b580ec37bc9712dd2e6aaeb94bae8d2f9f", 43430),
    ("a29c5a284c9ef7521829cf1079b080e9d74a1c10fcab6a42", 30868),
]


@pytest.mark.parametrize(("packet", "result"), KERNEL_CSUM_DIFF)
def test_csum_diff_matches_the_kernel(packet: str, result: int) -> None:
    assert csum_diff_of(bytes.fromhex(packet)) == result


def test_csum_diff_against_the_live_kernel(tmp_path: Path) -> None:
    bpftool = shutil.which("bpftool") or shutil.which("bpftool", path="/usr/sbin:/sbin")
    if bpftool is None or os.geteuid() != 0 or not Path("/sys/fs/bpf").is_dir():
        pytest.skip("needs root, bpftool and a bpffs to run the kernel's csum_diff")
    pin = Path(f"/sys/fs/bpf/lbc_test_csum_{os.getpid()}")
    obj = Path(__file__).parent / "fixtures" / "kernel" / "csum_diff.o"
    load = subprocess.run([bpftool, "prog", "load", str(obj), str(pin)], capture_output=True,
                          text=True, timeout=60)
    if load.returncode != 0:
        pytest.skip(f"the kernel refused the oracle program: {load.stderr.strip()[:200]}")
    try:
        rng = random.Random(11)
        for _ in range(20):
            packet = rng.randbytes(24)
            (tmp_path / "in").write_bytes(packet)
            subprocess.run([bpftool, "prog", "run", "pinned", str(pin), "data_in",
                            str(tmp_path / "in"), "data_out", str(tmp_path / "out")],
                           check=True, capture_output=True, timeout=60)
            kernel = struct.unpack_from("<q", (tmp_path / "out").read_bytes())[0]
            assert csum_diff_of(packet) == kernel, packet.hex()
    finally:
        pin.unlink(missing_ok=True)


def printk_caller(name: str, nargs: int) -> tuple[Caller, TracePipe]:
    pipe = TracePipe()
    return Caller(name, nargs, Runtime(Task(comm="prog"), pipe)), pipe


def test_trace_printk_formats_like_the_kernel() -> None:
    printk, pipe = printk_caller("trace_printk", 5)
    fmt = printk.put(512, b"pkt %d from %x len %llu%%\n\0")
    expected = "pkt -5 from beef len 1099511627777%\n"
    assert printk(fmt, 27, -5, 0xBEEF, (1 << 40) + 1) == len(expected)
    # %d and %x take the low 32 bits, as the kernel passes them
    assert printk(fmt, 27, 0x1_0000_0003, 0x1_0000_00AB, 3) == len("pkt 3 from ab len 3%\n")
    assert pipe.read_lines() == ["pkt -5 from beef len 1099511627777%", "pkt 3 from ab len 3%"]
    assert pipe.read_lines() == []
    four = printk.put(600, b"%d %d %d %d\0")
    assert printk(four, 12, 1, 2, 3) == -errno.EINVAL      # more conversions than values


def test_trace_printk_refuses_bad_formats() -> None:
    printk, pipe = printk_caller("trace_printk", 5)
    cases = [b"%d %d %d %d\0", b"bad %q\0", b"no terminator", b"%ls\0", b"\x01ctl\0"]
    for i, fmt in enumerate(cases):
        addr = printk.put(512 + 64 * i, fmt)
        assert printk(addr, len(fmt), 1, 2, 3) == -errno.EINVAL, fmt
    assert pipe.read_lines() == []


def test_trace_printk_strings_come_through_probe_regions() -> None:
    pipe = TracePipe()
    rt = Runtime(trace_pipe=pipe)
    name = rt.add_probe_region(b"eth0\0")
    printk = Caller("trace_printk", 5, rt)
    fmt = printk.put(512, b"dev=%s bad=%s.\0")
    printk(fmt, 15, name, 0x10, 0)
    assert pipe.read_lines() == ["dev=eth0 bad=."]


def test_windows_printk_forms_need_exact_argument_counts() -> None:
    two, pipe = printk_caller("trace_printk2", 2)
    fmt = two.put(512, b"hello\0")
    assert two(fmt, 6) == 5
    assert two(two.put(600, b"x=%d\0"), 5) == -errno.EINVAL
    four = Caller("trace_printk4", 4, Runtime(trace_pipe=pipe))
    assert four(four.put(512, b"%u+%u\0"), 6, 2, 3) == 3
    assert four(four.put(600, b"%u\0"), 3, 2, 3) == -errno.EINVAL
    assert pipe.read_lines() == ["hello", "2+3"]


def test_snprintf() -> None:
    snp = Caller("snprintf", 5)
    out = snp.addr(512)
    fmt = snp.put(600, b"%s:%05d/%lx\0")
    text = snp.put(700, b"port\0")
    snp.vm.runtime.add_probe_region(snp.mem)  # %s reads through the probe regions
    data = snp.put(800, struct.pack("<3Q", text, 80, 0xFFFF_FFFF_1))
    assert snp(out, 64, fmt, data, 24) == len("port:00080/ffffffff1") + 1
    assert bytes(snp.mem[512:533]) == b"port:00080/ffffffff1\0"
    assert snp(out, 5, fmt, data, 24) == 21 and bytes(snp.mem[512:517]) == b"port\0"
    assert snp(out, 64, fmt, data, 16) == -errno.EINVAL           # too few values
    assert snp(out, 64, fmt, data, 13 * 8) == -errno.EINVAL       # more than 12


@pytest.mark.parametrize("name", ["trace_printk", "snprintf", "csum_diff", "memcpy_s"])
def test_every_c_helper_is_in_the_registry(name: str) -> None:
    assert helper_by_name(name) is not None
