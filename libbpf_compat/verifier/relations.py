"""Relational facts on numbers: lengths of the packet, and stack runs sized by a number.

Two facts a number (a :class:`~libbpf_compat.verifier.types.RegValue` of type number)
may carry, beyond its interval:

* ``room = (base, k)``: the value, as a signed number, is at most ``end - (base + k)``
  where ``end`` is the packet's end and ``base`` the variable a packet pointer's
  offset is (``None``: offset 0). ``end - start`` makes it (the length of
  ``[start, end)``); ``start + len`` is then known to lie at or before the end, a helper
  may read ``len`` bytes from ``start``, and a lower bound proven on ``len`` (``if len
  < 14 goto drop``) is a lower bound on the packet's size past ``start``.
* ``stack_run = S``: the stack bytes ``[S, S + value)`` hold numbers. A join makes it
  when each side wrote as many bytes from a stack pointer ``S`` as the number says
  there (``size = 24`` after writing 24 bytes, ``size = 32`` after writing 32): a
  helper reading ``size`` bytes from ``S`` then reads numbers. The stack keeps a run
  at ``S`` while it lasts; a store of something else over it or a havoc ends it.

Room facts hold for the packet of the state whose ``ranges`` hold :data:`LENGTHS`: a
helper that may move the packet clears them (in a called function too: its ranges are
what the caller gets back), and with them every room fact.

Both are kept through copies, spills, refinements, ``min(len, N)`` written as a branch
and a join, and the arithmetic that keeps them true (``len & mask``, ``len >> k``,
``len - c``); other arithmetic makes a new number without them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from libbpf_compat.isa import opcodes as op
from libbpf_compat.verifier import numeric
from libbpf_compat.verifier.numeric import Scalar
from libbpf_compat.verifier.types import PACKET, STACK, RegValue

if TYPE_CHECKING:
    from libbpf_compat.verifier.transfer import State

Room = tuple[int | None, int]

#: offsets and packet sizes below this keep ``end - start`` exact in 64 bits
_EXACT = 1 << 32
#: the largest run a join makes (one frame)
_RUN_MAX = 512
#: the key in a state's packet ranges (no variable's id) saying its room facts hold
LENGTHS = 1 << 40


def live(state: State) -> bool:
    """Room facts hold in ``state`` (no helper moved the packet since they were made)."""
    return LENGTHS in state.ranges


# Packet lengths -----------------------------------------------------------------------------


def position(pointer: RegValue) -> Room | None:
    """Where a packet pointer lies, as (base, k): its variable and distance, else its
    constant offset from the packet's start."""
    if pointer.only != PACKET or pointer.offset.bottom:
        return None
    if pointer.sym is not None:
        return pointer.sym
    at = pointer.offset.s.singleton
    return (None, at) if at is not None else None


def length(state: State, start: RegValue) -> Room | None:
    """The room fact of ``end - start`` (exact: the offsets are small)."""
    where = position(start)
    if where is None or state.packet_size.u.hi >= _EXACT:
        return None
    if start.offset.s.lo <= -_EXACT or start.offset.s.hi >= _EXACT:
        return None
    state.ranges[LENGTHS] = 0
    return where


def slack(state: State, pointer: RegValue, room: Room | None) -> int | None:
    """How many bytes past ``pointer + value`` the packet holds at least, for a number
    with ``room``; None when the two are not related."""
    if room is None or pointer.only != PACKET or pointer.offset.bottom or not live(state):
        return None
    base, k = room
    if pointer.sym is not None and pointer.sym[0] == base:
        return k - pointer.sym[1]
    if base is None and pointer.offset.s.hi < _EXACT:
        return k - pointer.offset.s.hi
    return None


def fits(state: State, pointer: RegValue, size: RegValue) -> bool:
    """A helper may access ``size`` bytes from the packet pointer: the size is at most
    the room past it."""
    found = slack(state, pointer, size.room)
    return found is not None and found >= 0 and size.value.s.lo >= 0


