"""Skeletons, Python style: what a bpftool-generated skeleton gives a C tool
(``skel->rodata->min_duration_ns = 10``, ``skel->bss->hits``,
``skel->progs.handle_exec``, ``skel->maps.events``) as attributes.

>>> skel = Skeleton(bpf_object__open_file("counter.o"))
>>> skel.rodata.scale = 3            # before load: the map's initial value
>>> skel.load()
>>> skel.progs.add_total.vm.run(req)
>>> skel.bss.calls                   # after load: read from the map, live
1

Each global data section with global variables (``.rodata``, ``.data``,
``.bss``, ``.kconfig`` and custom ``.data.*`` / ``.rodata.*``) is an
attribute named as bpftool names it: the section name without its leading
dot, other dots as ``_`` (``.data.custom`` -> ``data_custom``). Its
variables (static ones are left out, as bpftool leaves them out) are
decoded and encoded through BTF by :func:`libbpf_compat.btf.decode` /
:func:`~libbpf_compat.btf.encode`: ints, structs as dicts, arrays as lists,
char arrays as str.

Before load a variable is read from and written into the map's initial
value (``bpf_map__set_initial_value``). After load it is read from and
written to the map's value in the store directly, as a skeleton's mmap'ed
pointer does, so programs see writes at once and reads see what programs
wrote; read-only sections (``.rodata``, ``.kconfig``) refuse writes after
load with EPERM. An unknown variable, program or map is an AttributeError.
"""

from __future__ import annotations

import errno
import re
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from libbpf_compat._native import ffi
from libbpf_compat.btf import Btf, BtfKind, Datasec, Linkage, Var, decode, encode
from libbpf_compat.errors import LibbpfError
from libbpf_compat.object import BpfObject, ObjectMap, Program
from libbpf_compat.uapi import BPF_F_RDONLY_PROG

_ARRAY_KEY = bytes(4)
_NOT_IDENT = re.compile(r"\W")


def section_ident(section_name: str) -> str:
    """bpftool's identifier for a data section: ``.data.custom`` -> ``data_custom``."""
    return _NOT_IDENT.sub("_", section_name.lstrip("."))


@dataclass(frozen=True)
class GlobalVar:
    """One variable of a data section: its BTF type, offset and size in the value."""

    name: str
    type_id: int
    offset: int
    size: int


class GlobalSection:
    """The variables of one global data section, as attributes."""

    def __init__(self, map_: ObjectMap, btf: Btf, variables: dict[str, GlobalVar]) -> None:
        object.__setattr__(self, "_map", map_)
        object.__setattr__(self, "_btf", btf)
        object.__setattr__(self, "_vars", variables)

    _map: ObjectMap
    _btf: Btf
    _vars: dict[str, GlobalVar]

    def __repr__(self) -> str:
        return f"<GlobalSection {self._map.definition.section_name!r}: {sorted(self._vars)}>"

    def __dir__(self) -> list[str]:
        return sorted(self._vars)

    @property
    def map(self) -> ObjectMap:
        """The internal map holding this section."""
        return self._map

    def variables(self) -> dict[str, GlobalVar]:
        return dict(self._vars)

    def as_dict(self) -> dict[str, Any]:
        """Every variable's current value."""
        return {name: self._get(var) for name, var in self._vars.items()}

    def _var(self, name: str) -> GlobalVar:
        var = self._vars.get(name)
        if var is None:
            raise AttributeError(f"section {self._map.definition.section_name!r} has no "
                                 f"global variable {name!r}")
        return var

    def _address(self) -> int | None:
        """The value's address in the store once loaded; None before load."""
        owner = self._map.owner
        if owner.closed:
            raise LibbpfError(errno.EINVAL, f"object {owner.name!r} is closed")
        native = self._map.native
        return None if native is None else native.value_address(_ARRAY_KEY)

    def _get(self, var: GlobalVar) -> Any:
        address = self._address()
        if address is None:
            initial = self._map.initial_value or b""
            raw = initial[var.offset:var.offset + var.size]
        else:
            raw = ffi.buffer(ffi.cast("char *", address + var.offset), var.size)[:]
        return decode(self._btf, var.type_id, raw)

    def _set(self, var: GlobalVar, value: Any) -> None:
        data = encode(self._btf, var.type_id, value)
        address = self._address()
        if address is None:
            initial = self._map.initial_value or bytes(self._map.value_size)
            self._map.set_initial_value(
                initial[:var.offset] + data + initial[var.offset + var.size:])
            return
        if self._map.map_flags & BPF_F_RDONLY_PROG:
            raise LibbpfError(errno.EPERM, f"{var.name!r} is in read-only section "
                                           f"{self._map.definition.section_name!r}: set it "
                                           "before load")
        ffi.memmove(ffi.cast("char *", address + var.offset), data, len(data))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return self._get(self._var(name))

    def __setattr__(self, name: str, value: Any) -> None:
        self._set(self._var(name), value)


