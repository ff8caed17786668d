"""Python values from bytes laid out as a BTF type, and back.

- ints -> int (``_Bool`` -> bool), enums -> int (encode also takes an
  enumerator name), floats -> float, pointers -> int;
- structs -> dict by member name (members of anonymous struct/union members
  appear at the level above, as C spells them); unions -> a dict with every
  member's view (decode), exactly one member (encode);
- arrays -> list; arrays of ``char`` -> str up to the first NUL;
- VAR -> its type's value; DATASEC -> dict by variable name.
Typedefs and qualifiers are looked through. Encoding zero-fills what is not
given and raises LibbpfError(EINVAL) naming the member that does not fit.
"""

from __future__ import annotations

import errno
import struct
from collections.abc import Mapping, Sequence
from typing import Any

from libbpf_compat.btf.btf import Btf
from libbpf_compat.btf.types import (
    Array,
    BtfKind,
    BtfType,
    Composite,
    Datasec,
    Enum,
    Float,
    Int,
    IntEncoding,
    Member,
    Var,
)
from libbpf_compat.errors import LibbpfError, einval

_FLOAT_FORMATS = {2: "e", 4: "f", 8: "d"}
#: Largest value encode builds (a map value or a data section is far smaller).
MAX_VALUE_SIZE = 1 << 26


def decode(btf: Btf, type_id: int, data: bytes | bytearray | memoryview) -> Any:
    """The Python value of ``data``, which must be exactly the type's size."""
    size = btf.size_of(type_id)
    if len(data) != size:
        raise einval(f"decode: BTF type [{type_id}] '{_label(btf, type_id)}' is {size} bytes, "
                     f"got {len(data)}")
    try:
        return _Codec(btf).decode(type_id, bytes(data), 0)
    except RecursionError as exc:
        raise LibbpfError(errno.E2BIG, f"decode: BTF type [{type_id}] nests too deeply") \
            from exc


def encode(btf: Btf, type_id: int, value: Any) -> bytes:
    """The bytes of ``value`` laid out as type ``type_id``."""
    size = btf.size_of(type_id)
    if size > MAX_VALUE_SIZE:
        raise LibbpfError(errno.E2BIG, f"encode: BTF type [{type_id}] is {size} bytes, "
                          f"more than {MAX_VALUE_SIZE}")
    buf = bytearray(size)
    try:
        _Codec(btf).encode(type_id, value, buf, 0, _label(btf, type_id))
    except RecursionError as exc:
        raise LibbpfError(errno.E2BIG, f"encode: BTF type [{type_id}] nests too deeply") \
            from exc
    return bytes(buf)


def is_char(btf: Btf, type_id: int) -> bool:
    """True for C ``char`` (the element type that makes an array a string)."""
    t = btf.resolved(type_id)
    return isinstance(t, Int) and t.size == 1 and (
        bool(t.encoding & IntEncoding.CHAR) or t.name == "char")


def _label(btf: Btf, type_id: int) -> str:
    t = btf.type_by_id(type_id)
    return t.name or t.kind.name.lower()


