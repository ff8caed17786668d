"""Functions of the executable sections: found by their FUNC symbols, as libbpf does.

A section holds one or several functions, each a FUNC symbol with its
offset and size. A code section without any FUNC symbol (objects from old
toolchains) is one function named after the section, covering all of it.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, field
from itertools import pairwise

from libbpf_compat.elf.reader import STB_LOCAL, STT_FUNC, ElfFile, Section
from libbpf_compat.errors import LibbpfError
from libbpf_compat.isa import SLOT_SIZE


@dataclass(frozen=True)
class Function:
    """One function of a code section: byte ``offset`` and ``size`` in the section."""

    name: str
    section: Section = field(repr=False)
    offset: int
    size: int
    is_global: bool

    @property
    def section_name(self) -> str:
        return self.section.name

    @property
    def end(self) -> int:
        return self.offset + self.size


def little_endian_code(data: bytes, little_endian: bool) -> bytes:
    """Code bytes in the little-endian slot layout the ISA toolkit decodes.

    A big-endian object has its ``off`` and ``imm`` fields big-endian and
    the destination register in the high nibble of the register byte.
    """
    if little_endian:
        return data
    out = bytearray(len(data))
    for pos in range(0, len(data) - len(data) % SLOT_SIZE, SLOT_SIZE):
        out[pos] = data[pos]
        regs = data[pos + 1]
        out[pos + 1] = ((regs >> 4) & 0x0F) | ((regs & 0x0F) << 4)
        out[pos + 2 : pos + 4] = data[pos + 2 : pos + 4][::-1]
        out[pos + 4 : pos + 8] = data[pos + 4 : pos + 8][::-1]
    return bytes(out)


def code_sections(elf: ElfFile) -> list[Section]:
    """The non-empty executable sections, in file order."""
    return [s for s in elf.sections if s.is_executable and s.size > 0]


def section_functions(elf: ElfFile, section: Section) -> list[Function]:
    """The functions of one code section, sorted by offset.

    Raises EINVAL naming the section and symbol when a function is not
    aligned to an instruction or does not fit in its section, or when the
    section's size is not a whole number of instructions.
    """
    where = f"ELF object {elf.name}: section {section.name!r}"
    if section.size % SLOT_SIZE:
        raise LibbpfError(
            errno.EINVAL,
            f"{where}: size {section.size} is not a multiple of the instruction size {SLOT_SIZE}",
        )
    found: dict[int, Function] = {}
    for symbol in elf.symbols:
        if symbol.shndx != section.index or symbol.type != STT_FUNC:
            continue
        if symbol.value % SLOT_SIZE or symbol.size % SLOT_SIZE:
            raise LibbpfError(
                errno.EINVAL,
                f"{where}: function {symbol.name!r} (offset {symbol.value}, size "
                f"{symbol.size}) is not aligned to {SLOT_SIZE}-byte instructions",
            )
        if symbol.value + symbol.size > section.size or symbol.size == 0:
            raise LibbpfError(
                errno.EINVAL,
                f"{where}: function {symbol.name!r} (offset {symbol.value}, size "
                f"{symbol.size}) does not fit in the section ({section.size} bytes)",
            )
        if not symbol.name:
            raise LibbpfError(errno.EINVAL, f"{where}: function symbol {symbol.index} has no name")
        found.setdefault(
            symbol.value,
            Function(symbol.name, section, symbol.value, symbol.size, symbol.bind != STB_LOCAL),
        )
    functions = sorted(found.values(), key=lambda f: f.offset)
    for before, after in pairwise(functions):
        if before.end > after.offset:
            raise LibbpfError(
                errno.EINVAL,
                f"{where}: functions {before.name!r} and {after.name!r} overlap",
            )
    if not functions:
        functions = [Function(section.name, section, 0, section.size, True)]
    return functions


__all__ = ["Function", "code_sections", "little_endian_code", "section_functions"]
