"""The :class:`Btf` object: a parsed, validated type graph and queries on it."""

from __future__ import annotations

import errno
from pathlib import Path

from libbpf_compat.btf.elf_section import elf_section
from libbpf_compat.btf.parse import parse_btf
from libbpf_compat.btf.strings import StringTable
from libbpf_compat.btf.types import (
    COMPOSITE_KINDS,
    MODIFIER_KINDS,
    Array,
    BtfKind,
    BtfType,
    Composite,
    Datasec,
    Enum,
    Float,
    Int,
    Member,
    Ref,
)
from libbpf_compat.btf.validate import validate_types
from libbpf_compat.btf.write import btf_to_bytes
from libbpf_compat.errors import LibbpfError, einval

MAX_RESOLVE_DEPTH = 32
U32_MAX = 0xFFFFFFFF
_VOID = BtfType(0, BtfKind.UNKN, "")
_SIZED = (Int, Float, Composite, Enum, Datasec)


class Btf:
    """Parsed BTF. ``types[id]`` is the type with that id; id 0 is void.

    A split BTF (``base`` given) numbers its types after its base's and sees
    the base's types and strings as its own.
    """

    def __init__(self, types: list[BtfType], strings: StringTable, endianness: str,
                 base: Btf | None = None) -> None:
        #: Every type, indexed by id (base types first for a split BTF).
        self.types: tuple[BtfType, ...] = tuple(types)
        self.strings = strings
        self.endianness = endianness
        self.base = base
        self.start_id = len(base.types) if base is not None else 1
        self._by_name: dict[str, list[int]] | None = None
        self._align: dict[int, int] = {}
        self.pointer_size = self._guess_pointer_size()

    def __repr__(self) -> str:
        split = f", split from {len(self.base.types)} base types" if self.base else ""
        return f"<Btf {len(self.types)} types, {self.endianness}-endian{split}>"

    # -- construction ---------------------------------------------------
    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview, *, base: Btf | None = None) -> Btf:
        """Parse raw BTF (the content of a ``.BTF`` section or /sys/kernel/btf file)."""
        data = bytes(data)
        first_id = len(base.types) if base is not None else 1
        raw = parse_btf(data, first_id, base.strings if base is not None else None)
        if base is not None and raw.endianness != base.endianness:
            raise einval("BTF: split BTF endianness differs from its base's")
        types: list[BtfType] = list(base.types) if base is not None else [_VOID]
        types.extend(raw.types)
        validate_types(types, first_id)
        btf = cls(types, raw.strings, raw.endianness, base)
        btf._check_members()
        return btf

    @classmethod
    def from_file(cls, path: str | Path, *, base: Btf | None = None) -> Btf:
        """Parse a raw BTF file, or the ``.BTF`` section of an ELF object."""
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise LibbpfError(exc.errno or errno.ENOENT, f"{path}: {exc.strerror}") from exc
        if data[:4] == b"\x7fELF":
            section = elf_section(data, ".BTF", str(path))
            if section is None:
                raise LibbpfError(errno.ENOENT, f"{path}: no .BTF section")
            data = section
        return cls.from_bytes(data, base=base)

    def raw_data(self) -> bytes:
        """This BTF as raw bytes (btf__raw_data): its own types, not its base's."""
        base_end = self.base.strings.end if self.base is not None else 0
        return btf_to_bytes(self.types[self.start_id:], endianness=self.endianness,
                            strings_start=base_end)

    # -- lookups --------------------------------------------------------
    def __len__(self) -> int:
        return len(self.types)

    def type_by_id(self, type_id: int) -> BtfType:
        """The type with ``type_id``; EINVAL naming the id if there is none."""
        if not 0 <= type_id < len(self.types):
            raise einval(f"BTF type [{type_id}] does not exist (last id is "
                         f"{len(self.types) - 1})")
        return self.types[type_id]

    def name_of(self, type_id: int) -> str:
        return self.type_by_id(type_id).name

    def string_at(self, offset: int) -> str:
        """The string at ``offset`` (btf__name_by_offset); EINVAL if out of range."""
        return self.strings.at(offset, "BTF")

    def find(self, name: str, kind: BtfKind | None = None) -> list[int]:
        """Ids of the types called ``name`` (optionally of one kind), in id order."""
        if self._by_name is None:
            index: dict[str, list[int]] = {}
            for t in self.types:
                if t.name:
                    index.setdefault(t.name, []).append(t.id)
            self._by_name = index
        ids = self._by_name.get(name, [])
        if kind is None:
            return list(ids)
        return [i for i in ids if self.types[i].kind == kind]

    def resolve(self, type_id: int) -> int:
        """Skip typedef/const/volatile/restrict/type_tag from ``type_id``."""
        t = self.type_by_id(type_id)
        for _ in range(MAX_RESOLVE_DEPTH + 1):
            if t.kind not in MODIFIER_KINDS:
                return t.id
            assert isinstance(t, Ref)
            t = self.type_by_id(t.type)
        raise einval(f"BTF type [{type_id}]: modifier chain deeper than {MAX_RESOLVE_DEPTH}")

    def resolved(self, type_id: int) -> BtfType:
        """The type ``resolve(type_id)`` names."""
        return self.types[self.resolve(type_id)]

    def size_of(self, type_id: int) -> int:
        """Size in bytes, as btf__resolve_size computes it (E2BIG past 4 GiB)."""
        t = self.type_by_id(type_id)
        nelems = 1
        for _ in range(MAX_RESOLVE_DEPTH + 1):
            if isinstance(t, _SIZED):
                size = t.size
                break
            if t.kind == BtfKind.PTR:
                size = self.pointer_size
                break
            if isinstance(t, Array):
                if t.nelems and nelems > U32_MAX // t.nelems:
                    raise LibbpfError(errno.E2BIG, f"BTF type [{type_id}]: array too large")
                nelems *= t.nelems
                t = self.type_by_id(t.type)
                continue
            if t.kind in MODIFIER_KINDS or t.kind in (BtfKind.VAR, BtfKind.DECL_TAG):
                t = self.type_by_id(t.type)  # type: ignore[attr-defined]
                continue
            raise einval(f"BTF type [{type_id}]: {t.kind.name} type [{t.id}] has no size")
        else:
            raise einval(f"BTF type [{type_id}]: type chain deeper than {MAX_RESOLVE_DEPTH}")
        if nelems and size > U32_MAX // nelems:
            raise LibbpfError(errno.E2BIG, f"BTF type [{type_id}]: size overflows 32 bits")
        return size * nelems

    def align_of(self, type_id: int) -> int:
        """Natural alignment (btf__align_of); 1 for a packed struct."""
        cached = self._align.get(type_id)
        if cached is None:
            try:
                cached = self._align_of(type_id)
            except RecursionError as exc:
                raise LibbpfError(errno.E2BIG, f"BTF type [{type_id}]: types nest too "
                                  "deeply") from exc
            self._align[type_id] = cached
        return cached

    def _align_of(self, type_id: int) -> int:
        t = self.resolved(type_id)
        if isinstance(t, Int | Enum | Float):
            return max(1, min(t.size, self.pointer_size))
        if t.kind == BtfKind.PTR:
            return self.pointer_size
        if isinstance(t, Array):
            return self.align_of(t.type)
        if isinstance(t, Composite):
            align = 1
            for m in t.members:
                a = self.align_of(m.type)
                if not m.bitfield_size and m.bit_offset % (8 * a):
                    return 1
                align = max(align, a)
            if t.size % align:
                return 1
            return align
        raise einval(f"BTF type [{type_id}]: {t.kind.name} has no alignment")

    def members(self, type_id: int) -> tuple[Member, ...]:
        """The members of the struct/union ``type_id`` names (modifiers skipped)."""
        t = self.resolved(type_id)
        if not isinstance(t, Composite):
            raise einval(f"BTF type [{type_id}]: {t.kind.name} is not a struct or union")
        return t.members

    # -- internals ------------------------------------------------------
    def _guess_pointer_size(self) -> int:
        for name in ("long int", "long unsigned int", "unsigned long", "long"):
            for tid in self.find(name, BtfKind.INT):
                size = self.types[tid].size  # type: ignore[attr-defined]
                if size in (4, 8):
                    return int(size)
        return 8

    def _check_members(self) -> None:
        for t in self.types[self.start_id:]:
            if t.kind not in COMPOSITE_KINDS:
                continue
            assert isinstance(t, Composite)
            limit = t.size * 8
            for m in t.members:
                if m.bitfield_size:
                    end = m.bit_offset + m.bitfield_size
                    if m.bitfield_size > 128 or \
                            self.resolved(m.type).kind not in (BtfKind.INT, BtfKind.ENUM,
                                                               BtfKind.ENUM64):
                        raise einval(f"BTF type [{t.id}]: member '{m.name}' has a bad "
                                     f"bitfield size {m.bitfield_size}")
                else:
                    end = m.bit_offset + 8 * self.size_of(m.type)
                if end > limit:
                    raise einval(f"BTF type [{t.id}]: member '{m.name}' (bits {m.bit_offset}"
                                 f"..{end}) lies outside the {t.size}-byte "
                                 f"{t.kind.name.lower()}")


__all__ = ["Btf"]
