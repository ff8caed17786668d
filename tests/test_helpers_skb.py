"""The socket buffer helpers: bpf_skb_load_bytes / skb_store_bytes,
bpf_l3_csum_replace / l4_csum_replace, bpf_skb_change_tail / _head /
_proto / _type and tc's bpf_redirect, run through bpf_prog_test_run_opts
and compared case by case (return value, packet out, __sk_buff out) with
this machine's kernel running the same object; the tc hook reports the
redirect target and resized packets; program types that may not call a
helper fail to load."""

from __future__ import annotations

import errno
import os
import shutil
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from libbpf_compat import isa
from libbpf_compat import libbpf_object as lb
from libbpf_compat.errors import LibbpfError
from libbpf_compat.hooks.skb import (
    SKB_MAX_LEN,
    CgroupSkbHook,
    SocketFilterHook,
    TcDirection,
    TcHook,
    TcVerdict,
)
from libbpf_compat.object import BpfObject, Program
from libbpf_compat.prog_load import bpf_prog_load
from libbpf_compat.test_run import bpf_prog_test_run_opts, bpf_test_run_opts
from libbpf_compat.uapi import BpfProgType
from tests import kernel_bpf

FIXTURE = Path(__file__).parent / "fixtures" / "helpers" / "skb_helpers.o"
ENOTSUPP = 524
DATA_OUT = 70_000
CTX_OUT = 192


def csum(data: bytes) -> int:
    """The Internet checksum of ``data`` (as stored: big-endian)."""
    if len(data) % 2:
        data += b"\0"
    total = int(sum(struct.unpack(f"!{len(data) // 2}H", data)))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def udp4(payload: bytes = b"hello, skb", *, dport: int = 53, tos: int = 0,
         ttl: int = 64, zero_udp_csum: bool = False) -> bytes:
    """An IPv4 UDP packet 10.0.0.1:1000 -> 10.0.0.2:dport with valid checksums."""
    src, dst = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
    ulen = 8 + len(payload)
    ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, tos, 20 + ulen, 1, 0, ttl, 17, 0,
                               src, dst))
    struct.pack_into("!H", ip, 10, csum(bytes(ip)))
    udp = bytearray(struct.pack("!HHHH", 1000, dport, ulen, 0) + payload)
    if not zero_udp_csum:
        pseudo = src + dst + struct.pack("!BBH", 0, 17, ulen)
        struct.pack_into("!H", udp, 6, csum(pseudo + bytes(udp)) or 0xFFFF)
    return bytes(ip + udp)


def ipv6() -> bytes:
    hdr = bytearray(40)
    hdr[0], hdr[6], hdr[7] = 0x60, 59, 64  # no next header
    hdr[8:24], hdr[24:40] = bytes(15) + b"\1", bytes(15) + b"\2"
    return bytes(hdr) + bytes(8)


def frame(args: bytes, l3: bytes, *, dest: bytes = bytes(6), proto: int = 0x0800) -> bytes:
    """An Ethernet frame whose source address carries the program's arguments."""
    return dest + args.ljust(6, b"\0")[:6] + struct.pack("!H", proto) + l3


def word(value: int, b10: int = 0, b11: int = 0) -> bytes:
    return struct.pack("<IBB", value & 0xFFFFFFFF, b10, b11)


IP = udp4()
F_LEN = 14 + len(IP)
MULTICAST = bytes([1, 0, 0x5E, 0, 0, 1])
OTHERHOST = bytes([2, 0, 0, 0, 0, 9])

