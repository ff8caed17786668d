"""The native map store seen from Python: ``NativeMap`` objects over the C
store in ``maps/``, and the table of small-integer file descriptors that the
libbpf mirror hands out.

>>> m = create_map(BpfMapType.BPF_MAP_TYPE_HASH, "counts", 4, 8, 16)
>>> m.update(b"\\x01\\0\\0\\0", b"\\x2a" + bytes(7))
>>> m.lookup(b"\\x01\\0\\0\\0")
b'*\\x00\\x00\\x00\\x00\\x00\\x00\\x00'

Keys and values are bytes-like objects or ctypes instances and come back as
bytes. Per-CPU values use libbpf's form: ``num_possible_cpus()`` slots, each
rounded up to 8 bytes; ``lookup_percpu`` gives them as a list and ``update``
also takes such a list. Every error is a ``LibbpfError`` with Linux's errno and
a message naming the map. All calls are thread-safe (the C store locks), and
a map's memory is freed once no Python object refers to it any more.
"""

from __future__ import annotations

import errno
import itertools
import os
import threading
import weakref
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from libbpf_compat._native import ffi, lib
from libbpf_compat.errors import LibbpfError
from libbpf_compat.uapi import BpfMapType

ENOTSUPP = 524  # Linux-internal errno that bpf() passes to user space

_lookup_copy = lib.lbc_map_lookup_copy
_update_user = lib.lbc_map_update_user


#: What a key or value may be: bytes-like objects and ctypes instances.
BytesLike = bytes | bytearray | memoryview | Any

PERCPU_TYPES = frozenset({BpfMapType.BPF_MAP_TYPE_PERCPU_HASH,
                          BpfMapType.BPF_MAP_TYPE_PERCPU_ARRAY,
                          BpfMapType.BPF_MAP_TYPE_LRU_PERCPU_HASH})

_ERRNO_TEXT = {
    errno.ENOENT: "no such element",
    errno.EEXIST: "element exists (BPF_NOEXIST)",
    errno.E2BIG: "map is full or index out of range",
    errno.EINVAL: "invalid argument",
    errno.EPERM: "operation not permitted (frozen or read/write-only map)",
    errno.ENOMEM: "cannot allocate the map",
    errno.EBUSY: "map is busy (already frozen)",
    errno.ENOSPC: "batch buffer too small for one bucket",
    ENOTSUPP: "operation not supported by this map type",
}


_new_uncleared = ffi.new_allocator(should_clear_after_alloc=False)
_views_lock = threading.Lock()


def split_records(buf: bytes, size: int) -> list[bytes]:
    """A flat buffer of fixed-size records (a batch's keys or values) as a list."""
    return [buf[i:i + size] for i in range(0, len(buf), size)] if size else []


def num_possible_cpus() -> int:
    """The number of per-CPU slots (the host's possible CPUs, as libbpf)."""
    return int(lib.lbc_num_possible_cpus())


def _to_bytes(obj: BytesLike) -> bytes:
    if type(obj) is bytes:
        return obj
    try:
        return bytes(memoryview(obj))
    except TypeError:
        raise LibbpfError(errno.EINVAL,
                          f"expected a bytes-like object or ctypes instance, "
                          f"not {type(obj).__name__}") from None


