"""SOCKET_FILTER, SCHED_CLS (tc) and CGROUP_SKB: the __sk_buff context and
its per-type access rules, the socket filter / tc / cgroup_skb hooks, and
bpf_prog_test_run_opts compared with this machine's kernel."""

from __future__ import annotations

import errno
import os
import re
import shutil
import struct
import subprocess
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import pytest

from libbpf_compat import isa
from libbpf_compat import libbpf_object as lb
from libbpf_compat.abi.ctx_rewrite import rewrite_context_accesses
from libbpf_compat.attach import (
    bpf_prog_attach,
    bpf_prog_detach,
    bpf_prog_detach2,
    bpf_program__attach_tcx,
    bpf_tcx_opts,
)
from libbpf_compat.errors import LibbpfError
from libbpf_compat.hooks.contexts import CtxLayout
from libbpf_compat.hooks.skb import (
    SKB_CGROUP,
    SKB_NATIVE,
    SKB_SOCKET_FILTER,
    SKB_TC,
    CgroupSkbHook,
    CgroupSkbVerdict,
    SocketFilterHook,
    TcDirection,
    TcHook,
    TcVerdict,
    default_cgroup_skb_hook,
    default_tc_hook,
)
from libbpf_compat.libbpf_maps import bpf_map_lookup_elem
from libbpf_compat.links import bpf_link__destroy, bpf_program__attach, bpf_program__attach_cgroup
from libbpf_compat.object import BpfObject, Program
from libbpf_compat.test_run import bpf_prog_test_run_opts, bpf_test_run_opts
from libbpf_compat.uapi import BpfAttachType
from tests import kernel_bpf

FIXTURE = Path(__file__).parent / "fixtures" / "hooks" / "skb.o"
ETH = bytes(6) + bytes([2, 0, 0, 0, 0, 1]) + b"\x08\x00"
IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP = 1, 6, 17


def ip_packet(proto: int, dport: int = 53, ttl: int = 64) -> bytes:
    hdr = bytearray(20)
    hdr[0], hdr[8], hdr[9] = 0x45, ttl, proto
    hdr[12:16], hdr[16:20] = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
    return bytes(hdr) + struct.pack(">HHHH", 1000, dport, 18, 0) + b"x" * 10


def ipv6_packet() -> bytes:
    hdr = bytearray(40)
    hdr[0], hdr[6], hdr[7] = 0x60, IPPROTO_UDP, 64
    hdr[8:24] = bytes(range(16))
    hdr[24:40] = bytes(range(100, 116))
    return bytes(hdr) + struct.pack(">HHHH", 1000, 53, 12, 0) + b"abcd"


@pytest.fixture
def obj() -> Iterator[BpfObject]:
    o = lb.bpf_object__open_file(FIXTURE)
    o.load()
    yield o
    o.close()


def prog(o: BpfObject, name: str) -> Program:
    p = o.find_program_by_name(name)
    assert p is not None and p.vm is not None
    return p


def counts(o: BpfObject) -> list[int]:
    fd = o.find_map_fd_by_name("seen")
    return [struct.unpack("<Q", bpf_map_lookup_elem(fd, struct.pack("<I", i)))[0]
            for i in range(4)]


