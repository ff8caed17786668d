"""bpf_prog_test_run_opts: the same XDP source built for Linux and for eBPF
for Windows runs on the native XDP context (Linux's u32 context fields are
rewritten into pointer loads), each returning its own ABI's verdicts; the
Linux build agrees with this machine's kernel; SYSCALL programs run on
ctx_in."""

from __future__ import annotations

import errno
import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from libbpf_compat import libbpf_object as lb
from libbpf_compat.errors import LibbpfError
from libbpf_compat.libbpf_maps import bpf_map_lookup_elem
from libbpf_compat.object import BpfObject
from libbpf_compat.test_run import bpf_prog_test_run_opts, bpf_test_run_opts
from tests import kernel_bpf

FIXTURES = Path(__file__).parent / "fixtures"
XDP_COUNT = {abi: FIXTURES / "abi" / f"xdp_count.{abi}.o" for abi in ("linux", "windows")}
# (drop, pass) in each ABI's numbering
VERDICTS = {"linux": (1, 2), "windows": (2, 1)}


def loaded(path: Path) -> BpfObject:
    obj = lb.bpf_object__open_file(path)
    obj.load()
    return obj


def prog_fd(obj: BpfObject, name: str) -> int:
    prog = obj.find_program_by_name(name)
    assert prog is not None
    return lb.bpf_program__fd(prog)


def percpu_total(fd: int, key: int) -> int:
    raw = bpf_map_lookup_elem(fd, struct.pack("<I", key))
    return sum(v for (v,) in struct.iter_unpack("<Q", raw))


@pytest.mark.parametrize("abi", ["linux", "windows"])
def test_xdp_program_of_either_abi(abi: str) -> None:
    obj = loaded(XDP_COUNT[abi])
    fd = prog_fd(obj, "count_packets")
    drop, keep = VERDICTS[abi]
    packet = bytes([0xFF]) + bytes(range(1, 60))
    opts = bpf_test_run_opts(data_in=packet, repeat=10)
    assert bpf_prog_test_run_opts(fd, opts) == 0
    assert opts.retval == drop
    assert opts.data_out == packet
    assert opts.duration > 0
    other = bpf_test_run_opts(data_in=bytes(60))
    bpf_prog_test_run_opts(fd, other)
    assert other.retval == keep
    verdicts = lb.bpf_object__find_map_fd_by_name(obj, "verdicts")
    assert (percpu_total(verdicts, 1), percpu_total(verdicts, 0)) == (10, 1)
    obj.close()


def test_xdp_context_in_and_out_in_the_programs_layout() -> None:
    obj = loaded(XDP_COUNT["linux"])
    fd = prog_fd(obj, "count_packets")
    ctx_in = struct.pack("<6I", 0, 64, 0, 7, 3, 0)
    opts = bpf_test_run_opts(data_in=bytes(64), ctx_in=ctx_in)
    bpf_prog_test_run_opts(fd, opts)
    assert opts.ctx_out == struct.pack("<6I", 0, 64, 0, 7, 3, 0)
    with pytest.raises(LibbpfError) as info:  # metadata must be a multiple of 4 bytes
        bpf_prog_test_run_opts(fd, bpf_test_run_opts(data_in=bytes(64),
                                                     ctx_in=struct.pack("<6I", 3, 64, 0, 0, 0, 0)))
    assert info.value.errno == errno.EINVAL
    with pytest.raises(LibbpfError):
        bpf_prog_test_run_opts(fd, bpf_test_run_opts(data_in=bytes(10)))  # shorter than Ethernet
    small = bpf_test_run_opts(data_in=bytes(64), data_size_out=16)
    with pytest.raises(LibbpfError) as info:
        bpf_prog_test_run_opts(fd, small)
    assert info.value.errno == errno.ENOSPC and small.data_out == bytes(16)
    obj.close()


def test_syscall_program_runs_on_ctx_in() -> None:
    obj = loaded(FIXTURES / "load" / "counter.linux.o")
    progs = [p for p in obj.programs if p.section_name == "syscall"]
    assert progs
    fd = lb.bpf_program__fd(progs[0])
    opts = bpf_test_run_opts(ctx_in=bytes(64))
    assert bpf_prog_test_run_opts(fd, opts) == 0
    assert opts.ctx_out is not None and len(opts.ctx_out) == 64
    with pytest.raises(LibbpfError):
        bpf_prog_test_run_opts(fd, bpf_test_run_opts(data_in=b"x" * 20, ctx_in=bytes(64)))
    obj.close()


