"""The sock_addr hooks and bpf_program__attach_cgroup: one C source built
for Linux (struct bpf_sock_addr) and for eBPF for Windows (bpf_sock_addr_t)
rejects and redirects the same connections; several programs per attach
point run in order; contexts are rewritten field by field; bad input."""

from __future__ import annotations

import errno
import ipaddress
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from libbpf_compat import isa
from libbpf_compat import libbpf as lb
from libbpf_compat.abi import windows as windows_abi
from libbpf_compat.abi.ctx_rewrite import rewrite_context_accesses
from libbpf_compat.errors import LibbpfError
from libbpf_compat.hooks import sock_addr
from libbpf_compat.hooks.contexts import SOCK_ADDR_LINUX, SOCK_ADDR_NATIVE, SOCK_ADDR_WINDOWS
from libbpf_compat.hooks.sock_addr import (
    ABI_VERDICTS,
    NATIVE_SOCK_ADDR_CTX,
    SockAddrHook,
    SockAddrVerdict,
    normalise_verdict,
)
from libbpf_compat.links import SockAddrLink, attach_sock_addr
from libbpf_compat.mapstore import fd_table
from libbpf_compat.object import BpfObject, Program
from libbpf_compat.uapi import BpfAttachType, BpfProgType
from libbpf_compat.vm import Vm

ABI_DIR = Path(__file__).parent / "fixtures" / "abi"
ABIS = ("linux", "windows")


def load(name: str, abi: str) -> BpfObject:
    obj = lb.bpf_object__open_file(ABI_DIR / f"{name}.{abi}.o")
    obj.load()
    return obj


@pytest.fixture
def objects() -> Iterator[dict[str, BpfObject]]:
    objs = {abi: load("sock_addr_redirect", abi) for abi in ABIS}
    yield objs
    for obj in objs.values():
        obj.close()


def prog(obj: BpfObject, name: str) -> Program:
    p = obj.find_program_by_name(name)
    assert p is not None and p.vm is not None
    return p


def seen(obj: BpfObject) -> tuple[int, ...]:
    fd = obj.find_map_fd_by_name("seen")
    return tuple(struct.unpack("<Q", lb.bpf_map_lookup_elem(fd, struct.pack("<I", k)))[0]
                 for k in range(3))


def test_verdict_tables_match_the_abi_tables() -> None:
    windows = {k: v for k, v in windows_abi.SOCK_ADDR_VERDICTS.items()}
    assert {k: "reject" if v == "reject" else "allow" for k, v in windows.items()} == {
        k: v.name.lower() for k, v in ABI_VERDICTS["windows"].items()}
    assert normalise_verdict("linux", 1) is SockAddrVerdict.ALLOW
    assert normalise_verdict("linux", 2) is SockAddrVerdict.REJECT  # not a Linux verdict
    assert normalise_verdict("windows", 2) is SockAddrVerdict.ALLOW  # PROCEED_HARD
    assert normalise_verdict("windows", 7) is SockAddrVerdict.REJECT
    with pytest.raises(LibbpfError):
        normalise_verdict("macos", 1)


def test_sections_give_sock_addr_programs_and_attach_types(
        objects: dict[str, BpfObject]) -> None:
    for abi, obj in objects.items():
        p4, p6 = prog(obj, "redirect_connect4"), prog(obj, "reject_connect6")
        assert p4.abi == abi
        assert p4.prog_type == p6.prog_type == BpfProgType.BPF_PROG_TYPE_CGROUP_SOCK_ADDR
        assert p4.expected_attach_type == BpfAttachType.BPF_CGROUP_INET4_CONNECT
        assert p6.expected_attach_type == BpfAttachType.BPF_CGROUP_INET6_CONNECT


