"""The BPF object reader: ELF container, functions, linking, maps, global data, externs.

- :mod:`~libbpf_compat.elf.reader`: header checks, sections, symbols, ``.rel*`` sections;
- :mod:`~libbpf_compat.elf.functions`: functions of code sections by FUNC symbol;
- :mod:`~libbpf_compat.elf.linker`: sub-programs appended, calls and relocations resolved;
- :mod:`~libbpf_compat.elf.relocations`: the resolved relocation records;
- :mod:`~libbpf_compat.elf.maps_legacy` / :mod:`~libbpf_compat.elf.maps_btf`: map definitions;
- :mod:`~libbpf_compat.elf.data_sections`: global data as internal maps;
- :mod:`~libbpf_compat.elf.externs`: ``.kconfig`` and ``.ksyms`` externs;
- :mod:`~libbpf_compat.elf.parse`: :func:`parse_object`, all of the above together;
- :mod:`~libbpf_compat.elf.log`: the message sink behind ``libbpf_set_print``.
"""

from __future__ import annotations

from libbpf_compat.elf.mapdefs import MapDef
from libbpf_compat.elf.parse import ParsedObject, ParsedProgram, parse_object
from libbpf_compat.elf.reader import ElfFile, Relocation, Section, Symbol
from libbpf_compat.elf.relocations import Extern, InsnRelocation, RelocKind

__all__ = [
    "ElfFile",
    "Extern",
    "InsnRelocation",
    "MapDef",
    "ParsedObject",
    "ParsedProgram",
    "RelocKind",
    "Relocation",
    "Section",
    "Symbol",
    "parse_object",
]
