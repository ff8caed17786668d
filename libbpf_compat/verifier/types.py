"""Register types: what a register holds (a number or a kind of pointer) and where.

A :class:`RegValue` is a set of possible types, the offset interval the pointer
types share, the numeric value (for numbers; for pointers the value of the address
is unknown), and per-type extras (the size of a shared region, a map fd).
"""

from __future__ import annotations

from dataclasses import dataclass

from libbpf_compat.verifier.numeric import BOTTOM, TOP, Scalar

NUMBER = "number"
CTX = "ctx"
STACK = "stack"
PACKET = "packet"
PACKET_END = "packet_end"  # PREVAIL writes a pointer to the packet's end as packet
PACKET_META = "packet_meta"
SHARED = "shared"
MAP_FD = "map_fd"
MAP_FD_PROGRAMS = "map_fd_programs"
SOCKET = "socket"
ALLOC_MEM = "alloc_mem"
FUNC = "func"
#: the key a helper hands a callback (bpf_for_each_map_elem): bytes it may read, not write
MAP_KEY = "map_key"
UNINIT = "uninit"

#: The address of a pointer known not to be null: a host user-space address.
NON_NULL = Scalar.from_unsigned(1, (1 << 47) - 1)

POINTER_TYPES = frozenset({CTX, STACK, PACKET, PACKET_END, PACKET_META, SHARED, SOCKET,
                           ALLOC_MEM, MAP_KEY})
MEMORY_TYPES = frozenset({CTX, STACK, PACKET, SHARED, SOCKET, ALLOC_MEM, MAP_KEY})
_NULLABLE = frozenset({SHARED, SOCKET, ALLOC_MEM})
#: the types a YAML case's untyped value may have (a callback's key is none of them)
ALL_TYPES = frozenset({NUMBER, MAP_FD, MAP_FD_PROGRAMS, FUNC}) | POINTER_TYPES - {MAP_KEY}


@dataclass(frozen=True)
class RegValue:
    """The abstract value of one register."""

    types: frozenset[str] = frozenset({UNINIT})
    value: Scalar = TOP
    offset: Scalar = TOP
    region_size: Scalar = TOP  # shared regions: their size
    map_fd: Scalar = TOP  # map_fd and map_fd_programs: which map; shared: its value's map
    #: packet pointers: (id, k) when the offset is ``v + k`` for the variable ``v``
    #: created at slot ``id`` (the packet ranges of a state are facts about it)
    sym: tuple[int, int] | None = None
    #: numbers: (base, k) when the value, as a signed number, is at most the packet's
    #: end minus ``base + k`` (``base`` the variable of a packet pointer's offset, None
    #: for offset 0): a length computed as ``end - start`` (see verifier.relations)
    room: tuple[int | None, int] | None = None
    #: numbers: ``S`` when the stack bytes ``[S, S + value)`` hold numbers, while the
    #: stack keeps a run at ``S`` (see verifier.relations)
    stack_run: int | None = None

    @staticmethod
    def number(value: Scalar = TOP) -> RegValue:
        return RegValue(frozenset({NUMBER}), value)

    @staticmethod
    def pointer(kind: str, offset: Scalar, region_size: Scalar = TOP) -> RegValue:
        """A pointer known not to be null."""
        return RegValue(frozenset({kind}), NON_NULL, offset, region_size)

    @property
    def bottom(self) -> bool:
        return not self.types

    @property
    def is_number(self) -> bool:
        return self.types == {NUMBER}

    @property
    def is_known_null(self) -> bool:
        """A pointer a helper may return as null, on the path where it is null: where
        it meets a number it is the number 0 (as in Linux)."""
        return bool(self.types) and self.types <= _NULLABLE and self.value.u.singleton == 0

    @property
    def only(self) -> str | None:
        return next(iter(self.types)) if len(self.types) == 1 else None

    def join(self, other: RegValue) -> RegValue:
        if self is other or self == other:
            return self
        if self.bottom:
            return other
        if other.bottom:
            return self
        if self.is_number and other.is_known_null:
            return self.join(RegValue.number(other.value))
        if other.is_number and self.is_known_null:
            return RegValue.number(self.value).join(other)
        return RegValue(self.types | other.types, self.value.join(other.value),
                        self.offset.join(other.offset),
                        self.region_size.join(other.region_size),
                        self.map_fd.join(other.map_fd),
                        self.sym if self.sym == other.sym else None,
                        _join_room(self.room, other.room),
                        self.stack_run if self.stack_run == other.stack_run else None)

    def widen(self, other: RegValue, thresholds: tuple[int, ...] = ()) -> RegValue:
        if self.bottom:
            return other
        if other.bottom:
            return self
        return RegValue(self.types | other.types, self.value.widen(other.value, thresholds),
                        self.offset.widen(other.offset, thresholds),
                        self.region_size.widen(other.region_size),
                        self.map_fd.widen(other.map_fd),
                        self.sym if self.sym == other.sym else None,
                        self.room if self.room == other.room else None,
                        self.stack_run if self.stack_run == other.stack_run else None)

    def with_sym(self, sym: tuple[int, int] | None) -> RegValue:
        return RegValue(self.types, self.value, self.offset, self.region_size, self.map_fd, sym,
                        self.room, self.stack_run)

    def with_facts(self, room: tuple[int | None, int] | None,
                   stack_run: int | None) -> RegValue:
        """The same value with these relational facts (see verifier.relations)."""
        return RegValue(self.types, self.value, self.offset, self.region_size, self.map_fd,
                        self.sym, room, stack_run)

    def with_number(self, value: Scalar) -> RegValue:
        """A number refined to ``value``: a narrower value keeps its facts."""
        return RegValue(self.types, value, self.offset, self.region_size, self.map_fd,
                        self.sym, self.room, self.stack_run)

    def leq(self, other: RegValue) -> bool:
        if self is other:
            return True
        return (self.types <= other.types and self.value.leq(other.value)
                and (other.sym is None or self.sym == other.sym)
                and (other.room is None or (self.room is not None
                                            and self.room[0] == other.room[0]
                                            and self.room[1] >= other.room[1]))
                and (other.stack_run is None or self.stack_run == other.stack_run)
                and self.offset.leq(other.offset)
                and self.region_size.leq(other.region_size)
                and self.map_fd.leq(other.map_fd))


def _join_room(a: tuple[int | None, int] | None,
               b: tuple[int | None, int] | None) -> tuple[int | None, int] | None:
    """Both bound the value by the room past one base: the smaller room bounds it."""
    if a is None or b is None or a[0] != b[0]:
        return None
    return a if a[1] <= b[1] else b


UNINIT_VALUE = RegValue()
NO_VALUE = RegValue(frozenset(), BOTTOM, BOTTOM, BOTTOM, BOTTOM)

