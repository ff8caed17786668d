"""What each instruction relocation of a program refers to, after linking.

The object layer gives the reader a :class:`Targets` table (which map sits at
which offset of a map section, which internal map holds which data section,
which externs exist); :mod:`~libbpf_compat.elf.linker` resolves every
relocation against it into an :class:`InsnRelocation` and patches the
instruction the way libbpf does before load: ``lddw`` of a map becomes
``src = BPF_PSEUDO_MAP_IDX, imm = map index``; of global data
``src = BPF_PSEUDO_MAP_IDX_VALUE, imm = map index, imm_hi = offset``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class RelocKind(str, Enum):
    """The kinds of instruction relocation."""

    MAP = "map"  # lddw of a map (legacy ``maps`` or BTF ``.maps``)
    MAP_VALUE = "map_value"  # lddw of global data: internal map + offset
    CALL = "call"  # bpf-to-bpf call of a subprogram
    FUNC_ADDR = "func_addr"  # lddw of a function's address (BPF_PSEUDO_FUNC)
    KCONFIG = "kconfig"  # lddw of a .kconfig extern (a value in the .kconfig map)
    KSYM = "ksym"  # lddw of a .ksyms variable extern
    KFUNC = "kfunc"  # call of a .ksyms function extern


@dataclass(frozen=True)
class InsnRelocation:
    """One resolved relocation of a linked program.

    ``insn`` is the slot index in the linked program; ``symbol`` names what
    is referenced (the map, variable or section, the called function, the
    extern). ``map_index`` is the
    object's map index for MAP / MAP_VALUE / KCONFIG, ``offset`` the byte
    offset in the map value; for CALL / FUNC_ADDR ``offset`` is the target
    slot in the linked program.
    """

    insn: int
    kind: RelocKind
    symbol: str
    map_index: int = -1
    offset: int = 0


@dataclass(frozen=True)
class Extern:
    """An extern the object declares: a ``.kconfig`` value or a ``.ksyms`` symbol."""

    name: str
    kind: RelocKind  # KCONFIG, KSYM (variable) or KFUNC (function)
    offset: int = 0  # KCONFIG: byte offset in the .kconfig map's value
    size: int = 0
    weak: bool = False


@dataclass
class Targets:
    """What relocations can refer to, prepared by the object layer.

    ``maps``: (section index, byte offset) of a map definition → map index.
    ``data``: section index of a global data section → internal map index.
    ``externs``: extern name → :class:`Extern`; ``kconfig_map``: the index
    of the ``.kconfig`` internal map (-1 when there is none).
    """

    maps: dict[tuple[int, int], int] = field(default_factory=dict)
    map_sections: set[int] = field(default_factory=set)
    data: dict[int, int] = field(default_factory=dict)
    externs: dict[str, Extern] = field(default_factory=dict)
    kconfig_map: int = -1


__all__ = ["Extern", "InsnRelocation", "RelocKind", "Targets"]
