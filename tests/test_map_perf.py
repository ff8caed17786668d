"""PERF_EVENT_ARRAY maps, bpf_perf_event_output and libbpf's perf buffer
consumer (perfbuf.py): one buffer per CPU slot, samples in Linux's record
layout (the raw size rounded so the record is 8-byte aligned), lost samples
reported before the next one, Linux's errors for the helper (E2BIG, ENOENT,
EOPNOTSUPP, EINVAL) and for user-space calls. Where bpf() is permitted, the
map's creation checks and user-space errnos are compared with the kernel's."""

from __future__ import annotations

import errno
import os
import struct
from typing import Any

import pytest

from libbpf_compat import isa, perfbuf
from libbpf_compat import libbpf_maps as bpf
from libbpf_compat.errors import LibbpfError
from libbpf_compat.helpers import helper_by_name
from libbpf_compat.helpers.native import register_c_helpers
from libbpf_compat.mapstore import ENOTSUPP, create_map, fd_table, num_possible_cpus
from libbpf_compat.uapi import (
    BPF_F_PRESERVE_ELEMS,
    BPF_F_RDONLY_PROG,
    BPF_MAP_TYPE_HASH,
    BPF_MAP_TYPE_PERF_EVENT_ARRAY,
    BPF_NOEXIST,
)
from libbpf_compat.vm import Vm
from tests import kernel_bpf
from tests.kernel_bpf import KernelMap

WHY = kernel_bpf.unavailable()
PEA = BPF_MAP_TYPE_PERF_EVENT_ARRAY
M64 = (1 << 64) - 1
CUR = perfbuf.BPF_F_CURRENT_CPU


def hid(name: str) -> int:
    h = helper_by_name(name)
    assert h is not None
    return h.internal


def output_program(map_addr: int, size: int = 8) -> Vm:
    """bpf_perf_event_output(ctx, map, flags = mem[0:8], mem + 8, size)."""
    vm = Vm(isa.assemble(f"""
        mov %r6, %r1
        lddw %r2, {map_addr:#x}
        ldxdw %r3, [%r6]
        mov %r4, %r6
        add %r4, 8
        mov %r5, {size}
        call {hid('perf_event_output')}
        exit
    """))
    register_c_helpers(vm)
    return vm


def cpu_program() -> Vm:
    vm = Vm(isa.assemble(f"call {hid('get_smp_processor_id')}\nexit"))
    register_c_helpers(vm)
    return vm


def run(vm: Vm, flags: int, payload: bytes) -> int:
    return vm.run(bytearray(struct.pack("<Q", flags) + payload))


class Events:
    def __init__(self) -> None:
        self.samples: list[tuple[Any, int, bytes, int]] = []
        self.lost: list[tuple[Any, int, int]] = []

    def sample(self, ctx: Any, cpu: int, data: bytes, size: int) -> None:
        self.samples.append((ctx, cpu, data, size))

    def lose(self, ctx: Any, cpu: int, count: int) -> None:
        self.lost.append((ctx, cpu, count))


@pytest.fixture
def pea() -> Any:
    fd = bpf.bpf_map_create(PEA, "events", 4, 4, num_possible_cpus())
    yield fd
    bpf.close(fd)


def test_samples_reach_the_callback(pea: int) -> None:
    ev = Events()
    pb = perfbuf.perf_buffer__new(pea, 1, ev.sample, ev.lose, "ctx")
    try:
        assert perfbuf.perf_buffer__buffer_cnt(pb) == num_possible_cpus()
        vm = output_program(fd_table.get_map(pea).native_address)
        cpu = cpu_program().run()
        assert run(vm, CUR, b"abcdefgh") == 0
        assert run(vm, CUR, b"ijklmnop") == 0
        assert perfbuf.perf_buffer__poll(pb, 100) == 1
        # 8 bytes of data: raw size 12 (u32 size + data is a multiple of 8)
        assert ev.samples == [("ctx", cpu, b"abcdefgh" + bytes(4), 12),
                              ("ctx", cpu, b"ijklmnop" + bytes(4), 12)]
        assert perfbuf.perf_buffer__poll(pb, 0) == 0
        assert ev.lost == []
    finally:
        perfbuf.perf_buffer__free(pb)
    # freed: the slots are empty again
    vm = output_program(fd_table.get_map(pea).native_address)
    assert run(vm, CUR, bytes(8)) == -errno.ENOENT & M64


