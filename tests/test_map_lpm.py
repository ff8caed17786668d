"""LPM_TRIE maps (Documentation/bpf/map_lpm_trie.rst): keys are
``struct bpf_lpm_trie_key`` (u32 prefixlen, then the data in network
order); lookups give the longest stored prefix that matches; updates and
deletes name exact prefixes; get_next_key walks in post-order (more specific
prefixes before less specific ones); BPF_F_NO_PREALLOC is required.
Where bpf() is permitted, random operation sequences are compared with a
kernel LPM trie errno for errno, get_next_key order included."""

from __future__ import annotations

import errno
import os
import random
import shutil
import struct
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest

from libbpf_compat import isa, pinning
from libbpf_compat import libbpf_maps as bpf
from libbpf_compat.errors import LibbpfError
from libbpf_compat.helpers import helper_by_name
from libbpf_compat.helpers.native import register_c_helpers
from libbpf_compat.mapstore import NativeMap, create_map
from libbpf_compat.uapi import (
    BPF_ANY,
    BPF_EXIST,
    BPF_F_NO_PREALLOC,
    BPF_F_RDONLY,
    BPF_MAP_TYPE_LPM_TRIE,
    BPF_NOEXIST,
)
from libbpf_compat.vm import Vm
from tests import kernel_bpf
from tests.kernel_bpf import KernelMap

WHY = kernel_bpf.unavailable()
LPM = BPF_MAP_TYPE_LPM_TRIE


def key(prefixlen: int, *data: int, size: int = 4) -> bytes:
    return struct.pack("<I", prefixlen) + bytes(data).ljust(size, b"\0")


def val(i: int) -> bytes:
    return i.to_bytes(4, "little")


def ipv4_trie(max_entries: int = 16) -> NativeMap:
    return create_map(LPM, "routes", 8, 4, max_entries, BPF_F_NO_PREALLOC)


def all_keys(m: NativeMap) -> list[bytes]:
    return list(m.keys())


def test_longest_prefix_wins() -> None:
    m = ipv4_trie()
    m.update(key(8, 10), val(8))
    m.update(key(16, 10, 1), val(16))
    m.update(key(24, 10, 1, 2), val(24))
    assert m.lookup(key(32, 10, 1, 2, 3)) == val(24)
    assert m.lookup(key(32, 10, 1, 3, 3)) == val(16)
    assert m.lookup(key(32, 10, 2, 3, 3)) == val(8)
    assert m.lookup(key(32, 11, 1, 2, 3)) is None
    # a lookup key's own prefixlen limits the prefixes that take part
    assert m.lookup(key(20, 10, 1, 2, 3)) == val(16)
    assert m.lookup(key(7, 10, 1, 2, 3)) is None
    # above the maximum prefixlen nothing matches
    assert m.lookup(key(33, 10, 1, 2, 3)) is None


def test_prefix_zero_and_max() -> None:
    m = ipv4_trie()
    m.update(key(0), val(0))  # the default route matches everything
    assert m.lookup(key(32, 1, 2, 3, 4)) == val(0)
    assert m.lookup(key(0, 9, 9, 9, 9)) == val(0)
    m.update(key(32, 1, 2, 3, 4), val(32))
    assert m.lookup(key(32, 1, 2, 3, 4)) == val(32)
    assert m.lookup(key(32, 1, 2, 3, 5)) == val(0)
    m.delete(key(0))
    assert m.lookup(key(32, 1, 2, 3, 5)) is None
    assert m.lookup(key(32, 1, 2, 3, 4)) == val(32)


def test_exact_update_and_delete() -> None:
    m = ipv4_trie()
    m.update(key(16, 192, 168), val(1))
    m.update(key(16, 192, 168), val(2))  # replaces
    assert m.lookup(key(32, 192, 168, 0, 1)) == val(2)
    with pytest.raises(LibbpfError) as info:
        m.update(key(16, 192, 168), val(3), BPF_NOEXIST)
    assert info.value.errno == errno.EEXIST
    with pytest.raises(LibbpfError) as info:
        m.update(key(24, 192, 168, 1), val(3), BPF_EXIST)
    assert info.value.errno == errno.ENOENT
    m.update(key(16, 192, 168), val(4), BPF_EXIST)
    with pytest.raises(LibbpfError) as info:  # only exact prefixes are deleted
        m.delete(key(24, 192, 168, 0))
    assert info.value.errno == errno.ENOENT
    m.delete(key(16, 192, 168, 77, 77))  # bits past the prefix do not count
    assert m.lookup(key(32, 192, 168, 0, 1)) is None
    with pytest.raises(LibbpfError) as info:
        m.delete(key(16, 192, 168))
    assert info.value.errno == errno.ENOENT


