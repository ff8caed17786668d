"""Callbacks: ``bpf_loop`` and ``bpf_for_each_map_elem`` call a function of the program.

The function's address is an ``lddw`` of a code address (``BPF_PSEUDO_FUNC``): a
``func`` value whose offset is the function's slot. The analysis treats the helper
call as a local call made any number of times: from the call site (a node the
callback's returns come back to, where the analysis widens as at a loop head) it
enters the callback with the arguments Linux gives it, and each return joins the
caller's state again at the call site, so the state after the helper is the join of
"never called" and "called any number of times" (a fixpoint: the callback may write
into the caller's stack through the context pointer it is given).

The callback's frame is the one below its caller's, as the VM lays it out (``r10``
one frame lower; ``lbc_exec_callback``). Its arguments:

- ``bpf_loop(nr_loops, fn, ctx, flags)``: ``r1`` the index (a u32 below ``nr_loops``,
  at most ``1 << 23`` calls), ``r2`` the ``ctx`` given, whatever its type;
- ``bpf_for_each_map_elem(map, fn, ctx, flags)``: ``r1`` the map, ``r2`` its key (read
  only: a copy in the run's helper scratch, which a nested walk reuses, so keys of an
  outer walk are forgotten at each walk), ``r3`` the value, ``r4`` the ``ctx``.

The other registers are uninitialised. ``r0`` at the callback's exit must be a number
in [0, 1]; the callback must not keep or release the caller's ring buffer records.
"""

from __future__ import annotations

from libbpf_compat.helpers.ids import helper_by_internal
from libbpf_compat.helpers.prototypes import CHANGES_PACKET_DATA
from libbpf_compat.isa import Instruction
from libbpf_compat.isa import opcodes as op
from libbpf_compat.verifier import log, numeric, references
from libbpf_compat.verifier.cfg import is_local_call
from libbpf_compat.verifier.numeric import Scalar
from libbpf_compat.verifier.transfer import (
    Failed,
    Options,
    State,
    helper_id,
    invalidate_packet,
    map_shape,
)
from libbpf_compat.verifier.types import (
    FUNC,
    MAP_KEY,
    NON_NULL,
    SHARED,
    STACK,
    UNINIT_VALUE,
    RegValue,
)

CALLBACK_HELPERS = frozenset({"loop", "for_each_map_elem"})
#: bpf_loop calls its callback at most this many times (Linux's BPF_MAX_LOOPS)
MAX_LOOPS = 1 << 23


def function_address(pc: int, insn: Instruction) -> RegValue | None:
    """What an ``lddw`` of a code address at ``pc`` loads: the function at its target."""
    if not insn.is_lddw or insn.src != op.PSEUDO_FUNC:
        return None
    return function_value(pc + 1 + insn.imm)


def function_value(slot: int) -> RegValue:
    return RegValue(frozenset({FUNC}), NON_NULL, Scalar.const(slot))


def callback_helper(insn: Instruction, state: State, options: Options) -> str | None:
    """``loop`` or ``for_each_map_elem`` when ``insn`` (a ``call``, or a ``callx`` whose
    register names the helper in ``state``) calls one of them."""
    if insn.opcode == op.OPCODE_CALLX:
        hid = helper_id(state, insn, options)
    elif insn.opcode == op.OPCODE_CALL and insn.src == 0:
        hid = insn.imm
    else:
        return None
    if hid in options.own_helpers:
        return None
    known = helper_by_internal(hid)
    return known.name if known is not None and known.name in CALLBACK_HELPERS else None


def function_slots(instructions: dict[int, Instruction], lddw: dict[int, RegValue]) -> set[
        int]:
    """The functions whose address the program takes (the only values a ``func`` has:
    no arithmetic changes one)."""
    found = set()
    for pc, insn in instructions.items():
        value = lddw.get(pc) or function_address(pc, insn)
        if value is not None and value.types == {FUNC} and (
                value.offset.s.singleton is not None):
            found.add(value.offset.s.singleton)
    return found


def targets(state: State, functions: set[int], instructions: dict[int, Instruction]) -> list[
        int]:
    """The slots of the callbacks ``r2`` may name (its prototype checked its type)."""
    value = state.regs[2]
    if value.types != {FUNC} or value.offset.bottom:
        raise Failed(log.callback_not_function(2))
    lo, hi = value.offset.s.lo, value.offset.s.hi
    found = sorted(t for t in functions if lo <= t <= hi and t in instructions)
    if not found:
        raise Failed(f"The callback in r2 (slot {lo}..{hi}) is not an instruction of the "
                     "program")
    return found


