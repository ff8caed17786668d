"""Rewriting a program's context accesses from its ABI's layout to the
hook's native layout, as the Linux kernel rewrites ``struct xdp_md`` loads.

A forward data-flow pass finds which registers and r10-relative stack slots
hold the context pointer (r1 at entry; copies, spills and fills; callees
that receive it in r1..r5); every load or store through it is then mapped
field by field: a pointer field becomes a 64-bit load of the native pointer,
a scalar field moves to its native offset. An access that is ambiguous (the
register holds the context on some paths only), lands outside every field,
uses the wrong width for a pointer field, or writes a read-only field is
refused with EACCES, as the kernel's "invalid bpf_context access" is.
"""

from __future__ import annotations

import errno
from collections.abc import Iterable
from dataclasses import dataclass, field

from libbpf_compat.errors import LibbpfError
from libbpf_compat.hooks.contexts import CtxLayout
from libbpf_compat.isa import Instruction, decode, encode, slot_indices
from libbpf_compat.isa import opcodes as op

_SIZES = {op.SIZE_B: 1, op.SIZE_H: 2, op.SIZE_W: 4, op.SIZE_DW: 8}
_SIZE_CODES = {v: k for k, v in _SIZES.items()}

Loc = tuple[str, int]  # ("r", n) for a register, ("s", offset) for an r10-relative slot


@dataclass(frozen=True)
class _State:
    must: frozenset[Loc] = frozenset()   # holds the context on every path
    may: frozenset[Loc] = frozenset()    # holds it on some path
    #: registers holding the context pointer moved by arithmetic on some
    #: path (the kernel lets a program compute with it, not dereference it)
    moved: frozenset[Loc] = frozenset()

    def join(self, other: _State) -> _State:
        return _State(self.must & other.must, self.may | other.may, self.moved | other.moved)

    def set(self, loc: Loc, source: _State | None = None, src_loc: Loc | None = None) -> _State:
        must, may, moved = set(self.must), set(self.may), set(self.moved)
        must.discard(loc)
        may.discard(loc)
        moved.discard(loc)
        if source is not None and src_loc is not None:
            if src_loc in source.must:
                must.add(loc)
            if src_loc in source.may:
                may.add(loc)
            if src_loc in source.moved:
                moved.add(loc)
        return _State(frozenset(must), frozenset(may), frozenset(moved))

    def mark_moved(self, loc: Loc) -> _State:
        cleared = self.set(loc)
        return _State(cleared.must, cleared.may, cleared.moved | {loc})

    def clear(self, locs: Iterable[Loc]) -> _State:
        drop = set(locs)
        return _State(self.must - drop, self.may - drop, self.moved - drop)


@dataclass
class _Analysis:
    insns: list[Instruction]
    slots: list[int]
    index_of: dict[int, int] = field(default_factory=dict)
    states: dict[int, _State] = field(default_factory=dict)


def _error(prog: str, slot: int, what: str) -> LibbpfError:
    return LibbpfError(errno.EACCES, f"program {prog!r}: instruction {slot}: {what}")


def _is_mem(opcode: int) -> bool:
    cls = opcode & op.CLASS_MASK
    return cls in (op.CLASS_LDX, op.CLASS_ST, op.CLASS_STX) and (opcode & op.MODE_MASK) in (
        op.MODE_MEM, op.MODE_MEMSX, op.MODE_ATOMIC)


def _base(insn: Instruction) -> int:
    return insn.src if insn.opcode & op.CLASS_MASK == op.CLASS_LDX else insn.dst


def _transfer(insn: Instruction, state: _State, prog: str, slot: int) -> _State:
    cls, opcode = insn.opcode & op.CLASS_MASK, insn.opcode
    r = ("r", insn.dst)
    if cls in (op.CLASS_ALU, op.CLASS_ALU64):
        if (opcode & op.OP_MASK) == op.ALU_MOV and cls == op.CLASS_ALU64 and (
                opcode & op.SRC_MASK) == op.SRC_X and insn.off == 0:
            return state.set(r, state, ("r", insn.src))
        if (r in state.may or r in state.moved) and (opcode & op.OP_MASK) != op.ALU_MOV:
            return state.mark_moved(r)  # refused only if dereferenced (_rewrite_one)
        return state.set(r)
    if opcode == op.OPCODE_LDDW:
        return state.set(r)
    if cls == op.CLASS_LD:  # legacy packet loads clobber r0..r5
        return state.clear(("r", n) for n in range(6))
    if cls == op.CLASS_LDX:
        if insn.src == 10 and insn.opcode & op.SIZE_MASK == op.SIZE_DW:
            return state.set(r, state, ("s", insn.off))
        return state.set(r)
    if cls in (op.CLASS_ST, op.CLASS_STX) and insn.dst == 10:
        size = _SIZES[opcode & op.SIZE_MASK]
        overlapping = [loc for loc in state.may if loc[0] == "s"
                       and loc[1] < insn.off + size and insn.off < loc[1] + 8]
        state = state.clear(overlapping)
        if cls == op.CLASS_STX and size == 8 and (opcode & op.MODE_MASK) == op.MODE_MEM:
            return state.set(("s", insn.off), state, ("r", insn.src))
        if (opcode & op.MODE_MASK) == op.MODE_ATOMIC and insn.imm & 0x01:
            return state.set(("r", 0 if insn.imm == 0xF1 else insn.src))
        return state
    if cls == op.CLASS_STX and (opcode & op.MODE_MASK) == op.MODE_ATOMIC:
        return state.set(("r", 0 if insn.imm == 0xF1 else insn.src))
    if opcode in (op.OPCODE_CALL, op.OPCODE_CALLX):
        return state.clear(("r", n) for n in range(6))
    return state