class NativeMap:
    """One map of the native store. Create with ``create_map``."""

    #: writable ``mmap`` views alive (freeze is EBUSY meanwhile)
    _writable_views = 0

    def __init__(self, ptr: Any, map_type: int, name: str, key_size: int, value_size: int,
                 max_entries: int, map_flags: int, spin_lock_off: int = -1) -> None:
        self._ptr = ptr
        self.map_type = map_type
        self.name = name
        self.key_size = key_size
        self.value_size = value_size
        self.max_entries = max_entries
        self.map_flags = map_flags
        self.spin_lock_off = spin_lock_off
        self.percpu = map_type in PERCPU_TYPES
        #: bytes of a value in user form (all slots for per-CPU maps)
        self.user_value_size = int(lib.lbc_map_user_value_size(ptr))
        self.ncpus = num_possible_cpus() if self.percpu else 1
        self.id = _register(self)
        # Output buffers, reused: taken from and put back on a free list so
        # that threads calling at once never share one (list ops are atomic).
        self._bufs: list[tuple[bytearray, Any]] = []

    def __repr__(self) -> str:
        try:
            kind = BpfMapType(self.map_type).name
        except ValueError:
            kind = str(self.map_type)
        return (f"<NativeMap {self.name!r} {kind} key={self.key_size} "
                f"value={self.value_size} max={self.max_entries} id={self.id}>")

    # ---- errors and argument conversion ----

    def error(self, rc: int, what: str) -> LibbpfError:
        err = -rc
        text = _ERRNO_TEXT.get(err, os.strerror(err))
        return LibbpfError(err, f"map '{self.name}': {what}: {text}")

    def _key(self, key: BytesLike | None) -> Any:
        """The key as bytes for C (ffi.NULL for keyless maps)."""
        if self.key_size == 0:  # queue, stack, bloom filter: no key (None or b"")
            if key is None or (type(key) is bytes and not key):
                return ffi.NULL
            raise LibbpfError(errno.EINVAL, f"map '{self.name}' has no keys: pass None")
        if key is None:
            raise LibbpfError(errno.EINVAL, f"map '{self.name}': a key is needed")
        k = key if type(key) is bytes else _to_bytes(key)
        if len(k) != self.key_size:
            raise LibbpfError(errno.EINVAL, f"map '{self.name}': key is {len(k)} bytes, "
                                            f"the map's key_size is {self.key_size}")
        return k

    def _value(self, value: BytesLike | Sequence[BytesLike]) -> bytes:
        if self.percpu and isinstance(value, (list, tuple)):
            return self._percpu_value(value)
        v = value if type(value) is bytes else _to_bytes(value)
        if len(v) != self.user_value_size:
            raise LibbpfError(errno.EINVAL, f"map '{self.name}': value is {len(v)} bytes, "
                                            f"expected {self.user_value_size}")
        return v

    def _percpu_value(self, values: Sequence[BytesLike]) -> bytes:
        if len(values) != self.ncpus:
            raise LibbpfError(errno.EINVAL, f"map '{self.name}': per-CPU value needs "
                                            f"{self.ncpus} slots, got {len(values)}")
        stride = (self.value_size + 7) & ~7
        parts = []
        for v in values:
            b = _to_bytes(v)
            if len(b) != self.value_size:
                raise LibbpfError(errno.EINVAL, f"map '{self.name}': per-CPU slot value is "
                                                f"{len(b)} bytes, expected {self.value_size}")
            parts.append(b + bytes(stride - len(b)))
        return b"".join(parts)

    def _buf(self) -> tuple[bytearray, Any]:
        b = bytearray(max(self.user_value_size, 1))
        return b, ffi.from_buffer(b)

    # ---- single elements ----

    def lookup(self, key: BytesLike | None, flags: int = 0) -> bytes | None:
        """The value (user form), or None when the key is absent (for a
        queue or stack, key None: the value pop would return, or None when
        empty)."""
        k = key if type(key) is bytes and len(key) == self.key_size else self._key(key)
        try:
            buf = self._bufs.pop()
        except IndexError:
            buf = self._buf()
        rc = _lookup_copy(self._ptr, k, buf[1], flags)
        out = bytes(buf[0]) if rc == 0 else None
        self._bufs.append(buf)
        if rc == 0 or rc == -errno.ENOENT:
            return out
        raise self.error(rc, "lookup")

    def bloom_contains(self, value: BytesLike, flags: int = 0) -> bool:
        """BLOOM_FILTER: is ``value`` maybe in the set (False: certainly not)?"""
        v = self._value(value)
        rc = int(_lookup_copy(self._ptr, ffi.NULL, v, flags))
        if rc == 0 or rc == -errno.ENOENT:
            return rc == 0
        raise self.error(rc, "lookup")

    def lookup_percpu(self, key: BytesLike, flags: int = 0) -> list[bytes] | None:
        """A per-CPU value as one ``value_size`` bytes entry per slot."""
        raw = self.lookup(key, flags)
        if raw is None:
            return None
        if not self.percpu:
            return [raw]
        stride = (self.value_size + 7) & ~7
        return [raw[i * stride:i * stride + self.value_size] for i in range(self.ncpus)]

    def update(self, key: BytesLike | None, value: BytesLike | Sequence[BytesLike],
               flags: int = 0) -> None:
        """Set key's value (queue or stack, key None: push)."""
        k = key if type(key) is bytes and len(key) == self.key_size else self._key(key)
        v = (value if type(value) is bytes and len(value) == self.user_value_size
             else self._value(value))
        rc = _update_user(self._ptr, k, v, flags)
        if rc:
            raise self.error(rc, "update")

    def delete(self, key: BytesLike | None) -> None:
        rc = lib.lbc_map_delete_user(self._ptr, self._key(key))
        if rc:
            raise self.error(rc, "delete")

    def lookup_and_delete(self, key: BytesLike | None, flags: int = 0) -> bytes:
        """Take key's value out (queue or stack, key None: pop)."""
        buf = ffi.new("char[]", max(self.user_value_size, 1))
        rc = lib.lbc_map_lookup_and_delete(self._ptr, self._key(key), buf, flags)
        if rc:
            raise self.error(rc, "lookup_and_delete")
        out: bytes = ffi.unpack(buf, self.user_value_size)
        return out

    def get_next_key(self, key: BytesLike | None) -> bytes | None:
        """The key after ``key`` (the first key for None or a missing key);
        None after the last."""
        k = ffi.NULL if key is None else self._key(key)
        nxt = ffi.new("char[]", max(self.key_size, 1))
        rc = lib.lbc_map_get_next_key_user(self._ptr, k, nxt)
        if rc == -errno.ENOENT:
            return None
        if rc:
            raise self.error(rc, "get_next_key")
        out: bytes = ffi.unpack(nxt, self.key_size)
        return out

    def __iter__(self) -> Iterator[bytes]:
        return self.keys()

    def keys(self) -> Iterator[bytes]:
        """Every key, in get_next_key order."""
        k = self.get_next_key(None)
        while k is not None:
            yield k
            k = self.get_next_key(k)

    def freeze(self) -> None:
        """BPF_MAP_FREEZE: EBUSY when already frozen or while a writable
        ``mmap`` view of the map is alive (as Linux's writable mappings)."""
        if self._writable_views:
            raise LibbpfError(errno.EBUSY, f"map '{self.name}': freeze: a writable mmap view "
                                           f"of the map is in use")
        rc = lib.lbc_map_freeze(self._ptr)
        if rc:
            raise self.error(rc, "freeze")

    # ---- batches ----

    @property
    def batch_token_size(self) -> int:
        return int(lib.lbc_map_batch_token_size(self._ptr))

    def lookup_batch_raw(self, in_batch: bytes | None, count: int, elem_flags: int = 0,
                         delete: bool = False) -> tuple[int, bytes, bytes, bytes, int]:
        """Linux's BPF_MAP_LOOKUP(_AND_DELETE)_BATCH, in C's form: returns
        (rc, out_batch, keys, values, count) with keys and values as flat
        buffers of count records; rc is 0 or -ENOENT (the end), other errors
        raise."""
        what = "lookup_and_delete_batch" if delete else "lookup_batch"
        if not 0 <= count <= 0xFFFFFFFF:
            raise LibbpfError(errno.EINVAL, f"map '{self.name}': {what}: bad count {count}")
        tsize = self.batch_token_size
        if in_batch is not None:
            in_batch = _to_bytes(in_batch)
            if len(in_batch) != tsize:
                raise LibbpfError(errno.EINVAL, f"map '{self.name}': {what}: batch token is "
                                                f"{len(in_batch)} bytes, expected {tsize}")
        ks, vs = self.key_size, self.user_value_size
        # a batch never holds more than the map: with one slot more this
        # room acts exactly as ``count`` (the walk then reaches the end)
        n = min(count, self.max_entries + 1)
        keys = _new_uncleared("char[]", max(n * ks, 1))
        values = _new_uncleared("char[]", max(n * vs, 1))
        out_tok = ffi.new("char[]", tsize)
        cnt = ffi.new("uint32_t *", n)
        rc = lib.lbc_map_lookup_batch(self._ptr, ffi.NULL if in_batch is None else in_batch,
                                      out_tok, keys, values, cnt, elem_flags, int(delete))
        if rc not in (0, -errno.ENOENT):
            raise self.error(rc, what)
        got = int(cnt[0])
        return (rc, ffi.unpack(out_tok, tsize), ffi.unpack(keys, got * ks),
                ffi.unpack(values, got * vs), got)

    def lookup_batch(self, in_batch: bytes | None, count: int, elem_flags: int = 0,
                     delete: bool = False) -> tuple[int, bytes, list[bytes], list[bytes]]:
        """As ``lookup_batch_raw``, with keys and values as lists:
        (rc, out_batch, keys, values)."""
        rc, tok, kb, vb, _ = self.lookup_batch_raw(in_batch, count, elem_flags, delete)
        return rc, tok, split_records(kb, self.key_size), split_records(vb,
                                                                        self.user_value_size)

    def update_batch(self, keys: Iterable[BytesLike], values: Iterable[BytesLike],
                     elem_flags: int = 0) -> tuple[int, int]:
        """Returns (rc, number updated); stops at the first error."""
        if self.key_size == 0:
            return -ENOTSUPP, 0
        kb = b"".join(self._key(k) for k in keys)
        vb = b"".join(self._value(v) for v in values)
        n = len(kb) // max(self.key_size, 1)
        if len(vb) != n * self.user_value_size:
            raise LibbpfError(errno.EINVAL, f"map '{self.name}': update_batch: "
                                            f"{n} keys but {len(vb) // self.user_value_size}"
                                            f" values")
        cnt = ffi.new("uint32_t *", n)
        rc = lib.lbc_map_update_batch(self._ptr, kb, vb, cnt, elem_flags)
        return rc, int(cnt[0])

    def delete_batch(self, keys: Iterable[BytesLike], elem_flags: int = 0) -> tuple[int, int]:
        """Returns (rc, number deleted); stops at the first error."""
        if self.key_size == 0:
            return -ENOTSUPP, 0
        kb = b"".join(self._key(k) for k in keys)
        cnt = ffi.new("uint32_t *", len(kb) // max(self.key_size, 1))
        rc = lib.lbc_map_delete_batch(self._ptr, kb, cnt, elem_flags)
        return rc, int(cnt[0])

    # ---- native addresses (for the loader) ----

    def region(self) -> tuple[int, int]:
        """(address, size) of the map's memory region: where the pointers a
        program gets from this map (values, ring buffer records) point."""
        size = ffi.new("uint64_t *")
        addr = lib.lbc_map_region(self._ptr, size)
        return int(ffi.cast("uintptr_t", addr)), int(size[0])

    def mmap(self, writable: bool = True) -> memoryview:
        """The value area of a ``BPF_F_MMAPABLE`` ARRAY as Linux's ``mmap`` of
        the map shows it: ``max_entries`` values, each rounded up to 8 bytes.
        Writes through the view are the map's values (lookups and programs
        see them, and the view sees theirs); the view keeps the map alive,
        and while a writable one lives the map cannot be frozen (EBUSY).
        EINVAL for any other map; a writable view of a frozen map is EPERM,
        of a ``BPF_F_RDONLY_PROG`` map EACCES (ask for ``writable=False``)."""
        out = ffi.new("void **")
        size = ffi.new("uint64_t *")
        rc = lib.lbc_map_mmap_area(self._ptr, int(writable), out, size)
        if rc == -errno.EINVAL:
            raise LibbpfError(errno.EINVAL, f"map '{self.name}': mmap: only ARRAY maps "
                                            f"created with BPF_F_MMAPABLE can be mapped")
        if rc == -errno.EPERM:
            raise LibbpfError(errno.EPERM, f"map '{self.name}': mmap: the map is frozen: "
                                           f"only a read-only view is possible")
        if rc == -errno.EACCES:
            raise LibbpfError(errno.EACCES, f"map '{self.name}': mmap: the map is read-only "
                                            f"for programs (BPF_F_RDONLY_PROG): only a "
                                            f"read-only view is possible")
        if rc:
            raise self.error(rc, "mmap")

        def release(_area: Any, _map: NativeMap = self) -> None:
            """Destructor of the area's pointer, which holds the map until then."""
            if writable:
                with _views_lock:
                    _map._writable_views -= 1

        if writable:
            with _views_lock:
                self._writable_views += 1
        area = ffi.gc(ffi.cast("char *", out[0]), release)
        view = memoryview(ffi.buffer(area, int(size[0])))
        return view if writable else view.toreadonly()

    @property
    def native_address(self) -> int:
        """Address of the C ``lbc_map``: what an lddw map reference becomes."""
        return int(ffi.cast("uintptr_t", self._ptr))

    @property
    def ptr(self) -> Any:
        """The cffi ``lbc_map *`` (valid while this object lives)."""
        return self._ptr

    def value_address(self, key: BytesLike) -> int:
        """Address of the value for ``key`` inside the map's region (for
        per-CPU maps, slot 0's), e.g. for global data relocations; ENOENT
        when the key is absent."""
        p = lib.lbc_map_lookup(self._ptr, self._key(key))
        if p == ffi.NULL:
            raise self.error(-errno.ENOENT, "value_address")
        return int(ffi.cast("uintptr_t", p))


def create_map(map_type: int, name: str, key_size: int, value_size: int, max_entries: int,
               map_flags: int = 0, spin_lock_off: int = -1, map_extra: int = 0,
               inner_map: NativeMap | int | None = None) -> NativeMap:
    """Create a map in the native store (Linux's BPF_MAP_CREATE checks and
    errno values). ``spin_lock_off`` is the offset of a ``struct
    bpf_spin_lock`` in the value (from BTF), -1 when there is none.
    ``inner_map`` (a map or its fd) is the inner map template of a map of
    maps."""
    for field, v, bits in (("key_size", key_size, 32), ("value_size", value_size, 32),
                           ("max_entries", max_entries, 32), ("map_flags", map_flags, 32),
                           ("map_type", map_type, 32), ("map_extra", map_extra, 64)):
        if not 0 <= v < 1 << bits:
            raise LibbpfError(errno.EINVAL, f"map '{name}': {field} {v} out of range")
    if not -1 <= spin_lock_off < 1 << 31:
        raise LibbpfError(errno.EINVAL, f"map '{name}': bad spin_lock_off {spin_lock_off}")
    attr = ffi.new("lbc_map_attr *", {
        "map_type": map_type, "key_size": key_size, "value_size": value_size,
        "max_entries": max_entries, "map_flags": map_flags, "spin_lock_off": spin_lock_off,
        "map_extra": map_extra})
    out = ffi.new("lbc_map **")
    rc = lib.lbc_map_create(attr, out)
    if rc:
        try:
            kind = BpfMapType(map_type).name
        except ValueError:
            kind = f"map type {map_type}"
        text = _ERRNO_TEXT.get(-rc, os.strerror(-rc))
        if rc == -errno.EINVAL and map_type not in _SUPPORTED_TYPES:
            text = f"{kind} is not supported"
        raise LibbpfError(-rc, f"map '{name}' ({kind}, key_size={key_size}, "
                               f"value_size={value_size}, max_entries={max_entries}, "
                               f"map_flags={map_flags:#x}): {text}")
    ptr = ffi.gc(out[0], lib.lbc_map_free)
    # Linux may adjust max_entries (BPF_F_NO_COMMON_LRU rounds it to the CPU count)
    real_max = _real_max_entries(map_type, max_entries, map_flags)
    if map_type in _REF_TYPES:  # values are fds: mapstore_fd.py
        from libbpf_compat.mapstore_fd import ref_map
        return ref_map(ptr, map_type, name, key_size, value_size, real_max, map_flags,
                       inner_map)
    return NativeMap(ptr, map_type, name, key_size, value_size, real_max, map_flags,
                     spin_lock_off)


_SUPPORTED_TYPES = frozenset({BpfMapType.BPF_MAP_TYPE_HASH, BpfMapType.BPF_MAP_TYPE_ARRAY,
                              BpfMapType.BPF_MAP_TYPE_PERCPU_HASH,
                              BpfMapType.BPF_MAP_TYPE_PERCPU_ARRAY,
                              BpfMapType.BPF_MAP_TYPE_LRU_HASH,
                              BpfMapType.BPF_MAP_TYPE_LRU_PERCPU_HASH,
                              BpfMapType.BPF_MAP_TYPE_QUEUE, BpfMapType.BPF_MAP_TYPE_STACK,
                              BpfMapType.BPF_MAP_TYPE_BLOOM_FILTER,
                              BpfMapType.BPF_MAP_TYPE_RINGBUF,
                              BpfMapType.BPF_MAP_TYPE_LPM_TRIE,
                              BpfMapType.BPF_MAP_TYPE_PROG_ARRAY,
                              BpfMapType.BPF_MAP_TYPE_ARRAY_OF_MAPS,
                              BpfMapType.BPF_MAP_TYPE_HASH_OF_MAPS,
                              BpfMapType.BPF_MAP_TYPE_PERF_EVENT_ARRAY,
                              BpfMapType.BPF_MAP_TYPE_DEVMAP,
                              BpfMapType.BPF_MAP_TYPE_DEVMAP_HASH})
_REF_TYPES = frozenset({BpfMapType.BPF_MAP_TYPE_PROG_ARRAY,
                        BpfMapType.BPF_MAP_TYPE_PERF_EVENT_ARRAY,
                        BpfMapType.BPF_MAP_TYPE_ARRAY_OF_MAPS,
                        BpfMapType.BPF_MAP_TYPE_HASH_OF_MAPS})
#: The map types the store implements (compat_matrix.md is generated from it).
SUPPORTED_MAP_TYPES = _SUPPORTED_TYPES


def _real_max_entries(map_type: int, max_entries: int, map_flags: int) -> int:
    if map_flags & 2 and map_type in (BpfMapType.BPF_MAP_TYPE_LRU_HASH,
                                      BpfMapType.BPF_MAP_TYPE_LRU_PERCPU_HASH):
        c = num_possible_cpus()
        up = -(-max_entries // c) * c
        return up if up <= 0xFFFFFFFF else max_entries // c * c
    return max_entries


# ---- map ids (bpf_map_get_next_id / bpf_map_get_fd_by_id) ----

_ids = itertools.count(1)
_by_id: weakref.WeakValueDictionary[int, NativeMap] = weakref.WeakValueDictionary()
_id_lock = threading.Lock()


def _register(m: NativeMap) -> int:
    with _id_lock:
        i = next(_ids)
        _by_id[i] = m
        return i


def map_by_id(map_id: int) -> NativeMap | None:
    return _by_id.get(map_id)


def next_map_id(start_id: int) -> int | None:
    """The smallest id of a live map above start_id, or None."""
    with _id_lock:
        later = [i for i in _by_id if i > start_id]
    return min(later) if later else None


# ---- the fd table ----

class FdTable:
    """Small-integer descriptors for maps (and later programs and links),
    allocated like POSIX file descriptors: the lowest free number from 3 up.
    Closing an fd drops the table's reference; the object itself is freed
    once nothing else refers to it (another fd, a loaded program)."""

    FIRST_FD = 3

    def __init__(self) -> None:
        self._objs: dict[int, object] = {}
        #: the fds that are maps (read without the lock: dict reads are atomic)
        self.maps: dict[int, NativeMap] = {}
        self._lock = threading.Lock()

    def install(self, obj: object) -> int:
        with self._lock:
            fd = self.FIRST_FD
            while fd in self._objs:
                fd += 1
            self._objs[fd] = obj
            if isinstance(obj, NativeMap):
                self.maps[fd] = obj
            return fd

    def get(self, fd: int) -> object:
        try:
            return self._objs[fd]
        except (KeyError, TypeError):
            raise LibbpfError(errno.EBADF, f"fd {fd!r} is not open") from None

    def get_map(self, fd: int) -> NativeMap:
        m = self.maps.get(fd) if type(fd) is int else None
        if m is not None:
            return m
        obj = self._objs.get(fd) if type(fd) is int else None
        if obj is None:
            raise LibbpfError(errno.EBADF, f"fd {fd!r} is not open")
        raise LibbpfError(errno.EINVAL, f"fd {fd} is not a map")

    def close(self, fd: int) -> None:
        with self._lock:
            self.maps.pop(fd, None)
            if self._objs.pop(fd, None) is None:
                raise LibbpfError(errno.EBADF, f"fd {fd!r} is not open")

    def __contains__(self, fd: object) -> bool:
        return fd in self._objs

    def __len__(self) -> int:
        return len(self._objs)


#: The process-wide table the libbpf mirror uses.
fd_table = FdTable()

__all__ = ["ENOTSUPP", "PERCPU_TYPES", "FdTable", "NativeMap", "create_map", "fd_table",
           "map_by_id", "next_map_id", "num_possible_cpus", "split_records"]