class _Named:
    """Objects by name, as attributes (``skel.progs.handler``)."""

    def __init__(self, what: str, items: dict[str, Any]) -> None:
        self._what = what
        self._items = items

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._items[name]
        except KeyError:
            raise AttributeError(f"no {self._what} named {name!r}") from None

    def __dir__(self) -> list[str]:
        return sorted(self._items)

    def __iter__(self) -> Any:
        return iter(self._items.values())

    def __len__(self) -> int:
        return len(self._items)


class Programs(_Named):
    def __getattr__(self, name: str) -> Program:
        prog: Program = super().__getattr__(name)
        return prog


class Maps(_Named):
    def __getattr__(self, name: str) -> ObjectMap:
        map_: ObjectMap = super().__getattr__(name)
        return map_


class Skeleton:
    """Typed access to an opened object's programs, maps and global variables.

    ``progs`` and ``maps`` hold the programs and maps by name (internal maps
    under their section identifier, as bpftool names them); each data
    section with global variables is an attribute (``rodata``, ``bss``…).
    """

    def __init__(self, obj: BpfObject) -> None:
        self.obj = obj
        self.progs = Programs("program", {p.name: p for p in obj.programs})
        maps: dict[str, ObjectMap] = {}
        self.sections: dict[str, GlobalSection] = {}
        for map_ in obj.maps:
            if not map_.is_internal:
                maps[map_.name] = map_
                continue
            ident = section_ident(map_.definition.section_name)
            maps[ident] = map_
            section = _section(obj, map_)
            if section is not None:
                self.sections[ident] = section
        self.maps = Maps("map", maps)

    def __getattr__(self, name: str) -> GlobalSection:
        sections: dict[str, GlobalSection] = self.__dict__.get("sections", {})
        try:
            return sections[name]
        except KeyError:
            raise AttributeError(f"object {self.obj.name!r} has no global data section "
                                 f"{name!r} with global variables") from None

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self.sections))

    def load(self) -> None:
        self.obj.load()

    def destroy(self) -> None:
        self.obj.close()

    def __enter__(self) -> Skeleton:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.destroy()


def _section(obj: BpfObject, map_: ObjectMap) -> GlobalSection | None:
    """The section view of an internal map, or None when it has no global variables.

    clang leaves the DATASEC's variable offsets at 0 (libbpf fixes them up
    from the symbol table at open): a variable's offset is its ELF symbol's
    value in the section. ``.kconfig`` variables sit where the extern table
    laid them out.
    """
    btf = obj.btf
    if btf is None:
        return None
    section_name = map_.definition.section_name
    ids = ([map_.btf_value_type_id] if map_.btf_value_type_id
           else btf.find(section_name, BtfKind.DATASEC))
    datasec = btf.type_by_id(ids[0]) if ids else None
    if not isinstance(datasec, Datasec):
        return None
    externs = obj.parsed.externs.externs
    index = map_.definition.section_index
    symbols = {sym.name: sym.value for sym in obj.parsed.elf.symbols
               if index >= 0 and sym.shndx == index}
    variables: dict[str, GlobalVar] = {}
    for info in datasec.vars:
        var = btf.type_by_id(info.type)
        if not isinstance(var, Var) or var.linkage == Linkage.STATIC:
            continue
        offset = symbols.get(var.name, info.offset)
        if section_name == ".kconfig":
            extern = externs.get(var.name)
            if extern is None:
                continue
            offset = extern.offset
        size = btf.size_of(var.type)
        if not 0 <= offset <= map_.value_size - size:
            raise LibbpfError(errno.EINVAL, f"object {obj.name!r}: global variable "
                                            f"{var.name!r} ({size} bytes at {offset}) is "
                                            f"outside section {section_name!r}")
        variables[var.name] = GlobalVar(var.name, var.type, offset, size)
    return GlobalSection(map_, btf, variables) if variables else None


__all__ = ["GlobalSection", "GlobalVar", "Maps", "Programs", "Skeleton", "section_ident"]
