"""HASH and PERCPU_HASH behaviour, from Linux's documented semantics
(Documentation/bpf/map_hash.rst and the bpf() man page)."""

from __future__ import annotations

import ctypes
import errno
import itertools
import struct

import pytest

from libbpf_compat.errors import LibbpfError
from libbpf_compat.mapstore import NativeMap, create_map, num_possible_cpus
from libbpf_compat.uapi import (
    BPF_ANY,
    BPF_EXIST,
    BPF_F_LOCK,
    BPF_F_NO_PREALLOC,
    BPF_F_ZERO_SEED,
    BPF_MAP_TYPE_HASH,
    BPF_MAP_TYPE_PERCPU_HASH,
    BPF_NOEXIST,
)


def k(i: int) -> bytes:
    return struct.pack("<I", i)


def v(i: int) -> bytes:
    return struct.pack("<Q", i)


def hash_map(max_entries: int = 8, flags: int = 0) -> NativeMap:
    return create_map(BPF_MAP_TYPE_HASH, "h", 4, 8, max_entries, flags)


def errno_of(fn: object, *args: object) -> int:
    with pytest.raises(LibbpfError) as info:
        fn(*args)  # type: ignore[operator]
    assert info.value.errno is not None
    return info.value.errno


@pytest.mark.parametrize("flags", [0, BPF_F_NO_PREALLOC])
def test_update_lookup_delete(flags: int) -> None:
    m = hash_map(flags=flags)
    assert m.lookup(k(1)) is None
    m.update(k(1), v(10))
    m.update(k(2), v(20))
    assert m.lookup(k(1)) == v(10)
    m.update(k(1), v(11))
    assert m.lookup(k(1)) == v(11)
    m.delete(k(1))
    assert m.lookup(k(1)) is None
    assert m.lookup(k(2)) == v(20)
    assert errno_of(m.delete, k(1)) == errno.ENOENT


def test_update_flags() -> None:
    m = hash_map()
    assert errno_of(m.update, k(1), v(1), BPF_EXIST) == errno.ENOENT
    m.update(k(1), v(1), BPF_NOEXIST)
    assert errno_of(m.update, k(1), v(2), BPF_NOEXIST) == errno.EEXIST
    m.update(k(1), v(3), BPF_EXIST)
    assert m.lookup(k(1)) == v(3)
    for bad in (3, 8, 1 << 40):
        assert errno_of(m.update, k(1), v(4), bad) == errno.EINVAL
    # BPF_F_LOCK needs a bpf_spin_lock in the value
    assert errno_of(m.update, k(1), v(4), BPF_F_LOCK) == errno.EINVAL
    assert errno_of(m.lookup, k(1), BPF_F_LOCK) == errno.EINVAL
    assert errno_of(m.lookup, k(1), 1) == errno.EINVAL
    assert m.lookup(k(1)) == v(3)


@pytest.mark.parametrize("flags", [0, BPF_F_NO_PREALLOC])
def test_full_map_is_e2big_but_existing_keys_update(flags: int) -> None:
    m = hash_map(4, flags)
    for i in range(4):
        m.update(k(i), v(i))
    assert errno_of(m.update, k(99), v(0)) == errno.E2BIG
    assert errno_of(m.update, k(99), v(0), BPF_NOEXIST) == errno.E2BIG
    assert errno_of(m.update, k(99), v(0), BPF_EXIST) == errno.ENOENT
    m.update(k(2), v(22))  # replacing works when full
    assert m.lookup(k(2)) == v(22)
    m.delete(k(0))
    m.update(k(99), v(99))  # the freed element is reused
    assert sorted(m.keys()) == sorted([k(1), k(2), k(3), k(99)])


def test_element_reuse_many_times() -> None:
    m = hash_map(3)
    for round_ in range(200):
        for i in range(3):
            m.update(k(round_ * 3 + i), v(round_))
        for i in range(3):
            assert m.lookup_and_delete(k(round_ * 3 + i)) == v(round_)
        assert m.get_next_key(None) is None


def test_get_next_key_walks_every_key_once() -> None:
    m = hash_map(64)
    keys = {k(i * 7919) for i in range(50)}
    for key in keys:
        m.update(key, v(1))
    seen = list(m.keys())
    assert len(seen) == 50 and set(seen) == keys
    assert m.get_next_key(seen[-1]) is None
    # a missing key restarts from the first key, as Linux
    assert m.get_next_key(k(123456789)) == seen[0]
    assert m.get_next_key(None) == seen[0]
    for a, b in itertools.pairwise(seen):
        assert m.get_next_key(a) == b


def test_empty_map_get_next_key() -> None:
    m = hash_map()
    assert m.get_next_key(None) is None
    assert m.get_next_key(k(5)) is None


