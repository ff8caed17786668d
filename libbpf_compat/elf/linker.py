"""Linking a program: subprograms appended, calls fixed up, relocations resolved.

libbpf's scheme: a program's own instructions come first; every function it
calls (``call`` with ``src = BPF_PSEUDO_CALL``) or takes the address of
(``lddw`` relocated against code) is appended once, after them, and the
appended code is scanned in turn, so chains of subprograms and calls across
sections are followed. Each pc-relative ``imm`` is rewritten to the new
layout. Other relocations (maps, global data, externs) are resolved through
the :class:`~libbpf_compat.elf.relocations.Targets` table.
"""

from __future__ import annotations

import errno
import struct
from dataclasses import dataclass, field

from libbpf_compat.elf.functions import Function
from libbpf_compat.elf.reader import (
    SHN_UNDEF,
    STT_SECTION,
    ElfFile,
    Relocation,
    Section,
    Symbol,
)
from libbpf_compat.elf.relocations import InsnRelocation, RelocKind, Targets
from libbpf_compat.errors import LibbpfError
from libbpf_compat.isa import SLOT_SIZE
from libbpf_compat.isa import opcodes as op

_SLOT = struct.Struct("<BBhi")
MAX_PROGRAM_INSNS = 1_000_000
"""Linux's BPF_COMPLEXITY_LIMIT_INSNS: a linked program longer than this is refused (E2BIG)."""
_IMM = struct.Struct("<i")


@dataclass
class CodeImage:
    """The code of an object, ready for linking: per-section code and relocations.

    ``code``: section index → little-endian code; ``functions``: section
    index → functions sorted by offset; ``relocations``: section index →
    (byte offset → relocation).
    """

    elf: ElfFile
    code: dict[int, bytes] = field(default_factory=dict)
    functions: dict[int, list[Function]] = field(default_factory=dict)
    relocations: dict[int, dict[int, Relocation]] = field(default_factory=dict)

    def function_at(self, section: int, offset: int) -> Function | None:
        """The function of ``section`` containing byte ``offset``."""
        for function in self.functions.get(section, ()):
            if function.offset <= offset < function.end:
                return function
        return None


@dataclass
class LinkedProgram:
    """A program's code after linking, with its resolved relocations."""

    code: bytes
    relocations: list[InsnRelocation]
    subprograms: list[str]


def index_relocations(elf: ElfFile, section: Section, relocs: list[Relocation]) -> dict[
    int, Relocation
]:
    """The relocations of a code section by byte offset, checked to sit on an instruction."""
    result: dict[int, Relocation] = {}
    for reloc in relocs:
        symbol = elf.symbol(reloc.symbol, f"a relocation of section {section.name!r}")
        if reloc.offset % SLOT_SIZE or reloc.offset + SLOT_SIZE > section.size:
            raise LibbpfError(
                errno.EINVAL,
                f"ELF object {elf.name}: relocation against {symbol.name!r} at offset "
                f"{reloc.offset} is outside section {section.name!r} ({section.size} bytes) "
                "or not on an instruction",
            )
        if reloc.type == 0:  # R_BPF_NONE
            continue
        result[reloc.offset] = reloc
    return result


