"""ARRAY and PERCPU_ARRAY behaviour, from Linux's documented semantics
(Documentation/bpf/map_array.rst): every index exists and starts zeroed,
elements cannot be deleted, out-of-range updates are E2BIG."""

from __future__ import annotations

import ctypes
import errno
import struct

import pytest

from libbpf_compat.errors import LibbpfError
from libbpf_compat.mapstore import NativeMap, create_map, num_possible_cpus
from libbpf_compat.uapi import (
    BPF_EXIST,
    BPF_F_LOCK,
    BPF_F_MMAPABLE,
    BPF_MAP_TYPE_ARRAY,
    BPF_MAP_TYPE_PERCPU_ARRAY,
    BPF_NOEXIST,
)

#: every test twice: interpreted, then as machine code (conftest.py)
pytestmark = pytest.mark.usefixtures("vm_mode")


def k(i: int) -> bytes:
    return struct.pack("<I", i)


def array(n: int = 4, value_size: int = 8, percpu: bool = False) -> NativeMap:
    kind = BPF_MAP_TYPE_PERCPU_ARRAY if percpu else BPF_MAP_TYPE_ARRAY
    return create_map(kind, "a", 4, value_size, n)


def errno_of(fn: object, *args: object) -> int:
    with pytest.raises(LibbpfError) as info:
        fn(*args)  # type: ignore[operator]
    assert info.value.errno is not None
    return info.value.errno


def test_elements_exist_zeroed() -> None:
    m = array(4, 12)
    for i in range(4):
        assert m.lookup(k(i)) == bytes(12)
    assert m.lookup(k(4)) is None  # out of range: ENOENT
    assert m.lookup(k(0xFFFFFFFF)) is None


def test_update_flags_and_range() -> None:
    m = array()
    m.update(k(1), b"\x01" * 8)
    m.update(k(1), b"\x02" * 8, BPF_EXIST)
    assert m.lookup(k(1)) == b"\x02" * 8
    assert errno_of(m.update, k(1), bytes(8), BPF_NOEXIST) == errno.EEXIST
    assert errno_of(m.update, k(4), bytes(8)) == errno.E2BIG
    assert errno_of(m.update, k(4), bytes(8), 3) == errno.EINVAL  # flags first
    assert errno_of(m.update, k(1), bytes(8), BPF_F_LOCK) == errno.EINVAL


def test_delete_is_einval() -> None:
    m = array()
    assert errno_of(m.delete, k(0)) == errno.EINVAL
    assert errno_of(m.delete, k(99)) == errno.EINVAL
    assert errno_of(m.lookup_and_delete, k(0)) == 524  # ENOTSUPP


def test_get_next_key_index_order() -> None:
    m = array(5)
    assert list(m.keys()) == [k(i) for i in range(5)]
    assert m.get_next_key(None) == k(0)
    assert m.get_next_key(k(2)) == k(3)
    assert m.get_next_key(k(4)) is None
    assert m.get_next_key(k(5)) == k(0)  # out of range restarts
    assert m.get_next_key(k(0xFFFFFFFF)) == k(0)


@pytest.mark.parametrize(("key_size", "value_size", "max_entries", "flags"), [
    (8, 4, 4, 0), (4, 0, 4, 0), (4, 4, 0, 0), (4, 4, 4, 1), (4, 4, 4, 1 << 11),
])
def test_create_errors(key_size: int, value_size: int, max_entries: int, flags: int) -> None:
    with pytest.raises(LibbpfError) as info:
        create_map(BPF_MAP_TYPE_ARRAY, "bad", key_size, value_size, max_entries, flags)
    assert info.value.errno == errno.EINVAL


def test_huge_array_is_enomem() -> None:
    with pytest.raises(LibbpfError) as info:
        create_map(BPF_MAP_TYPE_ARRAY, "huge", 4, 1 << 30, 0xFFFFFFFF)
    assert info.value.errno == errno.ENOMEM
    with pytest.raises(LibbpfError) as info:
        create_map(BPF_MAP_TYPE_ARRAY, "toobig", 4, 1 << 31, 1)
    assert info.value.errno == errno.E2BIG


def test_mmapable_only_for_plain_arrays() -> None:
    create_map(BPF_MAP_TYPE_ARRAY, "mm", 4, 8, 4, BPF_F_MMAPABLE)
    with pytest.raises(LibbpfError):
        create_map(BPF_MAP_TYPE_PERCPU_ARRAY, "mm", 4, 8, 4, BPF_F_MMAPABLE)


def test_value_address_is_stable_global_data() -> None:
    m = array(1, 16)
    addr = m.value_address(k(0))
    assert addr % 8 == 0
    ctypes.memmove(addr, b"hello, world!!!!", 16)
    assert m.lookup(k(0)) == b"hello, world!!!!"
    m.update(k(0), bytes(16))
    assert ctypes.string_at(addr, 16) == bytes(16)


def test_percpu_array_slots() -> None:
    n = num_possible_cpus()
    m = array(3, 4, percpu=True)
    assert m.lookup_percpu(k(2)) == [bytes(4)] * n
    slots = [struct.pack("<I", c + 1) for c in range(n)]
    m.update(k(2), slots)
    assert m.lookup_percpu(k(2)) == slots
    raw = struct.pack("<" + "Q" * n, *range(7, 7 + n))
    m.update(k(1), raw)  # libbpf's byte form: each slot 8 bytes
    assert m.lookup(k(1)) == raw
    assert errno_of(m.update, k(3), raw) == errno.E2BIG


def test_batch_in_index_order() -> None:
    m = array(10)
    for i in range(10):
        m.update(k(i), struct.pack("<Q", i * 3))
    rc, tok, keys, values = m.lookup_batch(None, 4)
    assert rc == 0 and keys == [k(i) for i in range(4)] and tok == k(3)
    rc, tok, keys, values = m.lookup_batch(tok, 4)
    assert rc == 0 and keys == [k(i) for i in range(4, 8)]
    rc, tok, keys, values = m.lookup_batch(tok, 4)
    assert rc == -errno.ENOENT and keys == [k(8), k(9)]
    assert values == [struct.pack("<Q", 24), struct.pack("<Q", 27)]
    rc, _, keys, _ = m.lookup_batch(tok, 4)
    assert rc == -errno.ENOENT and keys == []
    with pytest.raises(LibbpfError) as info:
        m.lookup_batch(None, 4, delete=True)
    assert info.value.errno == 524
    rc, n = m.update_batch([k(0), k(10)], [bytes(8), bytes(8)])
    assert (rc, n) == (-errno.E2BIG, 1)


def test_freeze_blocks_user_writes() -> None:
    m = array()
    m.update(k(0), b"x" * 8)
    m.freeze()
    assert errno_of(m.update, k(0), bytes(8)) == errno.EPERM
    assert m.lookup(k(0)) == b"x" * 8
