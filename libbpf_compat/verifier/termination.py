"""Loop termination: every loop of the fixpoint's node graph must have a ranking argument.

A loop is a strongly connected component of the graph of (call stack, slot) nodes and
their feasible edges at the fixpoint; its head is the node paths enter it by. One pass
over the loop body from the head (:func:`_iteration`) finds, for each register and
stack cell, how its value relates to a location's value at the head: its low bits are
those of ``origin + d``, ``d`` in a known range (moves, spills and fills, constant
additions, clang's zero- and sign-extensions and masks keep the relation). A loop
terminates when some location ``v`` comes back to the head as ``v + d`` on every path
around it, and

* (bounded) every ``d`` has the same sign and every state going back to the head has
  ``v`` (or a copy of it plus a constant) at most ``B`` (at least ``L`` when it goes
  down) with ``B + d`` not wrapping around: ``v`` grows strictly and cannot pass ``B``;
* (counted) ``d`` is exactly +1 (or -1) in the low ``w`` bits and every path around
  the loop passes a conditional jump on those bits plus a constant that leaves the
  loop when they are one value ``R``: stepping by one, ``v`` reaches ``R`` (``i != 64``
  loops; clang's ``r1 <<= 32; r1 >>= 32; if r1 == 1000``).

With the number of iterations the argument bounds (from the values entering the loop)
the loop is also refused when its head may be visited more than the limit times
(nested loops multiply), as PREVAIL's ``pc[head] < 100000``. The loops left when the
head is taken out (inner loops) are proven the same way, each on its own.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

from libbpf_compat.isa import Instruction
from libbpf_compat.isa import opcodes as op
from libbpf_compat.verifier import transfer
from libbpf_compat.verifier.cfg import is_conditional, is_local_call, successors
from libbpf_compat.verifier.numeric import MASK64, SMAX64, SMIN64, Scalar, to_signed
from libbpf_compat.verifier.transfer import Options, State
from libbpf_compat.verifier.types import PACKET_END, POINTER_TYPES, STACK, RegValue

Node = tuple[tuple[int, ...], int]
#: a register ("r", n, 0) or a stack cell ("s", offset, width in bytes)
Loc = tuple[str, int, int]
ZEXT, SEXT = "zext", "sext"


@dataclass(frozen=True)
class Rel:
    """``low bits(location) == low bits(origin + d)`` for some ``d`` in ``[lo, hi]``,
    where ``origin`` is a location's value at the loop head; ``ext`` says what the bits
    above are (ZEXT: zero, SEXT: copies of the sign bit, None: unknown); after a left
    shift by ``shift`` the location holds those bits shifted up (``bits == 64 - shift``).
    """

    origin: Loc
    lo: int
    hi: int
    bits: int
    ext: str | None = None
    shift: int = 0

    @property
    def delta(self) -> int | None:
        return self.lo if self.lo == self.hi else None

    def narrowed(self, bits: int, ext: str | None) -> Rel | None:
        """The same relation for a value holding only the low ``bits`` of this one,
        extended by ``ext`` above them."""
        if self.shift:
            return None
        if self.bits >= bits:
            return Rel(self.origin, self.lo, self.hi, bits, ext if bits < 64 else None)
        return Rel(self.origin, self.lo, self.hi, self.bits,
                   self.ext if ext == self.ext else None)

    def moved(self, step: int, bits: int) -> Rel | None:
        """The value plus ``step`` (a ``bits``-bit pattern), computed on ``bits`` bits
        (zero-extended above)."""
        if self.shift:
            return None
        step = to_signed(step, bits)
        if bits == 64:
            return Rel(self.origin, self.lo + step, self.hi + step, self.bits,
                       self.ext if self.bits == 64 else None)
        if self.bits < bits:
            return None
        return Rel(self.origin, self.lo + step, self.hi + step, bits, ZEXT)

    def joined(self, other: Rel) -> Rel | None:
        if (self.origin, self.bits, self.ext, self.shift) != (
                other.origin, other.bits, other.ext, other.shift):
            return None
        return Rel(self.origin, min(self.lo, other.lo), max(self.hi, other.hi), self.bits,
                   self.ext, self.shift)


RelMap = dict[Loc, Rel]
#: the successors of each node with the (refined) state each edge carries
Successors = dict[Node, list[tuple[Node, State]]]


@dataclass
class LoopGraph:
    """What the proofs read: the fixpoint's states, its edges and the program."""

    states: dict[Node, State]
    succs: Successors
    instructions: dict[int, Instruction]
    assumes: frozenset[int]
    options: Options

    @cached_property
    def preds(self) -> dict[Node, set[Node]]:
        found: dict[Node, set[Node]] = {}
        for node, out in self.succs.items():
            for succ, _ in out:
                found.setdefault(succ, set()).add(node)
        return found


