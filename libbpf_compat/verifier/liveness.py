"""Register liveness: which registers an instruction's successors may still read.

:func:`live_registers` runs the usual backward fixpoint over the CFG and gives, for each
slot, the registers live before it (a bit mask, bit ``r`` for ``r``). It only steers
trace partitioning (analysis.py keeps apart states that differ in what a live register
holds), so it may err on the side of "live": that costs precision of nothing, only time.

Calls: a helper call reads r1-r5 (``callx`` also its register) and clobbers r0-r5; a
local call reads r1-r5, and on return r0-r5 are the callee's (r0 its result, r1-r5
unreadable); ``exit`` reads r0; ``r10`` is never counted (it is always the frame).
"""

from __future__ import annotations

from libbpf_compat.isa import Instruction
from libbpf_compat.isa import opcodes as op
from libbpf_compat.verifier.cases import Assume
from libbpf_compat.verifier.cfg import CFG, is_local_call

ARGS = 0b111110  # r1-r5
CALL_CLOBBERS = 0b111111  # r0-r5
FRAME = 1 << 10
ALL = (1 << 11) - 1 - FRAME


def _bit(reg: int) -> int:
    return (1 << reg) & ~FRAME


def uses_defs(insn: Instruction) -> tuple[int, int]:
    """(registers read, registers written for certain) by one instruction."""
    cls = insn.insn_class
    if insn.is_lddw:
        return 0, _bit(insn.dst)
    if cls in (op.CLASS_ALU, op.CLASS_ALU64):
        code = insn.operation
        src = _bit(insn.src) if insn.source == op.SRC_X and code not in (
            op.ALU_NEG, op.ALU_END) else 0
        if code == op.ALU_MOV:
            return src, _bit(insn.dst)
        return src | _bit(insn.dst), _bit(insn.dst)
    if cls == op.CLASS_LDX:
        return _bit(insn.src), _bit(insn.dst)
    if cls == op.CLASS_ST:
        return _bit(insn.dst), 0
    if cls == op.CLASS_STX:
        used = _bit(insn.dst) | _bit(insn.src)
        if insn.mode == op.MODE_ATOMIC:
            used |= 1  # cmpxchg compares with r0 (and writes r0, fetches write src)
        return used, 0
    if cls == op.CLASS_LD:  # legacy packet loads: r6 the context, r0 the result
        used = _bit(6) | (_bit(insn.src) if insn.mode == op.MODE_IND else 0)
        return used, CALL_CLOBBERS
    if insn.opcode == op.OPCODE_EXIT:
        return 1, 0
    if insn.opcode == op.OPCODE_CALLX:
        return ARGS | _bit(insn.dst), CALL_CLOBBERS
    if insn.opcode == op.OPCODE_CALL:
        return ARGS, CALL_CLOBBERS
    if insn.opcode in (op.OPCODE_JA, op.OPCODE_JA32):
        return 0, 0
    if cls in (op.CLASS_JMP, op.CLASS_JMP32):  # conditional jumps
        src = _bit(insn.src) if insn.source == op.SRC_X else 0
        return src | _bit(insn.dst), 0
    return ALL, 0  # unknown: everything live


def live_registers(cfg: CFG, assumes: dict[int, Assume] | None = None) -> dict[int, int]:
    """Slot -> the registers live before it (bit ``r`` for ``r``; r10 never)."""
    assumes = assumes or {}
    gen: dict[int, int] = {}
    kill: dict[int, int] = {}
    succs: dict[int, list[int]] = {}
    preds: dict[int, list[int]] = {pc: [] for pc in cfg.instructions}
    for pc, insn in cfg.instructions.items():
        if pc in assumes:
            a = assumes[pc]
            gen[pc], kill[pc] = _bit(a.dst) | (_bit(a.src) if a.src is not None else 0), 0
        else:
            gen[pc], kill[pc] = uses_defs(insn)
        # a local call's caller resumes at its return edge; the callee is analysed on its
        # own (its entry reads what the call passes: r1-r5, already counted as read)
        targets = [e.target for e in cfg.edges.get(pc, [])
                   if not (is_local_call(insn) and e.kind == "call")]
        succs[pc] = [t for t in targets if t in cfg.instructions]
        for t in succs[pc]:
            preds[t].append(pc)
    live = dict.fromkeys(cfg.instructions, 0)
    todo = sorted(cfg.instructions)
    queued = set(todo)
    while todo:
        pc = todo.pop()
        queued.discard(pc)
        out = 0
        for t in succs[pc]:
            out |= live[t]
        new = gen[pc] | (out & ~kill[pc])
        if new != live[pc]:
            live[pc] = new
            for p in preds[pc]:
                if p not in queued:
                    queued.add(p)
                    todo.append(p)
    return live
