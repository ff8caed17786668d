"""Checks and defaults of user map definitions at open time.

libbpf and the kernel fill in some sizes (a perf event array's 4-byte key
and value, a map-in-map's 4-byte value of inner map ids) and refuse
definitions no map can be created from: an unknown type, or a zero key or
value size for a type that has keys or values. Types are checked in the
object's ABI numbering (eBPF-for-Windows numbers are translated for the check
only; the definition keeps the number the object wrote).
"""

from __future__ import annotations

import errno

from libbpf_compat.abi import windows as win
from libbpf_compat.elf.mapdefs import MapDef
from libbpf_compat.errors import LibbpfError
from libbpf_compat.uapi import BpfMapType as M

_NO_KEY = frozenset({M.BPF_MAP_TYPE_QUEUE, M.BPF_MAP_TYPE_STACK, M.BPF_MAP_TYPE_RINGBUF,
                     M.BPF_MAP_TYPE_USER_RINGBUF, M.BPF_MAP_TYPE_BLOOM_FILTER,
                     M.BPF_MAP_TYPE_ARENA})
_NO_VALUE = frozenset({M.BPF_MAP_TYPE_RINGBUF, M.BPF_MAP_TYPE_USER_RINGBUF,
                       M.BPF_MAP_TYPE_ARENA})
_ID_VALUE = frozenset({M.BPF_MAP_TYPE_ARRAY_OF_MAPS, M.BPF_MAP_TYPE_HASH_OF_MAPS,
                       M.BPF_MAP_TYPE_PROG_ARRAY, M.BPF_MAP_TYPE_PERF_EVENT_ARRAY})
_KNOWN = frozenset(int(t) for t in M if t != M.BPF_MAP_TYPE_UNSPEC)


def internal_type(definition: MapDef, abi: str) -> int | None:
    """The definition's map type in the internal (Linux) numbering; None if unknown."""
    if abi == "windows":
        return win.MAP_TYPES.get(definition.type)
    return definition.type if definition.type in _KNOWN else None


def check_map(definition: MapDef, abi: str, where: str) -> None:
    """Apply libbpf's size defaults to ``definition``, or refuse it (EINVAL, naming it)."""
    at = f"{where}: map {definition.name!r}"
    map_type = internal_type(definition, abi)
    if map_type is None:
        raise LibbpfError(errno.EINVAL, f"{at}: unknown map type {definition.type} "
                                        f"({abi} numbering)")
    if map_type == M.BPF_MAP_TYPE_PERF_EVENT_ARRAY and definition.key_size == 0:
        definition.key_size = 4
    if map_type in _ID_VALUE and definition.value_size == 0:
        definition.value_size = 4
    if definition.key_size == 0 and map_type not in _NO_KEY:
        raise LibbpfError(errno.EINVAL, f"{at}: key size is 0")
    if definition.value_size == 0 and map_type not in _NO_VALUE:
        raise LibbpfError(errno.EINVAL, f"{at}: value size is 0")
    if definition.inner is not None:
        check_map(definition.inner, abi, where)


__all__ = ["check_map", "internal_type"]
