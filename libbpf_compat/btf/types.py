"""BTF kinds and the immutable records a parsed type section is made of.

Numbers and record layouts follow the kernel's BTF documentation
(Documentation/bpf/btf.rst). Every type carries its ``id`` (0 is void), its
``kind`` and its ``name`` ("" when anonymous). Types are frozen dataclasses;
their many small records (members, parameters, enumerators, section
variables) are named tuples, which are several times cheaper to build.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, IntFlag
from typing import NamedTuple


class BtfKind(IntEnum):
    """The ``kind`` field of ``btf_type.info``."""

    UNKN = 0
    INT = 1
    PTR = 2
    ARRAY = 3
    STRUCT = 4
    UNION = 5
    ENUM = 6
    FWD = 7
    TYPEDEF = 8
    VOLATILE = 9
    CONST = 10
    RESTRICT = 11
    FUNC = 12
    FUNC_PROTO = 13
    VAR = 14
    DATASEC = 15
    FLOAT = 16
    DECL_TAG = 17
    TYPE_TAG = 18
    ENUM64 = 19


class IntEncoding(IntFlag):
    """The encoding bits of a BTF_KIND_INT."""

    NONE = 0
    SIGNED = 1
    CHAR = 2
    BOOL = 4


class Linkage(IntEnum):
    """Linkage of a FUNC (its vlen) or a VAR."""

    STATIC = 0
    GLOBAL = 1
    EXTERN = 2


#: Kinds that only qualify or rename another type.
MODIFIER_KINDS = frozenset({BtfKind.TYPEDEF, BtfKind.VOLATILE, BtfKind.CONST,
                            BtfKind.RESTRICT, BtfKind.TYPE_TAG})
COMPOSITE_KINDS = frozenset({BtfKind.STRUCT, BtfKind.UNION})
ENUM_KINDS = frozenset({BtfKind.ENUM, BtfKind.ENUM64})


@dataclass(frozen=True, slots=True)
class BtfType:
    """What every type has. Void (id 0) is a bare ``BtfType`` of kind UNKN."""

    id: int
    kind: BtfKind
    name: str


@dataclass(frozen=True, slots=True)
class Int(BtfType):
    size: int
    encoding: IntEncoding
    bit_offset: int
    bits: int

    @property
    def signed(self) -> bool:
        return bool(self.encoding & IntEncoding.SIGNED)


@dataclass(frozen=True, slots=True)
class Float(BtfType):
    size: int


@dataclass(frozen=True, slots=True)
class Ref(BtfType):
    """PTR, TYPEDEF, VOLATILE, CONST, RESTRICT and TYPE_TAG: one referenced type."""

    type: int


@dataclass(frozen=True, slots=True)
class Array(BtfType):
    type: int
    index_type: int
    nelems: int


class Member(NamedTuple):
    """A struct/union member; ``bitfield_size`` is 0 for a plain member."""

    name: str
    type: int
    bit_offset: int
    bitfield_size: int = 0


@dataclass(frozen=True, slots=True)
class Composite(BtfType):
    """STRUCT or UNION."""

    size: int
    members: tuple[Member, ...]


class EnumValue(NamedTuple):
    name: str
    value: int


@dataclass(frozen=True, slots=True)
class Enum(BtfType):
    """ENUM or ENUM64; ``signed`` is the kind_flag."""

    size: int
    signed: bool
    values: tuple[EnumValue, ...]


@dataclass(frozen=True, slots=True)
class Fwd(BtfType):
    is_union: bool


@dataclass(frozen=True, slots=True)
class Func(BtfType):
    type: int
    linkage: Linkage


class Param(NamedTuple):
    name: str
    type: int


@dataclass(frozen=True, slots=True)
class FuncProto(BtfType):
    """A function signature; a last parameter of type 0 means ``...``."""

    type: int
    params: tuple[Param, ...]


@dataclass(frozen=True, slots=True)
class Var(BtfType):
    type: int
    linkage: Linkage


class VarSecInfo(NamedTuple):
    type: int
    offset: int
    size: int


@dataclass(frozen=True, slots=True)
class Datasec(BtfType):
    size: int
    vars: tuple[VarSecInfo, ...]


@dataclass(frozen=True, slots=True)
class DeclTag(BtfType):
    """``component_idx`` is -1 for the type itself, else a member/param index."""

    type: int
    component_idx: int


__all__ = [
    "COMPOSITE_KINDS",
    "ENUM_KINDS",
    "MODIFIER_KINDS",
    "Array",
    "BtfKind",
    "BtfType",
    "Composite",
    "Datasec",
    "DeclTag",
    "Enum",
    "EnumValue",
    "Float",
    "Func",
    "FuncProto",
    "Fwd",
    "Int",
    "IntEncoding",
    "Linkage",
    "Member",
    "Param",
    "Ref",
    "Var",
    "VarSecInfo",
]
