"""The hooks' fast run path (hooks/fast_run.py): per-thread reused native
state gives the results the former per-call path gave (``Vm.run_repeat``
on a context built afresh, kept here as the reference), from several
threads at once, with a nested invocation from a helper, and a Python
helper's exception still surfaces."""

from __future__ import annotations

import ipaddress
import struct
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from libbpf_compat._native import ffi

from libbpf_compat import libbpf as lb
from libbpf_compat.errors import LibbpfError
from libbpf_compat.hooks.bind import NATIVE_BIND_CTX, BindHook
from libbpf_compat.hooks.skb import (
    CHANGEABLE,
    CgroupSkbHook,
    SkbRun,
    SocketFilterHook,
    TcDirection,
    TcHook,
    ethernet_fields,
    native_skb_ctx,
    run_skb,
)
from libbpf_compat.hooks.tracing import RawTracepointSource, TracepointSource
from libbpf_compat.object import BpfObject, Program
from tests.test_helpers_skb import CASES as helper_cases
from tests.test_helpers_skb import IP as helper_ip
from tests.test_helpers_skb import frame as helper_frame

FIXTURES = Path(__file__).parent / "fixtures"
SKB = FIXTURES / "hooks" / "skb.o"
BIND = FIXTURES / "abi" / "bind_deny_pid.windows.o"
TRACING = FIXTURES / "hooks" / "tracing.o"
PRANDOM = 7  # bpf_get_prandom_u32: not called by these programs, replaced below


def opened(path: Path) -> Iterator[BpfObject]:
    o = lb.bpf_object__open_file(path)
    o.load()
    yield o
    o.close()


@pytest.fixture
def skb() -> Iterator[BpfObject]:
    yield from opened(SKB)


@pytest.fixture
def bind_obj() -> Iterator[BpfObject]:
    yield from opened(BIND)


def prog(o: BpfObject, name: str) -> Program:
    p = o.find_program_by_name(name)
    assert p is not None and p.vm is not None
    return p


def ip_packet(proto: int, dport: int, ttl: int = 64, size: int = 64) -> bytes:
    head = bytes([0x45, 0, 0, size, 0, 0, 0, 0, ttl, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2])
    return head + struct.pack(">HH", 1234, dport) + bytes(size - 24)


def frame(packet: bytes, dest: bytes = bytes(6)) -> bytes:
    return dest + bytes(6) + b"\x08\x00" + packet


PACKETS = [ip_packet(17, 53), ip_packet(17, 9), ip_packet(17, 7, ttl=3), ip_packet(1, 0),
           ip_packet(6, 80, size=40)]


# -- the former per-call path, as the reference ------------------------------
def old_tc(p: Program, data: bytes, ifindex: int = 1) -> tuple[int, bytes, bytearray]:
    fields: dict[str, int | bytes] = {"len": len(data), "mark": 0, "priority": 0,
                                      "ifindex": ifindex, "ingress_ifindex": ifindex,
                                      "wire_len": len(data)}
    fields.update(ethernet_fields(data))
    ctx = native_skb_ctx(fields)
    assert p.vm is not None
    run = run_skb(p.vm, data, ctx, writable_packet=True)
    retval = run.result.retval & 0xFFFFFFFF
    return retval - (1 << 32) if retval & 0x80000000 else retval, run.packet, ctx


def old_ip_skb(p: Program, data: bytes, ifindex: int = 1) -> tuple[int, bytearray]:
    fields: dict[str, int | bytes] = {"len": len(data), "mark": 0, "priority": 0,
                                      "ifindex": ifindex, "ingress_ifindex": ifindex,
                                      "protocol": 8}
    ctx = native_skb_ctx(fields)
    assert p.vm is not None
    run = run_skb(p.vm, data, ctx, writable_packet=False)
    return run.result.retval & 0xFFFFFFFF, ctx


def test_tc_matches_the_former_path(skb: BpfObject) -> None:
    for name in ("tc_mark", "tc_fields", "tc_next"):
        hook = TcHook()
        hook.attach(prog(skb, name), TcDirection.INGRESS)
        for packet in PACKETS:
            data = frame(packet)
            result = hook.ingress(data)
            retval, out, _ = old_tc(prog(skb, name), data)
            assert result.retvals == (retval,), name
            assert result.packet == out, name


def test_socket_filter_and_cgroup_skb_match_the_former_path(skb: BpfObject) -> None:
    for name in ("trim_udp", "sf_fields"):
        sock = SocketFilterHook()
        sock.attach(prog(skb, name))
        for packet in PACKETS:
            assert sock.receive(packet).retval == old_ip_skb(prog(skb, name), packet)[0], name
    for name in ("cg_no_icmp", "cg_fields"):
        cg = CgroupSkbHook()
        cg.attach(prog(skb, name), egress=False)
        for packet in PACKETS:
            result = cg.ingress(packet)
            retval, ctx = old_ip_skb(prog(skb, name), packet)
            assert result.retvals == (retval,), name
            if name == "cg_no_icmp":  # it marks packets with their length
                assert result.changed == {"mark": struct.unpack_from("<I", ctx, 8)[0]}


