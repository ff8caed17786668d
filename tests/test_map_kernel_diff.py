"""Differential tests: the same random operations on a Linux kernel map
(through bpf()) and on the native store, comparing every result and errno.
Skipped where bpf() is not permitted (needs Linux x86-64 and privileges)."""

from __future__ import annotations

import errno
import os
import random
from collections.abc import Callable
from typing import TypeVar

import pytest

from libbpf_compat.errors import LibbpfError
from libbpf_compat.mapstore import NativeMap, create_map
from libbpf_compat.uapi import (
    BPF_F_NO_COMMON_LRU,
    BPF_F_NO_PREALLOC,
    BPF_MAP_TYPE_ARRAY,
    BPF_MAP_TYPE_HASH,
    BPF_MAP_TYPE_LRU_HASH,
    BPF_MAP_TYPE_LRU_PERCPU_HASH,
    BPF_MAP_TYPE_PERCPU_ARRAY,
    BPF_MAP_TYPE_PERCPU_HASH,
)
from tests import kernel_bpf
from tests.kernel_bpf import KernelMap

WHY = kernel_bpf.unavailable()
pytestmark = pytest.mark.skipif(WHY is not None, reason=WHY or "")

T = TypeVar("T")
HASHES = (BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_PERCPU_HASH)
ARRAYS = (BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_PERCPU_ARRAY)


def rc_of(fn: Callable[[], T]) -> tuple[int, T | None]:
    """(0, result) or (-errno, None) from a native call."""
    try:
        return 0, fn()
    except LibbpfError as e:
        assert e.errno is not None
        return -e.errno, None


def none_to_enoent(rc: int, res: bytes | None) -> tuple[int, bytes | None]:
    return (-errno.ENOENT, None) if rc == 0 and res is None else (rc, res)


class Pair:
    """A kernel map and a native map of the same shape, operated together."""

    def __init__(self, map_type: int, key_size: int, value_size: int, max_entries: int,
                 flags: int = 0) -> None:
        km = KernelMap.create(map_type, key_size, value_size, max_entries, flags)
        assert isinstance(km, KernelMap), f"kernel refused the map: {os.strerror(-km)}"
        self.k = km
        self.n: NativeMap = create_map(map_type, "diff", key_size, value_size, max_entries,
                                       flags)
        self.map_type = map_type
        self.ordered = map_type in ARRAYS
        assert self.k.user_value_size == self.n.user_value_size

    def close(self) -> None:
        self.k.close()

    def lookup(self, key: bytes, flags: int = 0) -> None:
        got = none_to_enoent(*rc_of(lambda: self.n.lookup(key, flags)))
        assert got == self.k.lookup(key, flags), f"lookup {key.hex()} flags {flags}"

    def update(self, key: bytes, value: bytes, flags: int = 0) -> None:
        rc, _ = rc_of(lambda: self.n.update(key, value, flags))
        assert rc == self.k.update(key, value, flags), f"update {key.hex()} flags {flags}"

    def delete(self, key: bytes) -> None:
        rc, _ = rc_of(lambda: self.n.delete(key))
        assert rc == self.k.delete(key), f"delete {key.hex()}"

    def lookup_and_delete(self, key: bytes, flags: int = 0) -> None:
        got = rc_of(lambda: self.n.lookup_and_delete(key, flags))
        assert got == self.k.lookup_and_delete(key, flags), f"lookup_and_delete {key.hex()}"

    def get_next_key(self, key: bytes | None) -> None:
        got = none_to_enoent(*rc_of(lambda: self.n.get_next_key(key)))
        want = self.k.get_next_key(key)
        if self.ordered:
            assert got == want, f"get_next_key {key!r}"
        else:
            # hash order differs: after a present key either side may be at
            # its end; for None or a missing key both give a first key
            present = key is not None and self.n.lookup(key) is not None
            if not present:
                assert got[0] == want[0], f"get_next_key {key!r}"
            assert got[0] in (0, -errno.ENOENT)
            if got[1] is not None:
                assert self.n.lookup(got[1]) is not None

    def contents(self) -> None:
        """Both maps hold the same elements (and arrays in the same order)."""
        ours = list(self.n.keys())
        theirs: list[bytes] = []
        rc, key = self.k.get_next_key(None)
        while rc == 0 and key is not None:
            theirs.append(key)
            rc, key = self.k.get_next_key(key)
        assert rc == -errno.ENOENT
        if self.ordered:
            assert ours == theirs
        else:
            assert sorted(ours) == sorted(theirs)
        for key in ours:
            assert self.n.lookup(key) == self.k.lookup(key)[1]

    def batch_walk(self, count: int, delete: bool = False) -> None:
        """A whole batch walk gives the same elements (arrays: the same
        tokens and chunks too)."""
        rounds_n = self._walk(self.n.lookup_batch, count, delete)
        rounds_k = self._walk(self.k.lookup_batch, count, delete)
        if self.ordered:
            assert rounds_n == rounds_k
        else:
            assert [r[0] for r in rounds_n][-1:] == [r[0] for r in rounds_k][-1:]
            assert (sorted(kv for r in rounds_n for kv in r[1])
                    == sorted(kv for r in rounds_k for kv in r[1]))

    @staticmethod
    def _walk(fn: Callable[..., tuple[int, bytes, list[bytes], list[bytes]]], count: int,
              delete: bool) -> list[tuple[int, list[tuple[bytes, bytes]]]]:
        rounds = []
        token = None
        for _ in range(10_000):
            try:
                rc, out, keys, values = fn(token, count, 0, delete)
            except LibbpfError as e:
                assert e.errno is not None
                rc, out, keys, values = -e.errno, b"", [], []
            rounds.append((rc, list(zip(keys, values, strict=True))))
            if rc:
                break
            token = out
        return rounds


