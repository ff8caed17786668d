"""Maps whose values are references: PROG_ARRAY, ARRAY_OF_MAPS,
HASH_OF_MAPS and PERF_EVENT_ARRAY (``maps/map_prog_array.c``,
``maps/map_of_maps.c``, ``maps/map_perf.c``).

From user space their values are file descriptors (4 bytes, as Linux),
which only this layer can resolve through ``mapstore.fd_table``:

- a PROG_ARRAY value is the fd of a program: any object in the fd table
  with a ``prog_handle`` attribute (the int handle of its native program,
  for the VM ``int(ffi.cast("uintptr_t", lbc_prog))``) and optionally a
  ``prog_id`` (what lookups return, 0 when it has none); the tail-call
  helper continues the run in that program;
- a map-of-maps value is the fd of a map compatible with the inner map the
  outer one was created with (same type, key and value sizes and flags,
  and for arrays max_entries unless the template had BPF_F_INNER_MAP);
- a PERF_EVENT_ARRAY value is the fd of a perf buffer: an object with a
  ``perf_ring`` attribute (an ``lbc_perf_ring *``), as ``perfbuf.py``
  makes (EBADF for any other fd, as Linux for a non-perf fd).

Lookups from user space give the program's or inner map's id (u32), as
Linux. Errors are Linux's: EBADF for an fd that is not open, EINVAL for an
fd of the wrong kind or an incompatible map, EINVAL for flags other than
BPF_ANY on arrays, E2BIG past the end. The map keeps what it refers to
alive; a map or program replaced or deleted stays alive as long as the
outer map (a program may still use it: there are no grace periods here).
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Iterable
from typing import Any

from libbpf_compat._native import ffi, lib
from libbpf_compat.errors import LibbpfError
from libbpf_compat.mapstore import ENOTSUPP, BytesLike, NativeMap, fd_table
from libbpf_compat.uapi import BpfMapType

PROG_ARRAY = BpfMapType.BPF_MAP_TYPE_PROG_ARRAY
ARRAY_OF_MAPS = BpfMapType.BPF_MAP_TYPE_ARRAY_OF_MAPS
HASH_OF_MAPS = BpfMapType.BPF_MAP_TYPE_HASH_OF_MAPS
PERF_EVENT_ARRAY = BpfMapType.BPF_MAP_TYPE_PERF_EVENT_ARRAY
#: The map types whose values are file descriptors.
REF_MAP_TYPES = frozenset({PROG_ARRAY, ARRAY_OF_MAPS, HASH_OF_MAPS, PERF_EVENT_ARRAY})


class RefMap(NativeMap):
    """A PROG_ARRAY, ARRAY_OF_MAPS or HASH_OF_MAPS; values are fds (u32)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user_value_size = 4
        #: key -> the program or inner map the slot refers to
        self._refs: dict[bytes, object] = {}
        self._retired: list[object] = []
        #: the inner map template (maps of maps)
        self.inner_map: NativeMap | None = None

    def _fd_of(self, value: BytesLike | Any) -> int:
        if isinstance(value, int):
            return value
        return int.from_bytes(self._value(value), "little")

    def update(self, key: BytesLike | None, value: Any, flags: int = 0) -> None:
        """Store the program or map whose fd is ``value`` (4 bytes, or an int)."""
        k = self._key(key)
        fd = self._fd_of(value)
        # Linux's order: access and (arrays) flags and index, then the fd,
        # then (hashes) the update's own flags
        rc = lib.lbc_fd_map_update_check(self._ptr, k, flags)
        if rc:
            raise self.error(rc, "update")
        obj = self._resolve(fd)
        if self.map_type == PERF_EVENT_ARRAY:
            rc = lib.lbc_perf_event_array_set(self._ptr, int.from_bytes(k, "little"),
                                              obj.perf_ring)  # type: ignore[attr-defined]
        elif self.map_type == PROG_ARRAY:
            rc = lib.lbc_prog_array_set(self._ptr, int.from_bytes(k, "little"),
                                        int(obj.prog_handle),  # type: ignore[attr-defined]
                                        int(getattr(obj, "prog_id", 0)) & 0xFFFFFFFF)
        else:
            assert isinstance(obj, NativeMap)
            rc = lib.lbc_map_of_maps_update(self._ptr, k, obj.ptr, obj.id & 0xFFFFFFFF, flags)
        if rc:
            raise self.error(rc, "update")
        old = self._refs.get(k)
        if old is not None:
            self._retired.append(old)
        self._refs[k] = obj

    def _resolve(self, fd: int) -> object:
        obj = fd_table.get(fd)  # EBADF when not open
        if self.map_type == PERF_EVENT_ARRAY:
            if getattr(obj, "perf_ring", None) is None:
                raise LibbpfError(errno.EBADF, f"map '{self.name}': fd {fd} is not a perf "
                                               f"event")
        elif self.map_type == PROG_ARRAY:
            if getattr(obj, "prog_handle", None) is None:
                raise LibbpfError(errno.EINVAL, f"map '{self.name}': fd {fd} is not a program")
        elif not isinstance(obj, NativeMap):
            raise LibbpfError(errno.EINVAL, f"map '{self.name}': fd {fd} is not a map")
        return obj

    def delete(self, key: BytesLike | None) -> None:
        k = self._key(key)
        super().delete(k)
        old = self._refs.pop(k, None)
        if old is not None:
            self._retired.append(old)

    def update_batch(self, keys: Iterable[BytesLike], values: Iterable[BytesLike],
                     elem_flags: int = 0) -> tuple[int, int]:
        """Maps of maps: each value an fd, stopping at the first error;
        PROG_ARRAY, PERF_EVENT_ARRAY: not supported, as Linux. Returns (rc,
        number done)."""
        if self.map_type in (PROG_ARRAY, PERF_EVENT_ARRAY):
            return -ENOTSUPP, 0
        pairs = zip(keys, values, strict=False)
        return self._each(lambda k, v: self.update(k, v, elem_flags), pairs)

    def delete_batch(self, keys: Iterable[BytesLike], elem_flags: int = 0) -> tuple[int, int]:
        """HASH_OF_MAPS only, as Linux. Returns (rc, number done)."""
        if self.map_type != HASH_OF_MAPS:
            return -ENOTSUPP, 0
        if elem_flags:
            return -errno.EINVAL, 0
        return self._each(lambda k, _: self.delete(k), ((k, None) for k in keys))

    @staticmethod
    def _each(fn: Callable[[Any, Any], None], items: Iterable[tuple[Any, Any]]
              ) -> tuple[int, int]:
        done = 0
        for k, v in items:
            try:
                fn(k, v)
            except LibbpfError as e:
                return -(e.errno or errno.EINVAL), done
            done += 1
        return 0, done

    def lookup_batch_raw(self, in_batch: bytes | None, count: int, elem_flags: int = 0,
                         delete: bool = False) -> tuple[int, bytes, bytes, bytes, int]:
        rc, tok, keys, values, got = super().lookup_batch_raw(in_batch, count, elem_flags,
                                                              delete)
        if delete:  # the deleted inner maps: kept alive, see the module's notes
            for i in range(got):
                old = self._refs.pop(keys[i * self.key_size:(i + 1) * self.key_size], None)
                if old is not None:
                    self._retired.append(old)
        return rc, tok, keys, values, got

    def referenced(self, key: BytesLike) -> object | None:
        """The program or inner map stored under ``key``, or None."""
        return self._refs.get(self._key(key))