#: (program, frame) pairs run by us and by the kernel.
CASES: list[tuple[str, bytes]] = [
    *[("tc_load", frame(word(off), IP)) for off in
      (0, 10, F_LEN - 8, F_LEN - 7, F_LEN, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)],
    *[("tc_store", frame(word(off, flags), IP)) for off, flags in
      ((0, 0), (20, 0), (F_LEN - 4, 0), (F_LEN - 3, 0), (0x10000, 0), (0x80000000, 0),
       (20, 1), (20, 2), (20, 3), (20, 4))],
    *[("tc_csum_args", frame(word(off, flags, frm), IP)) for off, flags, frm in (
        (24, 0, 0), (24, 0, 5), (24, 2, 7), (24, 4, 9), (24, 8, 0), (24, 0x10, 0),
        (25, 4, 0), (F_LEN - 1, 4, 0), (F_LEN - 2, 4, 0), (F_LEN, 2, 0), (0x10000, 2, 0),
        (40, 0x80, 0), (40, 0x80, 3), (40, 0x82, 1), (40, 0x84, 1), (40, 0x94, 1),
        (40, 0xA4, 1), (40, 0xE4, 1), (40, 0x88, 0), (41, 0x84, 0), (40, 0x81, 0))],
    ("tc_csum_args", frame(word(40, 0xA4, 1), udp4(zero_udp_csum=True))),
    ("tc_csum_args", frame(word(40, 0xE4, 1), udp4(zero_udp_csum=True))),
    ("tc_nat", frame(b"", IP)),
    ("tc_nat", frame(b"", udp4(b"x" * 33, dport=7))),
    ("tc_nat", frame(b"", udp4(zero_udp_csum=True))),
    *[("tc_tail", frame(word(n, flags), IP)) for n, flags in
      ((0, 0), (13, 0), (14, 0), (15, 0), (F_LEN - 1, 0), (F_LEN, 0), (F_LEN + 1, 0),
       (F_LEN + 200, 0), (SKB_MAX_LEN, 0), (SKB_MAX_LEN + 1, 0), (F_LEN, 1))],
    *[("tc_head", frame(word(n, flags), IP)) for n, flags in
      ((0, 0), (1, 0), (14, 0), (200, 0), (SKB_MAX_LEN - F_LEN, 0), (SKB_MAX_LEN + 1 - F_LEN, 0),
       (0xFFFFFFFF, 0), (4, 1))],
    *[("tc_proto", frame(p + bytes(2) + bytes([flags]), l3, proto=eth)) for p, flags, l3, eth in (
        (b"\x86\xdd", 0, IP, 0x0800), (b"\x08\x00", 0, IP, 0x0800),
        (b"\x08\x00", 0, ipv6(), 0x86DD), (b"\x86\xdd", 0, ipv6(), 0x86DD),
        (b"\x08\x06", 0, IP, 0x0800), (b"\x86\xdd", 1, IP, 0x0800),
        (b"\x08\x00", 0, bytes(4), 0x86DD))],
    *[("tc_type", frame(word(0, t), IP, dest=dest)) for t in range(5)
      for dest in (bytes(6), MULTICAST, OTHERHOST)],
    *[("tc_redirect", frame(word(ifindex, flags), IP)) for ifindex, flags in
      ((3, 0), (3, 1), (7, 2), (0, 0))],
    *[("sf_load", frame(b"", udp4(tos=tos))) for tos in (0, 16, len(IP) - 4, len(IP) - 3, 255)],
    *[("cg_load", frame(b"", udp4(ttl=ttl))) for ttl in (64, 1)],
]


@pytest.fixture(scope="module")
def obj() -> Iterator[BpfObject]:
    o = lb.bpf_object__open_file(FIXTURE)
    o.load()
    yield o
    o.close()


def prog(o: BpfObject, name: str) -> Program:
    p = o.find_program_by_name(name)
    assert p is not None
    return p


def ours(o: BpfObject, name: str, data: bytes) -> tuple[int, int, bytes | None, bytes | None]:
    """(rc, retval, data_out, ctx_out) as kernel_bpf.prog_test_run gives them."""
    opts = bpf_test_run_opts(data_in=data, ctx_in=bytes(CTX_OUT), data_size_out=DATA_OUT,
                             ctx_size_out=CTX_OUT)
    try:
        bpf_prog_test_run_opts(prog(o, name).fd, opts)
    except LibbpfError as e:
        return -(e.errno or 0), 0, None, None
    return 0, opts.retval, opts.data_out, opts.ctx_out


def u32_at(ctx: bytes | None, offset: int) -> int:
    assert ctx is not None
    return int(struct.unpack_from("<I", ctx, offset)[0])


MARK, CB0, CB1 = 8, 48, 52


def test_load_bytes_copies_or_zeroes(obj: BpfObject) -> None:
    data = frame(word(10), IP)
    rc, _, _, ctx = ours(obj, "tc_load", data)
    assert rc == 0 and u32_at(ctx, MARK) == 0
    assert ctx is not None and ctx[CB0:CB0 + 4] + ctx[CB1:CB1 + 4] == data[10:18]
    _, _, _, ctx = ours(obj, "tc_load", frame(word(F_LEN - 7), IP))
    assert u32_at(ctx, MARK) == (-errno.EFAULT) & 0xFFFFFFFF
    assert u32_at(ctx, CB0) == 0 and u32_at(ctx, CB1) == 0  # the buffer is zeroed


