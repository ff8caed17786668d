"""Global data sections as internal ARRAY maps, named as libbpf names them.

``.data`` / ``.data.*``, ``.rodata`` / ``.rodata.*`` (including the string
sections ``.rodata.str1.1``…) and ``.bss`` / ``.bss.*`` each become a
one-entry ARRAY map whose value is the section's bytes. ``.rodata`` maps are
read-only for programs (``BPF_F_RDONLY_PROG``); all are ``BPF_F_MMAPABLE``.
"""

from __future__ import annotations

import re

from libbpf_compat.elf.mapdefs import MapDef
from libbpf_compat.elf.reader import SHT_NOBITS, SHT_PROGBITS, Section
from libbpf_compat.uapi import (
    BPF_F_MMAPABLE,
    BPF_F_RDONLY_PROG,
    BPF_MAP_TYPE_ARRAY,
    BPF_OBJ_NAME_LEN,
)

_KINDS = (".data", ".rodata", ".bss")
_NOT_NAME_CHAR = re.compile(r"[^A-Za-z0-9_.]")


def data_kind(section: Section) -> str | None:
    """``.data``, ``.rodata`` or ``.bss`` for a global data section, else None."""
    if section.type not in (SHT_PROGBITS, SHT_NOBITS) or section.is_executable:
        return None
    for kind in _KINDS:
        if section.name == kind or section.name.startswith(kind + "."):
            return kind
    return None


def internal_map_name(object_name: str, section_name: str) -> str:
    """libbpf's name for an internal map: object-name prefix + section name, 15 chars.

    A section name with a dot after its first character (``.rodata.str1.1``,
    ``.data.custom``) is used alone; otherwise the object name fills what
    the section name leaves of the 15 characters (the suffix counts as at
    least 7). Characters the kernel refuses in map names become ``_``.
    """
    suffix_len = max(7, len(section_name))
    if "." in section_name[1:]:
        prefix = ""
    else:
        prefix = object_name[: max(0, BPF_OBJ_NAME_LEN - suffix_len - 1)]
    name = (prefix + section_name[:suffix_len])[: BPF_OBJ_NAME_LEN - 1]
    return _NOT_NAME_CHAR.sub("_", name)


def data_map(object_name: str, section: Section, kind: str) -> MapDef:
    """The internal map of one global data section, holding its initial contents."""
    flags = BPF_F_MMAPABLE | (BPF_F_RDONLY_PROG if kind == ".rodata" else 0)
    return MapDef(
        name=internal_map_name(object_name, section.name),
        type=int(BPF_MAP_TYPE_ARRAY),
        key_size=4,
        value_size=section.size,
        max_entries=1,
        map_flags=int(flags),
        section_name=section.name,
        section_index=section.index,
        internal=True,
        initial_value=bytes(section.size) if section.type == SHT_NOBITS else section.data,
    )


__all__ = ["data_kind", "data_map", "internal_map_name"]
