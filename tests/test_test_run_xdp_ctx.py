"""bpf_prog_test_run_opts of a Linux XDP program with ctx_in as Linux
6.18 takes it: ``data`` is the length of the metadata at the start of
data_in (a multiple of 4, taken from the 256-byte headroom, which keeps at
least 40 bytes), ``data_end`` where the linear part ends (metadata
included; past a page less the head- and tailroom the rest lies in
fragments, at most 17 pages of them), and a context made of zeros when
only ctx_out is asked for. The expected results were measured with
tests/fixtures/kernel/xdp_meta.o on this machine's kernel, and the kernel
test runs the same cases through BPF_PROG_TEST_RUN (skipped without
bpf())."""

from __future__ import annotations

import errno
import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from libbpf_compat import libbpf_object as lb
from libbpf_compat.errors import LibbpfError
from libbpf_compat.test_run import bpf_prog_test_run_opts, bpf_test_run_opts
from tests import kernel_bpf

FIXTURE = Path(__file__).parent / "fixtures" / "kernel" / "xdp_meta.o"
OUT_ROOM = 80_000


def md(data: int, data_end: int, data_meta: int = 0, ingress: int = 0, queue: int = 0,
       egress: int = 0) -> bytes:
    return struct.pack("<6I", data, data_end, data_meta, ingress, queue, egress)


def packet(size: int) -> bytes:
    return bytes((i + 1) & 0xFF for i in range(size))


def seen(meta: int, length: int, first: int) -> int:
    """The fixture's return value: what it saw of the frame."""
    return meta | length << 8 | first << 24


# (data_in size, ctx_in, errno or 0, retval, ctx_out)
CASES = [
    (64, md(4, 64), 0, seen(4, 60, 1), md(4, 64)),  # 4 bytes of metadata
    (64, md(8, 20), 0, seen(8, 12, 1), md(8, 20)),  # data_end short of data_in
    (64, md(8, 8), 0, seen(8, 0, 1), md(8, 8)),  # an empty linear packet
    (64, md(0, 20), 0, seen(0, 20, 0), md(0, 20)),
    (64, bytes(8), 0, seen(0, 0, 0), md(0, 0)),  # zeros: all of it in fragments
    (300, md(216, 300), 0, seen(216, 84, 1), md(216, 300)),  # the most metadata
    (5000, md(0, 5000), 0, seen(0, 3520, 0), md(0, 3520)),  # linear part capped
    (5000, md(8, 3529), 0, seen(8, 3520, 1), md(8, 3528)),
    (22, md(8, 22), 0, seen(8, 14, 1), md(8, 22)),  # Ethernet's 14 after metadata
    (69632, bytes(24), 0, seen(0, 0, 0), md(0, 0)),  # 17 pages of fragments
    (69633, bytes(24), errno.ENOMEM, 0, b""),  # one byte more
    (300, md(220, 300), errno.EINVAL, 0, b""),  # headroom left under 40 bytes
    (21, md(8, 21), errno.EINVAL, 0, b""),  # 13 bytes after the metadata
    (64, md(3, 64), errno.EINVAL, 0, b""),  # metadata not a multiple of 4
    (64, md(8, 4), errno.EINVAL, 0, b""),  # data past data_end
    (64, md(0, 65), errno.EINVAL, 0, b""),  # data_end past data_in
    (64, md(0, 64, data_meta=4), errno.EINVAL, 0, b""),
    (64, md(0, 64, egress=1), errno.EINVAL, 0, b""),
    (64, md(0, 64, queue=1), errno.EINVAL, 0, b""),  # a queue without an interface
]
IDS = [f"{size}-{ctx[:8].hex()}" for size, ctx, *_ in CASES]


def expected_data_out(size: int, meta: int, linear: int) -> bytes:
    """data_in with the first metadata byte over the packet's first byte
    (what the fixture does when both exist)."""
    data = bytearray(packet(size))
    if meta and linear > meta:
        data[meta] = data[0]
    return bytes(data)


def ours(fd: int, size: int, ctx: bytes) -> tuple[int, int, bytes | None, bytes | None]:
    opts = bpf_test_run_opts(data_in=packet(size), ctx_in=ctx, data_size_out=OUT_ROOM,
                             ctx_size_out=24)
    try:
        bpf_prog_test_run_opts(fd, opts)
    except LibbpfError as exc:
        return -(exc.errno or 0), 0, None, None
    return 0, opts.retval, opts.data_out, opts.ctx_out


@pytest.fixture(scope="module")
def prog_fd():  # type: ignore[no-untyped-def]
    obj = lb.bpf_object__open_file(FIXTURE)
    obj.load()
    prog = obj.find_program_by_name("xdp_meta")
    assert prog is not None
    yield lb.bpf_program__fd(prog)
    obj.close()


@pytest.mark.parametrize(("size", "ctx", "err", "retval", "ctx_out"), CASES, ids=IDS)
def test_xdp_ctx_in_as_linux(prog_fd: int, size: int, ctx: bytes, err: int, retval: int,
                             ctx_out: bytes) -> None:
    rc, got_retval, data_out, got_ctx = ours(prog_fd, size, ctx)
    assert rc == -err
    if err:
        return
    assert (got_retval, got_ctx) == (retval, ctx_out)
    meta, linear = struct.unpack_from("<II", ctx_out)
    assert data_out == expected_data_out(size, meta, linear)


def test_only_ctx_out_asked_for_is_a_zero_context(prog_fd: int) -> None:
    """As the kernel: ctx_out without ctx_in runs on a context of zeros
    (the packet all in fragments); neither gives the whole linear packet."""
    opts = bpf_test_run_opts(data_in=packet(64), ctx_size_out=24)
    bpf_prog_test_run_opts(prog_fd, opts)
    assert (opts.retval, opts.ctx_out, opts.data_out) == (0, md(0, 0), packet(64))
    plain = bpf_test_run_opts(data_in=packet(64))
    bpf_prog_test_run_opts(prog_fd, plain)
    assert (plain.retval, plain.ctx_out) == (seen(0, 64, 0), md(0, 64))


def test_kernel_agrees() -> None:
    bpftool = shutil.which("bpftool") or shutil.which("bpftool", path="/usr/sbin:/sbin")
    if bpftool is None or os.geteuid() != 0 or kernel_bpf.unavailable():
        pytest.skip("needs root, bpftool and bpf() to run the program in the kernel")
    pin = Path(f"/sys/fs/bpf/lbc_test_xdp_meta_{os.getpid()}")
    load = subprocess.run([bpftool, "prog", "load", str(FIXTURE), str(pin)],
                          capture_output=True, text=True, timeout=60)
    if load.returncode != 0:
        pytest.skip(f"the kernel refused the program: {load.stderr.strip()[:200]}")
    obj = lb.bpf_object__open_file(FIXTURE)
    obj.load()
    prog = obj.find_program_by_name("xdp_meta")
    assert prog is not None
    fd = lb.bpf_program__fd(prog)
    try:
        kfd = kernel_bpf.obj_get(str(pin))
        assert kfd >= 0
        try:
            for size, ctx, *_ in CASES:
                kernel = kernel_bpf.prog_test_run(kfd, data_in=packet(size), ctx_in=ctx,
                                                  repeat=1, data_size_out=OUT_ROOM,
                                                  ctx_size_out=24)
                if kernel[0]:
                    kernel = (kernel[0], 0, None, None)
                assert ours(fd, size, ctx) == kernel, (size, ctx.hex())
        finally:
            os.close(kfd)
    finally:
        pin.unlink(missing_ok=True)
        obj.close()