def test_store_bytes_writes_and_checks(obj: BpfObject) -> None:
    _, _, out, ctx = ours(obj, "tc_store", frame(word(20, 2), IP))
    assert u32_at(ctx, MARK) == 0 and out is not None
    assert out[20:24] == bytes.fromhex("deadbeef")
    for bad, err in (((F_LEN - 3, 0), errno.EFAULT), ((20, 4), errno.EINVAL)):
        _, _, out, ctx = ours(obj, "tc_store", frame(word(*bad), IP))
        assert u32_at(ctx, MARK) == (-err) & 0xFFFFFFFF
        assert out == frame(word(*bad), IP)


@pytest.mark.parametrize("payload", [b"hello, skb", b"x" * 33])
@pytest.mark.parametrize("zero_udp_csum", [False, True])
def test_nat_keeps_both_checksums_valid(obj: BpfObject, payload: bytes,
                                        zero_udp_csum: bool) -> None:
    _, _, out, ctx = ours(obj, "tc_nat", frame(b"", udp4(payload, zero_udp_csum=zero_udp_csum)))
    assert out is not None and u32_at(ctx, MARK) == 0
    ip, udp = out[14:34], out[34:]
    assert ip[16:20] == bytes([192, 168, 7, 9]) and udp[2:4] == struct.pack("!H", 4242)
    assert csum(ip) == 0  # the IP header checksum verifies
    if zero_udp_csum:
        assert udp[6:8] == b"\0\0"  # BPF_F_MARK_MANGLED_0: "no checksum" stays so
    else:
        pseudo = ip[12:20] + struct.pack("!BBH", 0, 17, len(udp))
        assert csum(pseudo + udp) == 0


def test_change_tail_and_head_resize(obj: BpfObject) -> None:
    _, _, out, ctx = ours(obj, "tc_tail", frame(word(F_LEN + 200), IP))
    assert out == frame(word(F_LEN + 200), IP) + bytes(200)
    assert u32_at(ctx, MARK) == 0 and u32_at(ctx, CB1) == F_LEN + 200
    _, _, out, ctx = ours(obj, "tc_tail", frame(word(15), IP))
    assert out == frame(word(15), IP)[:15] and u32_at(ctx, CB0) == 0x45
    _, _, out, ctx = ours(obj, "tc_tail", frame(word(13), IP))  # below the network header
    assert u32_at(ctx, MARK) == (-errno.EINVAL) & 0xFFFFFFFF and out == frame(word(13), IP)
    _, _, out, ctx = ours(obj, "tc_head", frame(word(14), IP))
    assert out == b"\xab" + bytes(13) + frame(word(14), IP)
    assert u32_at(ctx, CB1) == F_LEN + 14
    # the largest packet: SKB_MAX_ALLOC, as the kernel's test runs
    _, _, out, _ = ours(obj, "tc_head", frame(word(SKB_MAX_LEN - F_LEN), IP))
    assert out is not None and len(out) == SKB_MAX_LEN


def test_change_proto_and_type(obj: BpfObject) -> None:
    data = frame(b"\x86\xdd", IP)
    _, _, out, ctx = ours(obj, "tc_proto", data)
    assert u32_at(ctx, MARK) == 0 and out == data[:14] + bytes(20) + IP
    assert u32_at(ctx, CB0) == 0xDD86 and u32_at(ctx, CB1) == F_LEN + 20
    _, _, _, ctx = ours(obj, "tc_proto", frame(b"\x08\x06", IP))
    assert u32_at(ctx, MARK) == (-ENOTSUPP) & 0xFFFFFFFF
    _, _, _, ctx = ours(obj, "tc_type", frame(word(0, 3), IP, dest=MULTICAST))
    assert u32_at(ctx, MARK) == 0 and u32_at(ctx, CB0) == 3
    _, _, _, ctx = ours(obj, "tc_type", frame(word(0, 4), IP))
    assert u32_at(ctx, MARK) == (-errno.EINVAL) & 0xFFFFFFFF and u32_at(ctx, CB0) == 0


def test_redirect_verdicts(obj: BpfObject) -> None:
    assert ours(obj, "tc_redirect", frame(word(3, 1), IP))[1] == 7  # TC_ACT_REDIRECT
    assert ours(obj, "tc_redirect", frame(word(3, 2), IP))[1] == 2  # TC_ACT_SHOT


def test_socket_filter_and_cgroup_skb_read_the_network_header(obj: BpfObject) -> None:
    _, retval, _, ctx = ours(obj, "sf_load", frame(b"", udp4(tos=16)))
    assert retval == len(IP) and u32_at(ctx, CB1) == 0
    assert ctx is not None and ctx[CB0:CB0 + 4] == udp4(tos=16)[16:20]
    assert ours(obj, "cg_load", frame(b"", udp4(ttl=1)))[1] == 0
    assert ours(obj, "cg_load", frame(b"", udp4(ttl=9)))[1] == 1


