"""The sock_ops hook: one C source built for both ABIs counts connection
events per op; op codes, ports and families are filled in each program's
own numbering; cgroup and Windows-style attach, test_run, bad input."""

from __future__ import annotations

import errno
import ipaddress
import shutil
import struct
import subprocess
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import pytest

from libbpf_compat import isa
from libbpf_compat import libbpf as lb
from libbpf_compat.abi import windows as windows_abi
from libbpf_compat.abi.ctx_rewrite import rewrite_context_accesses
from libbpf_compat.errors import LibbpfError
from libbpf_compat.hooks import sock_ops
from libbpf_compat.hooks.contexts import (
    SOCK_OPS_LINUX,
    SOCK_OPS_NATIVE,
    SOCK_OPS_WINDOWS,
    CtxLayout,
)
from libbpf_compat.hooks.sock_ops import (
    NATIVE_SOCK_OPS_CTX,
    OP_CODES,
    SockOpsEvent,
    SockOpsHook,
    op_code,
)
from libbpf_compat.links import SockOpsLink, attach_sock_ops
from libbpf_compat.mapstore import fd_table
from libbpf_compat.object import BpfObject, Program
from libbpf_compat.uapi import BpfAttachType, BpfProgType
from libbpf_compat.vm import Vm

FIXTURES = Path(__file__).parent / "fixtures" / "abi"
ABIS = ("linux", "windows")


def load(name: str, abi: str) -> BpfObject:
    o = lb.bpf_object__open_file(FIXTURES / f"{name}.{abi}.o")
    o.load()
    return o


@pytest.fixture
def objects() -> Iterator[dict[str, BpfObject]]:
    objs = {abi: load("sock_ops_count", abi) for abi in ABIS}
    yield objs
    for o in objs.values():
        o.close()


def prog(o: BpfObject) -> Program:
    p = o.programs[0]
    assert p.vm is not None
    return p


def values(o: BpfObject, name: str) -> tuple[int, ...]:
    fd = o.find_map_fd_by_name(name)
    return tuple(struct.unpack("<Q", lb.bpf_map_lookup_elem(fd, struct.pack("<I", k)))[0]
                 for k in range(3))


def test_op_codes_and_layouts_follow_abi_md() -> None:
    assert {c: e.value for e, c in OP_CODES["windows"].items()} == windows_abi.SOCK_OPS_OPS
    assert op_code("linux", SockOpsEvent.ACTIVE_ESTABLISHED) == 4
    assert op_code("linux", SockOpsEvent.PASSIVE_ESTABLISHED) == 5
    with pytest.raises(LibbpfError):
        op_code("macos", SockOpsEvent.ACTIVE_ESTABLISHED)
    assert SOCK_OPS_WINDOWS.size == 64 and SOCK_OPS_WINDOWS.field("protocol").offset == 48
    assert SOCK_OPS_WINDOWS.field("interface_luid").offset == 56
    assert SOCK_OPS_LINUX.field("family").offset == 20
    assert SOCK_OPS_LINUX.field("remote_port").offset == 64
    assert SOCK_OPS_LINUX.field("local_ip6").offset == 48
    assert NATIVE_SOCK_OPS_CTX.size == SOCK_OPS_NATIVE.size
    for layout in (SOCK_OPS_LINUX, SOCK_OPS_WINDOWS):
        for f in layout.fields:
            assert SOCK_OPS_NATIVE.field(f.name).size >= f.size


def test_section_gives_sock_ops_programs(objects: dict[str, BpfObject]) -> None:
    for abi, o in objects.items():
        p = prog(o)
        assert p.abi == abi and p.section_name == "sockops"
        assert p.prog_type == BpfProgType.BPF_PROG_TYPE_SOCK_OPS
        assert p.expected_attach_type == BpfAttachType.BPF_CGROUP_SOCK_OPS


