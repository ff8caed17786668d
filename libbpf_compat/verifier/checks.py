"""Safety checks: each returns the message text of a failed assertion, or None.

The abstract state is what :mod:`~libbpf_compat.verifier.analysis` holds; the checks
only read it. A failed check ends the path (the state after it is bottom).
"""

from __future__ import annotations

from libbpf_compat.helpers.prototypes import socket_access_ok
from libbpf_compat.verifier import log
from libbpf_compat.verifier.numeric import UMAX64, Scalar
from libbpf_compat.verifier.types import (
    ALLOC_MEM,
    CTX,
    MAP_FD,
    MAP_FD_PROGRAMS,
    MAP_KEY,
    MEMORY_TYPES,
    NUMBER,
    PACKET,
    SHARED,
    SOCKET,
    STACK,
    UNINIT,
    RegValue,
)

MEMORY_TYPE_TEXT = "in {ctx, stack, packet, shared, socket, alloc_mem}"
STACK_SIZE = 4096  # 8 frames of 512 bytes, as PREVAIL's total stack


def number(reg: int, value: RegValue) -> str | None:
    """The register must hold a number."""
    return None if value.types == {NUMBER} else log.must_be_number(reg)


def divisor(reg: int, value: RegValue, is64: bool, allow_zero: bool) -> str | None:
    if value.types != {NUMBER}:
        return log.divisor_not_number(reg)
    if allow_zero:
        return None
    view = value.value.u if is64 else value.value.low32
    return log.division_by_zero(reg, is64) if view.contains(0) else None


def memory_base(reg: int, value: RegValue) -> str | None:
    """The base of a load or store must be a pointer to memory."""
    if not value.types or not value.types <= MEMORY_TYPES:
        return log.invalid_type(reg, MEMORY_TYPE_TEXT)
    return None


def bounds(reg: int, value: RegValue, offset: int, width: int, write: bool,
           packet_size: Scalar, meta_offset: Scalar, stack_size: int = STACK_SIZE,
           known: int | None = None, frame_size: int = 0, ctx_size: int | None = None,
           stack_floor: int = 0) -> str | None:
    """The access ``[reg + offset, +width)`` must lie inside the region it points to.

    ``known``: for a packet pointer, the bytes known to follow it (from its variable's
    packet range), whatever its offset interval says. ``stack_size`` is the top of the
    stack; with ``frame_size`` no access may cross from one call frame into another;
    ``stack_floor`` is the bottom of the current frame; ``ctx_size`` the size of the
    context, None when unknown (not checked here). A base that may be of several types
    must be inside the region of each of them.
    """
    if value.offset.bottom:
        return None
    lo = value.offset.s.lo + offset
    access = log.access_text(reg, offset, width, write)
    if value.only is None:
        if lo < 0:
            return log.lower_bound("0", access)
        for kind in sorted(value.types):
            found = _bounds_of(kind, reg, value, offset, width, write, packet_size,
                               meta_offset, stack_size, known, frame_size, ctx_size,
                               stack_floor)
            if found is not None:
                return found
        return None
    return _bounds_of(next(iter(value.types)), reg, value, offset, width, write, packet_size,
                      meta_offset, stack_size, known, frame_size, ctx_size, stack_floor)


def _bounds_of(kind: str, reg: int, value: RegValue, offset: int, width: int, write: bool,
               packet_size: Scalar, meta_offset: Scalar, stack_size: int,
               known: int | None, frame_size: int, ctx_size: int | None,
               stack_floor: int) -> str | None:
    lo = value.offset.s.lo + offset
    hi = value.offset.s.hi + offset + width
    access = log.access_text(reg, offset, width, write)
    if kind == STACK:
        if lo < 0:
            return log.lower_bound("0", access)
        if lo < stack_floor:
            return log.lower_bound("r10.stack_offset - subprogram_stack_size", access)
        if hi > stack_size:
            return log.upper_bound("total_stack_size", access)
        if frame_size and lo // frame_size != (hi - 1) // frame_size:
            return log.crosses_frame(access)
    elif kind == CTX:
        if ctx_size is not None and lo < 0:
            return log.lower_bound("0", access)
        if ctx_size is not None and hi > ctx_size:
            return log.upper_bound("ctx_size", access)
    elif kind == PACKET:
        if lo < meta_offset.s.lo:
            return log.lower_bound("meta_offset", access)
        if hi > packet_size.s.lo and (known is None or offset + width > known):
            return log.upper_bound("packet_size", access)
    elif kind in (SOCKET, ALLOC_MEM) and value.value.u.contains(0):
        return log.possible_null(access)
    elif kind == ALLOC_MEM:  # a ring buffer record: the bytes reserved, at least
        if lo < 0:
            return log.lower_bound("0", access)
        if hi > max(0, value.region_size.s.lo):
            return log.upper_bound(f"r{reg}.alloc_mem_size", access)
    elif kind == SOCKET:
        at = value.offset.s.singleton
        if write or at is None or not socket_access_ok(at + offset, width):
            return log.invalid_socket_access(access)
    elif kind == MAP_KEY:
        return _key_bytes(reg, value, lo, hi, write, access)
    elif kind == SHARED:
        if value.value.u.contains(0):
            return log.possible_null(access)
        if lo < 0:
            return log.lower_bound("0", access)
        if value.region_size.u.hi != UMAX64 and hi > value.region_size.s.lo:
            return log.upper_bound(f"r{reg}.shared_region_size", access)
    return None