def test_lost_samples_are_reported_before_the_next(pea: int) -> None:
    ev = Events()
    pb = perfbuf.perf_buffer__new(pea, 1, ev.sample, ev.lose, None)
    try:
        vm = output_program(fd_table.get_map(pea).native_address)
        fits = 4096 // 24  # 8 header + 4 size + 12 raw bytes per record
        results = [run(vm, CUR, i.to_bytes(8, "little")) for i in range(fits + 30)]
        assert results == [0] * fits + [-errno.ENOSPC & M64] * 30
        perfbuf.perf_buffer__consume(pb)
        assert len(ev.samples) == fits and ev.lost == []
        assert run(vm, CUR, b"after..!") == 0
        perfbuf.perf_buffer__consume(pb)
        assert [c for _, _, c in ev.lost] == [30]
        assert ev.samples[-1][2][:8] == b"after..!"
    finally:
        perfbuf.perf_buffer__free(pb)


def test_records_wrap_around() -> None:
    fd = bpf.bpf_map_create(PEA, "wrap", 4, 4, num_possible_cpus())
    ev = Events()
    pb = perfbuf.perf_buffer__new(fd, 1, ev.sample, None, None)
    try:
        vm = output_program(fd_table.get_map(fd).native_address, size=100)
        payloads = [bytes([i % 251]) * 100 for i in range(300)]
        for p in payloads:  # 112-byte records: 4096 is no multiple of 112
            assert run(vm, CUR, p) == 0
            perfbuf.perf_buffer__consume(pb)
        assert [s[2][:100] for s in ev.samples] == payloads
        assert {s[3] for s in ev.samples} == {100}  # 4 + 100 is already 8-aligned
    finally:
        perfbuf.perf_buffer__free(pb)
        bpf.close(fd)


def test_helper_errors(pea: int) -> None:
    m = fd_table.get_map(pea)
    vm = output_program(m.native_address)
    assert run(vm, CUR, bytes(8)) == -errno.ENOENT & M64  # no buffer yet
    pb = perfbuf.perf_buffer__new(pea, 1, None, None)
    try:
        assert run(vm, m.max_entries, bytes(8)) == -errno.E2BIG & M64
        assert run(vm, 1 << 32, bytes(8)) == -errno.EINVAL & M64  # bits above the index
        cpu = cpu_program().run()
        assert run(vm, cpu, bytes(8)) == 0  # its own slot by number
        if m.max_entries > 1:
            other = 1 if cpu == 0 else 0
            assert run(vm, other, bytes(8)) == -errno.EOPNOTSUPP & M64
    finally:
        perfbuf.perf_buffer__free(pb)


def test_user_space_errors(pea: int) -> None:
    m = fd_table.get_map(pea)
    key = struct.pack("<I", 0)
    other = bpf.bpf_map_create(BPF_MAP_TYPE_HASH, "h", 4, 4, 1)
    buf = perfbuf.PerfEventBuffer(4096, 0)
    bfd = fd_table.install(buf)
    try:
        for args, err in (((key, struct.pack("<I", other)), errno.EBADF),
                          ((key, struct.pack("<I", 999)), errno.EBADF),
                          ((key, struct.pack("<I", bfd), BPF_NOEXIST), errno.EINVAL),
                          ((struct.pack("<I", m.max_entries), struct.pack("<I", bfd)),
                           errno.E2BIG)):
            with pytest.raises(LibbpfError) as info:
                m.update(*args)
            assert info.value.errno == err, args
        m.update(key, struct.pack("<I", bfd))
        with pytest.raises(LibbpfError) as info:
            m.lookup(key)
        assert info.value.errno == ENOTSUPP
        m.delete(key)
        with pytest.raises(LibbpfError) as info:
            m.delete(key)
        assert info.value.errno == errno.ENOENT
    finally:
        fd_table.close(bfd)
        bpf.close(other)