def learn_bound(state: State, value: RegValue) -> bool:
    """A number with a room fact has a lower bound: the packet holds that many bytes
    past its base. False when no packet can (the path is infeasible)."""
    if value.room is None or value.value.bottom or not live(state):
        return True
    base, k = value.room
    need = k + value.value.s.lo
    if base is None:
        if need > 0:
            state.packet_size = state.packet_size.meet(Scalar.from_unsigned(need,
                                                                             numeric.UMAX64))
            return not state.packet_size.bottom
        return True
    state.ranges[base] = max(state.ranges.get(base, need), need)
    return True


def compare(state: State, dst: int, cond: str, src: int) -> None:
    """``dst cond src`` holds for two numbers: the smaller one has the room the larger
    one has (one byte more when the order is strict): ``i < len`` puts ``i`` at least a
    byte before the end."""
    if cond in (">", ">=", "s>", "s>="):
        cond = {">": "<", ">=": "<=", "s>": "s<", "s>=": "s<="}[cond]
        dst, src = src, dst
    if cond not in ("<", "<=", "s<", "s<="):
        return
    small, large = state.regs[dst], state.regs[src]
    if large.room is None or small.value.bottom or large.value.bottom or not live(state):
        return
    if not cond.startswith("s") and (small.value.s.lo < 0 or large.value.s.lo < 0):
        return  # unsigned order is the signed one only for values that are not negative
    base, k = large.room
    room = (base, k + (1 if cond in ("<", "s<") else 0))
    if small.room is not None and small.room[0] == base and small.room[1] >= room[1]:
        return
    state.regs[dst] = small.with_facts(room, small.stack_run)


def room_at(state: State, value: RegValue, base: int | None) -> int | None:
    """The largest k for which ``value <= end - (base + k)`` is known in ``state``."""
    if not value.is_number or value.value.bottom or not live(state):
        return None
    found = value.room[1] if value.room is not None and value.room[0] == base else None
    if base is None:
        known: int | None = state.packet_size.s.lo
    else:
        known = state.ranges.get(base)
    if known is not None and value.value.s.hi < _EXACT:
        by_bound = known - value.value.s.hi
        found = by_bound if found is None else max(found, by_bound)
    return found


def after_alu(code: int, is64: bool, before: RegValue, operand: RegValue,
              result: RegValue) -> RegValue:
    """The room fact of ``before`` for ``result`` when the operation cannot make the
    value larger (``&`` a mask, ``>>``, ``/``, ``w = w`` of a 32-bit value), or moves it
    by a constant (``+ c``: the room shrinks by c), without wrapping."""
    room = before.room
    if room is None or not result.is_number or result.value.bottom:
        return result
    old, new = before.value.s, result.value.s
    if old.lo < 0 or new.lo < 0:
        return result
    c = operand.value.s.singleton if operand.is_number else None
    if code == op.ALU_MOV and not is64:
        kept: Room | None = room if old.hi <= numeric.MASK32 else None
    elif code in (op.ALU_AND, op.ALU_RSH, op.ALU_DIV) and operand.is_number and (
            operand.value.s.lo >= 0 and is64):
        kept = room
    elif code in (op.ALU_ADD, op.ALU_SUB) and c is not None and is64 and (
            abs(c) < _EXACT and old.hi < _EXACT and abs(new.lo) < _EXACT
            and new.hi < _EXACT):
        step = c if code == op.ALU_ADD else -c
        kept = (room[0], room[1] - step)
    else:
        kept = None
    return result.with_facts(kept, None) if kept is not None else result


def forget_packet(state: State) -> None:
    """The packet may have moved or changed size: every room fact goes."""
    for r, v in enumerate(state.regs):
        if v.room is not None:
            state.regs[r] = v.with_facts(None, v.stack_run)
    cells = state.stack.cells
    for key, v in list(cells.items()):
        if v.room is not None:
            cells[key] = v.with_facts(None, v.stack_run)


# Copies --------------------------------------------------------------------------------------

_SHIFT_MAX = 1 << 62


