"""Reading a whole BPF object: programs linked, maps defined, externs laid out.

:func:`parse_object` is the ELF reader's entry point: it returns a
:class:`ParsedObject` with every function of every code section (linked,
relocations resolved), the map definitions in libbpf's order (legacy
``maps``, BTF ``.maps``, global data sections, ``.kconfig``), the license
and kernel version.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from dataclasses import dataclass, field

from libbpf_compat.btf.btf import Btf
from libbpf_compat.btf.types import BtfKind
from libbpf_compat.elf.data_sections import data_kind, data_map, internal_map_name
from libbpf_compat.elf.externs import ExternTable
from libbpf_compat.elf.functions import (
    Function,
    code_sections,
    little_endian_code,
    section_functions,
)
from libbpf_compat.elf.linker import CodeImage, LinkedProgram, index_relocations, link_program
from libbpf_compat.elf.log import pr_debug
from libbpf_compat.elf.map_checks import check_map
from libbpf_compat.elf.mapdefs import MapDef
from libbpf_compat.elf.maps_btf import btf_maps, fill_init_slots
from libbpf_compat.elf.maps_legacy import is_legacy_maps_section, legacy_maps, link_inner_maps
from libbpf_compat.elf.reader import ElfFile
from libbpf_compat.elf.relocations import Targets
from libbpf_compat.errors import LibbpfError
from libbpf_compat.uapi import (
    BPF_F_MMAPABLE,
    BPF_F_RDONLY_PROG,
    BPF_MAP_TYPE_ARRAY,
)

MAX_MAP_NAME = 15


@dataclass
class ParsedProgram:
    """One function of a code section, linked into a runnable program."""

    function: Function
    linked: LinkedProgram

    @property
    def name(self) -> str:
        return self.function.name

    @property
    def section_name(self) -> str:
        return self.function.section.name

    @property
    def is_subprog(self) -> bool:
        """A ``.text`` function: libbpf's sub-program, not listed among programs."""
        return self.function.section.name == ".text"


@dataclass
class ParsedObject:
    """Everything read from one object file."""

    name: str
    abi: str
    elf: ElfFile
    btf: Btf | None
    license: str
    kern_version: int
    programs: list[ParsedProgram]
    maps: list[MapDef]
    externs: ExternTable
    functions: dict[str, list[str]] = field(default_factory=dict)


def object_name_from_path(path: str) -> str:
    """libbpf's object name: the file's base name up to its first dot."""
    base = path.replace("\\", "/").rsplit("/", 1)[-1]
    return base.split(".", 1)[0]


def _load_btf(elf: ElfFile) -> Btf | None:
    section = elf.by_name.get(".BTF")
    if section is None:
        return None
    try:
        return Btf.from_bytes(section.data)
    except LibbpfError as exc:
        raise LibbpfError(
            exc.errno or errno.EINVAL, f"ELF object {elf.name}: section '.BTF': {exc.strerror}"
        ) from exc
    except (ValueError, IndexError, KeyError, AssertionError, RecursionError,
            UnicodeError) as exc:
        raise LibbpfError(
            errno.EINVAL, f"ELF object {elf.name}: section '.BTF' is malformed ({exc})"
        ) from exc


def _license(elf: ElfFile) -> str:
    section = elf.by_name.get("license")
    if section is None:
        return ""
    return section.data.split(b"\0", 1)[0].decode("utf-8", errors="replace")


def _kern_version(elf: ElfFile) -> int:
    section = elf.by_name.get("version")
    if section is None:
        return 0
    if section.size != 4:
        raise LibbpfError(
            errno.EINVAL,
            f"ELF object {elf.name}: section 'version' is {section.size} bytes, not 4",
        )
    return elf.read_u32s(section.data, 1)[0]


