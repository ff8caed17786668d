"""Program types a host registers from Python (as an eBPF-for-Windows
extension does), eBPF for Windows' SAMPLE type, and bpf_prog_load of raw
instructions."""

from __future__ import annotations

import errno
import struct
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from libbpf_compat import libbpf_object as lb
from libbpf_compat.attach import bpf_prog_attach, bpf_prog_detach2
from libbpf_compat.errors import LibbpfError
from libbpf_compat.hooks.contexts import CtxField, CtxLayout
from libbpf_compat.hooks.registry import (
    ProgramTypeSpec,
    register_program_type,
    registered_type,
    sample_hook,
)
from libbpf_compat.hooks.skb import CgroupSkbHook
from libbpf_compat.libbpf_maps import bpf_map_create, bpf_map_lookup_elem, bpf_map_update_elem
from libbpf_compat.links import bpf_link__destroy, bpf_program__attach
from libbpf_compat.mapstore import fd_table
from libbpf_compat.object import BpfObject, Program
from libbpf_compat.prog_load import bpf_prog_load, bpf_prog_load_opts
from libbpf_compat.sections import libbpf_bpf_prog_type_str, libbpf_prog_type_by_name
from libbpf_compat.test_run import bpf_prog_test_run_opts, bpf_test_run_opts
from libbpf_compat.uapi import BpfMapType, BpfProgType
from tests import rawcode as rc

FIXTURES = Path(__file__).parent / "fixtures" / "hooks"
NETEVENT = CtxLayout("netevent_md_t", 24, (
    CtxField("data_start", 0, 8, pointer=True),
    CtxField("data_end", 8, 8, pointer=True),
    CtxField("code", 16, 4),
    CtxField("reply", 20, 4, writable=True),
))
HELPER_CALLS: list[int] = []


def byte_for(code: int, *_: int) -> int:
    HELPER_CALLS.append(code)
    return code & 0xFF


@pytest.fixture(scope="module")
def spec() -> ProgramTypeSpec:
    found = registered_type(0x10000 + 77)
    if found is not None:
        return found
    return register_program_type(
        "netevent", 77, ("netevent+",), NETEVENT, data=("data_start", "data_end"),
        helpers={0x10000: byte_for}, allowed_helpers=("map_lookup_elem",),
        verdict=lambda r: "deny" if r else "permit", stops=lambda v: v == "deny")


def open_netevent(printk: bool) -> BpfObject:
    obj = lb.bpf_object__open_file(FIXTURES / "netevent.o")
    logger = obj.find_program_by_name("log_event")
    assert logger is not None
    logger.set_autoload(printk)
    return obj


@pytest.fixture
def netevent(spec: ProgramTypeSpec) -> Iterator[BpfObject]:
    obj = open_netevent(False)
    obj.load()
    yield obj
    obj.close()


def prog(o: BpfObject, name: str) -> Program:
    p = o.find_program_by_name(name)
    assert p is not None and p.vm is not None
    return p


# -- registered program types ---------------------------------------------------
def test_registration_names_the_type(spec: ProgramTypeSpec, netevent: BpfObject) -> None:
    assert libbpf_prog_type_by_name("netevent")[0] == spec.prog_type
    assert libbpf_prog_type_by_name("netevent/anything")[0] == spec.prog_type
    assert libbpf_bpf_prog_type_str(spec.prog_type) == "netevent"
    assert netevent.abi == "windows"  # its sections are eBPF-for-Windows names
    assert prog(netevent, "check_event").prog_type == spec.prog_type


def test_hook_runs_programs_with_the_verdict_meaning(spec: ProgramTypeSpec,
                                                     netevent: BpfObject) -> None:
    link = bpf_program__attach(prog(netevent, "check_event"))
    try:
        HELPER_CALLS.clear()
        denied = spec.hook.invoke({"code": 0x105}, data=b"\x05payload")
        assert denied.verdict == "deny" and denied.retvals == (1,)
        assert denied.fields["reply"] == 0x106 and HELPER_CALLS == [0x105]
        permitted = spec.hook.invoke({"code": 9}, data=b"\x05payload")
        assert permitted.verdict == "permit" and permitted.data == b"\x05payload"
        empty = spec.hook.invoke({"code": 9})
        assert empty.retvals == (0,) and empty.fields["reply"] == 0  # no data: returns early
    finally:
        bpf_link__destroy(link)
    assert spec.hook.invoke({"code": 5}, data=b"\x05").verdicts == ()


def test_hook_bad_input(spec: ProgramTypeSpec) -> None:
    with pytest.raises(LibbpfError) as info:
        spec.hook.invoke({"nope": 1})
    assert info.value.errno == errno.EINVAL and "nope" in str(info.value)
    with pytest.raises(LibbpfError) as info:
        spec.hook.invoke({"data_start": 1})
    assert info.value.errno == errno.EINVAL
    with pytest.raises(LibbpfError) as info:
        spec.hook.invoke({}, data=bytes(70000))
    assert info.value.errno == errno.E2BIG


