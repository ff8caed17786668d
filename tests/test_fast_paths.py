"""The fast paths: the VM's map superinstructions (a map helper call whose
map is known at load runs the store directly, ARRAY lookups inline) and the
XDP hook's native packet path (receive in one C call, receive_batch for
many packets). Each must behave exactly as the generic path: the same
results, errnos, per-CPU slots and packets."""

from __future__ import annotations

import errno
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from libbpf_compat import isa
from libbpf_compat import libbpf as lb
from libbpf_compat.errors import LibbpfError
from libbpf_compat.helpers import helper_by_name
from libbpf_compat.helpers.native import register_c_helpers
from libbpf_compat.hooks.xdp import XDP_MAX_PACKET, XdpHook, XdpVerdict
from libbpf_compat.libbpf_maps import bpf_map_create, bpf_map_lookup_elem, bpf_map_update_elem
from libbpf_compat.mapstore import fd_table
from libbpf_compat.object import BpfObject, Program
from libbpf_compat.test_run import bpf_prog_test_run_opts, bpf_test_run_opts
from libbpf_compat.uapi import (
    BPF_ANY,
    BPF_EXIST,
    BPF_MAP_TYPE_ARRAY,
    BPF_MAP_TYPE_PERCPU_ARRAY,
    BPF_NOEXIST,
)
from libbpf_compat.vm import Vm
from tests.jit_support import follow_mode

#: every test twice: interpreted, then as machine code (conftest.py)
pytestmark = pytest.mark.usefixtures("vm_mode")

FIXTURE = Path(__file__).parent / "fixtures" / "fastpath" / "fastpath.o"
ABI_DIR = Path(__file__).parent / "fixtures" / "abi"
M64 = (1 << 64) - 1


@pytest.fixture
def obj() -> Iterator[BpfObject]:
    o = lb.bpf_object__open_file(FIXTURE)
    o.load()
    yield follow_mode(o)
    o.close()


def prog(o: BpfObject, name: str) -> Program:
    p = o.find_program_by_name(name)
    assert p is not None and p.vm is not None
    return p


def test_run(p: Program, data: bytes, repeat: int = 1) -> bpf_test_run_opts:
    opts = bpf_test_run_opts(data_in=data, repeat=repeat)
    bpf_prog_test_run_opts(lb.bpf_program__fd(p), opts)
    return opts


test_run.__test__ = False  # type: ignore[attr-defined]


def u64_values(o: BpfObject, name: str, key: int) -> list[int]:
    raw = lb.bpf_map_lookup_elem(o.find_map_fd_by_name(name), struct.pack("<I", key))
    return [v for (v,) in struct.iter_unpack("<Q", raw)]


@pytest.mark.parametrize("counting", [False, True])
def test_array_lookup_in_range_and_out_of_range(obj: BpfObject, counting: bool) -> None:
    p = prog(obj, "array_get")
    assert p.vm is not None
    p.vm.count_instructions = counting
    lb.bpf_map_update_elem(obj.find_map_fd_by_name("arr"), struct.pack("<I", 3),
                           struct.pack("<Q", 41))
    opts = test_run(p, struct.pack("<I", 3) + bytes(12))
    assert opts.retval == XdpVerdict.PASS
    assert opts.data_out is not None
    assert struct.unpack_from("<Q", opts.data_out, 8)[0] == 41
    assert u64_values(obj, "arr", 3) == [42]          # the pointer is the map's value
    for index in (4, 5, 0x7FFFFFFF, 0xFFFFFFFF):      # past max_entries: NULL
        assert test_run(p, struct.pack("<I", index) + bytes(12)).retval == XdpVerdict.DROP
    assert u64_values(obj, "arr", 0) == [0]