@dataclass(frozen=True)
class Unproven:
    head: Node
    reason: str


# Relations through one instruction ----------------------------------------------------------


def _reg(n: int) -> Loc:
    return ("r", n, 0)


def _cell_key(loc: Loc) -> tuple[int, int] | None:
    return (loc[1], loc[2]) if loc[0] == "s" else None


def _constant(value: RegValue) -> int | None:
    return value.value.u.singleton if value.is_number else None


def _operand(insn: Instruction, state: State) -> int | None:
    """The constant an ALU instruction's source is (its immediate, or a register the
    state knows the value of), as a 64-bit pattern."""
    if insn.source == op.SRC_K:
        return insn.imm & MASK64
    return _constant(state.regs[insn.src])


def _alu(rels: RelMap, insn: Instruction, state: State) -> Rel | None:
    """The relation of the destination after an ALU instruction."""
    rel = rels.get(_reg(insn.dst))
    code = insn.operation
    is64 = insn.insn_class == op.CLASS_ALU64
    if code == op.ALU_MOV:
        if insn.source != op.SRC_X:
            return None
        src = rels.get(_reg(insn.src))
        if insn.off:  # movsx
            return src.narrowed(insn.off, SEXT) if src is not None and is64 else None
        return src if is64 or src is None else src.narrowed(32, ZEXT)
    if rel is None:
        return None
    c = _operand(insn, state)
    if c is None:
        return None
    bits = 64 if is64 else 32
    if code in (op.ALU_ADD, op.ALU_SUB):
        return rel.moved(c if code == op.ALU_ADD else -c & MASK64, bits)
    if code == op.ALU_AND:
        mask = c if is64 else c & 0xFFFF_FFFF
        k = mask.bit_length()
        if mask != (1 << k) - 1 or k == 0:
            return None
        if k == 64:
            return rel
        return rel.narrowed(k, ZEXT)
    if not is64 or not 0 < c < 64:
        return None
    if code == op.ALU_LSH and not rel.shift and rel.bits >= 64 - c:
        return Rel(rel.origin, rel.lo, rel.hi, 64 - c, None, c)
    if code in (op.ALU_RSH, op.ALU_ARSH) and rel.shift == c:
        return Rel(rel.origin, rel.lo, rel.hi, rel.bits, ZEXT if code == op.ALU_RSH else SEXT)
    return None


def _store(out: RelMap, offset: int, width: int, rel: Rel | None) -> None:
    for key in [k for k in out if k[0] == "s" and k[1] < offset + width
                and offset < k[1] + k[2]]:
        del out[key]
    bits = 8 * width
    if rel is not None and not rel.shift:  # the cell holds the low bits (ext: within it)
        out[("s", offset, width)] = (Rel(rel.origin, rel.lo, rel.hi, bits)
                                     if rel.bits >= bits else rel)


