"""The dict-like Map of the object layer: a MutableMapping over a store map
whose keys and values are Python values decoded and encoded through BTF
when the map came from an object with BTF (ints, structs as dicts, arrays as
lists, char arrays as str), bytes otherwise. Per-CPU values are lists with
one entry per CPU slot.

As in bcc's tables, deleting from an array (which has every index) zeroes
the element, and ``clear()`` zeroes every element; ``len()`` of an array is
its max_entries.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator, MutableMapping
from typing import Any

from libbpf_compat.btf import Btf, decode, encode
from libbpf_compat.errors import LibbpfError
from libbpf_compat.mapstore import NativeMap
from libbpf_compat.uapi import BPF_ANY, BpfMapType

_ARRAYS = frozenset({BpfMapType.BPF_MAP_TYPE_ARRAY, BpfMapType.BPF_MAP_TYPE_PERCPU_ARRAY})


class Map(MutableMapping[Any, Any]):
    """A store map seen as a dictionary."""

    def __init__(self, native: NativeMap, btf: Btf | None = None, key_type_id: int = 0,
                 value_type_id: int = 0) -> None:
        if native.key_size == 0:
            raise LibbpfError(errno.EINVAL, f"map '{native.name}' has no keys: it cannot be "
                                            "seen as a dictionary")
        self.native = native
        self.btf = btf
        self.key_type_id = key_type_id if btf is not None else 0
        self.value_type_id = value_type_id if btf is not None else 0
        self._is_array = native.map_type in _ARRAYS

    @property
    def name(self) -> str:
        return self.native.name

    def __repr__(self) -> str:
        return f"<Map {self.native.name!r} {len(self)} entries>"

    # ---- conversion ----

    def _key(self, key: Any) -> bytes:
        if self.btf is not None and self.key_type_id and not _bytes_like(key):
            return encode(self.btf, self.key_type_id, key)
        if isinstance(key, int) and not isinstance(key, bool) and not self.key_type_id:
            return key.to_bytes(self.native.key_size, "little")
        return _as_bytes(key)

    def _unkey(self, raw: bytes) -> Any:
        if self.btf is not None and self.key_type_id:
            return decode(self.btf, self.key_type_id, raw)
        return raw

    def _one_value(self, value: Any) -> bytes:
        if self.btf is not None and self.value_type_id and not _bytes_like(value):
            return encode(self.btf, self.value_type_id, value)
        return _as_bytes(value)

    def _value(self, value: Any) -> bytes | list[bytes]:
        if self.native.percpu:
            if not isinstance(value, (list, tuple)):
                value = [value] * self.native.ncpus
            return [self._one_value(v) for v in value]
        return self._one_value(value)

    def _one_unvalue(self, raw: bytes) -> Any:
        if self.btf is not None and self.value_type_id:
            return decode(self.btf, self.value_type_id, raw[:self.native.value_size])
        return raw

    # ---- the mapping ----

    def __getitem__(self, key: Any) -> Any:
        raw_key = self._key(key)
        if self.native.percpu:
            slots = self.native.lookup_percpu(raw_key)
            if slots is None:
                raise KeyError(key)
            return [self._one_unvalue(s) for s in slots]
        raw = self.native.lookup(raw_key)
        if raw is None:
            raise KeyError(key)
        return self._one_unvalue(raw)

    def __setitem__(self, key: Any, value: Any) -> None:
        self.native.update(self._key(key), self._value(value), BPF_ANY)

    def __delitem__(self, key: Any) -> None:
        raw_key = self._key(key)
        if self._is_array:
            if self.native.lookup(raw_key) is None:
                raise KeyError(key)
            zero = bytes(self.native.value_size)
            self.native.update(raw_key, [zero] * self.native.ncpus if self.native.percpu
                               else zero, BPF_ANY)
            return
        try:
            self.native.delete(raw_key)
        except LibbpfError as exc:
            if exc.errno == errno.ENOENT:
                raise KeyError(key) from None
            raise

    def __iter__(self) -> Iterator[Any]:
        for raw in list(self.native.keys()):
            yield self._unkey(raw)

    def __len__(self) -> int:
        if self._is_array:
            return self.native.max_entries
        return sum(1 for _ in self.native)

    def __contains__(self, key: object) -> bool:
        try:
            raw_key = self._key(key)
        except LibbpfError:
            return False
        return self.native.lookup(raw_key) is not None

    def clear(self) -> None:
        for raw in list(self.native.keys()):
            if self._is_array:
                self.__delitem__(raw)
            else:
                try:
                    self.native.delete(raw)
                except LibbpfError as exc:
                    if exc.errno != errno.ENOENT:
                        raise


def _bytes_like(value: object) -> bool:
    return isinstance(value, (bytes, bytearray, memoryview))


def _as_bytes(value: Any) -> bytes:
    try:
        return bytes(memoryview(value))
    except TypeError:
        raise LibbpfError(errno.EINVAL, f"expected bytes for a map without BTF, not "
                                        f"{type(value).__name__}") from None