def rand_value(rng: random.Random, size: int) -> bytes:
    return rng.randbytes(size)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(("map_type", "flags"), [
    (BPF_MAP_TYPE_HASH, 0), (BPF_MAP_TYPE_HASH, BPF_F_NO_PREALLOC),
    (BPF_MAP_TYPE_PERCPU_HASH, 0), (BPF_MAP_TYPE_ARRAY, 0), (BPF_MAP_TYPE_PERCPU_ARRAY, 0),
])
def test_random_operations(map_type: int, flags: int, seed: int) -> None:
    rng = random.Random(seed * 1000 + map_type)
    key_size = 4 if map_type in ARRAYS else rng.choice([1, 4, 6, 8, 16])
    value_size = rng.choice([1, 4, 5, 8, 24])
    max_entries = rng.choice([1, 4, 16])
    p = Pair(map_type, key_size, value_size, max_entries, flags)
    key_space = max_entries * 3 if map_type in HASHES else max_entries + 3

    def key() -> bytes:
        i = rng.randrange(key_space)
        if map_type in ARRAYS:
            return i.to_bytes(4, "little")
        return (i * 2654435761 % (1 << 32)).to_bytes(4, "little")[:key_size].ljust(key_size,
                                                                                   b"\x07")

    try:
        for step in range(400):
            op = rng.randrange(100)
            flag = rng.choice([0, 0, 0, 1, 2, 3, 4])
            if op < 40:
                p.update(key(), rand_value(rng, p.n.user_value_size), flag)
            elif op < 55:
                p.lookup(key(), rng.choice([0, 0, 0, 4, 1]))
            elif op < 65:
                p.delete(key())
            elif op < 72:
                p.lookup_and_delete(key(), rng.choice([0, 0, 1]))
            elif op < 85:
                p.get_next_key(rng.choice([None, key()]))
            elif op < 90:
                p.batch_walk(rng.choice([1, 3, max_entries]) if map_type in ARRAYS
                             else max_entries)
            elif op < 95:
                keys = [key() for _ in range(rng.randrange(4))]
                values = [rand_value(rng, p.n.user_value_size) for _ in keys]
                got = p.n.update_batch(keys, values, flag)
                want = p.k.update_batch(b"".join(keys), b"".join(values), len(keys), flag)
                assert got == want, f"update_batch {flag}"
            else:
                keys = [key() for _ in range(rng.randrange(4))]
                got = p.n.delete_batch(keys)
                want = p.k.delete_batch(b"".join(keys), len(keys))
                assert got == want, "delete_batch"
            if step % 25 == 0:
                p.contents()
        p.contents()
        p.batch_walk(max_entries, delete=True)
        p.contents()
        # freeze: user writes fail with the same errno on both
        rc, _ = rc_of(p.n.freeze)
        assert rc == p.k.freeze()
        p.update(key(), rand_value(rng, p.n.user_value_size))
        p.delete(key())
        rc, _ = rc_of(p.n.freeze)
        assert rc == p.k.freeze()
        p.contents()
    finally:
        p.close()


@pytest.mark.parametrize("map_type", [BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_ARRAY])
def test_full_and_out_of_range(map_type: int) -> None:
    p = Pair(map_type, 4, 8, 3)
    try:
        for i in range(5):
            p.update(i.to_bytes(4, "little"), bytes([i]) * 8)
            p.update(i.to_bytes(4, "little"), bytes([i]) * 8, 1)
            p.update(i.to_bytes(4, "little"), bytes([i + 1]) * 8, 2)
        p.contents()
    finally:
        p.close()