def _load(rels: RelMap, offset: int, width: int, sign: bool,
          big_endian: bool) -> Rel | None:
    bits = 8 * width
    for key, rel in rels.items():
        cell = _cell_key(key)
        if cell is None or cell[0] != offset or not (
                cell[1] == width or (cell[1] > width and not big_endian)):
            continue
        if rel.bits >= bits:
            return Rel(rel.origin, rel.lo, rel.hi, bits,
                       None if bits == 64 else (SEXT if sign else ZEXT))
        if sign:
            return None
        full = rel.bits == 8 * cell[1]
        return Rel(rel.origin, rel.lo, rel.hi, rel.bits,
                   ZEXT if full or rel.ext == ZEXT else None)
    return None


def _drop_stack(out: RelMap) -> None:
    for key in [k for k in out if k[0] == "s"]:
        del out[key]


def _after(graph: LoopGraph, node: Node, rels: RelMap, succ: Node, after: State,
           region_maps: dict[Node, RelMap]) -> RelMap:
    """The relations along the edge ``node -> succ`` (``after``: the state it carries)."""
    frames, pc = node
    insn = graph.instructions[pc]
    state = graph.states[node]
    options = graph.options
    if pc in graph.assumes or is_conditional(insn) or insn.opcode in (
            op.OPCODE_JA, op.OPCODE_JA32):
        return rels
    out = dict(rels)
    cls = insn.insn_class
    if insn.opcode == op.OPCODE_EXIT:  # back to the caller
        caller = region_maps.get((frames[:-1], frames[-1]), {}) if frames else {}
        back: RelMap = {}
        if _reg(0) in rels:
            back[_reg(0)] = rels[_reg(0)]
        for r in range(6, 10):
            if _reg(r) in caller:
                back[_reg(r)] = caller[_reg(r)]
        frame = options.frame_size
        if frame:  # the callee's frame is gone; what it wrote into its callers' stays
            top = options.stack_size - len(frames) * frame
            back.update((k, v) for k, v in rels.items()
                        if k[0] == "s" and (k[1] >= top or k[1] + k[2] <= top - frame))
        else:
            back.update((k, v) for k, v in caller.items() if k[0] == "s")
        return back
    if is_local_call(insn):
        if not options.frame_size:
            _drop_stack(out)
        return out
    if cls in (op.CLASS_ALU, op.CLASS_ALU64):
        rel = _alu(rels, insn, state)
        out.pop(_reg(insn.dst), None)
        if rel is not None:
            out[_reg(insn.dst)] = rel
        return out
    if cls in (op.CLASS_LDX, op.CLASS_ST, op.CLASS_STX):
        width = transfer.WIDTHS[insn.mem_size]
        base = state.regs[insn.src if cls == op.CLASS_LDX else insn.dst]
        at = base.offset.s.singleton if base.only == STACK else None
        where = at + insn.off if at is not None else None
        if cls == op.CLASS_LDX:
            out.pop(_reg(insn.dst), None)
            if where is not None:
                loaded = _load(rels, where, width, insn.mode == op.MODE_MEMSX,
                               options.big_endian)
                if loaded is not None:
                    out[_reg(insn.dst)] = loaded
            return out
        if insn.mode == op.MODE_ATOMIC and insn.imm & op.ATOMIC_FETCH:
            out.pop(_reg(0 if insn.imm == op.ATOMIC_CMPXCHG else insn.src), None)
        if STACK in base.types:
            if where is None:
                _drop_stack(out)
            else:
                value = (rels.get(_reg(insn.src)) if cls == op.CLASS_STX
                         and insn.mode != op.MODE_ATOMIC else None)
                _store(out, where, width, value)
        return out
    if insn.is_lddw:
        out.pop(_reg(insn.dst), None)
        return out
    # helper calls, legacy packet loads: r0-r5 change; the stack cells the analysis
    # no longer knows (a helper wrote them) lose their relations
    for r in range(6):
        out.pop(_reg(r), None)
    for key in [k for k in out if k[0] == "s"]:
        cell = (key[1], key[2])
        if cell not in state.stack.cells or cell not in after.stack.cells:
            del out[key]
    return out


# One iteration of a loop --------------------------------------------------------------------