def test_bad_prefixlen_and_flags() -> None:
    m = ipv4_trie()
    calls: list[Callable[[], None]] = [lambda: m.update(key(33, 1), val(1)),
                                       lambda: m.delete(key(33, 1)),
                                       lambda: m.update(key(8, 1), val(1), 4)]
    for call in calls:
        with pytest.raises(LibbpfError) as info:
            call()
        assert info.value.errno == errno.EINVAL


def test_full_is_enospc() -> None:
    m = ipv4_trie(2)
    m.update(key(8, 1), val(1))
    m.update(key(8, 2), val(2))
    with pytest.raises(LibbpfError) as info:
        m.update(key(8, 3), val(3))
    assert info.value.errno == errno.ENOSPC  # what Linux returns for a full trie
    m.update(key(8, 2), val(5))  # replacing is still allowed
    m.delete(key(8, 1))
    m.update(key(8, 3), val(3))
    assert sorted(all_keys(m)) == sorted([key(8, 2), key(8, 3)])


def test_get_next_key_is_post_order() -> None:
    # the example of Linux's lpm_trie.c
    m = ipv4_trie()
    for k in (key(16, 192, 168), key(24, 192, 168, 0), key(24, 192, 168, 1),
              key(24, 192, 168, 128)):
        m.update(k, val(1))
    assert all_keys(m) == [key(24, 192, 168, 0), key(24, 192, 168, 1),
                           key(24, 192, 168, 128), key(16, 192, 168)]
    # a key not in the map starts again from the first
    assert m.get_next_key(key(24, 10, 0, 0)) == key(24, 192, 168, 0)
    assert m.get_next_key(key(16, 192, 168)) is None


def test_stored_key_keeps_its_data_bytes() -> None:
    # Linux stores the data as given, bits past the prefix included
    m = ipv4_trie()
    m.update(key(8, 10, 1, 2, 3), val(1))
    assert all_keys(m) == [key(8, 10, 1, 2, 3)]


def test_create_checks() -> None:
    good = dict(key_size=8, value_size=4, max_entries=4, map_flags=BPF_F_NO_PREALLOC)
    bad = [dict(good, map_flags=0), dict(good, key_size=4), dict(good, key_size=261),
           dict(good, value_size=0), dict(good, max_entries=0),
           dict(good, map_flags=BPF_F_NO_PREALLOC | 0x40)]
    for kw in bad:
        with pytest.raises(LibbpfError) as info:
            create_map(LPM, "bad", **kw)
        assert info.value.errno == errno.EINVAL, kw
    create_map(LPM, "max", key_size=260, value_size=8, max_entries=4,
               map_flags=BPF_F_NO_PREALLOC)


def test_mirror_and_not_supported() -> None:
    fd = bpf.bpf_map_create(LPM, "lpm", 8, 4, 8,
                            bpf.bpf_map_create_opts(map_flags=BPF_F_NO_PREALLOC))
    try:
        bpf.bpf_map_update_elem(fd, key(24, 10, 0, 0), val(7), BPF_ANY)
        assert bpf.bpf_map_lookup_elem(fd, key(32, 10, 0, 0, 9)) == val(7)
        with pytest.raises(LibbpfError) as info:
            bpf.bpf_map_lookup_and_delete_elem(fd, key(24, 10, 0, 0))
        assert info.value.errno == 524  # ENOTSUPP, as Linux
        out, keys, values, n = bpf.bpf_map_lookup_batch(fd, None, 4)
        assert (out, keys, values, n) == (None, key(24, 10, 0, 0), val(7), 1)
    finally:
        bpf.close(fd)


def test_read_only_map() -> None:
    m = create_map(LPM, "ro", 8, 4, 4, BPF_F_NO_PREALLOC | BPF_F_RDONLY)
    with pytest.raises(LibbpfError) as info:
        m.update(key(8, 1), val(1))
    assert info.value.errno == errno.EPERM