def forget_keys(state: State) -> None:
    """A walk reuses the helper scratch: the keys of walks before it are gone."""
    for r, v in enumerate(state.regs):
        if MAP_KEY in v.types:
            state.regs[r] = UNINIT_VALUE
    for (off, width), v in list(state.stack.cells.items()):
        if MAP_KEY in v.types:
            state.stack.havoc(off, off + width)


def entry_state(state: State, helper: str, options: Options, depth: int) -> State | None:
    """The callback's state at entry from the call site's ``state`` (before the call), in
    frame ``depth``; None when the helper never calls it."""
    regs = state.regs
    callee = state.copy()
    args = [UNINIT_VALUE] * 11
    if helper == "loop":
        count = numeric.zext32(regs[1].value.low32).u
        calls = min(count.hi, MAX_LOOPS)
        if calls == 0 or count.lo > MAX_LOOPS:
            return None  # no call, or -E2BIG
        args[1] = RegValue.number(Scalar.from_unsigned(0, calls - 1))
        args[2] = regs[3]
    else:
        shape = map_shape(options, regs[1].map_fd, smallest=True)
        forget_keys(callee)
        args[1] = regs[1]
        args[2] = RegValue.pointer(MAP_KEY, Scalar.const(0), Scalar.const(shape.key_size))
        args[3] = RegValue(frozenset({SHARED}), NON_NULL, Scalar.const(0),
                           Scalar.const(shape.value_size), regs[1].map_fd)
        args[4] = regs[3]
        if MAP_KEY in regs[3].types:
            args[4] = UNINIT_VALUE
    args[10] = RegValue.pointer(STACK, Scalar.const(options.stack_size
                                                    - depth * options.frame_size))
    callee.regs = args
    return callee


def after_call(state: State, helper: str) -> None:
    """The caller after the helper: a walk's scratch key is the helper's now."""
    if helper == "for_each_map_elem":
        forget_keys(state)


def return_state(caller: State, exit_state: State, options: Options, depth: int,
                 changes_packet: bool, names: dict[int, int] | None = None) -> State:
    """The caller's state at the call site after the callback (in frame ``depth``)
    returned ``exit_state``: its stack as the callback left it, its own frame gone."""
    r0 = exit_state.regs[0]
    if not r0.is_number or r0.value.u.hi > 1:
        raise Failed(log.callback_return("not a number" if not r0.is_number else
                                         f"in [{r0.value.u.lo}, {r0.value.u.hi}]"))
    new = exit_state.refs - caller.refs
    if new and options.track_references:
        raise Failed(references.leak_text(new, names))
    gone = caller.refs - exit_state.refs
    if gone and options.track_references:
        where = ", ".join(str((names or {}).get(pc, pc)) for pc in sorted(gone))
        raise Failed(log.callback_released(where))
    back = caller.copy()
    back.stack = exit_state.stack.copy()
    frame = options.frame_size
    top = options.stack_size - depth * frame
    back.stack.havoc(top - frame, top)
    back.ranges = dict(exit_state.ranges)
    back.packet_size = exit_state.packet_size
    back.lock = exit_state.lock
    if changes_packet:
        invalidate_packet(back)
    return back


def _moves_packet(helper: int) -> bool:
    known = helper_by_internal(helper)
    return known is not None and known.name in CHANGES_PACKET_DATA


def may_change_packet(instructions: dict[int, Instruction], entry: int) -> bool:
    """Whether code reachable from ``entry`` (through its calls and the callbacks whose
    address it takes) calls a helper that may move the packet."""
    seen: set[int] = set()
    todo = [entry]
    while todo:
        pc = todo.pop()
        if pc in seen or pc not in instructions:
            continue
        seen.add(pc)
        insn = instructions[pc]
        if insn.opcode == op.OPCODE_CALLX or (
                insn.opcode == op.OPCODE_CALL and insn.src == 0 and _moves_packet(insn.imm)):
            return True
        address = function_address(pc, insn)
        if address is not None and address.offset.s.singleton is not None:
            todo.append(address.offset.s.singleton)
        if insn.opcode == op.OPCODE_EXIT:
            continue
        if insn.opcode in (op.OPCODE_JA, op.OPCODE_JA32):
            todo.append(pc + 1 + (insn.imm if insn.opcode == op.OPCODE_JA32 else insn.off))
            continue
        if is_local_call(insn):
            todo.append(pc + 1 + insn.imm)
        elif insn.insn_class in (op.CLASS_JMP, op.CLASS_JMP32) and insn.operation not in (
                op.JMP_CALL, op.JMP_EXIT):
            todo.append(pc + 1 + insn.off)
        todo.append(pc + insn.size)
    return False
