"""Several threads on one map at once. Each map call runs in C with the GIL
released, so these calls really overlap; the results must be exact."""

from __future__ import annotations

import errno
import struct
import threading
from collections.abc import Callable

from libbpf_compat._native import ffi, lib

from libbpf_compat.errors import LibbpfError
from libbpf_compat.mapstore import create_map, num_possible_cpus
from libbpf_compat.uapi import (
    BPF_MAP_TYPE_ARRAY,
    BPF_MAP_TYPE_HASH,
    BPF_MAP_TYPE_LRU_HASH,
    BPF_MAP_TYPE_PERCPU_HASH,
    BPF_NOEXIST,
)
from libbpf_compat.vm import Vm
from tests import rawcode as rc

THREADS = 4


def run_threads(target: Callable[[int], None], n: int = THREADS) -> None:
    errors: list[BaseException] = []

    def wrap(i: int) -> None:
        try:
            target(i)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=wrap, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]


def k(i: int) -> bytes:
    return struct.pack("<I", i)


def test_disjoint_inserts_and_deletes_are_exact() -> None:
    m = create_map(BPF_MAP_TYPE_HASH, "churn", 4, 8, 4000)

    def worker(t: int) -> None:
        for round_ in range(5):
            for i in range(t, 4000, THREADS):
                m.update(k(i), struct.pack("<Q", i * 10 + round_))
            for i in range(t, 4000, THREADS * 2):
                m.delete(k(i))
        for i in range(t, 4000, THREADS * 2):
            m.update(k(i), struct.pack("<Q", i * 10 + 9), BPF_NOEXIST)

    run_threads(worker)
    keys = set(m.keys())
    assert keys == {k(i) for i in range(4000)}
    for i in range(4000):
        assert m.lookup(k(i)) == struct.pack("<Q", i * 10 + (9 if i % 8 < 4 else 4))


def test_lookups_never_miss_present_keys_during_churn() -> None:
    m = create_map(BPF_MAP_TYPE_HASH, "mixed", 4, 8, 256)
    for i in range(64):  # permanent keys, sharing buckets with churned ones
        m.update(k(i), struct.pack("<Q", i))
    stop = threading.Event()
    misses: list[int] = []

    def writer(t: int) -> None:
        base = 1000 + t * 1000
        while not stop.is_set():
            for i in range(base, base + 40):
                m.update(k(i), bytes(8))
            for i in range(base, base + 40):
                m.delete(k(i))

    def reader() -> None:
        for _ in range(300):
            for i in range(64):
                if m.lookup(k(i)) != struct.pack("<Q", i):
                    misses.append(i)
        stop.set()

    writers = [threading.Thread(target=writer, args=(t,)) for t in range(3)]
    for w in writers:
        w.start()
    try:
        reader()
    finally:
        stop.set()
        for w in writers:
            w.join()
    assert misses == []


def test_each_key_popped_exactly_once() -> None:
    m = create_map(BPF_MAP_TYPE_HASH, "pop", 4, 8, 5000)
    for i in range(5000):
        m.update(k(i), struct.pack("<Q", i))
    popped: list[list[int]] = [[] for _ in range(THREADS)]

    def worker(t: int) -> None:
        for i in range(5000):
            try:
                v = m.lookup_and_delete(k(i))
            except LibbpfError as e:
                assert e.errno == errno.ENOENT
                continue
            popped[t].append(struct.unpack("<Q", v)[0])

    run_threads(worker)
    everything = [x for p in popped for x in p]
    assert sorted(everything) == list(range(5000))
    assert m.get_next_key(None) is None


def test_full_map_admits_exactly_max_entries() -> None:
    m = create_map(BPF_MAP_TYPE_HASH, "race", 4, 8, 1000)
    admitted = [0] * THREADS

    def worker(t: int) -> None:
        for i in range(t * 10_000, t * 10_000 + 600):
            try:
                m.update(k(i), bytes(8))
                admitted[t] += 1
            except LibbpfError as e:
                assert e.errno == errno.E2BIG

    run_threads(worker)
    assert sum(admitted) == 1000
    assert len(list(m.keys())) == 1000