# -- the context ---------------------------------------------------------------
def test_sk_buff_layout_agrees_with_the_uapi_header(tmp_path: Path) -> None:
    if shutil.which("clang") is None:
        pytest.skip("clang is not installed")
    checks = ['_Static_assert(sizeof(struct __sk_buff) == 192, "size");']
    for f in SKB_TC.fields:
        checks.append(f"_Static_assert(__builtin_offsetof(struct __sk_buff, {f.name}) == "
                      f"{f.offset}, \"{f.name}\");")
        checks.append(f"_Static_assert(sizeof(((struct __sk_buff *)0)->{f.name}) == {f.size}, "
                      f"\"{f.name} size\");")
    src = tmp_path / "check.c"
    src.write_text("#include <linux/bpf.h>\n" + "\n".join(checks) + "\n")
    arch = sysconfig.get_config_var("MULTIARCH") or "x86_64-linux-gnu"
    done = subprocess.run(["clang", "-target", "bpf", "-fsyntax-only", "-I",
                           f"/usr/include/{arch}", str(src)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    # the native context keeps the scalar offsets and makes the pointers 64-bit
    for f in SKB_TC.fields:
        native = SKB_NATIVE.field(f.name)
        assert native.pointer == f.pointer
        assert f.pointer or (native.offset, native.size) == (f.offset, f.size)


def refused(text: str, layout: CtxLayout) -> LibbpfError:
    code = isa.assemble(text + "\nr0 = 0\nexit", syntax="kernel")
    with pytest.raises(LibbpfError) as info:
        rewrite_context_accesses(code, layout, SKB_NATIVE, "t")
    assert info.value.errno == errno.EACCES
    return info.value


@pytest.mark.parametrize(("layout", "text", "words"), [
    (SKB_SOCKET_FILTER, "r2 = *(u32 *)(r1 + 76)", "offset 76"),          # data
    (SKB_SOCKET_FILTER, "r2 = 1\n*(u32 *)(r1 + 8) = r2", "offset 8"),    # mark
    (SKB_SOCKET_FILTER, "r2 = *(u32 *)(r1 + 88)", "offset 88"),          # family
    (SKB_CGROUP, "r2 = 1\n*(u32 *)(r1 + 72) = r2", "offset 72"),         # tc_classid
    (SKB_CGROUP, "r2 = 1\n*(u32 *)(r1 + 44) = r2", "tc_index"),          # read-only
    (SKB_CGROUP, "r2 = *(u32 *)(r1 + 140)", "offset 140"),               # data_meta
    (SKB_TC, "r2 = 1\n*(u32 *)(r1 + 0) = r2", "len"),                    # len read-only
    (SKB_TC, "r2 = *(u64 *)(r1 + 168)", "offset 168"),                   # sk
    (SKB_TC, "r2 = *(u16 *)(r1 + 76)", "whole"),                         # half of data
])
def test_context_access_rules(layout: CtxLayout, text: str, words: str) -> None:
    assert words in str(refused(text, layout))


def test_allowed_accesses_are_rewritten() -> None:
    code = isa.assemble("r2 = *(u32 *)(r1 + 76)\nr3 = *(u32 *)(r1 + 80)\n"
                        "r4 = 7\n*(u32 *)(r1 + 8) = r4\n*(u32 *)(r1 + 52) = r4\n"
                        "r0 = *(u8 *)(r1 + 16)\nexit", syntax="kernel")
    out = isa.disassemble(rewrite_context_accesses(code, SKB_TC, SKB_NATIVE, "t"),
                          syntax="kernel").splitlines()
    assert out[0] == "r2 = *(u64 *)(r1 + 192)" and out[1] == "r3 = *(u64 *)(r1 + 200)"
    assert out[3] == "*(u32 *)(r1 + 8) = r4" and out[4] == "*(u32 *)(r1 + 52) = r4"


# -- test_run --------------------------------------------------------------------
def run(p: Program, data: bytes, ctx: bytes | None = None) -> bpf_test_run_opts:
    opts = bpf_test_run_opts(data_in=data, ctx_in=ctx)
    assert bpf_prog_test_run_opts(p.fd, opts) == 0
    return opts


def test_test_run_socket_filter_sees_the_network_header(obj: BpfObject) -> None:
    p = prog(obj, "trim_udp")
    udp = run(p, ETH + ip_packet(IPPROTO_UDP))
    assert udp.retval == 28
    # the Ethernet header is zeroed in data_out, as the kernel does for L3 types
    assert udp.data_out == bytes(14) + ip_packet(IPPROTO_UDP)
    assert udp.ctx_out is not None and udp.ctx_out[48] == IPPROTO_UDP  # cb[0]
    assert run(p, ETH + ip_packet(IPPROTO_ICMP)).retval == len(ip_packet(1)) + 100
    assert run(p, ETH + ip_packet(IPPROTO_TCP)).retval == 0


def test_test_run_tc_changes_packet_and_fields(obj: BpfObject) -> None:
    p = prog(obj, "tc_mark")
    ctx = bytearray(192)
    struct.pack_into("<I", ctx, 32, 3)  # priority
    out = run(p, ETH + ip_packet(IPPROTO_UDP, dport=9), bytes(ctx))
    assert out.retval == 2  # TC_ACT_SHOT
    assert out.data_out is not None and out.data_out[14 + 8] == 63  # TTL decremented
    assert out.ctx_out is not None
    mark, = struct.unpack_from("<I", out.ctx_out, 8)
    priority, = struct.unpack_from("<I", out.ctx_out, 32)
    assert mark == 0x1234 and priority == len(ETH) + len(ip_packet(17))
    assert run(p, ETH + ip_packet(IPPROTO_UDP, dport=7)).retval == 7
    assert run(p, ETH + ip_packet(IPPROTO_TCP)).retval == 0
    assert counts(obj)[0] == 3


def test_test_run_repeat_and_duration(obj: BpfObject) -> None:
    opts = bpf_test_run_opts(data_in=ETH + ip_packet(IPPROTO_UDP), repeat=50)
    bpf_prog_test_run_opts(prog(obj, "tc_next").fd, opts)
    assert opts.retval == 0xFFFFFFFF and opts.duration > 0
    assert counts(obj)[1] == 50


BAD_INPUT = [
    (struct.pack("<I", 5) + bytes(188), None, errno.EINVAL),            # len
    (bytes(4) + struct.pack("<I", 3) + bytes(184), None, errno.EINVAL),  # pkt_type
    (bytes(44) + struct.pack("<I", 1) + bytes(144), None, errno.EINVAL),  # tc_index
    (bytes(40) + struct.pack("<I", 1000) + bytes(148), None, errno.ENODEV),  # no device
    (bytes(192) + b"\x01", None, errno.E2BIG),                          # a non-zero tail
    (bytes(160) + struct.pack("<I", 10) + bytes(28), None, errno.EINVAL),  # wire_len < len
    (None, ETH[:13], errno.EINVAL),                                     # short frame
    (None, ETH + bytes(4000), errno.EINVAL),                            # too big
]


@pytest.mark.parametrize(("ctx", "data", "err"), BAD_INPUT)
def test_test_run_bad_input(obj: BpfObject, ctx: bytes | None, data: bytes | None,
                            err: int) -> None:
    opts = bpf_test_run_opts(data_in=data if data is not None else ETH + ip_packet(17),
                             ctx_in=ctx)
    with pytest.raises(LibbpfError) as info:
        bpf_prog_test_run_opts(prog(obj, "tc_mark").fd, opts)
    assert info.value.errno == err


def test_test_run_short_ctx_in_and_zero_tail_are_accepted(obj: BpfObject) -> None:
    p = prog(obj, "trim_udp")
    short = run(p, ETH + ip_packet(17), bytes(12))  # the rest reads as zeros, as Linux
    assert short.retval == 28 and short.ctx_out is not None and len(short.ctx_out) == 192
    assert short.ctx_out[48] == IPPROTO_UDP
    assert run(p, ETH + ip_packet(17), bytes(200)).retval == 28


def _bpftool() -> str:
    tool = shutil.which("bpftool") or shutil.which("bpftool", path="/usr/sbin:/sbin")
    if tool is None or os.geteuid() != 0 or not Path("/sys/fs/bpf").is_dir():
        pytest.skip("needs root, bpftool and a bpffs to run the programs in the kernel")
    return tool


def test_kernel_agrees_on_bad_input(obj: BpfObject) -> None:
    bpftool = _bpftool()
    pins = Path(f"/sys/fs/bpf/lbc_test_skb_bad_{os.getpid()}")
    load = subprocess.run([bpftool, "prog", "loadall", str(FIXTURE), str(pins)],
                          capture_output=True, text=True, timeout=60)
    if load.returncode != 0:
        pytest.skip(f"the kernel refused the programs: {load.stderr.strip()[:200]}")
    try:
        fd = kernel_bpf.obj_get(str(pins / "tc_mark"))
        assert fd >= 0
        for ctx, data, err in BAD_INPUT:
            frame = data if data is not None else ETH + ip_packet(17)
            rc, *_ = kernel_bpf.prog_test_run(fd, data_in=frame, ctx_in=ctx, repeat=1)
            assert rc == -err, (ctx, len(frame))
        os.close(fd)
    finally:
        shutil.rmtree(pins, ignore_errors=True)


def test_kernel_agrees_on_retval_data_out_and_ctx_out(obj: BpfObject, tmp_path: Path) -> None:
    bpftool = _bpftool()
    pins = Path(f"/sys/fs/bpf/lbc_test_skb_{os.getpid()}")
    load = subprocess.run([bpftool, "prog", "loadall", str(FIXTURE), str(pins)],
                          capture_output=True, text=True, timeout=60)
    if load.returncode != 0:
        pytest.skip(f"the kernel refused the programs: {load.stderr.strip()[:200]}")
    ctx = bytearray(192)
    struct.pack_into("<I", ctx, 8, 77)   # mark
    struct.pack_into("<I", ctx, 32, 5)   # priority
    ctx[48] = 9                          # cb[0]
    multicast = bytes([1, 0, 0x5E, 0, 0, 1]) + ETH[6:]
    other = bytes([2, 0, 0, 0, 0, 9]) + ETH[6:]
    try:
        for name in ("trim_udp", "tc_mark", "tc_next", "cg_no_icmp", "cg_egress_cn",
                     "tc_fields", "sf_fields", "cg_fields"):
            for frame in (ETH + ip_packet(17, 9), ETH + ip_packet(17, 7), ETH + ip_packet(1),
                          ETH + ip_packet(6), multicast + ip_packet(17), other + ip_packet(6),
                          b"\xff" * 6 + ETH[6:12] + b"\x86\xdd" + ipv6_packet(),
                          ETH[:12] + b"\x08\x06" + bytes(28)):
                (tmp_path / "in").write_bytes(frame)
                (tmp_path / "ctx").write_bytes(bytes(ctx))
                done = subprocess.run(
                    [bpftool, "prog", "run", "pinned", str(pins / name), "data_in",
                     str(tmp_path / "in"), "data_out", str(tmp_path / "out"), "ctx_in",
                     str(tmp_path / "ctx"), "ctx_out", str(tmp_path / "ctx_out")],
                    capture_output=True, text=True, timeout=60, check=True)
                match = re.search(r"Return value: (\d+)", done.stdout + done.stderr)
                assert match is not None
                ours = run(prog(obj, name), frame, bytes(ctx))
                assert ours.retval == int(match.group(1)), name
                assert ours.data_out == (tmp_path / "out").read_bytes(), name
                assert ours.ctx_out == (tmp_path / "ctx_out").read_bytes(), name
    finally:
        shutil.rmtree(pins, ignore_errors=True)


# -- the hooks ---------------------------------------------------------------------
def test_socket_filter_hook_keeps_truncates_and_drops(obj: BpfObject) -> None:
    sock = SocketFilterHook()
    assert sock.receive(ip_packet(17)).packet == ip_packet(17)  # no filter
    sock.attach(prog(obj, "trim_udp"))
    udp = sock.receive(ip_packet(17))
    assert udp.packet == ip_packet(17)[:28] and udp.retval == 28
    assert sock.receive(ip_packet(1)).packet == ip_packet(1)
    tcp = sock.receive(ip_packet(6))
    assert tcp.dropped and tcp.retval == 0
    # a second attach replaces the filter (SO_ATTACH_BPF)
    sock.attach(prog(obj, "trim_udp"))
    assert sock.attached() == [prog(obj, "trim_udp")]
    with pytest.raises(LibbpfError) as info:
        sock.attach(prog(obj, "tc_mark"))
    assert info.value.errno == errno.EINVAL and "tc_mark" in str(info.value)
    assert sock.attached() == [prog(obj, "trim_udp")]  # the failed attach changed nothing
    with pytest.raises(LibbpfError) as info:
        sock.receive(b"")
    assert info.value.errno == errno.EINVAL
    with pytest.raises(LibbpfError) as info:
        sock.receive(bytes(70000))
    assert info.value.errno == errno.EMSGSIZE


def test_tc_hook_runs_in_order_until_a_verdict(obj: BpfObject) -> None:
    tc = TcHook(3)
    tc.attach(prog(obj, "tc_next"), TcDirection.INGRESS)
    tc.attach(prog(obj, "tc_mark"), TcDirection.INGRESS)
    result = tc.ingress(ETH + ip_packet(17, dport=9))
    assert result.verdict is TcVerdict.SHOT and result.retvals == (-1, 2)
    assert result.packet[14 + 8] == 63
    assert result.changed["mark"] == 0x1234 and result.changed["tc_classid"] == 0x10002
    cb = result.changed["cb"]
    assert isinstance(cb, bytes) and cb[4:8] == b"\x08\x00\x00\x00"  # cb[1] = protocol
    assert tc.ingress(ETH + ip_packet(17, dport=7)).verdict is TcVerdict.REDIRECT
    assert tc.ingress(ETH + ip_packet(6)).verdict is TcVerdict.OK
    # egress is another chain: nothing attached there
    assert tc.egress(ETH + ip_packet(17, dport=9)).retvals == ()
    # a verdict stops the run: tc_mark first, tc_next never runs
    assert tc.detach(prog(obj, "tc_next"), TcDirection.INGRESS)
    tc.attach(prog(obj, "tc_next"), TcDirection.INGRESS)
    before = counts(obj)[1]
    assert tc.ingress(ETH + ip_packet(6)).retvals == (0,)
    assert counts(obj)[1] == before
    with pytest.raises(LibbpfError) as info:  # a socket filter on tc
        tc.attach(prog(obj, "trim_udp"), TcDirection.INGRESS)
    assert info.value.errno == errno.EINVAL
    # only UNSPEC: the packet goes on (OK)
    only = TcHook(4)
    only.attach(prog(obj, "tc_next"), TcDirection.EGRESS)
    assert only.egress(ETH + ip_packet(6)).verdict is TcVerdict.OK


def test_tc_links_and_prog_attach(obj: BpfObject) -> None:
    p = prog(obj, "tc_mark")
    link = bpf_program__attach_tcx(p, 9, bpf_tcx_opts(egress=True))
    assert default_tc_hook(9).attached(TcDirection.EGRESS) == [p]
    assert default_tc_hook(9).egress(ETH + ip_packet(17, 9)).verdict is TcVerdict.SHOT
    bpf_link__destroy(link)
    assert default_tc_hook(9).attached(TcDirection.EGRESS) == []
    bpf_prog_attach(p.fd, 9, 46, 0)  # BPF_TCX_INGRESS
    assert default_tc_hook(9).attached(TcDirection.INGRESS) == [p]
    bpf_prog_detach2(p.fd, 9, 46)
    assert default_tc_hook(9).attached(TcDirection.INGRESS) == []
    with pytest.raises(LibbpfError) as info:
        bpf_program__attach(p)  # tc has no auto-attach: it needs an interface
    assert info.value.errno == errno.EOPNOTSUPP


def test_cgroup_skb_hook_all_programs_must_allow(obj: BpfObject) -> None:
    hook = CgroupSkbHook()
    ingress, egress = prog(obj, "cg_no_icmp"), prog(obj, "cg_egress_cn")
    hook.attach(ingress, egress=False, cgroup=5)
    hook.attach(egress, egress=True)
    dropped = hook.ingress(ip_packet(1), cgroup=5)
    assert dropped.verdict is CgroupSkbVerdict.DROP and not dropped.allowed
    allowed = hook.ingress(ip_packet(17), cgroup=5)
    assert allowed.allowed and allowed.changed == {"mark": len(ip_packet(17))}
    assert hook.ingress(ip_packet(1), cgroup=6).retvals == ()  # another cgroup
    out = hook.egress(ip_packet(1), cgroup=5)
    assert out.allowed and out.congestion and out.changed == {"priority": 6}
    with pytest.raises(LibbpfError) as info:
        hook.attach(egress, egress=False)  # an egress program on ingress
    assert info.value.errno == errno.EINVAL
    with pytest.raises(LibbpfError) as info:
        hook.attach(prog(obj, "trim_udp"), egress=False)
    assert info.value.errno == errno.EINVAL
    with pytest.raises(LibbpfError) as info:
        hook.ingress(b"\x10" + bytes(30))  # not IP
    assert info.value.errno == errno.EAFNOSUPPORT


def test_cgroup_skb_attach_by_link_and_by_prog_attach(obj: BpfObject) -> None:
    hook = default_cgroup_skb_hook()
    p = prog(obj, "cg_no_icmp")
    link = bpf_program__attach_cgroup(p, 11)
    assert hook.ingress(ip_packet(1), cgroup=11).verdict is CgroupSkbVerdict.DROP
    bpf_link__destroy(link)
    assert hook.ingress(ip_packet(1), cgroup=11).retvals == ()
    ingress = int(BpfAttachType.BPF_CGROUP_INET_INGRESS)
    bpf_prog_attach(p.fd, 12, ingress)
    with pytest.raises(LibbpfError) as info:
        bpf_prog_attach(p.fd, 12, ingress)
    assert info.value.errno == errno.EEXIST
    assert hook.attached(egress=False, cgroup=12) == [p]
    bpf_prog_detach(12, ingress)
    assert hook.attached(egress=False, cgroup=12) == []
    with pytest.raises(LibbpfError) as info:
        bpf_prog_detach2(p.fd, 12, ingress)
    assert info.value.errno == errno.ENOENT
    with pytest.raises(LibbpfError) as info:
        bpf_prog_attach(p.fd, 12, 999)
    assert info.value.errno == errno.EINVAL
