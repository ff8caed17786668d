"""BTF-defined maps: the ``.maps`` section, described by its BTF DATASEC.

Each variable of the DATASEC is a struct whose members encode the map's
attributes (libbpf's ``__uint``/``__type``/``__array`` macros):

- numbers (``type``, ``max_entries``, ``map_flags``, ``key_size``,
  ``value_size``, ``pinning``, ``numa_node``, ``map_extra``) as
  ``int (*name)[N]``: a pointer to an array of N elements;
- ``key`` / ``value`` as a pointer to the key or value type (the size is
  the pointee's size, its id becomes btf_key/value_type_id);
- ``values`` as an array of pointers: to the inner map's definition struct
  for a map-in-map, to a function prototype for a prog array. The
  ``.rel.maps`` relocations fill its slots with maps or programs.
"""

from __future__ import annotations

import errno

from libbpf_compat.btf.btf import Btf
from libbpf_compat.btf.types import Array, BtfKind, Composite, Datasec, Ref, Var
from libbpf_compat.elf.mapdefs import MapDef
from libbpf_compat.elf.reader import STT_FUNC, ElfFile, Relocation, Section
from libbpf_compat.errors import LibbpfError
from libbpf_compat.uapi import BpfMapType

_NUMBER_FIELDS = frozenset(
    {"type", "max_entries", "map_flags", "key_size", "value_size", "pinning", "numa_node",
     "map_extra"}
)
_MAP_IN_MAP = (BpfMapType.BPF_MAP_TYPE_ARRAY_OF_MAPS, BpfMapType.BPF_MAP_TYPE_HASH_OF_MAPS)
LIBBPF_PIN_BY_NAME = 1


def _error(where: str, message: str, err: int = errno.EINVAL) -> LibbpfError:
    return LibbpfError(err, f"{where}: {message}")


def _number(btf: Btf, member_type: int, where: str) -> int:
    pointer = btf.resolved(member_type)
    if not isinstance(pointer, Ref) or pointer.kind != BtfKind.PTR:
        raise _error(where, f"expected a pointer to an array, got {pointer.kind.name}")
    array = btf.resolved(pointer.type)
    if not isinstance(array, Array):
        raise _error(where, f"expected a pointer to an array, got a pointer to "
                            f"{array.kind.name}")
    return array.nelems


def _pointee(btf: Btf, member_type: int, where: str) -> int:
    pointer = btf.resolved(member_type)
    if not isinstance(pointer, Ref) or pointer.kind != BtfKind.PTR:
        raise _error(where, f"expected a pointer to a type, got {pointer.kind.name}")
    return pointer.type


def parse_map_struct(btf: Btf, struct_id: int, name: str, where: str, *,
                     inner: bool = False) -> MapDef:
    """The map definition a ``.maps`` struct encodes (also an ``__array`` inner map)."""
    struct = btf.resolved(struct_id)
    if not isinstance(struct, Composite) or struct.kind != BtfKind.STRUCT:
        raise _error(where, f"map {name!r}: definition is a {struct.kind.name}, not a struct")
    definition = MapDef(name=name, type=0, key_size=0, value_size=0, max_entries=0)
    values_type = 0
    for member in struct.members:
        at = f"{where}: map {name!r} attribute {member.name!r}"
        if member.name in _NUMBER_FIELDS:
            number = _number(btf, member.type, at)
            if member.name == "key_size" and definition.key_size not in (0, number):
                raise _error(at, f"conflicting key size {definition.key_size} != {number}")
            if member.name == "value_size" and definition.value_size not in (0, number):
                raise _error(at, f"conflicting value size {definition.value_size} != {number}")
            attribute = "type" if member.name == "type" else member.name
            setattr(definition, attribute, number)
        elif member.name in ("key", "value"):
            target = _pointee(btf, member.type, at)
            size = btf.size_of(target)
            size_attr = f"{member.name}_size"
            if getattr(definition, size_attr) not in (0, size):
                raise _error(at, f"conflicting {size_attr} {getattr(definition, size_attr)} "
                                 f"!= {size}")
            setattr(definition, size_attr, size)
            setattr(definition, f"btf_{member.name}_type_id", target)
        elif member.name == "values":
            if inner:
                raise _error(at, "an inner map cannot have values of its own")
            values_type = member.type
        else:
            raise _error(at, "unknown map attribute", errno.ENOTSUP)
    if definition.pinning not in (0, LIBBPF_PIN_BY_NAME):
        raise _error(where, f"map {name!r}: unsupported pinning {definition.pinning}",
                     errno.EINVAL)
    if values_type:
        _parse_values(btf, definition, values_type, f"{where}: map {name!r} values")
    return definition