def _successors(an: _Analysis, i: int) -> list[tuple[int, bool]]:
    """(instruction index, is_call_entry) pairs following instruction i."""
    insn, slot = an.insns[i], an.slots[i]
    nxt = i + 1 if i + 1 < len(an.insns) else None
    cls = insn.opcode & op.CLASS_MASK
    if insn.opcode == op.OPCODE_EXIT:
        return []
    if cls in (op.CLASS_JMP, op.CLASS_JMP32) and insn.opcode & op.OP_MASK not in (
            op.JMP_CALL, op.JMP_EXIT):
        if insn.opcode == op.OPCODE_JA:
            return [(an.index_of[slot + 1 + insn.off], False)]
        if insn.opcode == op.OPCODE_JA32:
            return [(an.index_of[slot + 1 + insn.imm], False)]
        out = [(an.index_of[slot + 1 + insn.off], False)]
        return out + ([(nxt, False)] if nxt is not None else [])
    if insn.opcode == op.OPCODE_CALL and insn.src == 1:
        out = [(an.index_of[slot + 1 + insn.imm], True)]
        return out + ([(nxt, False)] if nxt is not None else [])
    return [(nxt, False)] if nxt is not None else []


def _analyse(insns: list[Instruction], prog: str) -> _Analysis:
    an = _Analysis(insns, slot_indices(insns))
    an.index_of = {s: i for i, s in enumerate(an.slots)}
    entry = _State(frozenset({("r", 1)}), frozenset({("r", 1)}))
    an.states[0] = entry
    work = [0]
    while work:
        i = work.pop()
        state = an.states[i]
        insn = insns[i]
        after = _transfer(insn, state, prog, an.slots[i])
        for succ, call_entry in _successors(an, i):
            if call_entry:  # the callee starts with the arguments only, on its own stack
                args = [("r", n) for n in range(1, 6)]
                incoming = _State(state.must & frozenset(args), state.may & frozenset(args))
            else:
                incoming = after
            old = an.states.get(succ)
            new = incoming if old is None else old.join(incoming)
            if new != old:
                an.states[succ] = new
                work.append(succ)
    return an


def rewrite_context_accesses(code: bytes, program_layout: CtxLayout, native: CtxLayout,
                             prog: str = "<program>") -> bytes:
    """``code`` with its context accesses moved from ``program_layout`` to
    ``native``; unchanged when the two are the same layout."""
    if program_layout == native:
        return code
    insns = decode(code)
    an = _analyse(insns, prog)
    out = list(insns)
    for i, insn in enumerate(insns):
        if i not in an.states or not _is_mem(insn.opcode):
            continue
        state, slot = an.states[i], an.slots[i]
        base = ("r", _base(insn))
        if base in state.moved:
            raise _error(prog, slot, f"r{base[1]}: dereference of the context pointer after "
                                     "arithmetic on it is not supported")
        if base not in state.may:
            continue
        if base not in state.must:
            raise _error(prog, slot, f"r{base[1]} holds the context on some paths only")
        out[i] = _rewrite_one(insn, program_layout, native, prog, slot)
    return encode(out)


def _rewrite_one(insn: Instruction, layout: CtxLayout, native: CtxLayout, prog: str,
                 slot: int) -> Instruction:
    cls, mode = insn.opcode & op.CLASS_MASK, insn.opcode & op.MODE_MASK
    size = _SIZES[insn.opcode & op.SIZE_MASK]
    where = layout.field_at(insn.off, size)
    if mode != op.MODE_MEM or where is None:
        raise _error(prog, slot, f"invalid access to {layout.name} at offset {insn.off} "
                                 f"size {size}")
    f, inner = where
    store = cls != op.CLASS_LDX
    if store and not f.writable:
        raise _error(prog, slot, f"{layout.name}.{f.name} is read-only (write at offset "
                                 f"{insn.off} size {size})")
    try:
        nf = native.field(f.name)
    except KeyError:
        raise _error(prog, slot, f"{layout.name}.{f.name} is not available on this hook") from None
    if f.pointer:
        if inner or size != f.size:
            raise _error(prog, slot, f"{layout.name}.{f.name} must be read whole "
                                     f"({f.size} bytes)")
        return Instruction(cls | op.MODE_MEM | op.SIZE_DW, insn.dst, insn.src, nf.offset, insn.imm)
    if inner + size > nf.size:
        raise _error(prog, slot, f"{layout.name}.{f.name}: access past the field")
    return Instruction(insn.opcode, insn.dst, insn.src, nf.offset + inner, insn.imm)


def context_extent(code: bytes, prog: str = "<program>") -> int:
    """How far into its context ``code`` reads: the largest offset + size
    of its context accesses (the kernel's max_ctx_offset), 0 for none."""
    insns = decode(code)
    an = _analyse(insns, prog)
    extent = 0
    for i, insn in enumerate(insns):
        if i in an.states and _is_mem(insn.opcode) and ("r", _base(insn)) in an.states[i].may:
            extent = max(extent, insn.off + _SIZES[insn.opcode & op.SIZE_MASK])
    return extent
