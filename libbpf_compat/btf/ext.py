"""``.BTF.ext``: per-section func info, line info and CO-RE relocation records.

Header: ``magic u16, version u8, flags u8, hdr_len u32, func_info_off u32,
func_info_len u32, line_info_off u32, line_info_len u32`` and, when
``hdr_len >= 32``, ``core_relo_off u32, core_relo_len u32`` (offsets from the
end of the header). Each info block is ``rec_size u32`` then, per ELF
section, ``sec_name_off u32, num_info u32`` and ``num_info`` records.
Instruction offsets are in bytes from the start of the ELF section.
"""

from __future__ import annotations

import errno
import struct
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

from libbpf_compat.btf.btf import Btf
from libbpf_compat.btf.elf_section import elf_section
from libbpf_compat.btf.parse import byte_order, section_bounds
from libbpf_compat.errors import LibbpfError, einval

EXT_HEADER_MIN = 24
EXT_HEADER_CORE = 32


class CoreReloKind(IntEnum):
    """``enum bpf_core_relo_kind``."""

    FIELD_BYTE_OFFSET = 0
    FIELD_BYTE_SIZE = 1
    FIELD_EXISTS = 2
    FIELD_SIGNED = 3
    FIELD_LSHIFT_U64 = 4
    FIELD_RSHIFT_U64 = 5
    TYPE_ID_LOCAL = 6
    TYPE_ID_TARGET = 7
    TYPE_EXISTS = 8
    TYPE_SIZE = 9
    ENUMVAL_EXISTS = 10
    ENUMVAL_VALUE = 11
    TYPE_MATCHES = 12


@dataclass(frozen=True, slots=True)
class FuncInfo:
    insn_off: int
    type_id: int

    @property
    def insn_idx(self) -> int:
        return self.insn_off // 8


@dataclass(frozen=True, slots=True)
class LineInfo:
    insn_off: int
    file_name: str
    line: str
    line_num: int
    col: int

    @property
    def insn_idx(self) -> int:
        return self.insn_off // 8


@dataclass(frozen=True, slots=True)
class CoreRelo:
    """One ``bpf_core_relo``: the instruction at ``insn_off`` (bytes) gets a
    value computed from local type ``type_id`` along ``access_str``."""

    insn_off: int
    type_id: int
    access_str: str
    kind: CoreReloKind

    @property
    def insn_idx(self) -> int:
        return self.insn_off // 8


@dataclass(frozen=True)
class BtfExt:
    """The three record kinds, each grouped by ELF section name (in file order)."""

    func_info: dict[str, list[FuncInfo]]
    line_info: dict[str, list[LineInfo]]
    core_relos: dict[str, list[CoreRelo]]

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview, btf: Btf) -> BtfExt:
        return _parse_ext(memoryview(bytes(data)), btf)

    @classmethod
    def from_file(cls, path: str | Path, btf: Btf) -> BtfExt:
        """The ``.BTF.ext`` section of an ELF object; ENOENT if it has none."""
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise LibbpfError(exc.errno or errno.ENOENT, f"{path}: {exc.strerror}") from exc
        section = elf_section(data, ".BTF.ext", str(path))
        if section is None:
            raise LibbpfError(errno.ENOENT, f"{path}: no .BTF.ext section")
        return cls.from_bytes(section, btf)


_Blocks = list[tuple[str, list[tuple[int, ...]]]]


def _parse_ext(view: memoryview, btf: Btf) -> BtfExt:
    order = byte_order(view, "BTF.ext")
    if len(view) < EXT_HEADER_MIN:
        raise einval(f"BTF.ext: {len(view)} bytes is too short for the header")
    _m, version, _f, hdr_len = struct.unpack_from(order + "HBBI", view, 0)
    if version != 1:
        raise einval(f"BTF.ext: unsupported version {version}")
    if hdr_len < EXT_HEADER_MIN or hdr_len > len(view):
        raise einval(f"BTF.ext: bad header length {hdr_len}")
    fi_off, fi_len, li_off, li_len = struct.unpack_from(order + "IIII", view, 8)
    cr_off = cr_len = 0
    if hdr_len >= EXT_HEADER_CORE:
        cr_off, cr_len = struct.unpack_from(order + "II", view, 24)

    def block(off: int, length: int, name: str, min_rec: int) -> _Blocks:
        if not length:
            return []
        start, end = section_bounds(len(view), hdr_len, off, length, f"BTF.ext {name}")
        return _records(view[start:end], order, name, min_rec, btf)

    func_info = {sec: [FuncInfo(r[0], _type_id(btf, r[1], sec, "func_info")) for r in recs]
                 for sec, recs in block(fi_off, fi_len, "func_info", 8)}
    line_info: dict[str, list[LineInfo]] = {}
    for sec, recs in block(li_off, li_len, "line_info", 16):
        line_info[sec] = [
            LineInfo(r[0], _string(btf, r[1], sec, "line_info file name"),
                     _string(btf, r[2], sec, "line_info line"), r[3] >> 10, r[3] & 0x3FF)
            for r in recs]
    core_relos: dict[str, list[CoreRelo]] = {}
    for sec, recs in block(cr_off, cr_len, "core_relo", 16):
        relos = []
        for r in recs:
            if r[3] > max(CoreReloKind):
                raise einval(f"BTF.ext core_relo in {sec}: unknown kind {r[3]}")
            relos.append(CoreRelo(r[0], _type_id(btf, r[1], sec, "core_relo"),
                                  _string(btf, r[2], sec, "core_relo access string"),
                                  CoreReloKind(r[3])))
        core_relos[sec] = relos
    return BtfExt(func_info, line_info, core_relos)


def _type_id(btf: Btf, type_id: int, sec: str, what: str) -> int:
    if not 0 <= type_id < len(btf.types):
        raise einval(f"BTF.ext {what} in {sec}: BTF type [{type_id}] does not exist")
    return type_id


def _string(btf: Btf, offset: int, sec: str, what: str) -> str:
    return btf.strings.at(offset, f"BTF.ext {what} in {sec}")


def _records(view: memoryview, order: str, name: str, min_rec: int,
             btf: Btf) -> _Blocks:
    if len(view) < 4:
        raise einval(f"BTF.ext {name}: too short for the record size")
    (rec_size,) = struct.unpack_from(order + "I", view, 0)
    if rec_size < min_rec or rec_size % 4:
        raise einval(f"BTF.ext {name}: bad record size {rec_size}")
    fields = min_rec // 4
    rec_fmt = struct.Struct(order + "I" * fields)
    pos = 4
    out: _Blocks = []
    while pos < len(view):
        if pos + 8 > len(view):
            raise einval(f"BTF.ext {name}: truncated section header at offset {pos}")
        sec_off, count = struct.unpack_from(order + "II", view, pos)
        sec = btf.strings.at(sec_off, f"BTF.ext {name} section name")
        pos += 8
        if count == 0:
            raise einval(f"BTF.ext {name} in {sec}: zero records")
        if pos + count * rec_size > len(view):
            raise einval(f"BTF.ext {name} in {sec}: {count} records overrun the block")
        if rec_size == min_rec:
            recs = list(rec_fmt.iter_unpack(view[pos:pos + count * rec_size]))
        else:
            recs = [rec_fmt.unpack_from(view, pos + i * rec_size) for i in range(count)]
        pos += count * rec_size
        out.append((sec, recs))
    return out


__all__ = ["BtfExt", "CoreRelo", "CoreReloKind", "FuncInfo", "LineInfo"]