def test_large_trie_matches_a_model() -> None:
    rng = random.Random(7)
    m = create_map(LPM, "big", 8, 4, 2000, BPF_F_NO_PREALLOC)
    routes: dict[tuple[int, int], int] = {}
    while len(routes) < 1500:
        plen = rng.randint(0, 32)
        addr = rng.getrandbits(32) & ~((1 << (32 - plen)) - 1) if plen else 0
        routes[(plen, addr)] = rng.getrandbits(31)
    for (plen, addr), v in routes.items():
        m.update(key(plen, *addr.to_bytes(4, "big")), val(v))
    for (plen, addr) in rng.sample(sorted(routes), 500):
        m.delete(key(plen, *addr.to_bytes(4, "big")))
        del routes[(plen, addr)]
    for _ in range(2000):
        a = rng.getrandbits(32)
        best = None
        for plen in range(32, -1, -1):
            net = a & ~((1 << (32 - plen)) - 1) if plen else 0
            if (plen, net) in routes:
                best = routes[(plen, net)]
                break
        got = m.lookup(key(32, *a.to_bytes(4, "big")))
        assert got == (None if best is None else val(best))
    assert len(all_keys(m)) == len(routes)


@pytest.mark.parametrize("data_size", [4, 7, 8, 12, 16, 24])
def test_lookups_at_prefix_boundaries_match_a_model(data_size: int) -> None:
    """Lookups of keys that agree with a stored prefix up to its last bit,
    differ in exactly its last bit, or have a shorter prefixlen, for data
    sizes on both sides of each 8-byte word boundary."""
    rng = random.Random(data_size)
    maxp = data_size * 8
    m = create_map(LPM, "edges", 4 + data_size, 4, 400, BPF_F_NO_PREALLOC)

    def net(a: int, plen: int) -> int:
        return a >> (maxp - plen) << (maxp - plen)

    routes: dict[tuple[int, int], int] = {}
    base = rng.getrandbits(maxp)
    while len(routes) < 300:  # around a few shared prefixes, so they nest
        plen = rng.choice((0, 1, maxp, maxp - 1, 63, 64, 65, 127, 128, 129,
                           rng.randint(0, maxp)))
        plen = min(plen, maxp)
        a = base ^ (rng.getrandbits(maxp) >> rng.randint(0, maxp))
        routes[(plen, net(a, plen))] = rng.getrandbits(31)
    for (plen, a), v in routes.items():
        m.update(struct.pack("<I", plen) + a.to_bytes(data_size, "big"), val(v))
    for (plen, a) in rng.sample(sorted(routes), 300):
        low = rng.getrandbits(maxp - plen) if plen < maxp else 0
        for q in (a | low, (a | low) ^ (1 << (maxp - plen)) if plen else a | low):
            qplen = rng.choice((maxp, maxp, plen, max(plen - 1, 0), rng.randint(0, maxp)))
            best = None
            for p in range(qplen, -1, -1):
                if (p, net(q, p)) in routes:
                    best = routes[(p, net(q, p))]
                    break
            got = m.lookup(struct.pack("<I", qplen) + q.to_bytes(data_size, "big"))
            assert got == (None if best is None else val(best)), (plen, qplen, hex(q))


# ---- against the kernel ----

def _native_rc(fn: object) -> tuple[int, object]:
    try:
        return 0, fn()  # type: ignore[operator]
    except LibbpfError as e:
        assert e.errno is not None
        return -e.errno, None


def _rand_key(rng: random.Random, data_size: int) -> bytes:
    maxp = data_size * 8
    plen = maxp + 1 if rng.random() < 0.03 else rng.randint(0, maxp)
    # few distinct data bytes so that prefixes share bits and collide
    data = bytes(rng.choice((0x00, 0x0F, 0x80, 0xC3, 0xFF)) for _ in range(data_size))
    return struct.pack("<I", plen) + data


@pytest.mark.skipif(WHY is not None, reason=WHY or "")
@pytest.mark.parametrize("data_size,max_entries,seed", [(1, 8, 1), (2, 20, 2), (3, 64, 3),
                                                        (16, 40, 4), (4, 40, 5), (8, 40, 6),
                                                        (12, 40, 7), (24, 40, 8),
                                                        (256, 30, 9)])