def test_lru_stays_consistent_under_contention() -> None:
    m = create_map(BPF_MAP_TYPE_LRU_HASH, "lru", 4, 8, 128)

    def worker(t: int) -> None:
        for i in range(3000):
            key = k(t * 100_000 + i)
            m.update(key, struct.pack("<Q", i))
            if i % 3 == 0:
                m.lookup(k(t * 100_000 + i // 2))
            if i % 5 == 1:
                try:
                    m.delete(k(t * 100_000 + i - 1))
                except LibbpfError as e:
                    assert e.errno == errno.ENOENT

    run_threads(worker)
    keys = list(m.keys())
    assert 0 < len(keys) <= 128 and len(set(keys)) == len(keys)
    for key in keys:
        i = struct.unpack("<I", key)[0] % 100_000
        assert m.lookup(key) == struct.pack("<Q", i)
    # every element is still usable: the map can be filled completely again
    for key in keys:
        m.delete(key)
    for i in range(128):
        m.update(k(i), bytes(8))
    assert len(list(m.keys())) == 128


def test_atomic_counting_on_a_map_value() -> None:
    """Programs running at once add to one array value with atomic adds while
    other threads update neighbouring elements: the total is exact."""
    m = create_map(BPF_MAP_TYPE_ARRAY, "counter", 4, 8, 16)
    addr = m.value_address(k(5))
    view = memoryview(ffi.buffer(ffi.cast("char *", addr), 8))
    loop = (rc.mov(2, 1) + rc.mov(3, 0)
            + rc.atomic(rc.DW, 1, 2, 0, 0x00)
            + rc.alu("add", 3, 1, reg=False)
            + rc.jmp("jlt", 3, 5_000, -3, reg=False)
            + rc.mov(0, 0) + rc.exit_())
    vm = Vm(loop)

    def worker(t: int) -> None:
        for r in range(4):
            vm.run(view)
            m.update(k(t), struct.pack("<Q", r))  # neighbours change meanwhile

    run_threads(worker)
    assert m.lookup(k(5)) == struct.pack("<Q", THREADS * 4 * 5_000)


def test_cpu_slots_are_never_shared() -> None:
    """Threads holding a claimed slot at the same moment have distinct slots;
    with more threads than slots, the others wait for a release."""
    n = num_possible_cpus()
    holders = n + 2
    held: list[int] = []
    lock = threading.Lock()
    overlap_ok = [True]

    def worker(_: int) -> None:
        for _ in range(200):
            slot = lib.lbc_cpu_slot_claim()
            assert lib.lbc_cpu_slot() == slot
            with lock:
                if slot in held:
                    overlap_ok[0] = False
                held.append(slot)
            assert lib.lbc_cpu_slot_claim() == slot  # nested claims keep it
            lib.lbc_cpu_slot_release()
            with lock:
                held.remove(slot)
            lib.lbc_cpu_slot_release()

    run_threads(worker, holders)
    assert overlap_ok[0]
    assert lib.lbc_cpu_slot() == 0  # nothing held: user-space slot
    assert 0 < n <= 4096


def test_program_side_per_cpu_updates_use_the_claimed_slot() -> None:
    """A program's update of a per-CPU value writes its run's slot only (a new
    element starts zero elsewhere), and its lookup returns that slot."""
    n = num_possible_cpus()
    m = create_map(BPF_MAP_TYPE_PERCPU_HASH, "pcs", 4, 8, 4)
    seen: list[int] = []

    def worker(_: int) -> None:
        slot = lib.lbc_cpu_slot_claim()
        try:
            assert lib.lbc_map_update(m.ptr, k(1), struct.pack("<Q", 100 + slot), 0) == 0
            p = lib.lbc_map_lookup(m.ptr, k(1))
            assert struct.unpack("<Q", ffi.unpack(ffi.cast("char *", p), 8))[0] == 100 + slot
            seen.append(slot)
        finally:
            lib.lbc_cpu_slot_release()

    run_threads(worker, 1)
    slots = m.lookup_percpu(k(1))
    assert slots is not None and len(slots) == n
    for s, value in enumerate(slots):
        assert value == struct.pack("<Q", 100 + s if s == seen[0] else 0)
