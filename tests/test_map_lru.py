"""LRU_HASH and LRU_PERCPU_HASH: a full map evicts the least recently used
element instead of failing with E2BIG (Documentation/bpf/map_hash.rst).
Programs' lookups mark an element as used; user-space lookups do not (as
Linux's syscall path)."""

from __future__ import annotations

import errno
import struct

import pytest
from libbpf_compat._native import ffi, lib

from libbpf_compat.errors import LibbpfError
from libbpf_compat.mapstore import NativeMap, create_map, num_possible_cpus
from libbpf_compat.uapi import (
    BPF_EXIST,
    BPF_F_NO_COMMON_LRU,
    BPF_MAP_TYPE_LRU_HASH,
    BPF_MAP_TYPE_LRU_PERCPU_HASH,
    BPF_NOEXIST,
)


def k(i: int) -> bytes:
    return struct.pack("<I", i)


def v(i: int) -> bytes:
    return struct.pack("<Q", i)


def lru(n: int = 8, flags: int = 0) -> NativeMap:
    return create_map(BPF_MAP_TYPE_LRU_HASH, "lru", 4, 8, n, flags)


def program_lookup(m: NativeMap, key: bytes) -> bool:
    """What bpf_map_lookup_elem from a program does (marks the element used)."""
    return bool(lib.lbc_map_lookup(m.ptr, key) != ffi.NULL)


def keys_of(m: NativeMap) -> set[int]:
    return {struct.unpack("<I", key)[0] for key in m}


def test_full_map_evicts_the_oldest() -> None:
    m = lru(8)
    for i in range(8):
        m.update(k(i), v(i))
    m.update(k(100), v(100))          # no E2BIG: the oldest (0) goes
    assert keys_of(m) == {1, 2, 3, 4, 5, 6, 7, 100}
    m.update(k(101), v(101), BPF_NOEXIST)
    assert keys_of(m) == {2, 3, 4, 5, 6, 7, 100, 101}
    assert m.lookup(k(101)) == v(101)


def test_program_lookup_protects_an_element() -> None:
    m = lru(8)
    for i in range(8):
        m.update(k(i), v(i))
    assert program_lookup(m, k(0))
    assert not program_lookup(m, k(55))
    m.update(k(100), v(100))
    assert 0 in keys_of(m) and 1 not in keys_of(m)


def test_user_lookup_does_not_count_as_use() -> None:
    m = lru(8)
    for i in range(8):
        m.update(k(i), v(i))
    assert m.lookup(k(0)) == v(0)
    m.update(k(100), v(100))
    assert 0 not in keys_of(m)


def test_update_makes_an_element_most_recent() -> None:
    m = lru(8)
    for i in range(8):
        m.update(k(i), v(i))
    m.update(k(0), v(50), BPF_EXIST)
    for i in range(100, 106):
        m.update(k(i), v(i))
    assert 0 in keys_of(m) and m.lookup(k(0)) == v(50)


def test_recent_keys_survive_a_long_stream() -> None:
    m = lru(64)
    for i in range(10_000):
        m.update(k(i), v(i))
        assert m.lookup(k(i)) == v(i)
    survivors = keys_of(m)
    assert 0 < len(survivors) <= 64
    assert max(survivors) == 9_999 and min(survivors) >= 10_000 - 64 * 2


def test_flags_and_deletes() -> None:
    m = lru(4)
    assert_errno(lambda: m.update(k(1), v(1), BPF_EXIST), errno.ENOENT)
    m.update(k(1), v(1))
    assert_errno(lambda: m.update(k(1), v(1), BPF_NOEXIST), errno.EEXIST)
    m.delete(k(1))
    assert_errno(lambda: m.delete(k(1)), errno.ENOENT)
    for i in range(4):
        m.update(k(i), v(i))
    m.delete(k(2))
    m.update(k(9), v(9))  # the freed element is used, nothing is evicted
    assert keys_of(m) == {0, 1, 3, 9}
    assert m.lookup_and_delete(k(9)) == v(9)


def assert_errno(fn: object, err: int) -> None:
    with pytest.raises(LibbpfError) as info:
        fn()  # type: ignore[operator]
    assert info.value.errno == err


def test_no_common_lru_rounds_max_entries() -> None:
    n = num_possible_cpus()
    m = lru(5, BPF_F_NO_COMMON_LRU)
    assert m.max_entries == -(-5 // n) * n
    for i in range(m.max_entries * 3):
        m.update(k(i), v(i))
    assert 0 < len(keys_of(m)) <= m.max_entries
    assert m.max_entries * 3 - 1 in keys_of(m)


def test_no_prealloc_is_refused() -> None:
    with pytest.raises(LibbpfError) as info:
        lru(4, 1)
    assert info.value.errno == 524  # ENOTSUPP, as Linux


def test_lru_percpu_hash_values() -> None:
    n = num_possible_cpus()
    m = create_map(BPF_MAP_TYPE_LRU_PERCPU_HASH, "lrupc", 4, 4, 4)
    for i in range(10):
        m.update(k(i), [struct.pack("<I", i * 10 + c) for c in range(n)])
    assert len(keys_of(m)) <= 4 and 9 in keys_of(m)
    assert m.lookup_percpu(k(9)) == [struct.pack("<I", 90 + c) for c in range(n)]


def test_batch_delete_returns_elements_to_the_pool() -> None:
    m = lru(16)
    for i in range(16):
        m.update(k(i), v(i))
    token = None
    seen = set()
    while True:
        rc, token, keys, _ = m.lookup_batch(token, 16, delete=True)
        seen |= set(keys)
        if rc:
            break
    assert len(seen) == 16 and keys_of(m) == set()
    for i in range(16):
        m.update(k(i + 100), v(i))
    assert keys_of(m) == set(range(100, 116))