def test_bind_matches_the_former_path(bind_obj: BpfObject) -> None:
    p = bind_obj.programs[0]
    assert p.vm is not None
    hook = BindHook()
    hook.attach(p)
    for pid in (1, 2, 1234, 4321, 99):
        for app_id in (b"", b"app.exe", bytes(range(200))):
            region = bytearray(app_id) or bytearray(1)
            with ffi.from_buffer("uint8_t[]", region) as cbuf:
                start = int(ffi.cast("uintptr_t", cbuf))
                sockaddr = struct.pack("<H", 2) + (80).to_bytes(2, "big") + bytes(
                    [10, 0, 0, 1]) + bytes(8)
                ctx = bytearray(NATIVE_BIND_CTX.pack(start, start + len(app_id), pid, sockaddr,
                                                     16, 0, 6))
                old = p.vm.run_repeat(ctx, 1, regions=[(memoryview(region), False)])
            result = hook.bind(pid, "10.0.0.1", 80, app_id=app_id)
            assert result.retvals == (old.retval & 0xFFFFFFFF,)
            assert result.address == ipaddress.IPv4Address("10.0.0.1") and result.port == 80


def test_tracing_matches_the_former_path() -> None:
    with lb.bpf_object__open_file(TRACING) as o:
        o.load()
        exec_prog = prog(o, "on_exec")
        raw_prog = prog(o, "on_sys_enter")
        tp = TracepointSource("sched", "sched_process_exec", 16)
        tp.attach(exec_prog)
        raw = RawTracepointSource("sys_enter", 2)
        raw.attach(raw_prog)
        for n in (0, 1, 59, 1 << 20):
            record = struct.pack("<QII", n, n + 1, n + 2)
            assert exec_prog.vm is not None and raw_prog.vm is not None
            assert tp.fire(record).retvals == (exec_prog.vm.run_repeat(bytearray(record),
                                                                        1).retval,)
            args = struct.pack("<QQ", 7, n) + bytes(8 * 4)
            assert raw.fire_args(7, n).retvals == (raw_prog.vm.run_repeat(bytearray(args),
                                                                           1).retval,)


# -- threads, nesting, errors ------------------------------------------------
def in_threads(work: Callable[[int], None], n: int = 6) -> None:
    errors: list[BaseException] = []

    def body(i: int) -> None:
        try:
            work(i)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def test_hooks_from_several_threads_at_once(skb: BpfObject, bind_obj: BpfObject) -> None:
    tc = TcHook()
    tc.attach(prog(skb, "tc_mark"), TcDirection.INGRESS)
    bind = BindHook()
    bind.attach(bind_obj.programs[0])
    frames = [frame(p) for p in PACKETS]
    want_tc = [tc.ingress(f) for f in frames]
    want_bind = {pid: bind.bind(pid, "10.0.0.1", 80, app_id=b"x" * pid) for pid in range(1, 8)}

    def work(i: int) -> None:
        for k in range(300):
            j = (i + k) % len(frames)
            assert tc.ingress(frames[j]) == want_tc[j]
            pid = 1 + (i + k) % 7
            assert bind.bind(pid, "10.0.0.1", 80, app_id=b"x" * pid) == want_bind[pid]

    in_threads(work)


def test_a_raising_helper_surfaces_and_the_hook_goes_on(skb: BpfObject) -> None:
    p = prog(skb, "tc_next")
    assert p.vm is not None
    hook = TcHook()
    hook.attach(p, TcDirection.INGRESS)
    data = frame(PACKETS[0])
    good = hook.ingress(data)
    original = list(p.vm._helpers.values())  # the C helpers the loader registered

    def boom(*_: int) -> int:
        raise KeyError("boom")

    for helper in original:  # tc_next calls map helpers
        p.vm.register_helper(helper.helper_id, boom, kfunc=bool(helper.kind))
    with pytest.raises(LibbpfError) as info:
        hook.ingress(data)
    assert isinstance(info.value.__cause__, KeyError)
    with pytest.raises(LibbpfError) as info:  # again: the failure is not left behind
        hook.ingress(data)
    assert isinstance(info.value.__cause__, KeyError)
    for helper in original:
        if helper.native is not None:
            p.vm.register_native_helper(helper.helper_id, helper.native, kfunc=bool(helper.kind))
        else:
            assert helper.fn is not None
            p.vm.register_helper(helper.helper_id, helper.fn, kfunc=bool(helper.kind))
    assert hook.ingress(data) == good  # the hook is unharmed


