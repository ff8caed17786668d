"""Reference tracking for ring buffer records: every reserve is submitted or discarded.

``bpf_ringbuf_reserve`` at slot ``pc`` returns an ``alloc_mem`` pointer whose reference
id is ``pc`` (kept in the value's ``map_fd`` slot, unused for records) and adds ``pc`` to
the state's held references. The branch where that pointer is null drops it; submit and
discard release it and invalidate every copy of the pointer (no use after release); an
exit from the program with a reference held is a leak. A reserve at a slot whose record
may still be held (a loop) is refused: one id would stand for two records.
"""

from __future__ import annotations

from libbpf_compat.verifier.numeric import Scalar
from libbpf_compat.verifier.types import ALLOC_MEM, UNINIT_VALUE, RegValue


def reference_of(value: RegValue) -> int | None:
    """The reference id a record pointer carries, when it is one record."""
    if value.only != ALLOC_MEM:
        return None
    return value.map_fd.u.singleton


def leak_text(held: frozenset[int], names: dict[int, int] | None = None) -> str:
    where = ", ".join(str((names or {}).get(pc, pc)) for pc in sorted(held))
    return f"Unreleased reference (ring buffer record reserved at {where})"


def acquire(result: RegValue, held: frozenset[int], pc: int) -> tuple[RegValue, str | None]:
    """The reserved record's pointer with its id, or the message refusing the reserve."""
    if pc in held:
        return result, f"Ring buffer record reserved at {pc} may still be held"
    return RegValue(result.types, result.value, result.offset, result.region_size,
                    Scalar.const(pc)), None


def release(regs: list[RegValue], held: frozenset[int], reg: int) -> tuple[
        frozenset[int], str | None]:
    """Release the record in ``reg``: the held references left, or why it cannot."""
    value = regs[reg]
    ref = reference_of(value)
    if value.value.u.contains(0):
        return held, f"Possible null record (r{reg} may be 0)"
    if ref is None or ref not in held:
        return held, f"r{reg} is not a held ring buffer record"
    for i, other in enumerate(regs):
        if other.types & {ALLOC_MEM} and other.map_fd.u.contains(ref):
            regs[i] = UNINIT_VALUE
    return held - {ref}, None


def released_cells(cells: dict[tuple[int, int], RegValue], ref: int) -> list[tuple[int, int]]:
    """The stack cells holding (maybe) the record ``ref``: spilled copies to forget."""
    return [k for k, v in cells.items() if v.types & {ALLOC_MEM} and v.map_fd.u.contains(ref)]


def after_null_test(before: RegValue, after: RegValue, held: frozenset[int]) -> frozenset[int]:
    """A branch where the record pointer is null holds no record."""
    ref = reference_of(before)
    if ref is not None and after.value.u.hi == 0:
        return held - {ref}
    return held