@pytest.mark.parametrize("abi", ABIS)
def test_one_source_rejects_redirects_and_allows_on_either_abi(
        objects: dict[str, BpfObject], abi: str) -> None:
    hook = SockAddrHook()
    hook.attach(prog(objects[abi], "redirect_connect4"))
    hook.attach(prog(objects[abi], "reject_connect6"))

    rejected = hook.connect("10.1.2.3", 7777)
    assert rejected.verdict is SockAddrVerdict.REJECT and not rejected.allowed
    assert (str(rejected.address), rejected.port, rejected.rewritten) == ("10.1.2.3", 7777, False)

    redirected = hook.connect("10.1.2.3", 8080, protocol=sock_addr.IPPROTO_UDP, process_id=77)
    assert redirected.allowed and redirected.rewritten
    assert (redirected.address, redirected.port) == (ipaddress.IPv4Address("127.0.0.1"), 80)

    plain = hook.connect(ipaddress.IPv4Address("10.1.2.3"), 22)
    assert plain.allowed and not plain.rewritten and plain.retvals == (1,)
    assert (str(plain.address), plain.port) == ("10.1.2.3", 22)
    assert seen(objects[abi]) == (2, 1, 1)  # allowed, rejected, redirected

    assert not hook.connect("2001:db8::1", 7777).allowed  # connect6 reads protocol
    assert hook.connect("2001:db8::1", 7777, protocol=sock_addr.IPPROTO_UDP).allowed
    assert hook.connect("2001:db8::1", 8080).allowed
    # no program on the other attach points
    assert hook.recv_accept("10.1.2.3", 7777).retvals == ()
    assert hook.bind("0.0.0.0", 7777).allowed


def test_both_abis_on_one_point_run_in_order_and_a_reject_stops(
        objects: dict[str, BpfObject]) -> None:
    hook = SockAddrHook()
    linux, windows = (prog(objects[abi], "redirect_connect4") for abi in ABIS)
    hook.attach(linux)
    hook.attach(windows)
    assert hook.attached("connect4") == [linux, windows]
    # the Linux program redirects 8080 to :80; the Windows one sees port 80
    result = hook.connect("192.0.2.1", 8080)
    assert (str(result.address), result.port, result.retvals) == ("127.0.0.1", 80, (1, 1))
    assert seen(objects["linux"]) == (1, 0, 1) and seen(objects["windows"]) == (1, 0, 0)
    # the Linux program rejects 7777: the Windows program does not run
    assert hook.connect("192.0.2.1", 7777).retvals == (0,)
    assert seen(objects["windows"]) == (1, 0, 0)
    with pytest.raises(LibbpfError) as info:
        hook.attach(linux)
    assert info.value.errno == errno.EEXIST
    assert hook.detach(linux, "connect4")
    assert not hook.detach(linux, "connect4")
    assert hook.connect("192.0.2.1", 7777).retvals == (0,)
    assert seen(objects["windows"]) == (1, 1, 0)


@dataclass
class RawProgram:
    """A program made of raw instructions (native context) for the hook."""

    name: str
    vm: Vm | None
    abi: str = "windows"
    prog_type: int = BpfProgType.BPF_PROG_TYPE_CGROUP_SOCK_ADDR
    expected_attach_type: int = BpfAttachType.BPF_CGROUP_INET4_CONNECT

    @property
    def id(self) -> int:
        return 0


def raw(name: str, text: str, abi: str = "windows") -> RawProgram:
    return RawProgram(name, Vm(isa.assemble(text, syntax="kernel")), abi)


def test_proceed_hard_is_final_and_the_context_is_native() -> None:
    hook = SockAddrHook()
    # stores the family it sees as the port, then proceeds hard
    hard = raw("hard", "r2 = *(u32 *)(r1 + 4)\n*(u32 *)(r1 + 24) = r2\nr0 = 2\nexit")
    never = raw("never", "r0 = 0\nexit")
    hook.attach(hard)
    hook.attach(never)
    result = hook.connect("10.0.0.1", 1)
    assert result.allowed and result.retvals == (2,)
    assert result.port == 2 << 8  # AF_INET 2 in the network-order port field
    six = raw("six", "r2 = *(u32 *)(r1 + 4)\n*(u32 *)(r1 + 24) = r2\nr0 = 1\nexit", abi="linux")
    six.expected_attach_type = BpfAttachType.BPF_CGROUP_INET6_CONNECT
    wsix = raw("wsix", "r2 = *(u32 *)(r1 + 4)\n*(u32 *)(r1 + 24) = r2\nr0 = 1\nexit")
    wsix.expected_attach_type = BpfAttachType.BPF_CGROUP_INET6_CONNECT
    for p, family in ((six, 10), (wsix, 23)):  # AF_INET6 per ABI
        h = SockAddrHook()
        h.attach(p)
        assert h.connect("::1", 5).port == family << 8
    assert NATIVE_SOCK_ADDR_CTX.size == SOCK_ADDR_NATIVE.size