class _Linker:
    def __init__(self, image: CodeImage, targets: Targets, main: Function) -> None:
        self.image = image
        self.elf = image.elf
        self.targets = targets
        self.main = main
        self.code = bytearray()
        self.origins: list[tuple[int, int]] = []
        self.placed: dict[tuple[int, int], int] = {}
        self.subprograms: list[str] = []
        self.relocations: list[InsnRelocation] = []

    def where(self, slot: int) -> str:
        section, offset = self.origins[slot]
        name = self.elf.sections[section].name
        return (
            f"ELF object {self.elf.name}: program {self.main.name!r}: section {name!r} "
            f"instruction {offset // SLOT_SIZE}"
        )

    def place(self, function: Function) -> int:
        key = (function.section.index, function.offset)
        start = self.placed.get(key)
        if start is not None:
            return start
        start = len(self.code) // SLOT_SIZE
        if start + function.size // SLOT_SIZE > MAX_PROGRAM_INSNS:
            raise LibbpfError(
                errno.E2BIG,
                f"ELF object {self.elf.name}: program {self.main.name!r} with its sub-programs "
                f"exceeds {MAX_PROGRAM_INSNS} instructions",
            )
        self.placed[key] = start
        code = self.image.code[function.section.index]
        self.code += code[function.offset : function.end]
        self.origins += [
            (function.section.index, off) for off in range(function.offset, function.end, SLOT_SIZE)
        ]
        if function is not self.main:
            self.subprograms.append(function.name)
        return start

    def target_slot(self, slot: int, section: int, offset: int, symbol: str) -> tuple[int, str]:
        function = self.image.function_at(section, offset)
        if function is None or offset % SLOT_SIZE:
            name = self.elf.sections[section].name if section < len(self.elf.sections) else "?"
            raise LibbpfError(
                errno.EINVAL,
                f"{self.where(slot)}: call or address of {symbol!r} targets offset {offset} of "
                f"section {name!r}, which is not in any function",
            )
        start = self.place(function)
        return start + (offset - function.offset) // SLOT_SIZE, function.name

    def set_imm(self, slot: int, imm: int) -> None:
        _IMM.pack_into(self.code, slot * SLOT_SIZE + 4, imm)

    def set_src(self, slot: int, src: int) -> None:
        pos = slot * SLOT_SIZE + 1
        self.code[pos] = (self.code[pos] & 0x0F) | (src << 4)

    def run(self) -> LinkedProgram:
        self.place(self.main)
        slot = 0
        while slot < len(self.origins):
            opcode, regs, _off, imm = _SLOT.unpack_from(self.code, slot * SLOT_SIZE)
            src = regs >> 4
            section, offset = self.origins[slot]
            reloc = self.image.relocations.get(section, {}).get(offset)
            is_lddw = opcode == op.OPCODE_LDDW
            if is_lddw and slot + 1 >= len(self.origins):
                raise LibbpfError(errno.EINVAL, f"{self.where(slot)}: lddw is truncated")
            if reloc is not None:
                self.relocate(slot, opcode, imm, reloc)
            elif opcode == op.OPCODE_CALL and src == op.CALL_LOCAL:
                target, callee = self.target_slot(
                    slot, section, offset + (imm + 1) * SLOT_SIZE, ""
                )
                self.set_imm(slot, target - slot - 1)
                self.relocations.append(InsnRelocation(slot, RelocKind.CALL, callee, -1, target))
            slot += 2 if is_lddw else 1
        return LinkedProgram(bytes(self.code), self.relocations, self.subprograms)

    def relocate(self, slot: int, opcode: int, imm: int, reloc: Relocation) -> None:
        symbol = self.elf.symbol(reloc.symbol, self.where(slot))
        name = symbol.name
        is_call = opcode == op.OPCODE_CALL
        is_lddw = opcode == op.OPCODE_LDDW
        if not (is_call or is_lddw):
            raise LibbpfError(
                errno.EINVAL,
                f"{self.where(slot)}: relocation against {name!r} on opcode {opcode:#04x}, "
                "which is neither lddw nor call",
            )
        if symbol.shndx == SHN_UNDEF:
            self.relocate_extern(slot, is_call, symbol)
            return
        if symbol.shndx >= len(self.elf.sections):
            raise LibbpfError(
                errno.EINVAL,
                f"{self.where(slot)}: relocation against {name!r} in special section "
                f"{symbol.shndx:#x}",
            )
        target_section = self.elf.sections[symbol.shndx]
        if is_call:
            if not target_section.is_executable:
                raise LibbpfError(
                    errno.EINVAL,
                    f"{self.where(slot)}: call of {name!r}, which is in non-code section "
                    f"{target_section.name!r}",
                )
            target, callee = self.target_slot(
                slot, symbol.shndx, symbol.value + (imm + 1) * SLOT_SIZE, name
            )
            self.set_src(slot, op.CALL_LOCAL)
            self.set_imm(slot, target - slot - 1)
            self.relocations.append(InsnRelocation(slot, RelocKind.CALL, callee, -1, target))
            return
        offset = symbol.value + imm
        if target_section.is_executable:
            target, callee = self.target_slot(slot, symbol.shndx, offset, name)
            self.set_src(slot, op.PSEUDO_FUNC)
            self.set_imm(slot, target - slot - 1)
            self.relocations.append(
                InsnRelocation(slot, RelocKind.FUNC_ADDR, callee, -1, target)
            )
            return
        if symbol.shndx in self.targets.map_sections:
            index = self.targets.maps.get((symbol.shndx, offset))
            if index is None:
                raise LibbpfError(
                    errno.EINVAL,
                    f"{self.where(slot)}: relocation against {name!r} at offset {offset} of "
                    f"map section {target_section.name!r}, where no map is defined",
                )
            self.set_src(slot, op.PSEUDO_MAP_IDX)
            self.set_imm(slot, index)
            self.relocations.append(InsnRelocation(slot, RelocKind.MAP, name, index))
            return
        data_map = self.targets.data.get(symbol.shndx)
        if data_map is None:
            raise LibbpfError(
                errno.EINVAL,
                f"{self.where(slot)}: relocation against {name!r} in section "
                f"{target_section.name!r}, which is neither code, maps nor global data",
            )
        if not 0 <= offset < max(target_section.size, 1):
            raise LibbpfError(
                errno.EINVAL,
                f"{self.where(slot)}: relocation against {name!r} at offset {offset} is "
                f"outside section {target_section.name!r} ({target_section.size} bytes)",
            )
        self.set_src(slot, op.PSEUDO_MAP_IDX_VALUE)
        self.set_imm(slot, data_map)
        self.set_imm(slot + 1, offset)
        label = target_section.name if symbol.type == STT_SECTION else name
        self.relocations.append(
            InsnRelocation(slot, RelocKind.MAP_VALUE, label, data_map, offset)
        )

    def relocate_extern(self, slot: int, is_call: bool, symbol: Symbol) -> None:
        extern = self.targets.externs.get(symbol.name)
        if extern is None:
            what = "function" if is_call else "symbol"
            raise LibbpfError(
                errno.ENOENT,
                f"{self.where(slot)}: {what} {symbol.name!r} is undefined and not declared "
                "as a .kconfig or .ksyms extern",
            )
        if is_call:
            if extern.kind is not RelocKind.KFUNC:
                raise LibbpfError(
                    errno.EINVAL,
                    f"{self.where(slot)}: call of extern {symbol.name!r}, which is not a function",
                )
            self.set_src(slot, op.CALL_KFUNC)
            self.set_imm(slot, 0)
            self.relocations.append(InsnRelocation(slot, RelocKind.KFUNC, symbol.name))
            return
        if extern.kind is RelocKind.KCONFIG:
            self.set_src(slot, op.PSEUDO_MAP_IDX_VALUE)
            self.set_imm(slot, self.targets.kconfig_map)
            self.set_imm(slot + 1, extern.offset)
            self.relocations.append(
                InsnRelocation(
                    slot, RelocKind.KCONFIG, symbol.name, self.targets.kconfig_map, extern.offset
                )
            )
            return
        self.set_src(slot, op.PSEUDO_BTF_ID)
        self.set_imm(slot, 0)
        self.relocations.append(InsnRelocation(slot, extern.kind, symbol.name))


def link_program(image: CodeImage, targets: Targets, main: Function) -> LinkedProgram:
    """Link ``main``: its code, the subprograms it reaches, relocations resolved."""
    return _Linker(image, targets, main).run()


__all__ = ["CodeImage", "LinkedProgram", "index_relocations", "link_program"]