@pytest.mark.parametrize("abi", ABIS)
def test_one_source_counts_ops_and_reads_ports_on_either_abi(
        objects: dict[str, BpfObject], abi: str) -> None:
    hook = SockOpsHook()
    hook.attach(prog(objects[abi]))
    ok = 1 if abi == "linux" else 0
    r = hook.established("10.0.0.1", 40000, "192.168.1.2", 443)
    assert r.event is SockOpsEvent.ACTIVE_ESTABLISHED and r.retvals == (ok,)
    assert values(objects[abi], "last") == (443, 40000, int(ipaddress.IPv4Address("192.168.1.2")))
    hook.established("10.0.0.1", 80, "10.0.0.9", 5555, passive=True)
    hook.established("10.0.0.1", 80, "10.0.0.7", 6000, passive=True)
    assert values(objects[abi], "last") == (6000, 80, int(ipaddress.IPv4Address("10.0.0.7")))
    hook.deleted("10.0.0.1", 80, "10.0.0.9", 5555)
    # IPv6: ports still read, the IPv4 slot untouched
    hook.established("2001:db8::1", 1234, "2001:db8::2", 8443)
    assert values(objects[abi], "ops") == (2, 2, 1)
    assert values(objects[abi], "last") == (8443, 1234, int(ipaddress.IPv4Address("10.0.0.7")))


def test_both_abis_run_in_attach_order_with_their_own_numbering(
        objects: dict[str, BpfObject]) -> None:
    hook = SockOpsHook()
    hook.attach(prog(objects["windows"]))
    hook.attach(prog(objects["linux"]))
    assert hook.attached() == [prog(objects["windows"]), prog(objects["linux"])]
    assert hook.established("10.0.0.1", 1, "10.0.0.2", 2).retvals == (0, 1)
    r = hook.deleted("10.0.0.1", 1, "10.0.0.2", 2)
    assert r.retvals == (0, 1)
    # Linux sees the deletion as STATE_CB, reply/args[0] the old state
    assert r.replies == (0, sock_ops.BPF_TCP_ESTABLISHED)
    for o in objects.values():
        assert values(o, "ops") == (1, 0, 1)
    assert hook.detach_program(prog(objects["windows"])) == 1
    assert hook.established("10.0.0.1", 1, "10.0.0.2", 2, passive=True).retvals == (1,)


def test_the_context_holds_each_abis_op_family_and_ports() -> None:
    # a raw program returning ctx->op, family and port words, per layout
    def run(layout_off: int, layout: object, abi: str, size: int = 4) -> int:
        width = {4: "u32", 2: "u16", 1: "u8"}[size]
        code = isa.assemble(f"r0 = *({width} *)(r1 + {layout_off})\nexit", syntax="kernel")
        native = rewrite_context_accesses(code, layout, SOCK_OPS_NATIVE, "t")  # type: ignore[arg-type]
        fake = _FakeProg(Vm(native), abi)
        hook = SockOpsHook()
        hook.attach(fake)  # type: ignore[arg-type]
        return hook.established("2001:db8::1", 0x1234, "2001:db8::2", 0x5678,
                                passive=True).retvals[0]
    assert run(0, SOCK_OPS_LINUX, "linux") == 5
    assert run(0, SOCK_OPS_WINDOWS, "windows") == 1
    assert run(20, SOCK_OPS_LINUX, "linux") == 10
    assert run(4, SOCK_OPS_WINDOWS, "windows") == 23
    assert run(64, SOCK_OPS_LINUX, "linux") == 0x78560000  # remote: network order, upper half
    assert run(68, SOCK_OPS_LINUX, "linux") == 0x1234      # local: host order
    assert run(44, SOCK_OPS_WINDOWS, "windows") == 0x7856  # network order u16
    assert run(48, SOCK_OPS_WINDOWS, "windows", 1) == 6
    assert run(32, SOCK_OPS_LINUX, "linux") == 0xB80D0120  # remote_ip6[0]: 20 01 0d b8
    assert run(60, SOCK_OPS_LINUX, "linux") == 0x01000000  # local_ip6[3]: ... 00 01
    assert run(8, SOCK_OPS_WINDOWS, "windows") == 0xB80D0120  # local_ip6[0]


class _FakeProg:
    prog_type = BpfProgType.BPF_PROG_TYPE_SOCK_OPS
    expected_attach_type = 0
    name = "raw"

    def __init__(self, vm: Vm, abi: str) -> None:
        self.vm = vm
        self.abi = abi


