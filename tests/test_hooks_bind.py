"""The bind hook (eBPF for Windows BIND programs): a Windows-built program
denies one process, redirects one port and reads the app id region;
verdicts normalised, programs run in order, links, bad input."""

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
from libbpf_compat.hooks import bind
from libbpf_compat.hooks.bind import (
    BIND_ACTIONS,
    MAX_APP_ID,
    NATIVE_BIND_CTX,
    BindHook,
    BindVerdict,
    normalise_verdict,
)
from libbpf_compat.hooks.contexts import BIND_NATIVE, BIND_WINDOWS
from libbpf_compat.links import BindLink, attach_bind
from libbpf_compat.mapstore import fd_table
from libbpf_compat.object import BpfObject, Program
from libbpf_compat.vm import Vm

FIXTURE = Path(__file__).parent / "fixtures" / "abi" / "bind_deny_pid.windows.o"


@pytest.fixture
def obj() -> Iterator[BpfObject]:
    o = lb.bpf_object__open_file(FIXTURE)
    o.load()
    yield o
    o.close()


def program(o: BpfObject) -> Program:
    p = o.programs[0]
    assert p.vm is not None
    return p


def verdict_counts(o: BpfObject) -> tuple[int, ...]:
    fd = o.find_map_fd_by_name("verdicts")
    return tuple(struct.unpack("<Q", lb.bpf_map_lookup_elem(fd, struct.pack("<I", k)))[0]
                 for k in range(4))


def test_actions_and_layout_follow_abi_md() -> None:
    assert normalise_verdict(0) is normalise_verdict(3) is BindVerdict.PERMIT
    assert normalise_verdict(1) is BindVerdict.DENY
    assert normalise_verdict(2) is BindVerdict.REDIRECT
    assert normalise_verdict(9) is BindVerdict.DENY
    assert set(BIND_ACTIONS) == {0, 1, 2, 3}
    assert NATIVE_BIND_CTX.size == BIND_NATIVE.size == BIND_WINDOWS.size == 56
    offsets = {f.name: f.offset for f in BIND_WINDOWS.fields}
    assert offsets == {"app_id_start": 0, "app_id_end": 8, "process_id": 16,
                       "socket_address": 24, "socket_address_length": 40,
                       "operation": 44, "protocol": 48}


def test_program_type_and_verdicts(obj: BpfObject) -> None:
    p = program(obj)
    assert p.abi == "windows" and p.prog_type == windows_abi.INTERNAL_PROG_BIND
    hook = BindHook()
    hook.attach(p)
    denied = hook.bind(4242, "0.0.0.0", 80)
    assert denied.verdict is BindVerdict.DENY and denied.retvals == (1,)
    redirected = hook.bind(1000, "192.0.2.7", 5000, protocol=bind.IPPROTO_UDP)
    assert redirected.verdict is BindVerdict.REDIRECT
    assert (redirected.address, redirected.port) == (ipaddress.IPv4Address("192.0.2.7"), 5001)
    permitted = hook.bind(1000, "192.0.2.7", 80)
    assert permitted.verdict is BindVerdict.PERMIT and permitted.port == 80
    # the app id region: "deny..." is refused, a shorter id is not read past its end
    assert hook.bind(1000, "0.0.0.0", 80, app_id=b"deny-this.exe").verdict is BindVerdict.DENY
    assert hook.bind(1000, "0.0.0.0", 80, app_id=b"den").verdict is BindVerdict.PERMIT
    assert hook.bind(1000, "0.0.0.0", 80, app_id=b"allow.exe").verdict is BindVerdict.PERMIT
    # only BIND operations are policed
    assert hook.unbind(4242, "0.0.0.0", 80).verdict is BindVerdict.PERMIT
    assert hook.post_bind(4242, "0.0.0.0", 80).verdict is BindVerdict.PERMIT
    assert verdict_counts(obj) == (5, 2, 1, 0)


@dataclass
class RawProgram:
    name: str
    vm: Vm | None
    abi: str = "windows"
    prog_type: int = windows_abi.INTERNAL_PROG_BIND
    expected_attach_type: int = windows_abi.WINDOWS_ONLY_BASE + 2

    @property
    def id(self) -> int:
        return 0


def raw(name: str, text: str) -> RawProgram:
    return RawProgram(name, Vm(isa.assemble(text, syntax="kernel")))


def test_programs_run_in_order(obj: BpfObject) -> None:
    hook = BindHook()
    hook.attach(program(obj))
    hard = raw("hard", "r0 = 3\nexit")
    after = raw("after", "r0 = 1\nexit")
    hook.attach(hard)
    hook.attach(after)
    assert hook.attached() == [program(obj), hard, after]
    # redirect by the first program, then PERMIT_HARD is final: still REDIRECT
    result = hook.bind(1, "0.0.0.0", 5000)
    assert result.verdict is BindVerdict.REDIRECT and result.retvals == (2, 3)
    assert result.port == 5001
    # a deny stops the run
    assert hook.bind(4242, "0.0.0.0", 5000).retvals == (1,)
    assert hook.detach(hard) and not hook.detach(hard)
    denied = hook.bind(1, "0.0.0.0", 5000)
    assert denied.verdict is BindVerdict.DENY and denied.retvals == (2, 1)