def _identity(state: State) -> RelMap:
    rels: RelMap = {_reg(r): Rel(_reg(r), 0, 0, 64) for r in range(10)}
    for offset, width in state.stack.cells:
        rels[("s", offset, width)] = Rel(("s", offset, width), 0, 0, 8 * width)
    return rels


#: joins at a node after which relations that still change are dropped (widening)
WIDEN_AFTER = 4


def _join(a: RelMap, b: RelMap, strict: bool) -> RelMap:
    out: RelMap = {}
    for k, v in a.items():
        w = b.get(k)
        if w == v:
            out[k] = v
        elif w is not None and not strict:
            joined = v.joined(w)
            if joined is not None:
                out[k] = joined
    return out


@dataclass
class _Iteration:
    maps: dict[Node, RelMap]
    #: (state, relations) on each edge back to the head
    back: list[tuple[State, RelMap]]


def _iteration(graph: LoopGraph, region: frozenset[Node], head: Node) -> _Iteration:
    maps: dict[Node, RelMap] = {head: _identity(graph.states[head])}
    queue = [(head[1], head[0])]
    queued = {head}
    joins: dict[Node, int] = {}
    while queue:
        pc, frames = heapq.heappop(queue)
        node = (frames, pc)
        queued.discard(node)
        for succ, after in graph.succs.get(node, ()):
            if succ == head or succ not in region:
                continue
            rels = _after(graph, node, maps[node], succ, after, maps)
            old = maps.get(succ)
            if old is not None:
                joins[succ] = joins.get(succ, 0) + 1
            new = rels if old is None else _join(old, rels, joins[succ] > WIDEN_AFTER)
            if new == old:
                continue
            maps[succ] = new
            again = [succ]
            if is_local_call(graph.instructions[succ[1]]):
                # the callee's returns read the registers saved here: redo them
                inner = (*succ[0], succ[1])
                again += [n for n in maps if n[0] == inner
                          and graph.instructions[n[1]].opcode == op.OPCODE_EXIT]
            for n in again:
                if n not in queued:
                    queued.add(n)
                    heapq.heappush(queue, (n[1], n[0]))
    back = [(after, _after(graph, node, rels, head, after, maps))
            for node, rels in maps.items()
            for succ, after in graph.succs.get(node, ()) if succ == head]
    return _Iteration(maps, back)


# The two arguments --------------------------------------------------------------------------


def _value(state: State, loc: Loc) -> RegValue | None:
    if loc[0] == "r":
        return state.regs[loc[1]]
    cell = _cell_key(loc)
    return state.stack.cells.get(cell) if cell is not None else None


def _signed_range(rel: Rel, bits: int) -> tuple[int, int] | None:
    """The steps ``rel`` may stand for read as signed ``bits``-bit numbers; None when
    they wrap around."""
    lo = to_signed(rel.lo, bits)
    hi = lo + rel.hi - rel.lo
    return (lo, hi) if hi < 1 << (bits - 1) else None


def _view_kinds(bits: int) -> list[str]:
    return ["s64", "u64", "ptr"] if bits == 64 else ["u"]


def _view(value: RegValue | None, kind: str, bits: int) -> tuple[int, int] | None:
    """The interval the low ``bits`` of ``value`` lie in, read as ``kind`` (signed or
    unsigned 64-bit, unsigned ``bits``-bit, or a pointer's offset)."""
    if value is None:
        return None
    if kind == "ptr":  # one object's address: its offset moves with it
        if value.only in POINTER_TYPES - {PACKET_END} and not value.offset.bottom:
            return value.offset.s.lo, value.offset.s.hi
        return None
    if not value.is_number or value.value.bottom:
        return None
    v = value.value
    if kind == "s64":
        return v.s.lo, v.s.hi
    if kind == "u64" or v.u.hi < (1 << bits):
        return v.u.lo, v.u.hi
    return None


def _limits(kind: str, bits: int) -> tuple[int, int]:
    return (SMIN64, SMAX64) if kind in ("s64", "ptr") else (0, (1 << bits) - 1)