def test_kernel_agrees_on_the_linux_build(tmp_path: Path) -> None:
    bpftool = shutil.which("bpftool") or shutil.which("bpftool", path="/usr/sbin:/sbin")
    if bpftool is None or os.geteuid() != 0 or not Path("/sys/fs/bpf").is_dir():
        pytest.skip("needs root, bpftool and a bpffs to run the program in the kernel")
    pin = Path(f"/sys/fs/bpf/lbc_test_xdp_{os.getpid()}")
    load = subprocess.run([bpftool, "prog", "load", str(XDP_COUNT["linux"]), str(pin)],
                          capture_output=True, text=True, timeout=60)
    if load.returncode != 0:
        pytest.skip(f"the kernel refused the program: {load.stderr.strip()[:200]}")
    obj = loaded(XDP_COUNT["linux"])
    fd = prog_fd(obj, "count_packets")
    try:
        for first in (0x00, 0x7F, 0xFF):
            packet = bytes([first]) + bytes(63)
            (tmp_path / "in").write_bytes(packet)
            run = subprocess.run([bpftool, "prog", "run", "pinned", str(pin), "data_in",
                                  str(tmp_path / "in"), "data_out", str(tmp_path / "out")],
                                 capture_output=True, text=True, timeout=60, check=True)
            match = re.search(r"Return value: (\d+)", run.stdout + run.stderr)
            assert match is not None
            ours = bpf_test_run_opts(data_in=packet)
            bpf_prog_test_run_opts(fd, ours)
            assert ours.retval == int(match.group(1))
            assert ours.data_out == (tmp_path / "out").read_bytes()
    finally:
        pin.unlink(missing_ok=True)
        obj.close()


XDP_CTX_IN_CASES = [
    (bytes(8), 0), (bytes(23), 0), (bytes(32), 0), (bytes(4096), 0),  # zeros past xdp_md: fine
    (struct.pack("<6I", 0, 64, 0, 0, 0, 0), 0), (struct.pack("<6I", 8, 64, 0, 0, 0, 0), 0),
    (bytes(4097), errno.E2BIG), (bytes(24) + b"\1" + bytes(7), errno.E2BIG),
    (struct.pack("<6I", 3, 64, 0, 0, 0, 0), errno.EINVAL),  # metadata not a multiple of 4
    (struct.pack("<6I", 0, 65, 0, 0, 0, 0), errno.EINVAL),  # data_end past the packet
    (struct.pack("<6I", 0, 64, 4, 0, 0, 0), errno.EINVAL),  # data_meta set
    (struct.pack("<6I", 0, 64, 0, 0, 0, 1), errno.EINVAL),  # egress_ifindex set
]


@pytest.mark.parametrize(("ctx_in", "err"), XDP_CTX_IN_CASES)
def test_xdp_ctx_in_sizes(ctx_in: bytes, err: int) -> None:
    """A shorter ctx_in reads as zeros, a longer one needs a zero tail
    within a page (Linux's bpf_ctx_init); bad fields are EINVAL. A zero
    data_end leaves the whole packet to fragments, as in the kernel
    (tests/test_test_run_xdp_ctx.py has the rest of ctx_in's rules)."""
    obj = loaded(XDP_COUNT["linux"])
    fd = prog_fd(obj, "count_packets")
    opts = bpf_test_run_opts(data_in=bytes(64), ctx_in=ctx_in)
    try:
        if err:
            with pytest.raises(LibbpfError) as info:
                bpf_prog_test_run_opts(fd, opts)
            assert info.value.errno == err
        else:
            assert bpf_prog_test_run_opts(fd, opts) == 0
            data, data_end = struct.unpack_from("<II", ctx_in.ljust(8, b"\0"))
            assert opts.ctx_out == struct.pack("<6I", data, data_end, 0, 0, 0, 0)
    finally:
        obj.close()


def test_kernel_agrees_on_xdp_ctx_in_sizes() -> None:
    bpftool = shutil.which("bpftool") or shutil.which("bpftool", path="/usr/sbin:/sbin")
    if bpftool is None or os.geteuid() != 0 or kernel_bpf.unavailable():
        pytest.skip("needs root, bpftool and bpf() to run the program in the kernel")
    pin = Path(f"/sys/fs/bpf/lbc_test_xdp_ctx_{os.getpid()}")
    load = subprocess.run([bpftool, "prog", "load", str(XDP_COUNT["linux"]), str(pin)],
                          capture_output=True, text=True, timeout=60)
    if load.returncode != 0:
        pytest.skip(f"the kernel refused the program: {load.stderr.strip()[:200]}")
    try:
        fd = kernel_bpf.obj_get(str(pin))
        for ctx_in, err in XDP_CTX_IN_CASES:
            rc = kernel_bpf.prog_test_run(fd, data_in=bytes(64), ctx_in=ctx_in, repeat=1)[0]
            assert rc == -err, (ctx_in[:24].hex(), len(ctx_in))
        os.close(fd)
    finally:
        pin.unlink(missing_ok=True)
