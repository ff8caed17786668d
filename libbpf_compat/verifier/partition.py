"""Trace partitioning: which states the fixpoint keeps apart at a node.

Joining the states of two paths forgets how their registers correlate: a register
that is a map value on one path and 0 on the other becomes "a map value or a number",
and a later test of another register that told the paths apart no longer helps. The
fixpoint (analysis.py) therefore keeps up to :data:`MAX_PARTITIONS` states per node,
one per :func:`key`: the kinds of the registers live there (their type sets, for
pointers whether they may be null, and the constants of r1-r5: a flag a bounds check
set, or the size later given to a helper with the bytes the path wrote). States with
the same key are joined (and widened at loop heads) as before; when a node would get
more keys than that, all its states are joined into one catch-all partition
(:data:`CATCH_ALL`) for the rest of the run, so the cost stays bounded by a constant
factor of the unpartitioned analysis.
"""

from __future__ import annotations

from libbpf_compat.verifier.transfer import NULLABLE_TYPES, State
from libbpf_compat.verifier.types import NUMBER, RegValue

#: States kept apart per node before they are all joined into the catch-all.
MAX_PARTITIONS = 4

Key = tuple[object, ...]
#: The partition of a node whose keys exceeded MAX_PARTITIONS (no real key: those hold
#: one entry per live register, a tuple or an int).
CATCH_ALL: Key = ("*",)

_NUMBER_TYPES = frozenset({NUMBER})
_NUMBER_KIND = (_NUMBER_TYPES, False)
#: r1..r5: the registers whose constants are part of the key
CONSTANT_REGS = range(1, 6)


def kind(value: RegValue, constants: bool = False) -> object:
    """What partitioning keeps apart of a register: its types and, for a pointer, whether
    it may be null (a null pointer is the number 0, as joins treat it); with
    ``constants``, for a number the constant it is, if one."""
    types = value.types
    u = value.value.u
    if types == _NUMBER_TYPES or (u.lo == u.hi == 0 and types <= NULLABLE_TYPES):
        return u.lo if constants and u.lo == u.hi else _NUMBER_KIND
    return types, u.lo <= 0


def registers(live: int) -> tuple[int, ...]:
    """The registers of a liveness mask (see liveness.py)."""
    return tuple(r for r in range(10) if live >> r & 1)


def key(state: State, live: tuple[int, ...]) -> Key:
    """The partition of ``state`` at a slot where the registers ``live`` are live. The
    constants of the argument registers r1-r5 count too: the size a helper call is
    given and the bytes the path wrote for it go together. (r6-r9 hold long-lived
    flags, whose constants would split most of a program; r0 at an exit is a return
    code, 0 on the path where a lookup failed and another constant elsewhere.)"""
    regs = state.regs
    return tuple([kind(regs[r], r in CONSTANT_REGS) for r in live])


__all__ = ["CATCH_ALL", "MAX_PARTITIONS", "Key", "key", "kind", "registers"]