def test_layouts_map_every_field_to_the_native_context() -> None:
    for layout in (SOCK_ADDR_LINUX, SOCK_ADDR_WINDOWS):
        for f in layout.fields:
            native = SOCK_ADDR_NATIVE.field(f.name)
            assert native.size >= f.size and native.writable >= f.writable
    # Linux user_ip6[1] (offset 12) and Windows user_ip6[1] (offset 28) are one native word
    for layout, off in ((SOCK_ADDR_LINUX, 12), (SOCK_ADDR_WINDOWS, 28)):
        code = isa.assemble(f"r2 = *(u32 *)(r1 + {off})\nr0 = 1\nexit", syntax="kernel")
        out = rewrite_context_accesses(code, layout, SOCK_ADDR_NATIVE, "t")
        assert isa.disassemble(out, syntax="kernel").splitlines()[0] == "r2 = *(u32 *)(r1 + 12)"
    # Windows u16 user_port at 40 -> native 24; Linux user_port at 24 stays
    code = isa.assemble("r2 = *(u16 *)(r1 + 40)\nr0 = 1\nexit", syntax="kernel")
    out = rewrite_context_accesses(code, SOCK_ADDR_WINDOWS, SOCK_ADDR_NATIVE, "t")
    assert isa.disassemble(out, syntax="kernel").splitlines()[0] == "r2 = *(u16 *)(r1 + 24)"


@pytest.mark.parametrize(("layout", "text"), [
    (SOCK_ADDR_WINDOWS, "r2 = 1\n*(u32 *)(r1 + 44) = r2"),   # protocol is read-only
    (SOCK_ADDR_LINUX, "r2 = 1\n*(u32 *)(r1 + 36) = r2"),     # protocol
    (SOCK_ADDR_LINUX, "r2 = *(u64 *)(r1 + 64)"),             # sk is not offered
    (SOCK_ADDR_WINDOWS, "r2 = *(u32 *)(r1 + 52)"),           # padding
])
def test_bad_context_accesses_are_refused(layout: object, text: str) -> None:
    code = isa.assemble(text + "\nr0 = 1\nexit", syntax="kernel")
    with pytest.raises(LibbpfError) as info:
        rewrite_context_accesses(code, layout, SOCK_ADDR_NATIVE, "t")  # type: ignore[arg-type]
    assert info.value.errno == errno.EACCES


def test_attach_cgroup_links_run_per_cgroup_and_detach_on_destroy(
        objects: dict[str, BpfObject]) -> None:
    hook = sock_addr.default_hook()
    p = prog(objects["linux"], "redirect_connect4")
    link = lb.bpf_program__attach_cgroup(p, 42)
    try:
        assert isinstance(link, SockAddrLink) and fd_table.get(link.fd) is link
        assert link.cgroup == 42 and "cgroup 42" in repr(link)
        assert not hook.connect("10.0.0.1", 7777, cgroup=42).allowed
        assert hook.connect("10.0.0.1", 7777, cgroup=43).retvals == ()
        assert not hook.connect("10.0.0.1", 7777).allowed  # None: every cgroup
        # a second program on the same cgroup and point runs after the first
        link2 = lb.bpf_program__attach_cgroup(prog(objects["windows"], "redirect_connect4"), 42)
        assert hook.connect("10.0.0.1", 8080, cgroup=42).retvals == (1, 1)
        lb.bpf_link__destroy(link2)
    finally:
        fd = link.fd
        lb.bpf_link__destroy(link)
    assert fd not in fd_table
    assert hook.connect("10.0.0.1", 7777, cgroup=42).retvals == ()


