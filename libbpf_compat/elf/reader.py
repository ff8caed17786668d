"""The ELF container of a BPF object: header checks, sections, symbols, relocations.

pyelftools reads the header and the section headers; the symbol table and
the ``.rel*`` sections are decoded here with :mod:`struct` (they are the hot
part of opening a large object). Every malformation is a
:class:`~libbpf_compat.errors.LibbpfError` naming the object and the section.
"""

from __future__ import annotations

import errno
import io
import struct
from dataclasses import dataclass, field

from elftools.common.exceptions import ELFError
from elftools.construct import ConstructError
from elftools.elf.elffile import ELFFile

from libbpf_compat.errors import LibbpfError

EM_BPF = 247

SHT_PROGBITS = 1
SHT_SYMTAB = 2
SHT_STRTAB = 3
SHT_NOBITS = 8
SHT_REL = 9

SHF_WRITE = 0x1
SHF_ALLOC = 0x2
SHF_EXECINSTR = 0x4

STT_NOTYPE = 0
STT_OBJECT = 1
STT_FUNC = 2
STT_SECTION = 3

STB_LOCAL = 0
STB_GLOBAL = 1
STB_WEAK = 2

SHN_UNDEF = 0
SHN_LORESERVE = 0xFF00
SHN_ABS = 0xFFF1
SHN_COMMON = 0xFFF2

R_BPF_NONE = 0
R_BPF_64_64 = 1
R_BPF_64_ABS64 = 2
R_BPF_64_ABS32 = 3
R_BPF_64_NODYLD32 = 4
R_BPF_64_32 = 10

SYMBOL_SIZE = 24
REL_SIZE = 16
MAX_SECTION_SIZE = 1 << 30
"""Sections claiming more are refused as malformed."""
MAX_NOBITS_SIZE = 1 << 28
"""A ``.bss`` claiming more than this (256 MiB) is refused as malformed."""

_SH_TYPE_NUMBERS = {
    "SHT_NULL": 0,
    "SHT_PROGBITS": SHT_PROGBITS,
    "SHT_SYMTAB": SHT_SYMTAB,
    "SHT_STRTAB": SHT_STRTAB,
    "SHT_RELA": 4,
    "SHT_HASH": 5,
    "SHT_DYNAMIC": 6,
    "SHT_NOTE": 7,
    "SHT_NOBITS": SHT_NOBITS,
    "SHT_REL": SHT_REL,
    "SHT_SHLIB": 10,
    "SHT_DYNSYM": 11,
}


@dataclass(frozen=True)
class Section:
    """One ELF section with its bytes (zeros for ``SHT_NOBITS``)."""

    index: int
    name: str
    type: int
    flags: int
    size: int
    link: int
    info: int
    entsize: int
    data: bytes = field(repr=False)

    @property
    def is_executable(self) -> bool:
        """A ``PROGBITS`` section with ``SHF_EXECINSTR``: code, as libbpf finds programs."""
        return self.type == SHT_PROGBITS and bool(self.flags & SHF_EXECINSTR)


@dataclass(frozen=True)
class Symbol:
    """One symbol table entry."""

    index: int
    name: str
    value: int
    size: int
    type: int
    bind: int
    shndx: int

    @property
    def is_undefined(self) -> bool:
        return self.shndx == SHN_UNDEF


@dataclass(frozen=True)
class Relocation:
    """One ``Elf64_Rel``: the byte offset in the target section, a symbol, a type."""

    offset: int
    symbol: int
    type: int


def _error(err: int, where: str, message: str) -> LibbpfError:
    return LibbpfError(err, f"{where}: {message}")


def _cstring(table: bytes, offset: int, what: str) -> str:
    if offset >= len(table):
        raise LibbpfError(
            errno.EINVAL,
            f"{what}: name offset {offset} is outside the string table ({len(table)} bytes)",
        )
    end = table.find(b"\0", offset)
    if end < 0:
        end = len(table)
    return table[offset:end].decode("utf-8", errors="replace")


_PARSER_ERRORS = (
    ELFError, ConstructError, struct.error, ValueError, KeyError, IndexError, UnicodeError,
    AttributeError, TypeError, AssertionError, OverflowError, EOFError,
)
"""What pyelftools raises on malformed input; each becomes EINVAL naming the object."""