def _back_interval(state: State, rels: RelMap, loc: Loc, kind: str,
                   bits: int) -> tuple[int, int] | None:
    """Where ``loc`` lies on one edge back, from its own value and from the values of
    the locations that hold it plus a known constant there."""
    own = rels[loc]
    found = _view(_value(state, loc), kind, bits)
    vmin, vmax = _limits(kind, bits)
    for other, rel in rels.items():
        if (other == loc or rel.origin != loc or rel.delta is None or own.delta is None
                or rel.shift or rel.bits < bits or kind == "ptr"):
            continue
        seen = _view(_value(state, other), kind, bits)
        diff = rel.delta - own.delta
        if seen is None or not vmin <= seen[0] - diff <= seen[1] - diff <= vmax:
            continue
        lo, hi = seen[0] - diff, seen[1] - diff
        found = (lo, hi) if found is None else (max(found[0], lo), min(found[1], hi))
    return found


def _bounded(graph: LoopGraph, region: frozenset[Node], head: Node, it: _Iteration,
             loc: Loc, lo: int, hi: int, bits: int) -> int | None:
    """How many times the loop may go round when ``loc`` moves by a step in ``[lo, hi]``
    (one sign) each time and stays within its bounds on every edge back (the bound
    plus a step not wrapping around)."""
    best: int | None = None
    entry = _entry_values(graph, region, head, loc)
    for kind in _view_kinds(bits):
        vmin, vmax = _limits(kind, bits)
        edges = [_back_interval(state, rels, loc, kind, bits) for state, rels in it.back]
        if not edges or any(e is None for e in edges):
            continue
        low = min(e[0] for e in edges if e is not None)
        high = max(e[1] for e in edges if e is not None)
        start = _view(entry, kind, bits)
        if lo > 0 and high + hi <= vmax:
            if start is not None and start[1] + hi <= vmax:
                low = max(low, start[0] + lo)  # the first step does not wrap either
            count = (high - low) // lo + 1
        elif hi < 0 and low + lo >= vmin:
            if start is not None and start[0] + lo >= vmin:
                high = min(high, start[1] + hi)
            count = (high - low) // -hi + 1
        else:
            continue
        count = max(count, 0)
        best = count if best is None else min(best, count)
    return best


def _exit_values(graph: LoopGraph, node: Node, reg: int, rel: Rel,
                 width: int) -> Iterable[int]:
    """The values ``reg`` (read on ``width`` bits by the jump at ``node``) may be
    compared with there that end the loop for certain: candidates near the other
    operand's bounds."""
    insn = graph.instructions[node[1]]
    state = graph.states[node]
    other_reg = insn.src if reg == insn.dst and insn.source == op.SRC_X else (
        insn.dst if reg != insn.dst else None)
    found: set[int] = set()
    if other_reg is None:
        found.update((insn.imm, insn.imm - 1, insn.imm + 1))
    else:
        v = state.regs[other_reg].value
        for x in (v.s.lo, v.s.hi, v.u.lo, v.u.hi):
            found.update((x, x - 1, x + 1))
    mask = (1 << width) - 1
    return sorted({x & mask for x in found})


def _leaves_at(graph: LoopGraph, node: Node, reg: int, value: int,
               region: frozenset[Node]) -> bool:
    """Does the jump at ``node`` leave ``region`` whenever ``reg`` holds ``value``?"""
    insn = graph.instructions[node[1]]
    state = graph.states[node].copy()
    if not state.regs[reg].is_number:
        return False
    state.regs[reg] = RegValue.number(Scalar.const(value))
    for edge in successors(node[1], insn):
        if (node[0], edge.target) not in region:
            continue
        try:
            after, _text = transfer.branch(state, insn, edge)
        except transfer.Failed:
            return False
        if after is not None:
            return False
    return True