def ref_map(ptr: Any, map_type: int, name: str, key_size: int, value_size: int,
            max_entries: int, map_flags: int, inner_map: NativeMap | int | None) -> RefMap:
    """Wrap a new native map of REF_MAP_TYPES; maps of maps take their inner
    map template (a NativeMap or its fd): EINVAL without one, as Linux."""
    m = RefMap(ptr, map_type, name, key_size, value_size, max_entries, map_flags)
    if map_type in (PROG_ARRAY, PERF_EVENT_ARRAY):
        return m
    if inner_map is None or isinstance(inner_map, int):
        if not inner_map:  # Linux: fd 0 is no map
            raise LibbpfError(errno.EINVAL, f"map '{name}': a map of maps needs an inner "
                                            f"map (inner_map_fd)")
        obj = fd_table.get(inner_map)
        if not isinstance(obj, NativeMap):
            raise LibbpfError(errno.EINVAL, f"map '{name}': inner_map_fd {inner_map} is "
                                            f"not a map")
        inner_map = obj
    rc = lib.lbc_map_of_maps_set_inner(ptr, inner_map.ptr)
    if rc:
        raise LibbpfError(-rc, f"map '{name}': {inner_map.name!r} cannot be an inner map")
    m.inner_map = inner_map
    return m


def prog_array_handle(m: NativeMap, index: int) -> int:
    """The program handle in a PROG_ARRAY's slot (0: empty)."""
    return int(lib.lbc_prog_array_get(m.ptr, index))


def inner_map_address(m: NativeMap, key: BytesLike) -> int:
    """What a program's lookup in a map of maps returns: the inner map's
    ``lbc_map`` address, 0 when absent."""
    return int(ffi.cast("uintptr_t", lib.lbc_map_lookup(m.ptr, m._key(key))))


__all__ = ["REF_MAP_TYPES", "RefMap", "inner_map_address", "prog_array_handle", "ref_map"]
