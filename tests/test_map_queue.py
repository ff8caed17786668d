"""QUEUE and STACK maps (Documentation/bpf/map_queue_stack.rst): keyless,
push with update, pop with lookup-and-delete, peek with lookup; BPF_EXIST
overwrites the oldest value when full. Where bpf() is permitted, random
push/pop/peek sequences are compared with kernel maps errno for errno."""

from __future__ import annotations

import errno
import os
import random

import pytest
from libbpf_compat._native import ffi, lib

from libbpf_compat import libbpf_maps as bpf
from libbpf_compat.errors import LibbpfError
from libbpf_compat.mapstore import create_map
from libbpf_compat.uapi import BPF_EXIST, BPF_MAP_TYPE_QUEUE, BPF_MAP_TYPE_STACK, BPF_NOEXIST
from tests import kernel_bpf
from tests.kernel_bpf import KernelMap

WHY = kernel_bpf.unavailable()


def val(i: int) -> bytes:
    return i.to_bytes(4, "little")


def test_queue_is_fifo_and_wraps() -> None:
    q = create_map(BPF_MAP_TYPE_QUEUE, "q", 0, 4, 3)
    for round_ in range(5):  # wrap around the ring several times
        for i in range(3):
            q.update(None, val(round_ * 10 + i))
        assert q.lookup(None) == val(round_ * 10)
        assert [q.lookup_and_delete(None) for _ in range(3)] == [
            val(round_ * 10 + i) for i in range(3)]
        assert q.lookup(None) is None


def test_stack_is_lifo() -> None:
    s = create_map(BPF_MAP_TYPE_STACK, "s", 0, 4, 3)
    for i in range(3):
        s.update(None, val(i))
    assert s.lookup(None) == val(2)
    assert [s.lookup_and_delete(None) for _ in range(3)] == [val(2), val(1), val(0)]
    with pytest.raises(LibbpfError) as info:
        s.lookup_and_delete(None)
    assert info.value.errno == errno.ENOENT


@pytest.mark.parametrize("map_type", [BPF_MAP_TYPE_QUEUE, BPF_MAP_TYPE_STACK])
def test_full_push_and_overwrite(map_type: int) -> None:
    m = create_map(map_type, "full", 0, 4, 2)
    m.update(None, val(1))
    m.update(None, val(2))
    with pytest.raises(LibbpfError) as info:
        m.update(None, val(3))
    assert info.value.errno == errno.E2BIG
    m.update(None, val(3), BPF_EXIST)  # drops the oldest (1)
    got = [m.lookup_and_delete(None) for _ in range(2)]
    assert sorted(got) == [val(2), val(3)]
    for bad in (BPF_NOEXIST, 3, 4):
        with pytest.raises(LibbpfError) as info:
            m.update(None, val(4), bad)
        assert info.value.errno == errno.EINVAL


def test_keyless_rules() -> None:
    fd = bpf.bpf_map_create(BPF_MAP_TYPE_QUEUE, "kq", 0, 8, 4)
    bpf.bpf_map_update_elem(fd, None, bytes(range(8)))
    assert bpf.bpf_map_lookup_elem(fd, None) == bytes(range(8))
    assert bpf.bpf_map_lookup_and_delete_elem(fd, None) == bytes(range(8))
    with pytest.raises(LibbpfError) as info:
        bpf.bpf_map_lookup_elem(fd, None)
    assert info.value.errno == errno.ENOENT and "empty" in str(info.value)
    for fn, args, err in [
        (bpf.bpf_map_delete_elem, (fd, None), errno.EINVAL),
        (bpf.bpf_map_get_next_key, (fd, None), errno.EINVAL),
        (bpf.bpf_map_lookup_elem, (fd, b"\x01\0\0\0"), errno.EINVAL),
        (bpf.bpf_map_lookup_and_delete_elem_flags, (fd, None, 1), errno.EINVAL),
        (bpf.bpf_map_lookup_batch, (fd, None, 4), 524),
    ]:
        with pytest.raises(LibbpfError) as info:
            fn(*args)  # type: ignore[operator]
        assert info.value.errno == err, fn
    bpf.close(fd)


def test_program_side_push_pop_peek() -> None:
    m = create_map(BPF_MAP_TYPE_STACK, "ps", 0, 4, 2)
    out = ffi.new("char[4]")
    assert lib.lbc_map_peek(m.ptr, out) == -errno.ENOENT
    assert lib.lbc_map_push(m.ptr, val(7), 0) == 0
    assert lib.lbc_map_peek(m.ptr, out) == 0 and ffi.unpack(out, 4) == val(7)
    assert lib.lbc_map_pop(m.ptr, out) == 0 and ffi.unpack(out, 4) == val(7)
    assert lib.lbc_map_lookup(m.ptr, ffi.NULL) == ffi.NULL
    h = create_map(1, "h", 4, 4, 2)
    assert lib.lbc_map_push(h.ptr, val(1), 0) == -errno.EINVAL


@pytest.mark.parametrize(("key_size", "value_size", "max_entries", "flags"), [
    (4, 4, 4, 0), (0, 0, 4, 0), (0, 4, 0, 0), (0, 4, 4, 1), (0, 4, 4, 1 << 6),
])
def test_create_errors(key_size: int, value_size: int, max_entries: int, flags: int) -> None:
    with pytest.raises(LibbpfError) as info:
        create_map(BPF_MAP_TYPE_QUEUE, "bad", key_size, value_size, max_entries, flags)
    assert info.value.errno == errno.EINVAL
    if WHY is None:
        fd = kernel_bpf.create_map(BPF_MAP_TYPE_QUEUE, key_size, value_size, max_entries,
                                   flags)
        assert fd == -errno.EINVAL


@pytest.mark.skipif(WHY is not None, reason=WHY or "")
@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("map_type", [BPF_MAP_TYPE_QUEUE, BPF_MAP_TYPE_STACK])
def test_random_against_kernel(map_type: int, seed: int) -> None:
    rng = random.Random(seed)
    size, max_entries = rng.choice([1, 4, 5]), rng.choice([1, 3, 8])
    km = KernelMap.create(map_type, 0, size, max_entries)
    assert isinstance(km, KernelMap), os.strerror(-int(km))
    m = create_map(map_type, "rq", 0, size, max_entries)

    def ours(fn: object, *args: object) -> tuple[int, object]:
        try:
            return 0, fn(*args)  # type: ignore[operator]
        except LibbpfError as e:
            return -(e.errno or 0), None

    try:
        for step in range(500):
            op = rng.randrange(10)
            if op < 5:
                v = rng.randbytes(size)
                flags = rng.choice([0, 0, 2, 2, 1, 3])
                assert ours(m.update, None, v, flags)[0] == km.update(None, v, flags), step
            elif op < 8:
                flags = rng.choice([0, 0, 0, 1])
                got = ours(m.lookup_and_delete, None, flags)
                assert got == km.lookup_and_delete(None, flags), step
            else:
                rc, peeked = km.lookup(None)
                assert (m.lookup(None), rc) == ((peeked, 0) if rc == 0 else (None, rc)), step
        assert ours(m.delete, None)[0] == km.delete(None)
        m.freeze()
        assert km.freeze() == 0
        assert ours(m.update, None, bytes(size), 0)[0] == km.update(None, bytes(size), 0)
        assert ours(m.lookup_and_delete, None, 0)[0] == km.lookup_and_delete(None, 0)[0]
    finally:
        km.close()