def _residue(rel: Rel, width: int, tested: int) -> tuple[int, int] | None:
    """(bits, r): the jump reads ``tested`` when the low ``bits`` of ``origin + delta``
    are ``r``; None when several such values read the same."""
    if rel.shift or rel.delta is None:
        return None
    bits = min(rel.bits, width)
    if rel.bits < width:
        if rel.ext == ZEXT and tested >> rel.bits:
            return None
        if rel.ext == SEXT and to_signed(tested, width) != to_signed(tested, rel.bits):
            return None
        if rel.ext is None:
            return None
    return bits, (tested - rel.lo) % (1 << bits)


def _entry_values(graph: LoopGraph, region: frozenset[Node], head: Node,
                  loc: Loc) -> RegValue | None:
    """``loc`` as paths enter the loop (the head's whole state when it has other
    entries)."""
    preds = graph.preds
    if any(q not in region for p in region if p != head for q in preds.get(p, ())):
        return _value(graph.states[head], loc)
    found: RegValue | None = None
    for p in preds.get(head, ()):
        if p in region:
            continue
        for succ, after in graph.succs[p]:
            if succ == head:
                v = _value(after, loc)
                if v is None:
                    return None
                found = v if found is None else found.join(v)
    return found if found is not None else _value(graph.states[head], loc)


def _counted(graph: LoopGraph, region: frozenset[Node], head: Node, it: _Iteration,
             loc: Loc, step: int, bits: int) -> int | None:
    """How many times the loop may go round when ``loc`` moves by ``step`` (+1 or -1
    in its low ``bits``) and a jump every path passes leaves when it is one value."""
    checks: dict[tuple[int, int], set[Node]] = {}
    for node, rels in it.maps.items():
        insn = graph.instructions[node[1]]
        if not is_conditional(insn) or node[1] in graph.assumes:
            continue
        width = 32 if insn.insn_class == op.CLASS_JMP32 else 64
        regs = [insn.dst] + ([insn.src] if insn.source == op.SRC_X else [])
        for reg in regs:
            rel = rels.get(_reg(reg))
            if rel is None or rel.origin != loc:
                continue
            for tested in _exit_values(graph, node, reg, rel, width):
                found = _residue(rel, width, tested)
                if found is None or found[0] > bits:
                    continue
                if _leaves_at(graph, node, reg, tested, region):
                    checks.setdefault(found, set()).add(node)
    best: int | None = None
    entry = _entry_values(graph, region, head, loc)
    for (w, residue), nodes in checks.items():
        if not _every_path_passes(graph, region, head, nodes):
            continue
        count = _distance(entry, w, residue, step)
        best = count if best is None else min(best, count)
    return best


def _every_path_passes(graph: LoopGraph, region: frozenset[Node], head: Node,
                       nodes: set[Node]) -> bool:
    if head in nodes:
        return True
    seen = {head}
    todo = [head]
    while todo:
        node = todo.pop()
        for succ, _ in graph.succs.get(node, ()):
            if succ == head:
                return False
            if succ in region and succ not in seen and succ not in nodes:
                seen.add(succ)
                todo.append(succ)
    return True


def _distance(entry: RegValue | None, bits: int, residue: int, step: int) -> int:
    """The most steps of ``step`` (+1 or -1, modulo 2**bits) from a value entering the
    loop to ``residue``."""
    worst = (1 << bits) - 1
    if entry is None or not entry.is_number:
        return worst
    v = entry.value
    half = 1 << (bits - 1)
    views = [(v.u.lo, v.u.hi, residue)] if v.u.hi < (1 << bits) else []
    if -half <= v.s.lo and v.s.hi < half:  # the low bits read signed are the value
        views.append((v.s.lo, v.s.hi, to_signed(residue, bits)))
    best = worst
    for lo, hi, target in views:
        if step > 0 and hi <= target:
            best = min(best, target - lo)
        elif step < 0 and lo >= target:
            best = min(best, hi - target)
    return best


# Loops and their heads ----------------------------------------------------------------------