@pytest.mark.parametrize(("layout", "text"), [
    (SOCK_OPS_WINDOWS, "r2 = 1\n*(u32 *)(r1 + 0) = r2"),   # op is read-only
    (SOCK_OPS_LINUX, "r2 = 1\n*(u32 *)(r1 + 64) = r2"),    # remote_port
    (SOCK_OPS_LINUX, "r2 = *(u64 *)(r1 + 184)"),           # sk is not offered
    (SOCK_OPS_WINDOWS, "r2 = *(u8 *)(r1 + 49)"),           # padding after protocol
])
def test_bad_context_accesses_are_refused(layout: object, text: str) -> None:
    code = isa.assemble(text + "\nr0 = 1\nexit", syntax="kernel")
    with pytest.raises(LibbpfError) as info:
        rewrite_context_accesses(code, layout, SOCK_OPS_NATIVE, "t")  # type: ignore[arg-type]
    assert info.value.errno == errno.EACCES


def test_linux_programs_may_write_their_reply() -> None:
    code = isa.assemble("r2 = 99\n*(u32 *)(r1 + 4) = r2\nr0 = 1\nexit", syntax="kernel")
    native = rewrite_context_accesses(code, SOCK_OPS_LINUX, SOCK_OPS_NATIVE, "t")
    hook = SockOpsHook()
    hook.attach(_FakeProg(Vm(native), "linux"))  # type: ignore[arg-type]
    assert hook.established("10.0.0.1", 1, "10.0.0.2", 2).replies == (99,)


def test_attach_cgroup_and_auto_attach(objects: dict[str, BpfObject]) -> None:
    hook = sock_ops.default_hook()
    with pytest.raises(LibbpfError) as info:
        lb.bpf_program__attach(prog(objects["linux"]))
    assert info.value.errno == errno.EOPNOTSUPP and "attach_cgroup" in str(info.value)
    link = lb.bpf_program__attach_cgroup(prog(objects["linux"]), 7)
    assert isinstance(link, SockOpsLink) and "cgroup 7" in repr(link)
    assert fd_table.get(link.fd) is link
    assert hook.established("10.0.0.1", 1, "10.0.0.2", 2, cgroup=7).retvals == (1,)
    assert hook.established("10.0.0.1", 1, "10.0.0.2", 2, cgroup=8).retvals == ()
    wlink = lb.bpf_program__attach(prog(objects["windows"]))
    assert isinstance(wlink, SockOpsLink) and wlink.cgroup is None
    assert hook.established("10.0.0.1", 1, "10.0.0.2", 2, cgroup=7).retvals == (1, 0)
    assert hook.established("10.0.0.1", 1, "10.0.0.2", 2, cgroup=8).retvals == (0,)
    fd = link.fd
    lb.bpf_link__destroy(link)
    assert fd not in fd_table
    objects["windows"].close()  # closing the object detaches its links
    assert hook.established("10.0.0.1", 1, "10.0.0.2", 2, cgroup=7).retvals == ()
    assert values(objects["linux"], "ops") == (2, 0, 0)


def test_bad_input(objects: dict[str, BpfObject]) -> None:
    hook = SockOpsHook()
    p = prog(objects["linux"])
    xdp = load("xdp_count", "linux")
    try:
        for bad, err in ((lambda: hook.attach(xdp.programs[0]), errno.EINVAL),
                         (lambda: attach_sock_ops(xdp.programs[0], 1, hook=hook), errno.EINVAL),
                         (lambda: lb.bpf_program__attach_cgroup(p, -1), errno.EBADF),
                         (lambda: hook.established("nope", 1, "10.0.0.2", 2), errno.EINVAL),
                         (lambda: hook.established("10.0.0.1", 1, "::2", 2),
                          errno.EAFNOSUPPORT),
                         (lambda: hook.established("10.0.0.1", 70000, "10.0.0.2", 2),
                          errno.EINVAL),
                         (lambda: hook.deleted("10.0.0.1", 1, "10.0.0.2", 2, protocol=1),
                          errno.EPROTONOSUPPORT)):
            with pytest.raises(LibbpfError) as info:
                bad()
            assert info.value.errno == err
    finally:
        xdp.close()
    hook.attach(p)
    with pytest.raises(LibbpfError) as info:
        hook.attach(p)
    assert info.value.errno == errno.EEXIST
    assert hook.established("10.0.0.1", 1, "10.0.0.2", 2).retvals == (1,)  # unharmed