def test_percpu_array_slots_are_isolated_across_threads(obj: BpfObject) -> None:
    """Non-atomic increments from two threads at once count exactly: each
    run owns its CPU slot, and the fast path uses that slot."""
    p = prog(obj, "percpu_inc")
    runs, threads = 5000, 2
    data = struct.pack("<I", 1) + bytes(12)

    def work() -> None:
        for _ in range(10):
            assert test_run(p, data, runs // 10).retval == XdpVerdict.PASS

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    values = u64_values(obj, "pcpu", 1)
    assert sum(values) == runs * threads
    assert u64_values(obj, "pcpu", 0) == [0] * len(values)
    assert test_run(p, struct.pack("<I", 4) + bytes(12)).retval == XdpVerdict.DROP


def test_hash_update_lookup_delete_errnos(obj: BpfObject) -> None:
    p = prog(obj, "hash_ops")
    opts = test_run(p, struct.pack("<II", 9, 1234) + bytes(20))
    assert opts.data_out is not None
    assert struct.unpack_from("<5i", opts.data_out, 8) == (0, -errno.EEXIST, 1234, 0,
                                                           -errno.ENOENT)
    with pytest.raises(LibbpfError) as e:   # deleted again: the map is empty
        lb.bpf_map_lookup_elem(obj.find_map_fd_by_name("hash"), struct.pack("<I", 9))
    assert e.value.errno == errno.ENOENT


def hid(name: str) -> int:
    helper = helper_by_name(name)
    assert helper is not None
    return helper.internal


def test_a_jump_between_lddw_and_call_keeps_each_path_s_map() -> None:
    """The lookup is reached after `lddw r1, a` on one path and after
    `lddw r1, b` plus a jump on the other: each path looks in its own map."""
    fds = [bpf_map_create(BPF_MAP_TYPE_ARRAY, name, 4, 8, 2) for name in ("a", "b")]
    for fd, value in zip(fds, (111, 222), strict=True):
        bpf_map_update_elem(fd, struct.pack("<I", 1), struct.pack("<Q", value))
    a, b = (fd_table.get_map(fd).native_address for fd in fds)
    vm = Vm(isa.assemble(f"""
        ldxw %r3, [%r1]
        stw [%r10-4], 1
        mov %r2, %r10
        add %r2, -4
        jeq %r3, 0, other
        lddw %r1, {a:#x}
        ja lookup
    other:
        lddw %r1, {b:#x}
    lookup:
        call {hid('map_lookup_elem')}
        jeq %r0, 0, miss
        ldxdw %r0, [%r0]
        exit
    miss:
        mov %r0, -1
        exit
    """))
    register_c_helpers(vm)
    assert vm.run(struct.pack("<I", 1)) == 111
    assert vm.run(struct.pack("<I", 0)) == 222


def test_straight_line_lookup_out_of_range_is_null() -> None:
    fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "arr", 4, 8, 2)
    bpf_map_update_elem(fd, struct.pack("<I", 1), struct.pack("<Q", 7))
    addr = fd_table.get_map(fd).native_address
    vm = Vm(isa.assemble(f"""
        mov %r2, %r1
        mov %r6, 5
        lddw %r1, {addr:#x}
        stw [%r10-8], 0
        call {hid('map_lookup_elem')}
        jeq %r0, 0, miss
        ldxdw %r0, [%r0]
        exit
    miss:
        mov %r0, -1
        exit
    """))
    register_c_helpers(vm)
    assert vm.run(struct.pack("<I", 1)) == 7
    for index in (2, 0xFFFFFFFF):
        assert vm.run(struct.pack("<I", index)) == M64


# ---------------------------------------------------------------- the XDP hook

def traffic() -> list[bytes]:
    out = []
    for i in range(40):
        first = (0xFF, 0xFE, 0x10)[i % 3]
        dst = bytes([first]) + bytes([i]) * 5
        src = bytes([0xFF if i % 4 == 0 else 0x02]) + bytes([0x80 + i]) * 5
        out.append(src + dst + bytes([i % 256]) * (20 + i))
    return out


@pytest.fixture
def hook(obj: BpfObject) -> XdpHook:
    h = XdpHook(interfaces=[1, 2, 3])
    h.attach(prog(obj, "swap_macs"), 1)
    h.attach(prog(obj, "array_get"), 2)
    return h


def test_batch_verdicts_and_packets_equal_per_packet_receive(hook: XdpHook) -> None:
    packets = traffic()
    singles = [hook.receive(p, 1) for p in packets]
    batch = hook.receive_batch(packets, 1)
    assert len(batch) == len(packets)
    assert list(batch.verdicts) == [r.verdict for r in singles]
    assert batch.retvals is not None
    assert list(batch.retvals) == [r.retval for r in singles]
    assert batch.packets == [r.packet for r in singles]
    assert [batch.packet(i) for i in range(len(packets))] == batch.packets
    # the program really swapped the addresses, in both modes
    assert batch.packet(0) == packets[0][6:12] + packets[0][:6] + packets[0][12:]
    assert {XdpVerdict(v) for v in batch.verdicts} == {XdpVerdict.DROP, XdpVerdict.TX,
                                                       XdpVerdict.PASS}


def test_batch_runs_have_their_side_effects_in_order(obj: BpfObject, hook: XdpHook) -> None:
    packets = [struct.pack("<I", i % 5) + bytes(12) for i in range(50)]
    batch = hook.receive_batch(packets, 2)
    assert [XdpVerdict(v) for v in batch.verdicts] == [
        XdpVerdict.DROP if i % 5 == 4 else XdpVerdict.PASS for i in range(50)]
    assert [u64_values(obj, "arr", k)[0] for k in range(4)] == [10, 10, 10, 10]
    # the n-th packet of key k read the value n runs had left
    seen = [struct.unpack_from("<Q", batch.packet(i), 8)[0] for i in range(0, 50, 5)]
    assert seen == list(range(10))


