"""BPF_MAP_TYPE_RINGBUF: Linux's size rules, program-side output / reserve /
submit / discard / query through the C helpers, wrap-around, a full ring,
concurrent producers, and libbpf's ring_buffer__* consumer API."""

from __future__ import annotations

import errno
import struct
import threading

import pytest

from libbpf_compat import isa
from libbpf_compat.errors import LibbpfError
from libbpf_compat.helpers import helper_by_name
from libbpf_compat.helpers.native import register_c_helpers
from libbpf_compat.libbpf_maps import bpf_map_create, bpf_map_lookup_elem
from libbpf_compat.mapstore import fd_table
from libbpf_compat.ringbuf import (
    BPF_RB_AVAIL_DATA,
    BPF_RB_CONS_POS,
    BPF_RB_PROD_POS,
    BPF_RB_RING_SIZE,
    ring_buffer,
    ring_buffer__consume,
    ring_buffer__consume_n,
    ring_buffer__new,
    ring_buffer__poll,
)
from libbpf_compat.uapi import BPF_MAP_TYPE_RINGBUF
from libbpf_compat.vm import Vm

PAGE = 4096


def hid(name: str) -> int:
    helper = helper_by_name(name)
    assert helper is not None
    return helper.internal


def new_ring(size: int = PAGE) -> tuple[int, int]:
    """(fd, native map address) of a new ring buffer."""
    fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "rb", 0, 0, size)
    return fd, fd_table.get_map(fd).native_address


def program(text: str) -> Vm:
    vm = Vm(isa.assemble(text))
    register_c_helpers(vm)
    return vm


def output_program(map_addr: int) -> Vm:
    """ringbuf_output(map, mem, len(mem), 0); returns its result."""
    return program(f"mov %r3, %r2\nmov %r2, %r1\nlddw %r1, {map_addr:#x}\nmov %r4, 0\n"
                   f"call {hid('ringbuf_output')}\nexit")


def flag(value: int) -> bytes:
    return struct.pack("<Q", value)


def collect(fd: int) -> tuple[list[bytes], ring_buffer]:
    seen: list[bytes] = []

    def sample(ctx: object, data: bytes, size: int) -> int:
        assert len(data) == size
        seen.append(data)
        return 0

    return seen, ring_buffer__new(fd, sample, None)


@pytest.mark.parametrize(("key", "value", "size"), [
    (0, 0, 3 * PAGE), (0, 0, 1000), (4, 0, PAGE), (0, 8, PAGE), (0, 0, 0)])
def test_creation_follows_linux_size_rules(key: int, value: int, size: int) -> None:
    with pytest.raises(LibbpfError) as info:
        bpf_map_create(BPF_MAP_TYPE_RINGBUF, "rb", key, value, size)
    assert info.value.errno == errno.EINVAL


def test_syscall_element_operations_are_not_supported() -> None:
    fd, _ = new_ring()
    with pytest.raises(LibbpfError) as info:
        bpf_map_lookup_elem(fd, b"")
    assert info.value.errno in (524, errno.EINVAL)  # ENOTSUPP, as Linux returns


def test_program_output_reaches_the_consumer_in_order() -> None:
    fd, addr = new_ring()
    vm = output_program(addr)
    for i in range(20):
        assert vm.run(f"event {i}".encode()) == 0
    seen, rb = collect(fd)
    assert ring_buffer__consume(rb) == 20
    assert seen == [f"event {i}".encode() for i in range(20)]
    assert ring_buffer__consume(rb) == 0


def test_full_ring_refuses_then_recovers_and_wraps() -> None:
    fd, addr = new_ring()
    vm = output_program(addr)
    record = bytes(range(100))               # 108 bytes with its header, 112 aligned
    accepted = 0
    while vm.run(record) == 0:
        accepted += 1
    assert accepted == (PAGE - 1) // 112
    assert vm.run(record) == (-errno.EAGAIN) & ((1 << 64) - 1)
    seen, rb = collect(fd)
    total = 0
    for round_ in range(30):                 # odd sizes force wrap-around fillers
        total += ring_buffer__consume(rb)
        for i in range(7):
            assert vm.run(bytes([round_]) * (37 + 13 * i)) == 0
    total += ring_buffer__consume(rb)
    assert total == accepted + 30 * 7
    assert seen[accepted:accepted + 7] == [bytes([0]) * (37 + 13 * i) for i in range(7)]
    assert seen[-1] == bytes([29]) * (37 + 13 * 6)