def _key_bytes(reg: int, value: RegValue, lo: int, hi: int, write: bool,
               access: str) -> str | None:
    """A callback's map key: its ``key_size`` bytes may be read, never written."""
    if write:
        return log.read_only_key(access)
    if lo < 0:
        return log.lower_bound("0", access)
    if hi > max(0, value.region_size.s.lo):
        return log.upper_bound(f"r{reg}.key_size", access)
    return None


def stored_value(base: int, base_value: RegValue, src: int, value: RegValue,
                 width: int) -> str | None:
    """Only numbers may be stored outside the stack; narrow stores need a number."""
    if base_value.types == {STACK} or value.types == {NUMBER}:
        return None
    if UNINIT in value.types and width < 8:
        return log.must_be_number(src)
    return log.store_not_number(base, src)


# Helper arguments (kinds from libbpf_compat.helpers.prototypes) ------------------------------

HELPER_MEMORY_TYPES = frozenset({STACK, PACKET, SHARED, MAP_KEY})
HELPER_MEMORY_TEXT = "in {stack, packet, shared}"
_SINGLE_TYPES = {"ctx": CTX, "socket": SOCKET, "alloc_mem": ALLOC_MEM}


def map_argument(reg: int, value: RegValue, programs: bool) -> str | None:
    """A map from ``lddw rN, map_fd``; tail calls need a map of programs."""
    if programs:
        ok = bool(value.types) and value.types <= {MAP_FD, MAP_FD_PROGRAMS}
        return None if ok else log.invalid_type(reg, "== map_fd_programs")
    return None if value.types == {MAP_FD} else log.invalid_type(reg, "== map_fd")


def single_type(reg: int, value: RegValue, kind: str) -> str | None:
    """The argument must be exactly a ``kind`` pointer (ctx, socket, alloc_mem)."""
    return None if value.types == {_SINGLE_TYPES[kind]} else log.invalid_type(reg, f"== {kind}")


def helper_memory_type(reg: int, value: RegValue) -> str | None:
    if value.only is None or value.only not in HELPER_MEMORY_TYPES:
        return log.invalid_type(reg, HELPER_MEMORY_TEXT)
    return None


def size_argument(reg: int, value: RegValue, zero_ok: bool) -> str | None:
    if not value.is_number:
        return log.must_be_number(reg)
    lo = value.value.s.lo
    return None if lo > 0 or (zero_ok and lo >= 0) else log.invalid_size(reg, zero_ok)


def _bound_text(v: int) -> str:
    if v <= -(1 << 63):
        return "-oo"
    if v >= (1 << 63) - 1:
        return "oo"
    return str(v)


def helper_memory(reg: int, value: RegValue, size: int, where: str, write: bool,
                  map_update: bool, numeric: frozenset[int], packet_size: Scalar,
                  meta_offset: Scalar, stack_size: int = STACK_SIZE,
                  frame_size: int = 0, stack_floor: int = 0,
                  known: int | None = None) -> str | None:
    """``size`` bytes at ``reg`` a helper reads (or writes) must lie in one region; bytes
    it reads from the stack must hold numbers. ``where`` names the access in messages.
    ``known``: the bytes past the pointer a relation proves there (in the packet, or
    holding numbers on the stack), whatever its interval says."""
    kind = value.only
    offset = value.offset.s
    lo, hi = offset.lo, offset.hi + size
    if kind == STACK:
        if frame_size and size and (lo < 0 or lo // frame_size != (hi - 1) // frame_size):
            return log.crosses_frame(where)
        if not write and (known is None or size > known):
            start = offset.singleton
            if start is None or not all(b in numeric for b in range(start, start + size)):
                if map_update:
                    end = hi if offset.hi < (1 << 63) - 1 else offset.hi
                    return log.map_update_not_numeric(_bound_text(lo), _bound_text(end), where)
                return log.stack_not_numeric(where)
            return None
        if lo < 0:
            return log.lower_bound("0", where)
        if lo < stack_floor:
            return log.lower_bound("r10.stack_offset - subprogram_stack_size", where)
        if hi > stack_size:
            return log.upper_bound("total_stack_size", where)
    elif kind == SHARED:
        if value.value.u.contains(0):
            return log.possible_null(where)
        if lo < 0:
            return log.lower_bound("0", where)
        if value.region_size.u.hi != UMAX64 and hi > value.region_size.s.lo:
            return log.upper_bound(f"r{reg}.shared_region_size", where)
    elif kind == PACKET:
        if lo < meta_offset.s.lo:
            return log.lower_bound("meta_offset", where)
        if hi > packet_size.s.lo and (known is None or size > known):
            return log.upper_bound("packet_size", where)
    elif kind == MAP_KEY:
        return _key_bytes(reg, value, lo, hi, write, where)
    elif kind == ALLOC_MEM:  # a ring buffer record: the bytes reserved, at least
        if value.value.u.contains(0):
            return log.possible_null(where)
        if lo < 0:
            return log.lower_bound("0", where)
        if hi > max(0, value.region_size.s.lo):
            return log.upper_bound(f"r{reg}.alloc_mem_size", where)
    return None