def test_auto_attach_is_for_windows_objects_only(objects: dict[str, BpfObject]) -> None:
    with pytest.raises(LibbpfError) as info:
        lb.bpf_program__attach(prog(objects["linux"], "redirect_connect4"))
    assert info.value.errno == errno.EOPNOTSUPP and "attach_cgroup" in str(info.value)
    hook = sock_addr.default_hook()
    link = lb.bpf_program__attach(prog(objects["windows"], "redirect_connect4"))
    assert isinstance(link, SockAddrLink) and link.cgroup is None
    assert hook.connect("10.0.0.1", 8080, cgroup=5).port == 80
    objects["windows"].close()  # closing the object detaches its links
    assert hook.connect("10.0.0.1", 8080).retvals == ()


def test_bad_input(objects: dict[str, BpfObject]) -> None:
    hook = SockAddrHook()
    p4 = prog(objects["linux"], "redirect_connect4")
    xdp = load("xdp_count", "linux")
    try:
        for bad, err in ((lambda: hook.attach(xdp.programs[0]), errno.EINVAL),
                         (lambda: attach_sock_addr(xdp.programs[0], 1, hook=hook), errno.EINVAL),
                         (lambda: hook.attach(p4, "connect6"), errno.EINVAL),
                         (lambda: hook.attach(p4, "teleport4"), errno.EINVAL),
                         (lambda: lb.bpf_program__attach_cgroup(p4, -1), errno.EBADF),
                         (lambda: hook.connect("not an address", 1), errno.EINVAL),
                         (lambda: hook.request("connect4", "::1", 1), errno.EAFNOSUPPORT),
                         (lambda: hook.connect("10.0.0.1", 70000), errno.EINVAL),
                         (lambda: hook.connect("10.0.0.1", 1, protocol=1), errno.EPROTONOSUPPORT),
                         (lambda: hook.sendmsg("10.0.0.1", 1, protocol=6), errno.EINVAL)):
            with pytest.raises(LibbpfError) as info:
                bad()
            assert info.value.errno == err
    finally:
        xdp.close()
    hook.attach(p4)  # the hook is unharmed
    assert not hook.connect("10.0.0.1", 7777).allowed


@pytest.mark.parametrize("abi", ABIS)
def test_test_run_takes_and_returns_the_programs_own_layout(
        objects: dict[str, BpfObject], abi: str) -> None:
    fd = prog(objects[abi], "redirect_connect4").fd
    dest = ipaddress.IPv4Address("10.0.0.1").packed
    if abi == "linux":
        ctx = bytearray(SOCK_ADDR_LINUX.size)
        struct.pack_into("<I4s", ctx, 0, 2, dest)
        ip, port = slice(4, 8), slice(24, 26)
    else:
        ctx = bytearray(SOCK_ADDR_WINDOWS.size)
        struct.pack_into("<I", ctx, 0, 2)
        ctx[24:28] = dest
        ip, port = slice(24, 28), slice(40, 42)
    ctx[port] = (8080).to_bytes(2, "big")
    opts = lb.bpf_test_run_opts(ctx_in=bytes(ctx), repeat=3)
    assert lb.bpf_prog_test_run_opts(fd, opts) == 0
    assert opts.retval == 1 and opts.ctx_out is not None and len(opts.ctx_out) == len(ctx)
    assert opts.ctx_out[ip] == bytes([127, 0, 0, 1])
    assert opts.ctx_out[port] == (80).to_bytes(2, "big")
    # the runs share the context, as the kernel's repeats do: only the first redirects
    assert seen(objects[abi]) == (3, 0, 1)
    ctx[port] = (7777).to_bytes(2, "big")
    opts = lb.bpf_test_run_opts(ctx_in=bytes(ctx))
    lb.bpf_prog_test_run_opts(fd, opts)
    assert opts.retval == 0 and opts.ctx_out == bytes(ctx)
    for bad in (lb.bpf_test_run_opts(ctx_in=bytes(ctx) + b"\0"),
                lb.bpf_test_run_opts(ctx_in=bytes(ctx), data_in=b"x")):
        with pytest.raises(LibbpfError) as info:
            lb.bpf_prog_test_run_opts(fd, bad)
        assert info.value.errno == errno.EINVAL