class _Codec:
    def __init__(self, btf: Btf) -> None:
        self.btf = btf
        self.order = "little" if btf.endianness == "little" else "big"
        self.prefix = "<" if btf.endianness == "little" else ">"

    # -- bits -----------------------------------------------------------
    def _get_bits(self, data: bytes, bit_off: int, bits: int) -> int:
        start = bit_off // 8
        end = (bit_off + bits + 7) // 8
        word = int.from_bytes(data[start:end], self.order)  # type: ignore[arg-type]
        shift = bit_off - start * 8 if self.order == "little" else end * 8 - (bit_off + bits)
        return (word >> shift) & ((1 << bits) - 1)

    def _set_bits(self, buf: bytearray, bit_off: int, bits: int, value: int) -> None:
        start = bit_off // 8
        end = (bit_off + bits + 7) // 8
        word = int.from_bytes(buf[start:end], self.order)  # type: ignore[arg-type]
        shift = bit_off - start * 8 if self.order == "little" else end * 8 - (bit_off + bits)
        mask = ((1 << bits) - 1) << shift
        word = (word & ~mask) | ((value << shift) & mask)
        buf[start:end] = word.to_bytes(end - start, self.order)  # type: ignore[arg-type]

    # -- decode ---------------------------------------------------------
    def decode(self, tid: int, data: bytes, bit_off: int, bits: int = 0) -> Any:
        t = self.btf.resolved(tid)
        if isinstance(t, Int):
            width = bits or t.bits
            raw = self._get_bits(data, bit_off + (0 if bits else t.bit_offset), width)
            if t.encoding & IntEncoding.BOOL:
                return bool(raw)
            if t.signed and raw >> (width - 1):
                raw -= 1 << width
            return raw
        if isinstance(t, Enum):
            width = bits or t.size * 8
            raw = self._get_bits(data, bit_off, width)
            if t.signed and raw >> (width - 1):
                raw -= 1 << width
            return raw
        if t.kind == BtfKind.PTR:
            return self._get_bits(data, bit_off, 8 * self.btf.pointer_size)
        if bit_off % 8:
            raise einval(f"decode: BTF type [{t.id}] at bit offset {bit_off} is not byte aligned")
        off = bit_off // 8
        if isinstance(t, Float):
            fmt = _FLOAT_FORMATS.get(t.size)
            if fmt is None:
                return data[off:off + t.size]
            return struct.unpack_from(self.prefix + fmt, data, off)[0]
        if isinstance(t, Array):
            if is_char(self.btf, t.type):
                text = data[off:off + t.nelems]
                return text.split(b"\0", 1)[0].decode("utf-8", "replace")
            step = self.btf.size_of(t.type) * 8
            return [self.decode(t.type, data, bit_off + i * step) for i in range(t.nelems)]
        if isinstance(t, Composite):
            out: dict[str, Any] = {}
            self._decode_members(t, data, bit_off, out)
            return out
        if isinstance(t, Var):
            return self.decode(t.type, data, bit_off)
        if isinstance(t, Datasec):
            result: dict[str, Any] = {}
            for v in t.vars:
                var = self.btf.type_by_id(v.type)
                result[var.name] = self.decode(v.type, data, bit_off + 8 * v.offset)
            return result
        raise einval(f"decode: BTF type [{t.id}] is a {t.kind.name}, which has no value")

    def _decode_members(self, t: Composite, data: bytes, bit_off: int,
                        out: dict[str, Any]) -> None:
        for m in t.members:
            inner = self.btf.resolved(m.type)
            if not m.name:
                if isinstance(inner, Composite):
                    self._decode_members(inner, data, bit_off + m.bit_offset, out)
                continue
            out[m.name] = self.decode(m.type, data, bit_off + m.bit_offset, m.bitfield_size)

    # -- encode ---------------------------------------------------------
    def encode(self, tid: int, value: Any, buf: bytearray, bit_off: int, path: str,
               bits: int = 0) -> None:
        t = self.btf.resolved(tid)
        if isinstance(t, Int | Enum) or t.kind == BtfKind.PTR:
            self._encode_scalar(t, value, buf, bit_off, path, bits)
            return
        off = bit_off // 8
        if isinstance(t, Float):
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise einval(f"encode: {path} needs a float, got {type(value).__name__}")
            fmt = _FLOAT_FORMATS.get(t.size)
            if fmt is None:
                raise einval(f"encode: {path}: {t.size}-byte floats are not supported")
            try:
                struct.pack_into(self.prefix + fmt, buf, off, value)
            except (OverflowError, struct.error) as exc:
                raise einval(f"encode: {path}: {value} does not fit a {t.size}-byte float") \
                    from exc
            return
        size = self.btf.size_of(t.id)
        if isinstance(value, bytes | bytearray | memoryview) and len(value) == size and \
                not (isinstance(t, Array) and is_char(self.btf, t.type)):
            buf[off:off + size] = value
            return
        if isinstance(t, Array):
            self._encode_array(t, value, buf, bit_off, path)
        elif isinstance(t, Composite):
            if not isinstance(value, Mapping):
                raise einval(f"encode: {path} needs a dict, got {type(value).__name__}")
            given = dict(value)
            self._encode_members(t, given, buf, bit_off, path)
            if given:
                raise einval(f"encode: {path} has no member {sorted(given)[0]!r}")
        elif isinstance(t, Var):
            self.encode(t.type, value, buf, bit_off, path)
        elif isinstance(t, Datasec):
            if not isinstance(value, Mapping):
                raise einval(f"encode: {path} needs a dict, got {type(value).__name__}")
            names = {self.btf.type_by_id(v.type).name: v for v in t.vars}
            for key, item in value.items():
                info = names.get(key)
                if info is None:
                    raise einval(f"encode: {path} has no variable {key!r}")
                self.encode(info.type, item, buf, bit_off + 8 * info.offset, f"{path}.{key}")
        else:
            raise einval(f"encode: {path}: BTF type [{t.id}] is a {t.kind.name}, "
                         "which has no value")

    def _encode_scalar(self, t: BtfType, value: Any, buf: bytearray, bit_off: int, path: str,
                       bits: int) -> None:
        if isinstance(t, Enum) and isinstance(value, str):
            match = [v.value for v in t.values if v.name == value]
            if not match:
                raise einval(f"encode: {path}: {value!r} is not an enumerator of "
                             f"'{t.name or 'enum'}'")
            value = match[0]
        if not isinstance(value, int):
            raise einval(f"encode: {path} needs an int, got {type(value).__name__}")
        if isinstance(t, Int):
            width = bits or t.bits
            signed = t.signed
            if not bits:
                bit_off += t.bit_offset
        elif isinstance(t, Enum):
            width = bits or t.size * 8
            signed = t.signed
        else:
            width = 8 * self.btf.pointer_size
            signed = False
        low = -(1 << (width - 1)) if signed or isinstance(t, Enum) else 0
        high = (1 << (width - 1)) - 1 if signed else (1 << width) - 1
        if not low <= value <= high:
            raise einval(f"encode: {path}: {value} is out of range [{low}, {high}] for "
                         f"'{t.name or t.kind.name.lower()}'"
                         + (f" ({width}-bit field)" if bits else ""))
        self._set_bits(buf, bit_off, width, value & ((1 << width) - 1))

    def _encode_array(self, t: Array, value: Any, buf: bytearray, bit_off: int,
                      path: str) -> None:
        off = bit_off // 8
        if is_char(self.btf, t.type) and isinstance(value, str | bytes | bytearray):
            raw = value.encode() if isinstance(value, str) else bytes(value)
            if len(raw) > t.nelems:
                raise einval(f"encode: {path}: {len(raw)} bytes do not fit char[{t.nelems}]")
            buf[off:off + len(raw)] = raw
            return
        if not isinstance(value, Sequence) or isinstance(value, str):
            raise einval(f"encode: {path} needs a list, got {type(value).__name__}")
        if len(value) > t.nelems:
            raise einval(f"encode: {path}: {len(value)} items do not fit [{t.nelems}]")
        step = self.btf.size_of(t.type) * 8
        for i, item in enumerate(value):
            self.encode(t.type, item, buf, bit_off + i * step, f"{path}[{i}]")

    def _encode_members(self, t: Composite, given: dict[str, Any], buf: bytearray,
                        bit_off: int, path: str) -> None:
        chosen: list[Member] = []
        for m in t.members:
            inner = self.btf.resolved(m.type)
            if not m.name:
                if isinstance(inner, Composite) and self._mentions(inner, given):
                    chosen.append(m)
                    self._encode_members(inner, given, buf, bit_off + m.bit_offset, path)
                continue
            if m.name in given:
                chosen.append(m)
                self.encode(m.type, given.pop(m.name), buf, bit_off + m.bit_offset,
                            f"{path}.{m.name}", m.bitfield_size)
        if t.kind == BtfKind.UNION and len(chosen) > 1:
            names = ", ".join(m.name or "(anon)" for m in chosen)
            raise einval(f"encode: {path} is a union: give one member, not {names}")

    def _mentions(self, t: Composite, given: Mapping[str, Any]) -> bool:
        for m in t.members:
            if m.name in given:
                return True
            inner = self.btf.resolved(m.type)
            if not m.name and isinstance(inner, Composite) and self._mentions(inner, given):
                return True
        return False


__all__ = ["decode", "encode", "is_char"]