def test_test_run_of_a_registered_type(spec: ProgramTypeSpec, netevent: BpfObject) -> None:
    fd = prog(netevent, "check_event").fd
    ctx = struct.pack("<QQII", 0, 0, 7, 0)
    opts = bpf_test_run_opts(data_in=b"\x07abc", ctx_in=ctx, repeat=3)
    assert bpf_prog_test_run_opts(fd, opts) == 0
    assert opts.retval == 1 and opts.data_out == b"\x07abc"
    assert opts.ctx_out == struct.pack("<QQII", 0, 4, 7, 8)
    for bad in (bpf_test_run_opts(ctx_in=bytes(20)),
                bpf_test_run_opts(ctx_in=struct.pack("<QQII", 1, 0, 0, 0))):
        with pytest.raises(LibbpfError) as info:
            bpf_prog_test_run_opts(fd, bad)
        assert info.value.errno == errno.EINVAL


def test_helpers_not_allowed_fail_the_load(spec: ProgramTypeSpec) -> None:
    obj = open_netevent(True)
    with pytest.raises(LibbpfError) as info:
        obj.load()
    assert info.value.errno == errno.EINVAL
    assert "bpf_trace_printk3" in str(info.value) and "netevent" in str(info.value)
    obj.close()


def test_register_refuses_bad_specs(spec: ProgramTypeSpec) -> None:
    with pytest.raises(LibbpfError) as info:
        register_program_type("again", 77, ("again",), NETEVENT)
    assert info.value.errno == errno.EEXIST
    with pytest.raises(LibbpfError) as info:
        register_program_type("xdp2", 78, ("xdp",), NETEVENT)  # a taken section name
    assert info.value.errno == errno.EEXIST
    with pytest.raises(LibbpfError) as info:  # would take cgroup/connect4 … over
        register_program_type("cg", 78, ("cgroup+",), NETEVENT)
    assert info.value.errno == errno.EEXIST
    with pytest.raises(LibbpfError) as info:
        register_program_type("bind2", 2, ("bind2",), NETEVENT)  # eBPF for Windows' BIND
    assert info.value.errno == errno.EEXIST
    bad = CtxLayout("bad", 8, (CtxField("p", 4, 8, pointer=True),))
    with pytest.raises(LibbpfError) as info:
        register_program_type("bad", 79, ("bad",), bad)
    assert info.value.errno == errno.EINVAL
    with pytest.raises(LibbpfError) as info:
        register_program_type("bad", 79, ("bad",), NETEVENT, data=("code", "data_end"))
    assert info.value.errno == errno.EINVAL
    with pytest.raises(LibbpfError) as info:
        register_program_type("bad", 79, ("bad",), NETEVENT, allowed_helpers=("nonsense",))
    assert info.value.errno == errno.EINVAL
    assert registered_type(0x10000 + 79) is None


def test_prog_attach_to_a_registered_hook(spec: ProgramTypeSpec, netevent: BpfObject) -> None:
    p = prog(netevent, "check_event")
    bpf_prog_attach(p.fd, 0, spec.attach_type)
    assert spec.hook.attached() == [p]
    bpf_prog_detach2(p.fd, 0, spec.attach_type)
    assert spec.hook.attached() == []


# -- SAMPLE ---------------------------------------------------------------------------
def test_sample_program_type() -> None:
    obj = lb.bpf_object__open_file(FIXTURES / "sample.o")
    obj.load()
    p = prog(obj, "sum_data")
    link = bpf_program__attach(p)
    try:
        # uint16_data + the data's bytes == uint32_data: 0, else 1
        ok = sample_hook().invoke({"uint32_data": 3 + 97 + 98 + 99, "uint16_data": 3},
                                  data=b"abc")
        assert ok.retvals == (0,)
        assert sample_hook().invoke({"uint32_data": 1}, data=b"abc").retvals == (1,)
        sums = obj.find_map_fd_by_name("sums")
        assert struct.unpack("<Q", bpf_map_lookup_elem(sums, bytes(4)))[0] == 294
    finally:
        bpf_link__destroy(link)
    opts = bpf_test_run_opts(data_in=b"\x01\x02", ctx_in=struct.pack("<QQIH2xQ", 0, 0, 3, 0, 0))
    bpf_prog_test_run_opts(p.fd, opts)
    assert opts.retval == 0 and opts.ctx_out is not None
    assert struct.unpack_from("<QQ", opts.ctx_out) == (0, 2)
    obj.close()


# -- bpf_prog_load ---------------------------------------------------------------------
def test_prog_load_raw_socket_filter_runs() -> None:
    # r6 = r1 first: Linux's LD_ABS takes the skb from r6
    insns = rc.movr(6, 1) + rc.insn(rc.LD | rc.ABS | rc.B, imm=9) + rc.insn(rc.JMP | 0x90)
    fd = bpf_prog_load(BpfProgType.BPF_PROG_TYPE_SOCKET_FILTER, "proto", "GPL", insns, 3)
    packet = bytes(6) + bytes(6) + b"\x08\x00" + bytes(9) + b"\x11" + bytes(20)
    opts = bpf_test_run_opts(data_in=packet)
    bpf_prog_test_run_opts(fd, opts)
    assert opts.retval == 0x11
    hook = CgroupSkbHook()
    with pytest.raises(LibbpfError) as info:  # a socket filter on a cgroup_skb hook
        raw = fd_table.get(fd)
        assert isinstance(raw, Program)
        hook.attach(raw, egress=False)
    assert info.value.errno == errno.EINVAL
    fd_table.close(fd)