def share(state: State, before: RegValue, after: RegValue) -> None:
    """A number refined from ``before`` to ``after``: the numbers sharing its variable
    (``x + d`` for the same ``x``: copies, and copies moved by a constant) are refined
    alike, in the registers and the stack."""
    sym = before.sym
    if sym is None or after.value == before.value or after.value.bottom:
        return
    lo, hi = after.value.s.lo, after.value.s.hi
    if lo <= -_SHIFT_MAX or hi >= _SHIFT_MAX:
        return

    def refined(v: RegValue) -> RegValue | None:
        if v.sym is None or v.sym[0] != sym[0] or not v.is_number:
            return None
        delta = v.sym[1] - sym[1]
        if abs(delta) >= _SHIFT_MAX:
            return None
        narrowed = v.value.meet(Scalar.from_signed(lo + delta, hi + delta))
        return None if narrowed.bottom or narrowed == v.value else v.with_number(narrowed)

    for r, v in enumerate(state.regs):
        found = refined(v)
        if found is not None:
            state.regs[r] = found
    cells = state.stack.cells
    for key, v in list(cells.items()):
        found = refined(v)
        if found is not None:
            cells[key] = found


# Stack runs ---------------------------------------------------------------------------------


def stack_known(state: State, pointer: RegValue, size: RegValue) -> bool:
    """The ``size`` bytes from the stack pointer all hold numbers by a run."""
    start = pointer.offset.s.singleton if pointer.only == STACK else None
    if start is None or size.stack_run != start or not size.is_number:
        return False
    end = state.stack.runs.get(start)
    return end is not None and start + size.value.u.hi <= end


def _supports(state: State, value: RegValue, start: int) -> bool:
    if not value.is_number or value.value.bottom or value.value.u.hi > _RUN_MAX:
        return False
    if value.stack_run == start:
        end = state.stack.runs.get(start)
        if end is not None and start + value.value.u.hi <= end:
            return True
    return state.stack.all_numeric(start, start + value.value.u.hi)


# Joins --------------------------------------------------------------------------------------


def join(a: State, b: State, out: State) -> None:
    """Facts that hold in both states though neither register carries them in both:
    a room the other side's bound implies (``min(len, N)``: ``N`` fits where ``len >=
    N`` was proven), and stack runs (each side wrote as many bytes as its number)."""
    pointers: list[int] | None = None
    runs: dict[int, int] = {}
    for r in range(11):
        va, vb, vo = a.regs[r], b.regs[r], out.regs[r]
        if not vo.is_number:
            if vo.room is not None or vo.stack_run is not None:
                out.regs[r] = vo.with_facts(None, None)
            continue
        room = vo.room
        either = va.room if va.room is not None else vb.room
        if room is None and either is not None:
            ka, kb = room_at(a, va, either[0]), room_at(b, vb, either[0])
            if ka is not None and kb is not None:
                room = (either[0], min(ka, kb))
        run: int | None = None
        for start in (va.stack_run, vb.stack_run):
            if run is None and start is not None and start not in out.stack.dead and (
                    _supports(a, va, start) and _supports(b, vb, start)):
                run = start
        if run is None and va.value != vb.value and vo.value.u.hi <= _RUN_MAX and (
                vo.value.u.lo != vo.value.u.hi):
            if pointers is None:
                pointers = _common_stack_pointers(a, b)
            for start in pointers:
                if (start not in out.stack.dead
                        and not out.stack.all_numeric(start, start + vo.value.u.hi)
                        and _supports(a, va, start) and _supports(b, vb, start)):
                    run = start
                    break
        if run is not None:
            runs[run] = max(runs.get(run, run), run + vo.value.u.hi)
        if room != vo.room or run != vo.stack_run:
            out.regs[r] = vo.with_facts(room, run)
    out.stack.runs = runs
    # a run no number names any more ends here (a callee's or caller's copy of a number
    # may still name it: it is never made again on these paths)
    lost = (frozenset(a.stack.runs) | frozenset(b.stack.runs)) - frozenset(runs)
    if lost:
        out.stack.dead = out.stack.dead | lost


def _common_stack_pointers(a: State, b: State) -> list[int]:
    """Offsets a register points at on the stack in both states."""
    found = []
    for r in range(10):
        pa, pb = a.regs[r], b.regs[r]
        if pa.only == STACK and pb.only == STACK:
            at = pa.offset.s.singleton
            if at is not None and at == pb.offset.s.singleton and at not in found:
                found.append(at)
    return found