def test_wrong_sizes_name_the_map() -> None:
    m = create_map(BPF_MAP_TYPE_HASH, "sized", 4, 8, 4)
    with pytest.raises(LibbpfError) as info:
        m.lookup(b"abc")
    assert info.value.errno == errno.EINVAL and "sized" in str(info.value)
    assert errno_of(m.update, k(1), b"short") == errno.EINVAL
    assert errno_of(m.update, "text", v(1)) == errno.EINVAL
    assert errno_of(m.lookup, 12) == errno.EINVAL


def test_ctypes_and_bytes_like_keys() -> None:
    m = hash_map()
    m.update(ctypes.c_uint32(5), ctypes.c_uint64(50))
    assert m.lookup(bytearray(k(5))) == v(50)
    assert m.lookup(memoryview(k(5))) == v(50)

    class Pair(ctypes.Structure):
        _fields_ = [("a", ctypes.c_uint32), ("b", ctypes.c_uint32)]
    m.update(k(6), Pair(1, 2))
    assert m.lookup(ctypes.c_uint32(6)) == struct.pack("<II", 1, 2)


def test_long_and_odd_sized_keys() -> None:
    m = create_map(BPF_MAP_TYPE_HASH, "odd", 13, 3, 100)
    keys = [bytes([i]) * 13 for i in range(100)]
    for i, key in enumerate(keys):
        m.update(key, bytes([i, i, i]))
    for i, key in enumerate(keys):
        assert m.lookup(key) == bytes([i, i, i])
    assert set(m.keys()) == set(keys)


def test_freeze() -> None:
    m = hash_map()
    m.update(k(1), v(1))
    m.freeze()
    assert errno_of(m.update, k(1), v(2)) == errno.EPERM
    assert errno_of(m.delete, k(1)) == errno.EPERM
    assert m.lookup(k(1)) == v(1)  # reads still work
    assert errno_of(m.freeze) in (errno.EBUSY, errno.EPERM)


def test_read_and_write_only() -> None:
    ro = create_map(BPF_MAP_TYPE_HASH, "ro", 4, 8, 4, 1 << 3)
    assert errno_of(ro.update, k(1), v(1)) == errno.EPERM
    wo = create_map(BPF_MAP_TYPE_HASH, "wo", 4, 8, 4, 1 << 4)
    wo.update(k(1), v(1))
    assert errno_of(wo.lookup, k(1)) == errno.EPERM
    assert errno_of(wo.get_next_key, None) == errno.EPERM


def test_spin_lock_values() -> None:
    # value: u32 lock at offset 0, u32 pad, u64 data
    m = create_map(BPF_MAP_TYPE_HASH, "locked", 4, 16, 4, spin_lock_off=0)
    m.update(k(1), b"\xff" * 4 + bytes(4) + v(7), BPF_F_LOCK)
    # the lock word reads back as zero and is never written from user space
    assert m.lookup(k(1), BPF_F_LOCK) == bytes(8) + v(7)
    m.update(k(1), bytes(8) + v(8), BPF_F_LOCK)
    assert m.lookup(k(1)) == bytes(8) + v(8)
    with pytest.raises(LibbpfError):
        create_map(BPF_MAP_TYPE_HASH, "badlock", 4, 16, 4, spin_lock_off=14)


def test_percpu_hash_user_form() -> None:
    n = num_possible_cpus()
    m = create_map(BPF_MAP_TYPE_PERCPU_HASH, "pc", 4, 4, 8)
    assert m.user_value_size == 8 * n  # 4-byte values rounded up to 8 per CPU
    slots = [struct.pack("<I", 100 + c) for c in range(n)]
    m.update(k(1), slots)
    assert m.lookup_percpu(k(1)) == slots
    raw = m.lookup(k(1))
    assert raw is not None and len(raw) == 8 * n
    assert [raw[c * 8:c * 8 + 4] for c in range(n)] == slots
    assert errno_of(m.update, k(1), slots[:1] * (n + 1)) == errno.EINVAL
    assert errno_of(m.update, k(1), bytes(8 * n), BPF_F_LOCK) == errno.EINVAL
    m.update(k(2), bytes(8 * n))
    assert m.lookup_percpu(k(2)) == [bytes(4)] * n


def test_lookup_and_delete() -> None:
    m = hash_map()
    m.update(k(1), v(5))
    assert m.lookup_and_delete(k(1)) == v(5)
    assert m.lookup(k(1)) is None
    assert errno_of(m.lookup_and_delete, k(1)) == errno.ENOENT