def components(graph: dict[Node, set[Node]]) -> list[frozenset[Node]]:
    """The strongly connected components of ``graph`` (Tarjan's, without recursion),
    in the order of their smallest node."""
    index: dict[Node, int] = {}
    low: dict[Node, int] = {}
    on_stack: set[Node] = set()
    stack: list[Node] = []
    found: list[frozenset[Node]] = []
    for root in sorted(graph, key=lambda n: (n[1], n[0])):
        if root in index:
            continue
        work: list[tuple[Node, list[Node]]] = [(root, sorted(graph.get(root, ())))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, todo = work[-1]
            if todo:
                succ = todo.pop()
                if succ not in index:
                    index[succ] = low[succ] = len(index)
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, sorted(graph.get(succ, ()))))
                elif succ in on_stack:
                    low[node] = min(low[node], index[succ])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                members = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    members.add(member)
                    if member == node:
                        break
                found.append(frozenset(members))
    return sorted(found, key=lambda c: min((n[1], n[0]) for n in c))


def is_loop(graph: dict[Node, set[Node]], scc: frozenset[Node]) -> bool:
    if len(scc) > 1:
        return True
    (only,) = scc
    return only in graph.get(only, ())


def head_of(graph: LoopGraph, region: frozenset[Node]) -> Node:
    """The node paths enter the loop by (the first, when there are several)."""
    preds = graph.preds
    entries = [n for n in region if any(p not in region for p in preds.get(n, ()))]
    return min(entries or region, key=lambda n: (len(n[0]), n[1], n[0]))


def _describe(loc: Loc) -> str:
    if loc[0] == "r":
        return f"r{loc[1]}"
    return f"the stack slot at {loc[1]} ({loc[2]} bytes)"


def prove_loop(graph: LoopGraph, region: frozenset[Node], limit: int,
               visits: int = 1) -> list[Unproven]:
    """The loops of ``region`` (one strongly connected component) and of the loops
    nested in it that no ranking argument proves finite, each with the reason."""
    head = head_of(graph, region)
    it = _iteration(graph, region, head)
    failures: list[Unproven] = []
    best: int | None = None
    moving: list[str] = []
    if not it.back:
        best = 0
    for loc in sorted({k for _, rels in it.back for k in rels}):
        rels = [rels.get(loc) for _, rels in it.back]
        if any(r is None or r.origin != loc or r.shift for r in rels):
            continue
        bits = min(r.bits for r in rels if r is not None)
        ranges = [_signed_range(r, bits) for r in rels if r is not None]
        if any(d is None for d in ranges):
            continue
        lo = min(d[0] for d in ranges if d is not None)
        hi = max(d[1] for d in ranges if d is not None)
        if lo <= 0 <= hi:
            continue
        moving.append(_describe(loc))
        count = _bounded(graph, region, head, it, loc, lo, hi, bits)
        if lo == hi and abs(lo) == 1:
            counted = _counted(graph, region, head, it, loc, lo, bits)
            if counted is not None and (count is None or counted < count):
                count = counted
        if count is not None and (best is None or count < best):
            best = count
    total = visits
    if best is None:
        if moving:
            verb = "changes" if len(moving) == 1 else "change"
            reason = (f"{', '.join(moving)} {verb} by a known step on every path around "
                      "it, but no bound it moves towards ends it")
        else:
            reason = ("no register or stack slot changes by the same known step on every "
                      "path around it")
        failures.append(Unproven(head, reason))
    else:
        total = visits * (best + 1)
        if total >= limit:  # as PREVAIL asserts pc[head] < limit
            failures.append(Unproven(head, f"it may run {total} times"))
            total = visits
    inner = {n: {s for s, _ in graph.succs.get(n, ()) if s in region and s != head}
             for n in region if n != head}
    for scc in components(inner):
        if is_loop(inner, scc):
            failures.extend(prove_loop(graph, scc, limit, total))
    return failures


__all__ = ["LoopGraph", "Unproven", "components", "head_of", "is_loop", "prove_loop"]
