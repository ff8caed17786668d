"""Safety checks: each returns the message text of a failed assertion, or None.

The abstract state is what :mod:`~libbpf_compat.verifier.analysis` holds; the checks
only read it. A failed check ends the path (the state after it is bottom).
"""

from __future__ import annotations

from libbpf_compat.verifier import log
from libbpf_compat.verifier.numeric import UMAX64, Scalar
from libbpf_compat.verifier.types import (
    MEMORY_TYPES,
    NUMBER,
    PACKET,
    SHARED,
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
           packet_size: Scalar, meta_offset: Scalar) -> str | None:
    """The access ``[reg + offset, +width)`` must lie inside the region it points to."""
    kind = value.only
    if value.offset.bottom:
        return None
    lo = value.offset.s.lo + offset
    hi = value.offset.s.hi + offset + width
    access = log.access_text(reg, offset, width, write)
    if kind is None:
        return log.lower_bound("0", access) if lo < 0 else None
    if kind == STACK:
        if lo < 0:
            return log.lower_bound("0", access)
        if hi > STACK_SIZE:
            return log.upper_bound("total_stack_size", access)
    elif kind == PACKET:
        if lo < meta_offset.s.lo:
            return log.lower_bound("meta_offset", access)
        if hi > packet_size.s.lo:
            return log.upper_bound("packet_size", access)
    elif kind == SHARED:
        if lo < 0:
            return log.lower_bound("0", access)
        if value.region_size.u.hi != UMAX64 and hi > value.region_size.s.lo:
            return log.upper_bound(f"r{reg}.shared_region_size", access)
    return None


def stored_value(base: int, base_value: RegValue, src: int, value: RegValue,
                 width: int) -> str | None:
    """Only numbers may be stored outside the stack; narrow stores need a number."""
    if base_value.types == {STACK} or value.types == {NUMBER}:
        return None
    if UNINIT in value.types and width < 8:
        return log.must_be_number(src)
    return log.store_not_number(base, src)