@pytest.mark.parametrize(("map_type", "key_size", "value_size", "max_entries", "flags"), [
    (BPF_MAP_TYPE_HASH, 0, 4, 4, 0), (BPF_MAP_TYPE_HASH, 4, 0, 4, 0),
    (BPF_MAP_TYPE_HASH, 4, 4, 0, 0), (BPF_MAP_TYPE_HASH, 513, 4, 4, 0),
    (BPF_MAP_TYPE_HASH, 4, 4, 4, BPF_F_NO_COMMON_LRU), (BPF_MAP_TYPE_HASH, 4, 4, 4, 1 << 13),
    (BPF_MAP_TYPE_HASH, 4, 4, (1 << 31) + 1, 0), (BPF_MAP_TYPE_HASH, 4, 1 << 22, 1, 0),
    (BPF_MAP_TYPE_HASH, 4, 4, 4, (1 << 3) | (1 << 4)),
    (BPF_MAP_TYPE_HASH, 4, 4, 4, (1 << 7) | (1 << 8)),
    (BPF_MAP_TYPE_PERCPU_HASH, 4, 32769, 1, 0), (BPF_MAP_TYPE_PERCPU_HASH, 4, 4, 4, 2),
    (BPF_MAP_TYPE_LRU_HASH, 4, 4, 4, BPF_F_NO_PREALLOC),
    (BPF_MAP_TYPE_LRU_HASH, 4, 4, 4, BPF_F_NO_COMMON_LRU),
    (BPF_MAP_TYPE_LRU_PERCPU_HASH, 4, 4, 4, BPF_F_NO_COMMON_LRU),
    (BPF_MAP_TYPE_ARRAY, 8, 4, 4, 0), (BPF_MAP_TYPE_ARRAY, 4, 0, 4, 0),
    (BPF_MAP_TYPE_ARRAY, 4, 4, 0, 0), (BPF_MAP_TYPE_ARRAY, 4, 4, 4, BPF_F_NO_PREALLOC),
    (BPF_MAP_TYPE_ARRAY, 4, 4, 4, 1 << 10), (BPF_MAP_TYPE_PERCPU_ARRAY, 4, 4, 4, 1 << 10),
    (BPF_MAP_TYPE_ARRAY, 4, 4, 4, 1 << 11), (BPF_MAP_TYPE_ARRAY, 4, 1 << 31, 1, 0),
    (BPF_MAP_TYPE_ARRAY, 4, 1 << 20, 1 << 20, 0), (BPF_MAP_TYPE_PERCPU_ARRAY, 4, 32769, 1, 0),
    (99, 4, 4, 4, 0),
])
def test_create_errno(map_type: int, key_size: int, value_size: int, max_entries: int,
                      flags: int) -> None:
    fd = kernel_bpf.create_map(map_type, key_size, value_size, max_entries, flags)
    if fd >= 0:
        os.close(fd)
    rc, _ = rc_of(lambda: create_map(map_type, "c", key_size, value_size, max_entries, flags))
    assert rc == min(fd, 0)


@pytest.mark.parametrize("map_type", [BPF_MAP_TYPE_LRU_HASH, BPF_MAP_TYPE_LRU_PERCPU_HASH])
@pytest.mark.parametrize("flags", [0, BPF_F_NO_COMMON_LRU])
def test_lru_robust_agreement(map_type: int, flags: int) -> None:
    """What Linux's approximate LRU guarantees: inserting into a full map
    succeeds (it evicts rather than failing with E2BIG), the map never holds
    more than max_entries elements, and the most recently inserted keys
    survive."""
    max_entries = 64
    p = Pair(map_type, 4, 8, max_entries, flags)
    try:
        value = bytes(p.n.user_value_size)
        for i in range(max_entries * 4):
            key = i.to_bytes(4, "little")
            p.update(key, value)            # both succeed
            p.lookup(key)                   # the newest key is always there
        for m_keys in (list(p.n.keys()), _kernel_keys(p.k)):
            assert 0 < len(m_keys) <= max_entries
        ours = {int.from_bytes(k, "little") for k in p.n}
        theirs = {int.from_bytes(k, "little") for k in _kernel_keys(p.k)}
        last = max_entries * 4 - 1
        assert last in ours and last in theirs
        # no key from the first round survives three rounds of newer keys
        assert min(ours) >= max_entries and min(theirs) >= max_entries
        # the same errno for BPF_EXIST on an evicted key and BPF_NOEXIST on a live one
        p.update((0).to_bytes(4, "little"), value, 2)
        p.update(last.to_bytes(4, "little"), value, 1)
        p.delete(last.to_bytes(4, "little"))
        p.lookup(last.to_bytes(4, "little"))
    finally:
        p.close()


def _kernel_keys(km: KernelMap) -> list[bytes]:
    keys = []
    rc, key = km.get_next_key(None)
    while rc == 0 and key is not None:
        keys.append(key)
        rc, key = km.get_next_key(key)
    return keys