def test_against_kernel(data_size: int, max_entries: int, seed: int) -> None:
    rng = random.Random(seed)
    ks = 4 + data_size
    km = KernelMap.create(LPM, ks, 4, max_entries, BPF_F_NO_PREALLOC)
    assert isinstance(km, KernelMap), f"kernel refused the map: {os.strerror(-km)}"
    nm = create_map(LPM, "diff", ks, 4, max_entries, BPF_F_NO_PREALLOC)
    compared = 0
    try:
        for step in range(1500):
            op = rng.random()
            k = _rand_key(rng, data_size)
            if op < 0.45:
                v, fl = val(step), rng.choice((0, 0, 0, 1, 2, 3))
                assert _native_rc(partial(nm.update, k, v, fl))[0] == km.update(k, v, fl), \
                    f"step {step}: update {k.hex()} flags {fl}"
            elif op < 0.7:
                assert _native_rc(partial(nm.delete, k))[0] == km.delete(k), \
                    f"step {step}: delete {k.hex()}"
            elif op < 0.9:
                got = nm.lookup(k)
                assert ((0, got) if got is not None else (-errno.ENOENT, None)) == \
                    km.lookup(k), f"step {step}: lookup {k.hex()}"
            else:
                nk = nm.get_next_key(k)
                assert ((0, nk) if nk is not None else (-errno.ENOENT, None)) == \
                    km.get_next_key(k), f"step {step}: get_next_key {k.hex()}"
            compared += 1
            if step % 100 == 0:  # the whole walk, in order
                walk_n = all_keys(nm)
                walk_k = []
                rc, cur = km.get_next_key(None)
                while rc == 0 and cur is not None:
                    walk_k.append(cur)
                    rc, cur = km.get_next_key(cur)
                assert walk_n == walk_k, f"step {step}: get_next_key order"
                compared += 1
    finally:
        km.close()
    assert compared > 1500


def test_program_lookup_returns_the_value_in_the_map() -> None:
    lookup = helper_by_name("map_lookup_elem")
    assert lookup is not None
    m = ipv4_trie()
    m.update(key(16, 172, 16), val(5))
    vm = Vm(isa.assemble(f"""
        mov %r2, %r1
        lddw %r1, {m.native_address:#x}
        call {lookup.internal}
        jeq %r0, 0, miss
        mov %r1, 1
        lock add32 [%r0], %r1
        ldxw %r0, [%r0]
        exit
    miss:
        mov %r0, 0
        exit
    """))
    register_c_helpers(vm)
    assert vm.run(key(32, 172, 16, 9, 9)) == 6
    assert vm.run(key(32, 172, 17, 9, 9)) == 0
    assert m.lookup(key(16, 172, 16)) == val(6)


def test_concurrent_writers_and_readers() -> None:
    m = create_map(LPM, "conc", 8, 4, 4096, BPF_F_NO_PREALLOC)
    m.update(key(8, 10), val(8))  # always there: every 10.x lookup finds at least it
    errors: list[str] = []
    stop = threading.Event()

    def writer(t: int) -> None:
        rng = random.Random(t)
        for _ in range(3000):
            plen = rng.randint(9, 32)
            k = key(plen, 10, t, rng.randrange(256), rng.randrange(256))
            if rng.random() < 0.6:
                try:
                    m.update(k, val(plen))
                except LibbpfError as e:
                    if e.errno != errno.ENOSPC:
                        errors.append(str(e))
            else:
                try:
                    m.delete(k)
                except LibbpfError as e:
                    if e.errno != errno.ENOENT:
                        errors.append(str(e))

    def reader() -> None:
        rng = random.Random(99)
        while not stop.is_set():
            got = m.lookup(key(32, 10, rng.randrange(4), rng.randrange(256), 1))
            if got is None or not 8 <= int.from_bytes(got, "little") <= 32:
                errors.append(f"lookup gave {got!r}")

    writers = [threading.Thread(target=writer, args=(t,)) for t in range(4)]
    readers = [threading.Thread(target=reader) for _ in range(2)]
    for th in writers + readers:
        th.start()
    for th in writers:
        th.join()
    stop.set()
    for th in readers:
        th.join()
    assert errors == []
    # the trie is still consistent: its walk visits every stored prefix once
    keys = all_keys(m)
    assert len(keys) == len(set(keys)) and key(8, 10) in keys
    for k in keys:
        assert m.lookup(k) is not None


def test_pinned_trie_opens_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "pins"
    monkeypatch.setenv(pinning.PIN_ROOT_ENV, str(root))
    m = ipv4_trie()
    m.update(key(8, 10), val(8))
    m.update(key(24, 10, 1, 2), val(24))
    pinning.pin_map(m, "/sys/fs/bpf/routes")
    # a copy is a different file: opening it maps the region anew
    shutil.copyfile(root / "routes", root / "copy")
    again = pinning.open_pinned("/sys/fs/bpf/copy")
    assert again.lookup(key(32, 10, 1, 2, 3)) == val(24)
    assert list(again.keys()) == [key(24, 10, 1, 2), key(8, 10)]
    again.update(key(16, 10, 1), val(16))
    assert again.lookup(key(32, 10, 1, 9, 9)) == val(16)
    assert m.lookup(key(32, 10, 1, 9, 9)) == val(8)  # the copy is another map