def test_tc_hook_reports_redirect_and_resized_packets(obj: BpfObject) -> None:
    hook = TcHook(ifindex=2)
    hook.attach(prog(obj, "tc_redirect"), TcDirection.INGRESS)
    out = hook.ingress(frame(word(5, 1), IP))
    assert out.verdict == TcVerdict.REDIRECT and out.redirect == (5, True)
    assert hook.ingress(frame(word(5, 8), IP)).verdict == TcVerdict.SHOT
    tail = TcHook(ifindex=2)
    tail.attach(prog(obj, "tc_tail"), TcDirection.INGRESS)
    res = tail.ingress(frame(word(F_LEN + 6), IP))
    assert res.packet == frame(word(F_LEN + 6), IP) + bytes(6) and res.redirect is None
    assert "mark" not in res.changed  # the helper returned 0 into a mark of 0


def test_socket_filter_and_cgroup_hooks_run_load_bytes(obj: BpfObject) -> None:
    sock = SocketFilterHook()
    sock.attach(prog(obj, "sf_load"))
    assert sock.receive(udp4(tos=2)).packet == udp4(tos=2)
    cg = CgroupSkbHook()
    cg.attach(prog(obj, "cg_load"), egress=True)
    assert cg.egress(udp4(ttl=5)).allowed and not cg.egress(udp4(ttl=1)).allowed


STORE_IN_A_SOCKET_FILTER = """
r6 = r1
r1 = 0
*(u32 *)(r10 - 4) = r1
r1 = r6
r2 = 0
r3 = r10
r3 += -4
r4 = 4
r5 = 0
call 9
r0 = 0
exit
"""


@pytest.mark.parametrize("prog_type", [BpfProgType.BPF_PROG_TYPE_SOCKET_FILTER,
                                       BpfProgType.BPF_PROG_TYPE_CGROUP_SKB])
def test_store_bytes_is_refused_outside_tc(prog_type: int) -> None:
    code = isa.assemble(STORE_IN_A_SOCKET_FILTER, syntax="kernel")
    with pytest.raises(LibbpfError) as info:
        bpf_prog_load(prog_type, "store", "GPL", code, len(code) // 8)
    assert info.value.errno == errno.EINVAL and "skb_store_bytes" in str(info.value)
    assert bpf_prog_load(BpfProgType.BPF_PROG_TYPE_SCHED_CLS, "store", "GPL", code,
                         len(code) // 8) >= 0


def _bpftool() -> str:
    tool = shutil.which("bpftool") or shutil.which("bpftool", path="/usr/sbin:/sbin")
    if tool is None or os.geteuid() != 0 or not Path("/sys/fs/bpf").is_dir():
        pytest.skip("needs root, bpftool and a bpffs to run the programs in the kernel")
    if kernel_bpf.unavailable():
        pytest.skip(f"bpf() unavailable: {kernel_bpf.unavailable()}")
    return tool


def test_kernel_agrees_case_by_case(obj: BpfObject) -> None:
    bpftool = _bpftool()
    pins = Path(f"/sys/fs/bpf/lbc_test_skb_helpers_{os.getpid()}")
    load = subprocess.run([bpftool, "prog", "loadall", str(FIXTURE), str(pins)],
                          capture_output=True, text=True, timeout=60)
    if load.returncode != 0:
        pytest.skip(f"the kernel refused the programs: {load.stderr.strip()[:200]}")
    fds: dict[str, int] = {}
    try:
        for name, data in CASES:
            if name not in fds:
                fds[name] = kernel_bpf.obj_get(str(pins / name))
                assert fds[name] >= 0, name
            theirs = kernel_bpf.prog_test_run(fds[name], data_in=data, ctx_in=bytes(CTX_OUT),
                                              repeat=1, data_size_out=DATA_OUT,
                                              ctx_size_out=CTX_OUT)
            mine = ours(obj, name, data)
            where = f"{name} on {data[:14].hex()}"
            assert mine[:2] == theirs[:2], where
            if theirs[0]:  # the run was refused: nothing came out
                continue
            assert mine[3] == theirs[3], where
            if len(theirs[2] or b"") > 4096:  # grown past the test buffer: not zeroed there
                assert mine[2] is not None and theirs[2] is not None
                assert len(mine[2]) == len(theirs[2]), where
                assert mine[2][:F_LEN] == theirs[2][:F_LEN], where
            else:
                assert mine[2] == theirs[2], where
    finally:
        for fd in fds.values():
            os.close(fd)
        shutil.rmtree(pins, ignore_errors=True)