@pytest.mark.parametrize("abi", ABIS)
def test_test_run_takes_and_returns_the_programs_own_layout(
        objects: dict[str, BpfObject], abi: str) -> None:
    fd = prog(objects[abi]).fd
    remote = ipaddress.IPv4Address("172.16.0.5")
    if abi == "linux":
        ctx = bytearray(SOCK_OPS_LINUX.size)
        struct.pack_into("<I", ctx, 0, 5)             # PASSIVE_ESTABLISHED_CB
        struct.pack_into("<I4s", ctx, 20, 2, remote.packed)
        ctx[66:68] = (9000).to_bytes(2, "big")        # remote_port, upper half
        struct.pack_into("<I", ctx, 68, 22)
    else:
        ctx = bytearray(SOCK_OPS_WINDOWS.size)
        struct.pack_into("<II", ctx, 0, 1, 2)
        ctx[24:26] = (22).to_bytes(2, "big")
        ctx[28:32] = remote.packed
        ctx[44:46] = (9000).to_bytes(2, "big")
    opts = lb.bpf_test_run_opts(ctx_in=bytes(ctx), repeat=4)
    assert lb.bpf_prog_test_run_opts(fd, opts) == 0
    assert opts.retval == (1 if abi == "linux" else 0) and opts.ctx_out == bytes(ctx)
    assert values(objects[abi], "ops") == (0, 4, 0)
    assert values(objects[abi], "last") == (9000, 22, int(remote))
    bads = [lb.bpf_test_run_opts(ctx_in=bytes(ctx) + b"\0"),
            lb.bpf_test_run_opts(ctx_in=bytes(ctx), data_in=b"x")]
    if abi == "linux":
        bads.append(lb.bpf_test_run_opts(ctx_in=bytes(ctx[:184]) + b"\1" + bytes(ctx[185:])))
    for bad in bads:
        with pytest.raises(LibbpfError) as info:
            lb.bpf_prog_test_run_opts(fd, bad)
        assert info.value.errno == errno.EINVAL


@pytest.mark.parametrize(("abi", "layout", "ctype"), [
    ("linux", SOCK_OPS_LINUX, "struct bpf_sock_ops"),
    ("windows", SOCK_OPS_WINDOWS, "bpf_sock_ops_t"),
])
def test_layouts_agree_with_the_c_headers(tmp_path: Path, abi: str, layout: object,
                                          ctype: str) -> None:
    """Every field's offset and size as clang lays out the header's struct
    (Linux UAPI, or the project's eBPF-for-Windows header)."""
    if shutil.which("clang") is None:
        pytest.skip("clang is not installed")
    assert isinstance(layout, CtxLayout)
    inc = Path(lb.__file__).parent / "include"
    checks = [f"_Static_assert(sizeof({ctype}) == {layout.size}, \"size\");"]
    for f in layout.fields:
        checks.append(f"_Static_assert(__builtin_offsetof({ctype}, {f.name}) == {f.offset}, "
                      f"\"{f.name}\");")
        checks.append(f"_Static_assert(sizeof((({ctype} *)0)->{f.name}) == {f.size}, "
                      f"\"{f.name} size\");")
    src = tmp_path / "check.c"
    head = ('#include "bpf/bpf_helpers.h"\n' if abi == "windows"
            else "#include <linux/bpf.h>\n")
    src.write_text(head + "\n".join(checks) + "\n")
    args = ["clang", "-target", "bpf", "-fsyntax-only", "-I", str(inc)]
    if abi == "windows":
        args.append("-DLBC_ABI_WINDOWS")
    else:
        arch = sysconfig.get_config_var("MULTIARCH") or "x86_64-linux-gnu"
        args += ["-I", f"/usr/include/{arch}"]
    compiled = subprocess.run([*args, str(src)], capture_output=True, text=True)
    assert compiled.returncode == 0, compiled.stderr[-2000:]