@pytest.mark.parametrize("abi", ["linux", "windows"])
def test_batch_normalises_verdicts_per_abi(abi: str) -> None:
    o = lb.bpf_object__open_file(ABI_DIR / f"xdp_count.{abi}.o")
    o.load()
    try:
        h = XdpHook(interfaces=[1])
        h.attach(o.programs[0], 1)
        packets = [bytes([0xFF]) + bytes(range(1, 60)), bytes(range(60))] * 3
        batch = h.receive_batch(packets, 1)
        assert [XdpVerdict(v) for v in batch.verdicts] == [
            h.receive(p, 1).verdict for p in packets]
        assert list(batch.verdicts) == [XdpVerdict.DROP, XdpVerdict.PASS] * 3
    finally:
        o.close()


def test_batch_without_a_program_passes_everything(hook: XdpHook) -> None:
    packets = traffic()[:5]
    batch = hook.receive_batch(packets, 3)
    assert list(batch.verdicts) == [XdpVerdict.PASS] * 5
    assert batch.retvals is None
    assert batch.packets == packets


def test_empty_batch(hook: XdpHook) -> None:
    batch = hook.receive_batch([], 1)
    assert len(batch) == 0 and batch.packets == []


def test_batch_bad_input_runs_nothing(obj: BpfObject, hook: XdpHook) -> None:
    good = struct.pack("<I", 0) + bytes(12)
    for bad in (bytes(13), bytes(XDP_MAX_PACKET + 1)):
        with pytest.raises(LibbpfError) as e:
            hook.receive_batch([good, good, bad, good], 2)
        assert e.value.errno == errno.EINVAL
        assert "packet 2" in str(e.value)
    assert u64_values(obj, "arr", 0) == [0]           # no packet ran
    with pytest.raises(LibbpfError) as e:
        hook.receive_batch([good], 4)
    assert e.value.errno == errno.ENODEV
    with pytest.raises(LibbpfError) as e:
        hook.receive_batch([good], 2, rx_queue=-1)
    assert e.value.errno == errno.EINVAL


def test_receive_from_threads_at_once(obj: BpfObject, hook: XdpHook) -> None:
    """Each thread has its own native state: concurrent receives on one
    hook all count (the ARRAY value is incremented non-atomically, so only
    the total per thread is checked through the returned values)."""
    errors: list[BaseException] = []

    def work(key: int) -> None:
        try:
            for n in range(300):
                r = hook.receive(struct.pack("<I", key) + bytes(12), 2)
                assert r.verdict == XdpVerdict.PASS
                assert struct.unpack_from("<Q", r.packet, 8)[0] == n
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    pool = [threading.Thread(target=work, args=(k,)) for k in range(3)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert not errors
    assert [u64_values(obj, "arr", k)[0] for k in range(3)] == [300, 300, 300]


def test_receive_accepts_bytearray_and_memoryview(hook: XdpHook) -> None:
    packet = traffic()[2]
    want = hook.receive(packet, 1)
    assert hook.receive(bytearray(packet), 1) == want
    assert hook.receive(memoryview(packet), 1) == want
    batch = hook.receive_batch([bytearray(packet), memoryview(packet)], 1)
    assert batch.packets == [want.packet, want.packet]


@pytest.mark.parametrize("map_type", [BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_PERCPU_ARRAY])
def test_array_update_flags_and_errnos(map_type: int) -> None:
    """update(map, mem[0:4], &mem[8], mem[4:8]) from a program: Linux's
    array_map_update_elem results, the value landing in the run's slot."""
    fd = bpf_map_create(map_type, "arr", 4, 8, 2)
    addr = fd_table.get_map(fd).native_address
    vm = Vm(isa.assemble(f"""
        mov %r6, %r1
        lddw %r1, {addr:#x}
        mov %r2, %r6
        mov %r3, %r6
        add %r3, 8
        ldxw %r4, [%r6+4]
        call {hid('map_update_elem')}
        exit
    """))
    register_c_helpers(vm)

    def update(index: int, flags: int, value: int) -> int:
        r = vm.run(struct.pack("<IIQ", index, flags, value))
        return r - (1 << 64) if r >> 63 else r

    assert update(1, BPF_ANY, 5) == 0
    assert update(1, BPF_EXIST, 6) == 0
    assert update(1, BPF_NOEXIST, 7) == -errno.EEXIST
    assert update(2, BPF_ANY, 8) == -errno.E2BIG
    assert update(0xFFFFFFFF, BPF_EXIST, 8) == -errno.E2BIG
    assert update(1, 3, 9) == -errno.EINVAL
    assert update(1, 8, 9) == -errno.EINVAL
    raw = bpf_map_lookup_elem(fd, struct.pack("<I", 1))
    values = [v for (v,) in struct.iter_unpack("<Q", raw)]
    assert sorted(values)[-1] == 6 and sum(values) == 6   # one slot (or the only value)
    assert bpf_map_lookup_elem(fd, struct.pack("<I", 0)) == bytes(len(raw))