class ElfFile:
    """A validated ELF64 BPF relocatable object.

    ``name`` is used in every error message (the path, or a description of
    an in-memory buffer). Little- and big-endian objects are accepted;
    ``little_endian`` says which.
    """

    def __init__(self, data: bytes, name: str) -> None:
        self.name = name
        self.data = data
        where = f"ELF object {name}"
        if len(data) < 16 or data[:4] != b"\x7fELF":
            raise _error(errno.EINVAL, where, "not an ELF file (bad magic)")
        if data[4] != 2:
            raise _error(errno.ENOTSUP, where, f"ELF class {data[4]} is not ELF64")
        if data[5] not in (1, 2):
            raise _error(errno.ENOTSUP, where, f"unknown ELF data encoding {data[5]}")
        self.little_endian = data[5] == 1
        self._end = "<" if self.little_endian else ">"
        try:
            elf = ELFFile(io.BytesIO(data))
            header = elf.header
            machine = header["e_machine"]
            machine_number = machine if isinstance(machine, int) else (
                EM_BPF if machine == "EM_BPF" else -1
            )
            if machine_number != EM_BPF:
                raise _error(
                    errno.ENOTSUP, where, f"machine {machine} is not BPF (EM_BPF {EM_BPF})"
                )
            if header["e_type"] not in ("ET_REL", 1):
                raise _error(
                    errno.ENOTSUP, where, f"type {header['e_type']} is not a relocatable object"
                )
            count = elf.num_sections()
            names_index = header["e_shstrndx"]
            if count and not 0 < names_index < count:
                raise _error(errno.EINVAL, where, f"section name table index {names_index} "
                                                  f"is not one of the {count} sections")
            self._names_size = elf._get_section_header(names_index)["sh_size"] if count else 0
            self.sections = [self._section(elf, i, where) for i in range(count)]
        except LibbpfError:
            raise
        except _PARSER_ERRORS as exc:
            raise _error(errno.EINVAL, where, f"malformed ELF ({exc})") from exc
        if not self.sections:
            raise _error(errno.EINVAL, where, "no section headers")
        self.by_name: dict[str, Section] = {}
        for section in self.sections:
            self.by_name.setdefault(section.name, section)
        self.symbols = self._symbols(where)
        self.relocations = self._relocations(where)

    def _section(self, elf: ELFFile, index: int, where: str) -> Section:
        header = elf._get_section_header(index)
        sh_type = header["sh_type"]
        type_number = sh_type if isinstance(sh_type, int) else _SH_TYPE_NUMBERS.get(sh_type, -1)
        if index and header["sh_name"] >= self._names_size:
            raise _error(
                errno.EINVAL, where,
                f"section {index}: name offset {header['sh_name']} is outside the section "
                f"name table ({self._names_size} bytes)",
            )
        name = elf._get_section_name(header) if index else ""
        offset, size = header["sh_offset"], header["sh_size"]
        if size > MAX_SECTION_SIZE:
            raise _error(errno.EINVAL, where, f"section {index} {name!r} claims {size} bytes")
        if type_number == SHT_NOBITS:
            if size > MAX_NOBITS_SIZE:
                raise _error(errno.EINVAL, where, f"section {index} {name!r} claims {size} "
                                                  f"bytes (at most {MAX_NOBITS_SIZE})")
            data = bytes(size)
        elif index == 0:
            data = b""
            size = 0
        else:
            if offset + size > len(self.data):
                raise _error(
                    errno.EINVAL,
                    where,
                    f"section {index} {name!r} ({size} bytes at {offset}) is past the end "
                    f"of the file ({len(self.data)} bytes)",
                )
            data = self.data[offset : offset + size]
        return Section(
            index, name, type_number, header["sh_flags"], size,
            header["sh_link"], header["sh_info"], header["sh_entsize"], data,
        )

    def section(self, index: int, what: str) -> Section:
        """The section at ``index``, or EINVAL naming ``what`` refers to it."""
        if not 0 <= index < len(self.sections):
            raise LibbpfError(
                errno.EINVAL,
                f"ELF object {self.name}: {what} refers to section index {index}, "
                f"but there are {len(self.sections)} sections",
            )
        return self.sections[index]

    def _symbols(self, where: str) -> list[Symbol]:
        tables = [s for s in self.sections if s.type == SHT_SYMTAB]
        if not tables:
            raise _error(errno.EINVAL, where, "no symbol table (.symtab)")
        if len(tables) > 1:
            raise _error(errno.EINVAL, where, "more than one symbol table")
        table = tables[0]
        if table.size % SYMBOL_SIZE:
            raise _error(
                errno.EINVAL, where,
                f"symbol table {table.name!r} size {table.size} is not a multiple of "
                f"{SYMBOL_SIZE}",
            )
        strings = self.section(table.link, f"symbol table {table.name!r}").data
        symbols = []
        layout = struct.Struct(self._end + "IBBHQQ")
        for index, (name_off, info, _other, shndx, value, size) in enumerate(
            layout.iter_unpack(table.data)
        ):
            name = _cstring(strings, name_off, f"{where}: symbol {index}") if name_off else ""
            symbol = Symbol(index, name, value, size, info & 0xF, info >> 4, shndx)
            if 0 < shndx < SHN_LORESERVE and shndx >= len(self.sections):
                raise _error(
                    errno.EINVAL, where,
                    f"symbol {index} {name!r} is in section index {shndx}, but there are "
                    f"{len(self.sections)} sections",
                )
            if symbol.type == STT_SECTION and not name and 0 < shndx < len(self.sections):
                symbol = Symbol(index, self.sections[shndx].name, value, size, STT_SECTION,
                                symbol.bind, shndx)
            symbols.append(symbol)
        return symbols

    def symbol(self, index: int, where: str) -> Symbol:
        """The symbol at ``index``, or EINVAL naming ``where`` refers to it."""
        if not 0 <= index < len(self.symbols):
            raise LibbpfError(
                errno.EINVAL,
                f"ELF object {self.name}: {where} refers to symbol {index}, but the symbol "
                f"table has {len(self.symbols)} entries",
            )
        return self.symbols[index]

    def _relocations(self, where: str) -> dict[int, list[Relocation]]:
        """The ``SHT_REL`` sections for code and map sections, by target section index.

        Relocations of debug information and BTF are not needed and skipped.
        """
        result: dict[int, list[Relocation]] = {}
        layout = struct.Struct(self._end + "QQ")
        for section in self.sections:
            if section.type != SHT_REL:
                continue
            target = self.section(section.info, f"relocation section {section.name!r}")
            if section.name != ".rel" + target.name:
                # Compilers and linkers name a relocation section after the
                # section it patches; a mismatch means corrupt section headers.
                raise _error(
                    errno.EINVAL, where,
                    f"relocation section {section.name!r} applies to section {target.index} "
                    f"{target.name!r}, not to the section its name says: corrupt section "
                    f"headers",
                )
            if section.name.startswith((".rel.debug", ".rel.BTF", ".rel.eh_frame")):
                continue
            if not (target.is_executable or target.name in (".maps", "maps")
                    or target.name.startswith("maps")):
                continue
            if section.size % REL_SIZE:
                raise _error(
                    errno.EINVAL, where,
                    f"relocation section {section.name!r} size {section.size} is not a "
                    f"multiple of {REL_SIZE}",
                )
            relocs = result.setdefault(target.index, [])
            for offset, info in layout.iter_unpack(section.data):
                relocs.append(Relocation(offset, info >> 32, info & 0xFFFF_FFFF))
        return result

    def read_u32s(self, data: bytes, count: int) -> tuple[int, ...]:
        """``count`` 32-bit words of ``data`` in the object's byte order."""
        return struct.unpack_from(f"{self._end}{count}I", data)


__all__ = [
    "EM_BPF",
    "SHF_ALLOC",
    "SHF_EXECINSTR",
    "SHF_WRITE",
    "SHN_ABS",
    "SHN_COMMON",
    "SHN_LORESERVE",
    "SHN_UNDEF",
    "SHT_NOBITS",
    "SHT_PROGBITS",
    "SHT_REL",
    "SHT_STRTAB",
    "SHT_SYMTAB",
    "STB_GLOBAL",
    "STB_LOCAL",
    "STB_WEAK",
    "STT_FUNC",
    "STT_NOTYPE",
    "STT_OBJECT",
    "STT_SECTION",
    "ElfFile",
    "Relocation",
    "Section",
    "Symbol",
]