def _parse_values(btf: Btf, definition: MapDef, values_type: int, where: str) -> None:
    array = btf.resolved(values_type)
    if not isinstance(array, Array):
        raise _error(where, f"expected an array, got {array.kind.name}")
    element = btf.resolved(array.type)
    if not isinstance(element, Ref) or element.kind != BtfKind.PTR:
        raise _error(where, f"expected an array of pointers, got an array of "
                            f"{element.kind.name}")
    target = btf.resolved(element.type)
    if definition.value_size not in (0, 4):
        raise _error(where, f"value size {definition.value_size} conflicts with values, which "
                            "hold 4-byte map or program ids")
    definition.value_size = 4
    if definition.type in _MAP_IN_MAP:
        if target.kind != BtfKind.STRUCT:
            raise _error(where, f"inner map definition is a {target.kind.name}, not a struct")
        definition.inner = parse_map_struct(
            btf, target.id, f"{definition.name}.inner", where, inner=True
        )
    elif definition.type == BpfMapType.BPF_MAP_TYPE_PROG_ARRAY:
        if target.kind != BtfKind.FUNC_PROTO:
            raise _error(where, f"prog array values must point to functions, not "
                                f"{target.kind.name}")
    else:
        raise _error(where, f"map type {definition.type} is neither a map-in-map nor a prog "
                            "array, so it cannot have values")


def btf_maps(elf: ElfFile, btf: Btf, section: Section) -> tuple[list[MapDef], dict[str, int]]:
    """The maps of the ``.maps`` section, in DATASEC order, and each one's values offset.

    Each map's offset in the section is its ELF symbol's (clang leaves the
    DATASEC offsets to be fixed up, as libbpf does).
    """
    where = f"ELF object {elf.name}: section '.maps'"
    ids = btf.find(".maps", BtfKind.DATASEC)
    if not ids:
        raise _error(where, "no BTF DATASEC describes it", errno.ENOENT)
    datasec = btf.types[ids[0]]
    assert isinstance(datasec, Datasec)
    symbols = {s.name: s.value for s in elf.symbols if s.shndx == section.index and s.name}
    maps: list[MapDef] = []
    values_offsets: dict[str, int] = {}
    for info in datasec.vars:
        var = btf.type_by_id(info.type)
        if not isinstance(var, Var):
            raise _error(where, f"DATASEC entry [{info.type}] is a {var.kind.name}, not a VAR")
        var_type = var.type
        definition = parse_map_struct(btf, var_type, var.name, where)
        size = btf.size_of(var_type)
        offset = symbols.get(var.name, info.offset)
        if offset + size > section.size:
            raise _error(where, f"map {var.name!r} ({size} bytes at {offset}) is outside the "
                                f"section ({section.size} bytes)")
        definition.section_name = section.name
        definition.section_index = section.index
        definition.section_offset = offset
        definition.btf_var_type_id = var.id
        for member in btf.members(var_type):
            if member.name == "values":
                values_offsets[var.name] = member.bit_offset // 8
        maps.append(definition)
    return maps, values_offsets


def fill_init_slots(
    elf: ElfFile, section: Section, maps: list[MapDef], values_offsets: dict[str, int],
    relocations: list[Relocation],
) -> None:
    """Put the programs and maps the ``.rel.maps`` relocations name into ``init_slots``."""
    where = f"ELF object {elf.name}: section '.maps'"
    pointer_size = 8
    for reloc in relocations:
        symbol = elf.symbol(reloc.symbol, "a relocation of section '.maps'")
        owner = next(
            (m for m in maps
             if m.section_offset <= reloc.offset < m.section_offset + _span(maps, m, section)),
            None,
        )
        if owner is None or owner.name not in values_offsets:
            raise _error(where, f"relocation against {symbol.name!r} at offset {reloc.offset} "
                                "is not in the values of any map")
        start = owner.section_offset + values_offsets[owner.name]
        if reloc.offset < start or (reloc.offset - start) % pointer_size:
            raise _error(where, f"map {owner.name!r}: relocation against {symbol.name!r} at "
                                f"offset {reloc.offset} is not a slot of its values")
        slot = (reloc.offset - start) // pointer_size
        if owner.max_entries and slot >= owner.max_entries:
            raise _error(where, f"map {owner.name!r}: value slot {slot} is beyond max_entries "
                                f"{owner.max_entries}", errno.E2BIG)
        if owner.type == BpfMapType.BPF_MAP_TYPE_PROG_ARRAY:
            if symbol.type != STT_FUNC:
                raise _error(where, f"prog array {owner.name!r}: slot {slot} names "
                                    f"{symbol.name!r}, which is not a function")
        elif symbol.shndx != section.index:
            raise _error(where, f"map {owner.name!r}: slot {slot} names {symbol.name!r}, "
                                "which is not a map of '.maps'")
        owner.init_slots[slot] = symbol.name


def _span(maps: list[MapDef], definition: MapDef, section: Section) -> int:
    later = [m.section_offset for m in maps if m.section_offset > definition.section_offset]
    return (min(later) if later else section.size) - definition.section_offset


__all__ = ["LIBBPF_PIN_BY_NAME", "btf_maps", "fill_init_slots", "parse_map_struct"]