def _maps(
    elf: ElfFile, btf: Btf | None, object_name: str, abi: str | None, externs: ExternTable
) -> tuple[list[MapDef], Targets]:
    maps: list[MapDef] = []
    targets = Targets()
    for section in elf.sections:
        if is_legacy_maps_section(section):
            targets.map_sections.add(section.index)
            maps += legacy_maps(elf, section, abi)
    link_inner_maps(maps, abi, f"ELF object {elf.name}: legacy maps")
    maps_section = elf.by_name.get(".maps")
    if maps_section is not None:
        if btf is None:
            raise LibbpfError(
                errno.ENOENT,
                f"ELF object {elf.name}: section '.maps' needs BTF, but the object has no .BTF",
            )
        targets.map_sections.add(maps_section.index)
        btf_defs, values_offsets = btf_maps(elf, btf, maps_section)
        fill_init_slots(elf, maps_section, btf_defs, values_offsets,
                        elf.relocations.get(maps_section.index, []))
        maps += btf_defs
    for definition in maps:
        check_map(definition, abi or "linux", f"ELF object {elf.name}")
    for index, definition in enumerate(maps):
        targets.maps[(definition.section_index, definition.section_offset)] = index
    for section in elf.sections:
        kind = data_kind(section)
        if kind is None or section.size == 0:
            continue
        definition = data_map(object_name, section, kind)
        if btf is not None:
            ids = btf.find(section.name, BtfKind.DATASEC)
            definition.btf_value_type_id = ids[0] if ids else 0
        targets.data[section.index] = len(maps)
        maps.append(definition)
    if externs.kconfig_value:
        targets.kconfig_map = len(maps)
        maps.append(
            MapDef(
                name=internal_map_name(object_name, ".kconfig"),
                type=int(BPF_MAP_TYPE_ARRAY),
                key_size=4,
                value_size=len(externs.kconfig_value),
                max_entries=1,
                map_flags=int(BPF_F_RDONLY_PROG | BPF_F_MMAPABLE),
                section_name=".kconfig",
                internal=True,
                initial_value=externs.kconfig_value,
            )
        )
    targets.externs = externs.externs
    seen: set[str] = set()
    for definition in maps:
        if definition.name in seen:
            raise LibbpfError(
                errno.EEXIST, f"ELF object {elf.name}: two maps are named {definition.name!r}"
            )
        seen.add(definition.name)
    return maps, targets


def parse_object(
    data: bytes,
    display_name: str,
    object_name: str,
    *,
    abi: str | None = None,
    detect_abi: Callable[[ElfFile, Btf | None], str] | None = None,
    kconfig: str | None = None,
) -> ParsedObject:
    """Read a BPF object; every malformation raises LibbpfError naming what is at fault.

    ``abi`` ("linux" or "windows") decides how ambiguous legacy map
    definitions are read; when None, ``detect_abi`` chooses from the
    sections and BTF (else "linux").
    """
    elf = ElfFile(data, display_name)
    btf = _load_btf(elf)
    if abi is None:
        abi = detect_abi(elf, btf) if detect_abi is not None else "linux"
    externs = ExternTable(elf, btf, kconfig)
    maps, targets = _maps(elf, btf, object_name, abi, externs)
    image = CodeImage(elf)
    functions: dict[str, list[str]] = {}
    for section in code_sections(elf):
        image.code[section.index] = little_endian_code(section.data, elf.little_endian)
        image.functions[section.index] = section_functions(elf, section)
        image.relocations[section.index] = index_relocations(
            elf, section, elf.relocations.get(section.index, [])
        )
        functions[section.name] = [f.name for f in image.functions[section.index]]
    programs = []
    for section_index, section_functions_list in image.functions.items():
        for function in section_functions_list:
            linked = link_program(image, targets, function)
            programs.append(ParsedProgram(function, linked))
            pr_debug(
                f"elf: program {function.name!r} in section {elf.sections[section_index].name!r}"
                f": {len(linked.code) // 8} instructions, {len(linked.relocations)} relocations"
            )
    return ParsedObject(
        name=object_name,
        abi=abi,
        elf=elf,
        btf=btf,
        license=_license(elf),
        kern_version=_kern_version(elf),
        programs=programs,
        maps=maps,
        externs=externs,
        functions=functions,
    )


__all__ = ["ParsedObject", "ParsedProgram", "object_name_from_path", "parse_object"]