def test_reserve_submit_discard_and_query() -> None:
    fd, addr = new_ring(2 * PAGE)
    reserve, submit, discard, query = (hid(n) for n in (
        "ringbuf_reserve", "ringbuf_submit", "ringbuf_discard", "ringbuf_query"))
    # reserve 16 bytes, fill them from mem, submit when mem[0] is odd, else discard
    vm = program(f"""
        mov %r6, %r1
        lddw %r1, {addr:#x}
        mov %r2, 16
        mov %r3, 0
        call {reserve}
        jeq %r0, 0, fail
        ldxdw %r1, [%r6]
        stxdw [%r0], %r1
        ldxdw %r1, [%r6+8]
        stxdw [%r0+8], %r1
        mov %r1, %r0
        mov %r2, 0
        ldxb %r3, [%r6]
        and %r3, 1
        jeq %r3, 0, drop
        call {submit}
        mov %r0, 1
        exit
    drop:
        call {discard}
        mov %r0, 2
        exit
    fail:
        mov %r0, 0
        exit
    """)
    q = program(f"ldxdw %r2, [%r1]\nlddw %r1, {addr:#x}\ncall {query}\nexit")
    for i in range(6):
        assert vm.run(struct.pack("<QQ", i, i * 100)) == (1 if i % 2 else 2)
    assert q.run(flag(BPF_RB_AVAIL_DATA)) == 6 * 24
    assert q.run(flag(BPF_RB_RING_SIZE)) == 2 * PAGE
    assert q.run(flag(BPF_RB_PROD_POS)) == 6 * 24
    seen, rb = collect(fd)
    assert ring_buffer__consume(rb) == 3                      # the discarded ones are skipped
    assert [struct.unpack("<QQ", s) for s in seen] == [(1, 100), (3, 300), (5, 500)]
    assert q.run(flag(BPF_RB_CONS_POS)) == 6 * 24
    assert q.run(flag(BPF_RB_AVAIL_DATA)) == 0
    # a reservation with flags fails, as Linux's does
    bad = program(f"lddw %r1, {addr:#x}\nmov %r2, 8\nmov %r3, 1\ncall {reserve}\nexit")
    assert bad.run() == 0


def test_callback_errors_stop_consuming() -> None:
    fd, addr = new_ring()
    vm = output_program(addr)
    for i in range(3):
        vm.run(bytes([i]))
    calls: list[bytes] = []

    def picky(ctx: object, data: bytes, size: int) -> int:
        calls.append(data)
        return -errno.EPERM if data == b"\x01" else 0

    rb = ring_buffer__new(fd, picky)
    with pytest.raises(LibbpfError) as info:
        ring_buffer__consume(rb)
    assert info.value.errno == errno.EPERM
    assert calls == [b"\x00", b"\x01"]
    assert ring_buffer__consume_n(rb, 5) == 1                 # the failed record was consumed
    assert calls[-1] == b"\x02"


def test_poll_times_out_with_nothing_to_read() -> None:
    fd, _ = new_ring()
    _, rb = collect(fd)
    assert ring_buffer__poll(rb, 20) == 0


def test_concurrent_producers_lose_nothing() -> None:
    fd, addr = new_ring(64 * PAGE)
    vm = output_program(addr)
    seen, rb = collect(fd)

    def produce(tag: int) -> None:
        for i in range(2000):
            assert vm.run(struct.pack("<II", tag, i)) == 0

    threads = [threading.Thread(target=produce, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    consumed = 0
    while any(t.is_alive() for t in threads) or consumed < 8000:
        consumed += ring_buffer__poll(rb, 10)
    for t in threads:
        t.join()
    records = [struct.unpack("<II", s) for s in seen]
    assert len(records) == 8000
    for tag in range(4):
        assert [i for t, i in records if t == tag] == list(range(2000))