def test_perf_buffer_checks(pea: int) -> None:
    other = bpf.bpf_map_create(BPF_MAP_TYPE_HASH, "h", 4, 4, 1)
    try:
        for fd, pages in ((pea, 3), (pea, 0), (other, 1)):
            with pytest.raises(LibbpfError) as info:
                perfbuf.perf_buffer__new(fd, pages, None, None)
            assert info.value.errno == errno.EINVAL
    finally:
        bpf.close(other)


def test_create_checks() -> None:
    create_map(PEA, "ok", 4, 4, 4, BPF_F_PRESERVE_ELEMS)
    for kw in (dict(value_size=8), dict(key_size=8), dict(max_entries=0),
               dict(map_flags=BPF_F_RDONLY_PROG)):
        args: dict[str, Any] = {"key_size": 4, "value_size": 4, "max_entries": 4, **kw}
        with pytest.raises(LibbpfError) as info:
            create_map(PEA, "bad", **args)
        assert info.value.errno == errno.EINVAL, kw


@pytest.mark.skipif(WHY is not None, reason=WHY or "")
def test_against_kernel() -> None:
    shapes = [(4, 4, 4, 0), (4, 4, 4, BPF_F_PRESERVE_ELEMS), (4, 8, 4, 0), (8, 4, 4, 0),
              (4, 4, 0, 0), (4, 4, 4, BPF_F_RDONLY_PROG), (4, 4, 4, 1 << 10), (4, 4, 4, 1 << 12)]
    for ks, vs, me, fl in shapes:
        k = KernelMap.create(PEA, ks, vs, me, fl)
        try:
            create_map(PEA, "d", ks, vs, me, fl)
            nrc = 0
        except LibbpfError as e:
            nrc = -(e.errno or 0)
        krc = k if isinstance(k, int) else 0
        if isinstance(k, KernelMap):
            k.close()
        assert krc == nrc, (ks, vs, me, fl)
    km = KernelMap.create(PEA, 4, 4, 4)
    assert isinstance(km, KernelMap), os.strerror(-km if isinstance(km, int) else 0)
    kother = KernelMap.create(BPF_MAP_TYPE_HASH, 4, 4, 1)
    assert isinstance(kother, KernelMap)
    nm = create_map(PEA, "d", 4, 4, 4)
    nother = bpf.bpf_map_create(BPF_MAP_TYPE_HASH, "h", 4, 4, 1)
    compared = 0
    try:
        for i in (0, 3, 4, 9):
            key = struct.pack("<I", i)
            for kv, nv, flags in ((kother.fd, nother, 0), (4000, 4000, 0), (kother.fd, nother, 1),
                                  (kother.fd, nother, 4)):
                try:
                    nm.update(key, struct.pack("<I", nv), flags)
                    nrc = 0
                except LibbpfError as e:
                    nrc = -(e.errno or 0)
                assert nrc == km.update(key, struct.pack("<I", kv), flags), (i, flags)
                compared += 1
            try:
                nm.lookup(key)
                nrc = 0
            except LibbpfError as e:
                nrc = -(e.errno or 0)
            assert nrc == km.lookup(key)[0], f"lookup {i}"
            try:
                nm.delete(key)
                nrc = 0
            except LibbpfError as e:
                nrc = -(e.errno or 0)
            assert nrc == km.delete(key), f"delete {i}"
            nk = nm.get_next_key(key)
            assert km.get_next_key(key) == ((0, nk) if nk is not None
                                            else (-errno.ENOENT, None)), f"next {i}"
            compared += 3
    finally:
        km.close()
        kother.close()
        bpf.close(nother)
    assert compared == 28
