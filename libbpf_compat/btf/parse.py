"""Decoding raw ``.BTF`` bytes: the header, the type section and the string section.

The header is ``magic u16 (0xeB9F), version u8 (1), flags u8, hdr_len u32,
type_off u32, type_len u32, str_off u32, str_len u32``; section offsets count
from the end of the header. Each type is a 12-byte ``btf_type`` (name_off,
info, size-or-type) followed by kind-specific records.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

from libbpf_compat.btf.strings import StringTable
from libbpf_compat.btf.types import (
    Array,
    BtfKind,
    BtfType,
    Composite,
    Datasec,
    DeclTag,
    Enum,
    EnumValue,
    Float,
    Func,
    FuncProto,
    Fwd,
    Int,
    IntEncoding,
    Linkage,
    Member,
    Param,
    Ref,
    Var,
    VarSecInfo,
)
from libbpf_compat.errors import einval

BTF_MAGIC = 0xEB9F
BTF_VERSION = 1
HEADER_SIZE = 24
MAX_TYPES = 0xFFFFF  # the kernel's BTF_MAX_TYPE

_KINDS = tuple(BtfKind)
_LINKAGES = tuple(Linkage)
_REF_KINDS = {BtfKind.PTR, BtfKind.TYPEDEF, BtfKind.VOLATILE, BtfKind.CONST,
              BtfKind.RESTRICT, BtfKind.TYPE_TAG}


@dataclass(frozen=True)
class RawBtf:
    """What one BTF blob holds, before linking to a base."""

    types: list[BtfType]
    strings: StringTable
    endianness: str


def byte_order(data: bytes | memoryview, what: str) -> str:
    """``"<"`` or ``">"`` from a BTF/BTF.ext magic; EINVAL when it is neither."""
    if len(data) < 2:
        raise einval(f"{what}: {len(data)} bytes is too short for a header")
    if data[0] == 0x9F and data[1] == 0xEB:
        return "<"
    if data[0] == 0xEB and data[1] == 0x9F:
        return ">"
    raise einval(f"{what}: bad magic 0x{data[0]:02x}{data[1]:02x} (want 0xeb9f)")


def section_bounds(total: int, hdr_len: int, off: int, length: int, what: str) -> tuple[int, int]:
    """Absolute [start, end) of a section; EINVAL if it falls outside the blob."""
    start = hdr_len + off
    end = start + length
    if end > total:
        raise einval(f"{what} [{start}, {end}) extends past the end of the data ({total} bytes)")
    return start, end


def parse_btf(data: bytes, first_id: int, base_strings: StringTable | None) -> RawBtf:
    """Split a BTF blob into its types (ids from ``first_id``) and strings."""
    view = memoryview(data)
    order = byte_order(view, "BTF")
    if len(data) < HEADER_SIZE:
        raise einval(f"BTF: {len(data)} bytes is too short for the {HEADER_SIZE}-byte header")
    _magic, version, _flags, hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from(
        order + "HBBIIIII", view, 0)
    if version != BTF_VERSION:
        raise einval(f"BTF: unsupported version {version}")
    if hdr_len < HEADER_SIZE or hdr_len > len(data):
        raise einval(f"BTF: bad header length {hdr_len}")
    if any(view[HEADER_SIZE:hdr_len]):
        raise einval("BTF: unknown non-zero header fields")
    t_start, t_end = section_bounds(len(data), hdr_len, type_off, type_len, "BTF type section")
    s_start, s_end = section_bounds(len(data), hdr_len, str_off, str_len, "BTF string section")
    if type_off % 4:
        raise einval(f"BTF: type section offset {type_off} is not 4-byte aligned")
    if t_start < s_end and s_start < t_end:
        raise einval("BTF: type and string sections overlap")
    if str_len == 0 and base_strings is None:
        raise einval("BTF: empty string section")
    strings = StringTable(bytes(view[s_start:s_end]), base_strings)
    types = _TypeReader(view[t_start:t_end], order, strings, first_id).read_all()
    return RawBtf(types, strings, "little" if order == "<" else "big")


class _TypeReader:
    """One pass over a type section."""

    def __init__(self, section: memoryview, order: str, strings: StringTable,
                 first_id: int) -> None:
        self.sec = section
        self.order = order
        self.strings = strings
        self.first_id = first_id
        self.u32x3 = struct.Struct(order + "III")
        self.u32 = struct.Struct(order + "I")
        self.i32 = struct.Struct(order + "i")
        self.u32x2 = order + "II"
        self.iu = order + "Ii"
        self.readers: dict[int, Callable[[int, str, int, int, bool, int], tuple[BtfType, int]]] = {
            BtfKind.INT: self._int, BtfKind.ARRAY: self._array,
            BtfKind.STRUCT: self._struct, BtfKind.UNION: self._union,
            BtfKind.ENUM: self._enum, BtfKind.ENUM64: self._enum64,
            BtfKind.FWD: self._fwd, BtfKind.FUNC: self._func,
            BtfKind.FUNC_PROTO: self._func_proto, BtfKind.VAR: self._var,
            BtfKind.DATASEC: self._datasec, BtfKind.FLOAT: self._float,
            BtfKind.DECL_TAG: self._decl_tag,
        }

    def read_all(self) -> list[BtfType]:
        sec = self.sec
        end = len(sec)
        pos = 0
        tid = self.first_id
        types: list[BtfType] = []
        unpack = self.u32x3.unpack_from
        by_offset = self.strings.by_offset
        name_at = self.strings.get
        readers = self.readers
        while pos < end:
            if tid > MAX_TYPES:
                raise einval(f"BTF type [{tid}]: more than {MAX_TYPES} types")
            if pos + 12 > end:
                raise einval(f"BTF type [{tid}]: truncated header at type section offset {pos}")
            name_off, info, size_type = unpack(sec, pos)
            pos += 12
            kind_no = (info >> 24) & 0x1F
            vlen = info & 0xFFFF
            kflag = bool(info >> 31)
            if info & 0x60FF0000:
                raise einval(f"BTF type [{tid}]: unused bits set in info 0x{info:08x}")
            name = by_offset.get(name_off)
            if name is None:
                name = name_at(name_off)
                if name is None:
                    raise einval(f"BTF type [{tid}]: name offset {name_off} is outside the "
                                 f"string section (size {self.strings.end})")
            if kind_no in _REF_KINDS:
                if vlen:
                    raise einval(f"BTF type [{tid}]: vlen {vlen} for a kind that has none")
                types.append(Ref(tid, _KINDS[kind_no], name, size_type))
            elif kind_no == BtfKind.FUNC:
                if vlen > Linkage.EXTERN:
                    raise einval(f"BTF type [{tid}]: bad func linkage {vlen}")
                types.append(Func(tid, BtfKind.FUNC, name, size_type, _LINKAGES[vlen]))
            else:
                reader = readers.get(kind_no)
                if reader is None:
                    raise einval(f"BTF type [{tid}]: unknown kind {kind_no}")
                btf_type, pos = reader(tid, name, size_type, vlen, kflag, pos)
                types.append(btf_type)
            tid += 1
        return types

    def _take(self, tid: int, pos: int, size: int, what: str) -> memoryview:
        if pos + size > len(self.sec):
            raise einval(f"BTF type [{tid}]: {what} ({size} bytes) overruns the type section")
        return self.sec[pos:pos + size]

    def _name(self, tid: int, offset: int) -> str:
        name = self.strings.by_offset.get(offset)
        if name is None:
            return self.strings.at(offset, f"BTF type [{tid}]")
        return name

    def _int(self, tid: int, name: str, size: int, vlen: int, kflag: bool,
             pos: int) -> tuple[BtfType, int]:
        (word,) = self.u32.unpack(self._take(tid, pos, 4, "int encoding"))
        encoding, offset, bits = (word >> 24) & 0x0F, (word >> 16) & 0xFF, word & 0xFF
        if word & 0xF0000000 or size not in (1, 2, 4, 8, 16) or bits > 128 or bits == 0 \
                or offset + bits > size * 8:
            raise einval(f"BTF type [{tid}]: bad int (size {size}, offset {offset}, "
                         f"bits {bits}, word 0x{word:08x})")
        if encoding not in (0, 1, 2, 4):
            raise einval(f"BTF type [{tid}]: bad int encoding {encoding}")
        return Int(tid, BtfKind.INT, name, size, IntEncoding(encoding), offset, bits), pos + 4

    def _float(self, tid: int, name: str, size: int, vlen: int, kflag: bool,
               pos: int) -> tuple[BtfType, int]:
        if size not in (2, 4, 8, 12, 16):
            raise einval(f"BTF type [{tid}]: bad float size {size}")
        return Float(tid, BtfKind.FLOAT, name, size), pos

    def _array(self, tid: int, name: str, size: int, vlen: int, kflag: bool,
               pos: int) -> tuple[BtfType, int]:
        elem, index, nelems = self.u32x3.unpack(self._take(tid, pos, 12, "array record"))
        return Array(tid, BtfKind.ARRAY, name, elem, index, nelems), pos + 12

    def _struct(self, tid: int, name: str, size: int, vlen: int, kflag: bool,
                pos: int) -> tuple[BtfType, int]:
        return self._composite(BtfKind.STRUCT, tid, name, size, vlen, kflag, pos)

    def _union(self, tid: int, name: str, size: int, vlen: int, kflag: bool,
               pos: int) -> tuple[BtfType, int]:
        return self._composite(BtfKind.UNION, tid, name, size, vlen, kflag, pos)

    def _composite(self, kind: BtfKind, tid: int, name: str, size: int, vlen: int, kflag: bool,
                   pos: int) -> tuple[BtfType, int]:
        raw = self._take(tid, pos, 12 * vlen, f"{vlen} members")
        members = []
        for name_off, mtype, offset in struct.iter_unpack(self.order + "III", raw):
            if kflag:
                members.append(Member(self._name(tid, name_off), mtype, offset & 0xFFFFFF,
                                      offset >> 24))
            else:
                members.append(Member(self._name(tid, name_off), mtype, offset))
        return Composite(tid, kind, name, size, tuple(members)), pos + 12 * vlen

    def _enum(self, tid: int, name: str, size: int, vlen: int, kflag: bool,
              pos: int) -> tuple[BtfType, int]:
        if size not in (1, 2, 4, 8):
            raise einval(f"BTF type [{tid}]: bad enum size {size}")
        raw = self._take(tid, pos, 8 * vlen, f"{vlen} enumerators")
        fmt = self.order + ("Ii" if kflag else "II")
        values = tuple(EnumValue(self._name(tid, n), v) for n, v in struct.iter_unpack(fmt, raw))
        return Enum(tid, BtfKind.ENUM, name, size, kflag, values), pos + 8 * vlen

    def _enum64(self, tid: int, name: str, size: int, vlen: int, kflag: bool,
                pos: int) -> tuple[BtfType, int]:
        if size not in (1, 2, 4, 8):
            raise einval(f"BTF type [{tid}]: bad enum64 size {size}")
        raw = self._take(tid, pos, 12 * vlen, f"{vlen} enumerators")
        values = []
        for n, lo, hi in struct.iter_unpack(self.order + "III", raw):
            value = (hi << 32) | lo
            if kflag and value >= 1 << 63:
                value -= 1 << 64
            values.append(EnumValue(self._name(tid, n), value))
        return Enum(tid, BtfKind.ENUM64, name, size, kflag, tuple(values)), pos + 12 * vlen

    def _fwd(self, tid: int, name: str, size: int, vlen: int, kflag: bool,
             pos: int) -> tuple[BtfType, int]:
        if not name:
            raise einval(f"BTF type [{tid}]: anonymous forward declaration")
        return Fwd(tid, BtfKind.FWD, name, kflag), pos

    def _func(self, tid: int, name: str, size: int, vlen: int, kflag: bool,
              pos: int) -> tuple[BtfType, int]:
        if vlen > Linkage.EXTERN:
            raise einval(f"BTF type [{tid}]: bad func linkage {vlen}")
        return Func(tid, BtfKind.FUNC, name, size, Linkage(vlen)), pos

    def _func_proto(self, tid: int, name: str, size: int, vlen: int, kflag: bool,
                    pos: int) -> tuple[BtfType, int]:
        raw = self._take(tid, pos, 8 * vlen, f"{vlen} parameters")
        names = self.strings.by_offset
        params = tuple([Param(names[n] if n in names else self._name(tid, n), t)
                        for n, t in struct.iter_unpack(self.u32x2, raw)])
        return FuncProto(tid, BtfKind.FUNC_PROTO, name, size, params), pos + 8 * vlen

    def _var(self, tid: int, name: str, size: int, vlen: int, kflag: bool,
             pos: int) -> tuple[BtfType, int]:
        (linkage,) = self.u32.unpack(self._take(tid, pos, 4, "var record"))
        if linkage > Linkage.EXTERN:
            raise einval(f"BTF type [{tid}]: bad var linkage {linkage}")
        return Var(tid, BtfKind.VAR, name, size, Linkage(linkage)), pos + 4

    def _datasec(self, tid: int, name: str, size: int, vlen: int, kflag: bool,
                 pos: int) -> tuple[BtfType, int]:
        raw = self._take(tid, pos, 12 * vlen, f"{vlen} variables")
        infos = tuple(VarSecInfo(t, o, s)
                      for t, o, s in struct.iter_unpack(self.order + "III", raw))
        return Datasec(tid, BtfKind.DATASEC, name, size, infos), pos + 12 * vlen

    def _decl_tag(self, tid: int, name: str, size: int, vlen: int, kflag: bool,
                  pos: int) -> tuple[BtfType, int]:
        (component,) = self.i32.unpack(self._take(tid, pos, 4, "decl_tag record"))
        if component < -1:
            raise einval(f"BTF type [{tid}]: bad decl_tag component index {component}")
        return DeclTag(tid, BtfKind.DECL_TAG, name, size, component), pos + 4


__all__ = ["BTF_MAGIC", "BTF_VERSION", "HEADER_SIZE", "RawBtf", "byte_order", "parse_btf",
           "section_bounds"]