def test_batch_lookup_tokens_and_end() -> None:
    m = hash_map(100)
    want = {k(i): v(i * i) for i in range(100)}
    for key, val in want.items():
        m.update(key, val)
    got: dict[bytes, bytes] = {}
    token = None
    rounds = 0
    while True:
        rc, token_out, keys, values = m.lookup_batch(token, 16)
        assert len(keys) <= 16
        got.update(zip(keys, values, strict=True))
        rounds += 1
        if rc == -errno.ENOENT:
            break
        assert rc == 0 and keys
        token = token_out
    assert got == want and rounds >= 100 // 16
    # from the end token: nothing more
    rc, _, keys, _ = m.lookup_batch(token_out, 16)
    assert rc == -errno.ENOENT and keys == []


def test_batch_lookup_and_delete_empties_the_map() -> None:
    m = hash_map(50)
    for i in range(50):
        m.update(k(i), v(i))
    seen: dict[bytes, bytes] = {}
    token = None
    while True:
        rc, token, keys, values = m.lookup_batch(token, 7, delete=True)
        seen.update(zip(keys, values, strict=True))
        if rc:
            break
    assert seen == {k(i): v(i) for i in range(50)}
    assert m.get_next_key(None) is None
    for i in range(50):  # every element is back in the pool
        m.update(k(i + 1000), v(i))


def test_batch_update_and_delete_stop_at_first_error() -> None:
    m = hash_map(4)
    rc, n = m.update_batch([k(1), k(2)], [v(1), v(2)])
    assert (rc, n) == (0, 2)
    rc, n = m.update_batch([k(3), k(1), k(4)], [v(3), v(1), v(4)], 0)
    assert (rc, n) == (0, 3)
    rc, n = m.update_batch([k(5)], [v(5)])
    assert (rc, n) == (-errno.E2BIG, 0)
    rc, n = m.delete_batch([k(1), k(9), k(2)])
    assert (rc, n) == (-errno.ENOENT, 1)
    assert m.lookup(k(2)) == v(2)


def test_batch_count_zero_and_enospc() -> None:
    m = create_map(BPF_MAP_TYPE_HASH, "z", 4, 8, 64, BPF_F_ZERO_SEED)
    rc, _, keys, _ = m.lookup_batch(None, 0)
    assert rc == 0 and keys == []
    for i in range(64):
        m.update(k(i), v(i))
    # 64 keys in 64 buckets: some bucket holds two, which a room of one cannot
    # take (ENOSPC); a bigger room then gets the whole bucket
    got: dict[bytes, bytes] = {}
    token, room, enospc = None, 1, 0
    while True:
        try:
            rc, out, keys, values = m.lookup_batch(token, room)
        except LibbpfError as e:
            assert e.errno == errno.ENOSPC
            enospc += 1
            room += 1
            continue
        got.update(zip(keys, values, strict=True))
        room = 1
        if rc:
            break
        token = out
    assert enospc > 0 and got == {k(i): v(i) for i in range(64)}


def test_native_address_and_value_address() -> None:
    m = hash_map()
    m.update(k(3), v(33))
    addr = m.value_address(k(3))
    assert ctypes.c_uint64.from_address(addr).value == 33
    ctypes.c_uint64.from_address(addr).value = 34  # what a program store does
    assert m.lookup(k(3)) == v(34)
    assert m.native_address != 0
    assert errno_of(m.value_address, k(4)) == errno.ENOENT


@pytest.mark.parametrize(("key_size", "value_size", "max_entries", "flags", "err"), [
    (0, 8, 4, 0, errno.EINVAL),
    (4, 0, 4, 0, errno.EINVAL),
    (4, 8, 0, 0, errno.EINVAL),
    (4, 8, 4, 1 << 13, errno.EINVAL),        # unknown flag
    (4, 8, 4, 1 << 1, errno.EINVAL),         # NO_COMMON_LRU on a plain hash
    (4, 8, 4, (1 << 3) | (1 << 4), errno.EINVAL),  # RDONLY and WRONLY
    (4, 8, (1 << 31) + 1, 0, errno.E2BIG),
    (4, 1 << 22, 1, 0, errno.E2BIG),
])
def test_create_errors(key_size: int, value_size: int, max_entries: int, flags: int,
                       err: int) -> None:
    with pytest.raises(LibbpfError) as info:
        create_map(BPF_MAP_TYPE_HASH, "bad", key_size, value_size, max_entries, flags)
    assert info.value.errno == err and "bad" in str(info.value)


def test_absurd_sizes_are_enomem_not_a_crash() -> None:
    with pytest.raises(LibbpfError) as info:
        create_map(BPF_MAP_TYPE_HASH, "huge", 512, (1 << 22) - 1024, 1 << 27)
    assert info.value.errno == errno.ENOMEM


def test_any_flag_value_any() -> None:
    m = hash_map()
    m.update(k(1), v(1), BPF_ANY)
    m.update(k(1), v(2), BPF_ANY)
    assert m.lookup(k(1)) == v(2)
