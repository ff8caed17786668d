"""Trace partitioning: which states the fixpoint keeps apart at a node.

Joining the states of two paths forgets how their registers correlate: a register
that is a map value on one path and 0 on the other becomes "a map value or a number",
and a later test of another register that told the paths apart no longer helps. The
fixpoint (analysis.py) therefore keeps up to :data:`MAX_PARTITIONS` states per node,
one per :func:`key`: the kinds of the registers live there (their type sets, for
pointers whether they may be null, and the constants of r1-r5: a flag a bounds check
set, or the size later given to a helper with the bytes the path wrote). States with
the same key are joined (and widened at loop heads) as before; when a node would get
more keys than that, its states are keyed again by the registers' kinds alone (level
COARSE: the constants go, the pointer kinds stay apart), and past MAX_PARTITIONS of
those joined into one catch-all partition (:data:`CATCH_ALL`) for the rest of the run,
so the cost stays bounded by a constant factor of the unpartitioned analysis.

At a conditional jump that compares a register with a constant, the register's constant
comes first in the key (its *flag*: ``r7 = 0`` or ``r7 = -22`` after a bounds check,
then ``if w7 == 0``), and each flag has its own MAX_PARTITIONS states and catch-all: the
jump then sends each path where its flag leads, with what its check proved. Up to
:data:`MAX_FLAGS` flags per node; states with a further one (or a register that is no
constant) have the flag None.
"""

from __future__ import annotations

from collections.abc import Collection

from libbpf_compat.isa import Instruction
from libbpf_compat.isa import opcodes as op
from libbpf_compat.verifier.cfg import is_conditional
from libbpf_compat.verifier.liveness import uses_defs
from libbpf_compat.verifier.transfer import NULLABLE_TYPES, State
from libbpf_compat.verifier.types import NUMBER, RegValue

#: States kept apart per node (and flag) before they are coarsened, then joined.
MAX_PARTITIONS = 4
#: Constants of a jump's tested register kept apart per node.
MAX_FLAGS = 4

#: (flag, level, one entry per live register: a tuple or an int)
Key = tuple[object, ...]
#: the levels of a key: every kind with r1-r5's constants, kinds only, one catch-all
FINE, COARSE, ALL = "", "~", "*"


def catch_all(flag: object) -> Key:
    """The partition of a node's states with ``flag`` once their coarse keys too
    exceeded MAX_PARTITIONS."""
    return (flag, ALL)


CATCH_ALL: Key = catch_all(None)

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


def flag_of(state: State, tested: int) -> object:
    """The constant of the register ``tested`` (-1: none) in ``state``, else None."""
    if tested < 0 or state.regs[tested].types != _NUMBER_TYPES:
        return None
    return state.regs[tested].value.u.singleton


def key(state: State, live: tuple[int, ...], tested: int = -1, flag: object = None,
        level: str = FINE) -> Key:
    """The partition of ``state`` at a slot where the registers ``live`` are live and a
    conditional jump compares ``tested`` (-1: none) with a constant (``flag``: its
    constant, when kept apart). At level FINE the constants of the argument registers
    r1-r5 count too: the size a helper call is given and the bytes the path wrote for
    it go together. (r6-r9 hold long-lived flags, whose constants would split most of a
    program, except where a jump tests one; r0 at an exit is a return code, 0 on the
    path where a lookup failed and another constant elsewhere.) At level COARSE only
    the registers' types and null-ness count."""
    regs = state.regs
    if level == ALL:
        return catch_all(flag)
    fine = level == FINE
    return (flag, level, *[kind(regs[r], fine and r in CONSTANT_REGS) for r in live])


def place(parts: Collection[Key], state: State, live: tuple[int, ...],
          tested: int) -> Key:
    """The partition ``state`` joins at a node whose partitions are ``parts``: by its
    flag (None past MAX_FLAGS), then at the level the flag's partitions have."""
    flag = flag_of(state, tested)
    if flag is not None and all(p[0] != flag for p in parts) and len(
            {p[0] for p in parts} - {None}) >= MAX_FLAGS:
        flag = None
    levels = {p[1] for p in group(parts, flag)}
    level = ALL if ALL in levels else COARSE if COARSE in levels else FINE
    return key(state, live, tested, flag, level)


def group(parts: Collection[Key], flag: object) -> list[Key]:
    """The partitions of ``parts`` with ``flag``."""
    return [p for p in parts if p[0] == flag]


def coarser(level: object) -> str:
    """The level a flag's partitions take when they would exceed MAX_PARTITIONS."""
    return COARSE if level == FINE else ALL


def tested_register(insn: Instruction) -> int:
    """The register a conditional jump compares with a constant, else -1."""
    if is_conditional(insn) and insn.source == op.SRC_K:
        return insn.dst
    return -1


#: How far ahead of a slot (in straight-line instructions) a jump's test counts.
LOOKAHEAD = 8


def tested_registers(instructions: dict[int, Instruction]) -> dict[int, int]:
    """Slot -> the register whose value at the slot decides a conditional jump at it,
    or at most LOOKAHEAD straight-line instructions after it, that compares a register
    with a constant: the register itself, or one it was copied from and shifted or
    masked on the way (a flag is often set on two paths, then spilled or another value
    loaded, or its low half taken, before its test: the paths are to stay apart from
    where they meet)."""
    out: dict[int, int] = {}
    for pc in instructions:
        at = pc
        origin: dict[int, int | None] = {r: r for r in range(11)}  # now <- at pc
        for _ in range(LOOKAHEAD + 1):
            insn = instructions.get(at)
            if insn is None:
                break
            reg = tested_register(insn)
            if reg >= 0:
                found = origin[reg]
                if found is not None:
                    out[pc] = found
                break
            cls = insn.insn_class
            if cls in (op.CLASS_JMP, op.CLASS_JMP32, op.CLASS_LD) or (
                    cls == op.CLASS_STX and insn.mode == op.MODE_ATOMIC):
                break
            if cls in (op.CLASS_ALU, op.CLASS_ALU64) and insn.operation == op.ALU_MOV:
                origin[insn.dst] = (origin[insn.src] if insn.source == op.SRC_X
                                    and not insn.off else None)
            elif cls in (op.CLASS_ALU, op.CLASS_ALU64) and insn.source == op.SRC_K:
                pass  # a function of the register alone (neg, bswap: too)
            else:
                written = uses_defs(insn)[1]
                for r in range(11):
                    if written >> r & 1:
                        origin[r] = None
            at += 2 if insn.is_lddw else 1
    return out


__all__ = ["ALL", "CATCH_ALL", "COARSE", "FINE", "MAX_FLAGS", "MAX_PARTITIONS", "Key",
           "catch_all", "coarser", "flag_of", "group", "key", "kind", "place", "registers",
           "tested_register", "tested_registers"]
