"""Map store benchmark: ``python -m benchmarks.maps [--quick]``.

Python-side costs through the libbpf mirror (ns per call: lookup, update,
delete + re-insert) on HASH, LRU_HASH (64K entries), ARRAY and PERCPU_ARRAY
(64K entries), and batch lookup throughput (entries/s over the whole map,
8192 per call). Where bpf() is permitted, the same operations on kernel maps
of the same shape run side by side: single operations through a bare ctypes
syscall with the attribute block packed once (so the column is the kernel's
cost plus one ctypes call), batches through BPF_MAP_LOOKUP_BATCH.
"""

from __future__ import annotations

import ctypes
import errno
import struct
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from libbpf_compat import libbpf_maps as bpf
from libbpf_compat.errors import LibbpfError
from libbpf_compat.uapi import (
    BPF_MAP_TYPE_ARRAY,
    BPF_MAP_TYPE_HASH,
    BPF_MAP_TYPE_LRU_HASH,
    BPF_MAP_TYPE_PERCPU_ARRAY,
)
from tests import kernel_bpf

ENTRIES = 1 << 16
BATCH = 8192


@dataclass
class Row:
    kind: str
    op: str
    ours: float
    kernel: float | None
    unit: str


def best_ns(fn: Callable[[], object], n: int, repeat: int = 5) -> float:
    """Best mean ns per call over ``repeat`` runs of ``n`` calls."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter_ns()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter_ns() - t0) / n)
    return best


def keys_for(n: int) -> list[bytes]:
    return [struct.pack("<I", i) for i in range(n)]


def ours_single(map_type: int, value_size: int, n: int) -> tuple[float, float, float | None]:
    fd = bpf.bpf_map_create(map_type, "bench", 4, value_size, ENTRIES)
    try:
        m_info = bpf.bpf_map_get_info_by_fd(fd)
        vsize = len(bpf.bpf_map_lookup_elem(fd, struct.pack("<I", 0))) \
            if m_info.type in (BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_PERCPU_ARRAY) else value_size
        value = bytes(vsize)
        keys = keys_for(ENTRIES)
        for key in keys:
            bpf.bpf_map_update_elem(fd, key, value)
        probe = keys[12345]
        lookup = best_ns(lambda: bpf.bpf_map_lookup_elem(fd, probe), n)
        update = best_ns(lambda: bpf.bpf_map_update_elem(fd, probe, value), n)
        delete: float | None = None
        if map_type in (BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_LRU_HASH):
            def churn() -> None:
                bpf.bpf_map_delete_elem(fd, probe)
                bpf.bpf_map_update_elem(fd, probe, value)
            delete = best_ns(churn, n // 2) - update
        return lookup, update, delete
    finally:
        bpf.close(fd)


def ours_batch(map_type: int, value_size: int) -> float:
    fd = bpf.bpf_map_create(map_type, "bench", 4, value_size, ENTRIES)
    try:
        info = bpf.bpf_map_get_info_by_fd(fd)
        if info.type in (BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_LRU_HASH):
            value = bytes(value_size)
            for key in keys_for(ENTRIES):
                bpf.bpf_map_update_elem(fd, key, value)

        def walk() -> int:
            total, batch = 0, None
            while True:
                try:
                    batch, _, _, count = bpf.bpf_map_lookup_batch(fd, batch, BATCH)
                except LibbpfError as e:  # the last call ended exactly at the end
                    assert e.errno == errno.ENOENT
                    return total
                total += count
                if batch is None:
                    return total
        t = best_ns(walk, 1, 3)
        return walk() / t * 1e9
    finally:
        bpf.close(fd)


class KernelBench:
    """Kernel maps through bare bpf() calls."""

    def __init__(self, map_type: int, value_size: int) -> None:
        km = kernel_bpf.KernelMap.create(map_type, 4, value_size, ENTRIES)
        if isinstance(km, int):
            raise OSError(-km, "kernel map")
        self.km = km
        self.value = bytes(km.user_value_size)
        self.map_type = map_type
        if map_type in (BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_LRU_HASH):
            for key in keys_for(ENTRIES):
                assert km.update(key, self.value) == 0

    def close(self) -> None:
        self.km.close()

    def _call(self, cmd: int, key: bytes, value: bytes | None,
              out: ctypes.Array[ctypes.c_char] | None) -> Callable[[], int]:
        kbuf = ctypes.create_string_buffer(key, len(key))
        vbuf = ctypes.create_string_buffer(value or b"\0", max(len(value or b""), 1)) \
            if out is None else out
        attr = ctypes.create_string_buffer(kernel_bpf.ATTR_SIZE)
        struct.pack_into("IIQQQ", attr, 0, self.km.fd, 0, ctypes.addressof(kbuf),
                         ctypes.addressof(vbuf), 0)
        syscall, addr = kernel_bpf._syscall, ctypes.addressof(attr)
        keep = (kbuf, vbuf, attr)

        def call() -> int:
            return int(syscall(kernel_bpf.NR_BPF, cmd, addr, kernel_bpf.ATTR_SIZE)) + 0 * len(keep)
        return call

    def single(self, n: int) -> tuple[float, float, float | None]:
        probe = struct.pack("<I", 12345)
        out = ctypes.create_string_buffer(max(self.km.user_value_size, 1))
        lookup = self._call(kernel_bpf.BPF_MAP_LOOKUP_ELEM, probe, None, out)
        update = self._call(kernel_bpf.BPF_MAP_UPDATE_ELEM, probe, self.value, None)
        assert lookup() == 0 and update() == 0
        lk, up = best_ns(lookup, n), best_ns(update, n)
        delete: float | None = None
        if self.map_type in (BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_LRU_HASH):
            dl = self._call(kernel_bpf.BPF_MAP_DELETE_ELEM, probe, None, out)

            def churn() -> None:
                dl()
                update()
            delete = best_ns(churn, n // 2) - up
        return lk, up, delete

    def batch(self) -> float:
        """Whole-map BPF_MAP_LOOKUP_BATCH walk, buffers allocated once."""
        km = self.km
        keys = ctypes.create_string_buffer(BATCH * km.key_size)
        values = ctypes.create_string_buffer(BATCH * km.user_value_size)
        tok_in, tok_out = ctypes.create_string_buffer(8), ctypes.create_string_buffer(8)
        attr = ctypes.create_string_buffer(kernel_bpf.ATTR_SIZE)

        def walk() -> int:
            total, first = 0, True
            while True:
                struct.pack_into("QQQQIIQQ", attr, 0, 0 if first else ctypes.addressof(tok_in),
                                 ctypes.addressof(tok_out), ctypes.addressof(keys),
                                 ctypes.addressof(values), BATCH, km.fd, 0, 0)
                rc = kernel_bpf.bpf(kernel_bpf.BPF_MAP_LOOKUP_BATCH, attr)
                if rc not in (0, -errno.ENOENT):
                    raise OSError(-rc, "BPF_MAP_LOOKUP_BATCH")
                total += int(struct.unpack_from("I", attr, 32)[0])
                if rc:
                    return total
                ctypes.memmove(tok_in, tok_out, 8)
                first = False
        t = best_ns(walk, 1, 3)
        return walk() / t * 1e9


def run(quick: bool = False) -> list[Row]:
    n = 20_000 if quick else 200_000
    why = kernel_bpf.unavailable()
    rows: list[Row] = []
    for name, map_type in (("HASH", BPF_MAP_TYPE_HASH), ("LRU_HASH", BPF_MAP_TYPE_LRU_HASH),
                           ("ARRAY", BPF_MAP_TYPE_ARRAY),
                           ("PERCPU_ARRAY", BPF_MAP_TYPE_PERCPU_ARRAY)):
        lk, up, dl = ours_single(map_type, 8, n)
        batch = ours_batch(map_type, 8)
        klk = kup = kdl = kbatch = None
        if why is None:
            kb = KernelBench(map_type, 8)
            try:
                klk, kup, kdl = kb.single(n)
                kbatch = kb.batch()
            finally:
                kb.close()
        rows += [Row(name, "lookup", lk, klk, "ns/op"), Row(name, "update", up, kup, "ns/op")]
        if dl is not None:
            rows.append(Row(name, "delete", dl, kdl, "ns/op"))
        rows.append(Row(name, f"batch lookup ({BATCH}/call)", batch / 1e6, None
                        if kbatch is None else kbatch / 1e6, "M entries/s"))
    return rows


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    why = kernel_bpf.unavailable()
    rows = run(quick="--quick" in args)
    print(f"map store, Python side, {ENTRIES} entries, 4-byte keys, 8-byte values")
    print(f"kernel column: {'bpf() via ctypes' if why is None else 'n/a: ' + why}")
    print(f"{'map':<14}{'operation':<26}{'ours':>10}{'kernel':>10}  unit")
    for r in rows:
        k = "-" if r.kernel is None else f"{r.kernel:.1f}" if r.unit != "ns/op" else \
            f"{r.kernel:.0f}"
        o = f"{r.ours:.1f}" if r.unit != "ns/op" else f"{r.ours:.0f}"
        print(f"{r.kind:<14}{r.op:<26}{o:>10}{k:>10}  {r.unit}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