def test_prog_load_with_a_map_reference() -> None:
    map_fd = bpf_map_create(BpfMapType.BPF_MAP_TYPE_ARRAY, "cnt", 4, 8, 1)
    insns = b"".join([
        rc.insn(rc.ST | rc.MEM | rc.W, 10, 0, -4, 0),        # key = 0
        rc.lddw(1, map_fd, src=1),                           # r1 = &map
        rc.movr(2, 10), rc.alu("add", 2, -4, reg=False),     # r2 = &key
        rc.insn(rc.JMP | 0x80, imm=1),                       # map_lookup_elem
        rc.jmp("jeq", 0, 0, 3, reg=False),
        rc.mov(1, 5), rc.insn(rc.STX | rc.ATOMIC | rc.DW, 0, 1, 0, 0),  # *value += 5
        rc.mov(0, 2), rc.insn(rc.JMP | 0x90),
    ])
    fd = bpf_prog_load(BpfProgType.BPF_PROG_TYPE_XDP, "count", "GPL", insns, len(insns) // 8)
    opts = bpf_test_run_opts(data_in=bytes(64), repeat=4)
    bpf_prog_test_run_opts(fd, opts)
    assert opts.retval == 2
    assert struct.unpack("<Q", bpf_map_lookup_elem(map_fd, bytes(4)))[0] == 20
    bpf_map_update_elem(map_fd, bytes(4), bytes(8))
    fd_table.close(fd)
    fd_table.close(map_fd)


def test_prog_load_bad_input() -> None:
    exit0 = rc.mov(0, 0) + rc.insn(rc.JMP | 0x90)
    cases: list[tuple[Callable[[], int], int]] = [
        (lambda: bpf_prog_load(1, "x", "GPL", exit0, 3), errno.EINVAL),       # count
        (lambda: bpf_prog_load(1, "a" * 16, "GPL", exit0, 2), errno.EINVAL),  # name
        (lambda: bpf_prog_load(4242, "x", "GPL", exit0, 2), errno.EINVAL),    # type
        (lambda: bpf_prog_load(6, "x", "GPL", rc.lddw(1, 9999, src=1) + exit0, 4),
         errno.EBADF),                                                       # map fd
        # a kprobe writing its (read-only) context
        (lambda: bpf_prog_load(BpfProgType.BPF_PROG_TYPE_KPROBE, "w", "GPL",
                               rc.insn(rc.ST | rc.MEM | rc.DW, 1, 0, 80, 1) + exit0, 3),
         errno.EACCES),
        (lambda: bpf_prog_load(1, "x", "GPL", exit0, 2, bpf_prog_load_opts(abi="bsd")),
         errno.EINVAL),
    ]
    for call, err in cases:
        with pytest.raises(LibbpfError) as info:
            call()
        assert info.value.errno == err, info.value
    with pytest.raises(LibbpfError, match=r"struct pt_regs.*offset\+80"):
        bpf_prog_load(BpfProgType.BPF_PROG_TYPE_KPROBE, "w", "GPL",
                      rc.insn(rc.ST | rc.MEM | rc.DW, 1, 0, 80, 1) + exit0, 3)


def failing_helper(*_: int) -> int:
    raise RuntimeError("the extension broke")


def test_a_raising_helper_fails_the_invocation_and_the_hook_goes_on() -> None:
    spec = registered_type(0x10000 + 81) or register_program_type(
        "failing", 81, ("failing",), CtxLayout("failing_md_t", 8, (CtxField("x", 0, 4),)),
        helpers={0x10000: failing_helper})
    code = (rc.insn(rc.JMP | 0x80, imm=0x10000) + rc.mov(0, 7) + rc.insn(rc.JMP | 0x90))
    fd = bpf_prog_load(81, "fails", "GPL", code, 3, bpf_prog_load_opts(abi="windows"))
    ok = bpf_prog_load(81, "ok", "GPL", rc.mov(0, 3) + rc.insn(rc.JMP | 0x90), 2,
                       bpf_prog_load_opts(abi="windows"))
    bad_prog, ok_prog = fd_table.get(fd), fd_table.get(ok)
    assert isinstance(bad_prog, Program) and isinstance(ok_prog, Program)
    spec.hook.attach(bad_prog)
    with pytest.raises(LibbpfError) as info:
        spec.hook.invoke({"x": 1})
    assert isinstance(info.value.__cause__, RuntimeError)
    spec.hook.detach(bad_prog)
    spec.hook.attach(ok_prog)
    assert spec.hook.invoke({"x": 1}).retvals == (3,)
    spec.hook.detach(ok_prog)
    fd_table.close(fd)
    fd_table.close(ok)
