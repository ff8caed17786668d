"""Legacy map definitions: the ``maps`` section (and ``maps/<name>`` sections).

Each map is a symbol of the section; all definitions of a section have the
same size, the section size divided by the number of map symbols (libbpf's
rule). The first five words are ``struct bpf_map_def`` (type, key_size,
value_size, max_entries, map_flags); longer layouts are recognised by size:

- 28 bytes, Linux ``samples/bpf`` ``bpf_load.h``: + inner_map_idx, numa_node;
- 36 bytes, iproute2 ``struct bpf_elf_map``: + id, pinning, inner_id, inner_idx;
- 32 bytes, eBPF-for-Windows ``ebpf_map_definition_in_file`` (with the
  ``windows`` ABI): type, key_size, value_size, max_entries, inner_map_idx,
  pinning, id, inner_id (no map_flags).

All words are kept in ``MapDef.legacy_words`` for the ABI layer.
"""

from __future__ import annotations

import errno
from dataclasses import replace

from libbpf_compat.elf.mapdefs import MapDef
from libbpf_compat.elf.reader import (
    STT_FUNC,
    STT_SECTION,
    ElfFile,
    Section,
)
from libbpf_compat.errors import LibbpfError

BPF_MAP_DEF_SIZE = 20
_LINUX_MAP_IN_MAP = (12, 13)  # BPF_MAP_TYPE_ARRAY_OF_MAPS, BPF_MAP_TYPE_HASH_OF_MAPS
_WINDOWS_MAP_IN_MAP = (6, 7)  # eBPF for Windows: HASH_OF_MAPS, ARRAY_OF_MAPS
_WORD = 4


def is_legacy_maps_section(section: Section) -> bool:
    """``maps`` or ``maps/<anything>``, as libbpf and PREVAIL name them."""
    return section.name == "maps" or section.name.startswith("maps/")


def legacy_maps(elf: ElfFile, section: Section, abi: str | None) -> list[MapDef]:
    """The map definitions of one legacy maps section, by offset.

    Offset order is what ``inner_map_idx`` counts in (samples/bpf's loader).
    """
    where = f"ELF object {elf.name}: section {section.name!r}"
    symbols = sorted(
        (s for s in elf.symbols
         if s.shndx == section.index and s.type not in (STT_SECTION, STT_FUNC) and s.name),
        key=lambda s: s.value,
    )
    if not symbols:
        if section.size:
            raise LibbpfError(errno.EINVAL, f"{where}: map definitions without map symbols")
        return []
    if section.size % len(symbols):
        raise LibbpfError(
            errno.EINVAL,
            f"{where}: size {section.size} is not a multiple of the number of maps "
            f"({len(symbols)}): cannot tell the definition size",
        )
    def_size = section.size // len(symbols)
    if def_size < BPF_MAP_DEF_SIZE or def_size % _WORD:
        raise LibbpfError(
            errno.EINVAL,
            f"{where}: map definitions of {def_size} bytes are not struct bpf_map_def "
            f"(at least {BPF_MAP_DEF_SIZE} bytes, whole 32-bit words)",
        )
    maps = []
    for symbol in symbols:
        if symbol.value % def_size or symbol.value + def_size > section.size:
            raise LibbpfError(
                errno.EINVAL,
                f"{where}: map {symbol.name!r} at offset {symbol.value} is not on a "
                f"{def_size}-byte definition boundary inside the section",
            )
        words = elf.read_u32s(section.data[symbol.value : symbol.value + def_size],
                              def_size // _WORD)
        maps.append(_definition(symbol.name, words, abi, section, symbol.value))
    return maps


def link_inner_maps(maps: list[MapDef], abi: str | None, where: str) -> None:
    """A map-in-map's ``inner_map_idx`` indexes the legacy maps (all sections, in order)."""
    outer_types = _WINDOWS_MAP_IN_MAP if abi == "windows" else _LINUX_MAP_IN_MAP
    for definition in maps:
        if definition.type not in outer_types or definition.inner_map_idx < 0:
            continue
        if definition.inner_map_idx >= len(maps) or maps[definition.inner_map_idx] is definition:
            raise LibbpfError(
                errno.EINVAL,
                f"{where}: map {definition.name!r}: inner map index "
                f"{definition.inner_map_idx} does not name another legacy map",
            )
        definition.inner = replace(maps[definition.inner_map_idx], inner=None)


def _definition(
    name: str, words: tuple[int, ...], abi: str | None, section: Section, offset: int
) -> MapDef:
    definition = MapDef(
        name=name,
        type=words[0],
        key_size=words[1],
        value_size=words[2],
        max_entries=words[3],
        map_flags=words[4],
        section_name=section.name,
        section_index=section.index,
        section_offset=offset,
        legacy_words=words,
    )
    if len(words) == 8 and abi == "windows":
        definition.map_flags = 0
        definition.inner_map_idx = words[4]
        definition.pinning = words[5]
    elif len(words) == 7:
        definition.inner_map_idx = words[5]
        definition.numa_node = words[6]
    elif len(words) >= 9:
        definition.pinning = words[6]
        definition.inner_map_idx = words[8]
    return definition


__all__ = ["BPF_MAP_DEF_SIZE", "is_legacy_maps_section", "legacy_maps", "link_inner_maps"]
