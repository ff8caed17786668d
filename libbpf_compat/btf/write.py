"""Encoding types back into raw BTF (what ``btf__raw_data`` returns): a
header, the type records and a deduplicated string section."""

from __future__ import annotations

import struct
from collections.abc import Sequence

from libbpf_compat.btf.parse import BTF_MAGIC, BTF_VERSION, HEADER_SIZE
from libbpf_compat.btf.types import (
    Array,
    BtfKind,
    BtfType,
    Composite,
    Datasec,
    DeclTag,
    Enum,
    Float,
    Func,
    FuncProto,
    Fwd,
    Int,
    Ref,
    Var,
)
from libbpf_compat.errors import einval


class _Strings:
    def __init__(self, start: int) -> None:
        self.start = start
        self.data = bytearray(b"\0")
        self.offsets: dict[str, int] = {"": 0}

    def add(self, text: str) -> int:
        off = self.offsets.get(text)
        if off is None:
            off = self.start + len(self.data)
            self.data += text.encode() + b"\0"
            self.offsets[text] = off
        return off


def btf_to_bytes(types: Sequence[BtfType], *, endianness: str = "little",
                 strings_start: int = 0) -> bytes:
    """Raw BTF holding ``types`` (in order, ids as they are numbered in the
    blob). ``strings_start`` is the base's string section size for split BTF."""
    order = "<" if endianness == "little" else ">"
    strings = _Strings(strings_start)
    out = bytearray()
    for t in types:
        out += _record(t, order, strings)
    header = struct.pack(order + "HBBIIIII", BTF_MAGIC, BTF_VERSION, 0, HEADER_SIZE,
                         0, len(out), len(out), len(strings.data))
    return header + bytes(out) + bytes(strings.data)


def _head(order: str, name_off: int, kind: BtfKind, vlen: int, size_or_type: int,
          kflag: bool = False) -> bytes:
    info = (int(kflag) << 31) | (int(kind) << 24) | vlen
    return struct.pack(order + "III", name_off, info, size_or_type)


def _record(t: BtfType, order: str, strings: _Strings) -> bytes:
    name = strings.add(t.name)
    if isinstance(t, Int):
        word = (int(t.encoding) << 24) | (t.bit_offset << 16) | t.bits
        return _head(order, name, t.kind, 0, t.size) + struct.pack(order + "I", word)
    if isinstance(t, Ref):
        return _head(order, name, t.kind, 0, t.type)
    if isinstance(t, Array):
        return _head(order, name, t.kind, 0, 0) + \
            struct.pack(order + "III", t.type, t.index_type, t.nelems)
    if isinstance(t, Composite):
        kflag = any(m.bitfield_size for m in t.members)
        body = b"".join(
            struct.pack(order + "III", strings.add(m.name), m.type,
                        (m.bitfield_size << 24) | m.bit_offset if kflag else m.bit_offset)
            for m in t.members)
        return _head(order, name, t.kind, len(t.members), t.size, kflag) + body
    if isinstance(t, Enum):
        if t.kind == BtfKind.ENUM:
            body = b"".join(struct.pack(order + "II", strings.add(v.name), v.value & 0xFFFFFFFF)
                            for v in t.values)
        else:
            body = b"".join(struct.pack(order + "III", strings.add(v.name),
                                        v.value & 0xFFFFFFFF, (v.value >> 32) & 0xFFFFFFFF)
                            for v in t.values)
        return _head(order, name, t.kind, len(t.values), t.size, t.signed) + body
    if isinstance(t, Fwd):
        return _head(order, name, t.kind, 0, 0, t.is_union)
    if isinstance(t, Func):
        return _head(order, name, t.kind, int(t.linkage), t.type)
    if isinstance(t, FuncProto):
        body = b"".join(struct.pack(order + "II", strings.add(p.name), p.type)
                        for p in t.params)
        return _head(order, name, t.kind, len(t.params), t.type) + body
    if isinstance(t, Var):
        return _head(order, name, t.kind, 0, t.type) + struct.pack(order + "I", int(t.linkage))
    if isinstance(t, Datasec):
        body = b"".join(struct.pack(order + "III", v.type, v.offset, v.size) for v in t.vars)
        return _head(order, name, t.kind, len(t.vars), t.size) + body
    if isinstance(t, Float):
        return _head(order, name, t.kind, 0, t.size)
    if isinstance(t, DeclTag):
        return _head(order, name, t.kind, 0, t.type) + struct.pack(order + "i", t.component_idx)
    raise einval(f"BTF type [{t.id}]: {t.kind.name} cannot be written")


__all__ = ["btf_to_bytes"]