def test_a_helper_may_invoke_the_hook_again(skb: BpfObject) -> None:
    """A nested invocation on the same thread gets a slot of its own: the
    outer run's context and packet are not overwritten."""
    outer = prog(skb, "tc_mark")
    hook = TcHook()
    hook.attach(outer, TcDirection.INGRESS)
    data = frame(PACKETS[0])
    want = hook.ingress(data)
    inner: list[object] = []
    entered: list[bool] = []
    assert outer.vm is not None
    helpers = {h.helper_id: h for h in outer.vm._helpers.values()}
    lookup = 1  # bpf_map_lookup_elem, called by count()
    assert lookup in helpers
    native_map = helpers[lookup]

    def nested(r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
        if not entered:  # once: the inner run calls this helper too
            entered.append(True)
            inner.append(hook.ingress(frame(PACKETS[3])))
        return 0  # no counter: count() skips the add

    outer.vm.register_helper(lookup, nested)
    got = hook.ingress(data)
    assert got.packet == want.packet and got.retvals == want.retvals
    assert got.changed == want.changed
    assert inner and inner[0] == hook.ingress(frame(PACKETS[3]))
    outer.vm.register_native_helper(lookup, native_map.native)
    assert hook.ingress(data).packet == want.packet


# -- the skb helpers on the fast path (packets that move, grow, redirect) ---
def reference_tc(progs: list[Program], data: bytes, ifindex: int = 2
                 ) -> tuple[list[int], bytes, dict[str, int | bytes], tuple[int, bool] | None]:
    """TcHook's former run: run_skb per program on one native context, a
    fresh buffer each time (what the fast path must match)."""
    fields: dict[str, int | bytes] = {"len": len(data), "ifindex": ifindex,
                                      "ingress_ifindex": ifindex, "wire_len": len(data)}
    fields.update(ethernet_fields(data))
    ctx = native_skb_ctx(fields)
    start = bytes(ctx)
    retvals: list[int] = []
    redirect = None
    for p in progs:
        assert p.vm is not None
        run = run_skb(p.vm, data, ctx, writable_packet=True, net_off=14)
        data = run.packet
        redirect = run.redirect or redirect
        r = run.result.retval & 0xFFFFFFFF
        retvals.append(r - (1 << 32) if r & 0x80000000 else r)
        if retvals[-1] != -1:
            break
    changed: dict[str, int | bytes] = {}
    for name in CHANGEABLE:
        before, after = native_field(start, name), native_field(ctx, name)
        if before != after:
            changed[name] = after
    return retvals, data, changed, redirect if retvals[-1] == 7 else None


def native_field(ctx: bytes | bytearray, name: str) -> int | bytes:
    return SkbRun(None, b"", bytearray(ctx)).field(name)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def skb_helpers() -> Iterator[BpfObject]:
    yield from opened(FIXTURES / "helpers" / "skb_helpers.o")


def test_tc_skb_helpers_match_the_former_path(skb_helpers: BpfObject) -> None:
    # one hook per program, its cases interleaved with a long packet so that
    # a moved, grown or redirected run would leak into the next one
    cases = [(name, data) for name, data in helper_cases if name.startswith("tc_")]
    hooks: dict[str, TcHook] = {}
    for name, data in cases + cases[::-1]:
        hook = hooks.get(name)
        if hook is None:
            hook = hooks[name] = TcHook(ifindex=2)
            hook.attach(prog(skb_helpers, name), TcDirection.INGRESS)
        for packet in (data, frame(bytes(900))):
            got = hook.ingress(packet)
            retvals, out, changed, redirect = reference_tc([prog(skb_helpers, name)], packet)
            assert (got.retvals, got.packet, got.changed, got.redirect) == (
                tuple(retvals), out, changed, redirect), (name, packet[:16].hex())


def test_tc_chain_of_resizing_programs_matches_the_former_path(
        skb_helpers: BpfObject) -> None:
    # tc_proto grows an IPv4 packet into IPv6 size; tc_head and tc_tail read
    # their argument from the (moved) frame: each program sees what the
    # previous left, placed afresh
    names = ("tc_proto", "tc_head", "tc_tail", "tc_redirect")
    hook = TcHook(ifindex=2)
    for name in names:
        hook.attach(prog(skb_helpers, name), TcDirection.INGRESS)
    progs = [prog(skb_helpers, name) for name in names]
    for data in (helper_frame(b"\x86\xdd\x00\x00", helper_ip), helper_frame(b"", helper_ip),
                 helper_frame(b"\x86\xdd\x00\x00", helper_ip)):
        got = hook.ingress(data)
        retvals, out, changed, redirect = reference_tc(progs, data)
        assert (got.retvals, got.packet, got.changed, got.redirect) == (
            tuple(retvals), out, changed, redirect)