def test_context_accesses_are_checked() -> None:
    for text in ("r2 = 1\n*(u64 *)(r1 + 16) = r2",     # process_id is read-only
                 "r2 = *(u32 *)(r1 + 0)",               # half a pointer
                 "r2 = *(u32 *)(r1 + 52)"):             # past the last field
        code = isa.assemble(text + "\nr0 = 0\nexit", syntax="kernel")
        with pytest.raises(LibbpfError) as info:
            rewrite_context_accesses(code, BIND_WINDOWS, BIND_NATIVE, "t")
        assert info.value.errno == errno.EACCES


def test_links_auto_attach_and_destroy(obj: BpfObject) -> None:
    hook = bind.default_hook()
    link = lb.bpf_program__attach(program(obj))
    assert isinstance(link, BindLink) and fd_table.get(link.fd) is link
    assert hook.bind(4242, "0.0.0.0", 1).verdict is BindVerdict.DENY
    fd = link.fd
    lb.bpf_link__destroy(link)
    assert fd not in fd_table
    assert hook.bind(4242, "0.0.0.0", 1).retvals == ()
    other = BindHook()
    with attach_bind(program(obj), hook=other):
        assert other.bind(4242, "0.0.0.0", 1).verdict is BindVerdict.DENY
    assert other.bind(4242, "0.0.0.0", 1).verdict is BindVerdict.PERMIT
    lb.bpf_program__attach(program(obj))
    obj.close()  # closing the object detaches its links
    assert hook.bind(4242, "0.0.0.0", 1).retvals == ()


def test_bad_input(obj: BpfObject) -> None:
    hook = BindHook()
    xdp = lb.bpf_object__open_file(FIXTURE.with_name("xdp_count.windows.o"))
    xdp.load()
    try:
        for bad, err in ((lambda: hook.attach(xdp.programs[0]), errno.EINVAL),
                         (lambda: hook.bind(1, "::1", 80), errno.EAFNOSUPPORT),
                         (lambda: hook.bind(1, "nowhere", 80), errno.EINVAL),
                         (lambda: hook.bind(1, "0.0.0.0", -1), errno.EINVAL),
                         (lambda: hook.bind(-1, "0.0.0.0", 1), errno.EINVAL),
                         (lambda: hook.bind(1, "0.0.0.0", 1, protocol=2), errno.EPROTONOSUPPORT),
                         (lambda: hook.request(1, "0.0.0.0", 1, operation=7), errno.EINVAL),
                         (lambda: hook.bind(1, "0.0.0.0", 1, app_id=bytes(MAX_APP_ID + 1)),
                          errno.E2BIG)):
            with pytest.raises(LibbpfError) as info:
                bad()
            assert info.value.errno == err
    finally:
        xdp.close()
    hook.attach(program(obj))
    with pytest.raises(LibbpfError) as info:
        hook.attach(program(obj))
    assert info.value.errno == errno.EEXIST
    assert hook.bind(4242, "0.0.0.0", 1).verdict is BindVerdict.DENY


def test_test_run_fills_the_app_id_from_data_in(obj: BpfObject) -> None:
    fd = program(obj).fd
    ctx = bytearray(BIND_WINDOWS.size)
    struct.pack_into("<Q", ctx, 16, 4242)
    opts = lb.bpf_test_run_opts(ctx_in=bytes(ctx))
    assert lb.bpf_prog_test_run_opts(fd, opts) == 0 and opts.retval == 1  # DENY
    ctx = bytearray(BIND_WINDOWS.size)
    struct.pack_into("<Q", ctx, 16, 7)
    opts = lb.bpf_test_run_opts(ctx_in=bytes(ctx), data_in=b"deny.exe")
    lb.bpf_prog_test_run_opts(fd, opts)
    assert opts.retval == 1 and opts.ctx_out is not None
    assert struct.unpack_from("<QQQ", opts.ctx_out) == (0, 8, 7)
    # a redirect shows in ctx_out's socket address
    ctx[24:40] = struct.pack("<H", 2) + (5000).to_bytes(2, "big") + bytes(12)
    ctx[40] = 16
    opts = lb.bpf_test_run_opts(ctx_in=bytes(ctx), data_in=b"app.exe")
    lb.bpf_prog_test_run_opts(fd, opts)
    assert opts.retval == 2 and opts.ctx_out is not None
    assert opts.ctx_out[26:28] == (5001).to_bytes(2, "big")
    # repeats share the context: the later runs see port 5001 and permit
    opts = lb.bpf_test_run_opts(ctx_in=bytes(ctx), repeat=4)
    lb.bpf_prog_test_run_opts(fd, opts)
    assert opts.retval == 0 and opts.duration >= 0
    bad_ptr = bytearray(ctx)
    bad_ptr[0] = 1
    for bad in (lb.bpf_test_run_opts(ctx_in=bytes(ctx[:40])),
                lb.bpf_test_run_opts(ctx_in=bytes(bad_ptr))):
        with pytest.raises(LibbpfError) as info:
            lb.bpf_prog_test_run_opts(fd, bad)
        assert info.value.errno == errno.EINVAL
