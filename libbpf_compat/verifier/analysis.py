"""The fixpoint: a worklist over the CFG, local calls inlined, widening at loop heads.

:func:`analyze` takes the instructions (by slot), the assumptions, an initial state
and options; it returns the messages of the failed checks and the state at each exit.
Each node is (call stack, slot); its label in messages is ``"0/9"`` for slot 9 in the
function called from slot 0. A node keeps a few states apart, by the kinds of its live
registers (trace partitioning, see partition.py); the result joins them.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from libbpf_compat.isa import Instruction, validate
from libbpf_compat.isa import opcodes as op
from libbpf_compat.verifier import (
    callbacks,
    locks,
    log,
    partition,
    references,
    termination,
    transfer,
)
from libbpf_compat.verifier.cases import Assume, PreState, ValueSpec, parse_value
from libbpf_compat.verifier.cfg import CFG, build, is_local_call, reachable, successors
from libbpf_compat.verifier.liveness import live_registers
from libbpf_compat.verifier.log import Message
from libbpf_compat.verifier.numeric import BOTTOM, TOP, Interval, Scalar
from libbpf_compat.verifier.partition import CATCH_ALL, MAX_PARTITIONS, Key
from libbpf_compat.verifier.stack import Stack
from libbpf_compat.verifier.transfer import POINTER_VALUE, Failed, Options, State
from libbpf_compat.verifier.types import (
    ALL_TYPES,
    NUMBER,
    PACKET,
    PACKET_END,
    POINTER_TYPES,
    STACK,
    UNINIT,
    UNINIT_VALUE,
    RegValue,
)

MAX_FRAMES = 8
DEFAULT_LIMIT = 100_000
WIDEN_AFTER = 2
LOOP_COUNTER_LIMIT = 100_000

Node = tuple[tuple[int, ...], int]


@dataclass
class AnalysisResult:
    messages: list[Message] = field(default_factory=list)
    #: the state before each reached node (for logs)
    states: dict[Node, State] = field(default_factory=dict)
    exit_state: State | None = None
    processed: int = 0
    complete: bool = True
    #: the states the fixpoint keeps before each reached node (for log statistics)
    partitions: dict[Node, int] = field(default_factory=dict)

    @property
    def texts(self) -> set[str]:
        return {str(m) for m in self.messages}


def label(node: Node, names: dict[int, int] | None = None) -> str:
    """``"0/9"``: slot 9 in the function called from slot 0 (as instruction indices)."""
    frames, pc = node
    names = names or {}
    return "/".join([*(str(names.get(f, f)) for f in frames), str(names.get(pc, pc))])


@dataclass
class _Frame:
    """What a call saves: the caller's callee-saved registers and stack."""

    regs: list[RegValue]
    stack: Stack


class Analyzer:
    def __init__(self, instructions: dict[int, Instruction], assumes: dict[int, Assume],
                 options: Options, limit: int, names: dict[int, int] | None) -> None:
        self.names = names
        self.cfg: CFG = build(instructions)
        self.assumes = assumes
        self.options = options
        self.limit = limit
        self.states: dict[Node, State] = {}
        #: the fixpoint's states: up to MAX_PARTITIONS per node (see partition.py)
        self.parts: dict[Node, dict[Key, State]] = {}
        self.live = {pc: partition.registers(mask)
                     for pc, mask in live_registers(self.cfg, assumes).items()}
        #: slot -> the register a conditional jump at or just after it compares with a constant
        self.tested = partition.tested_registers(self.cfg.instructions)
        self.visits: dict[tuple[Node, Key], int] = {}
        #: (where, text, target) of the edges found infeasible while reporting a node
        self.dead: list[tuple[str, str, Node]] | None = None
        self.saved: dict[tuple[int, ...], State] = {}  # caller state at each call site
        self.result = AnalysisResult()
        self.seen: set[str] = set()
        self.phi_ids: dict[tuple[Node, object], int] = {}
        self.node_phis: dict[Node, set[int]] = {}
        #: helper calls that call a function back: call slot -> the callbacks' slots
        #: (the call is a loop: callbacks return to it; see verifier.callbacks)
        self.callback_sites: dict[int, set[int]] = {}
        self.packet_movers: dict[int, bool] = {}
        self.functions: set[int] | None = None  # the slots of functions whose address is taken

    def emit(self, where: str, text: str, collect: bool) -> None:
        if collect and f"{where}:{text}" not in self.seen:
            self.seen.add(f"{where}:{text}")
            self.result.messages.append(Message(where, text))

    # One node: the states it sends to each successor node.
    def step(self, node: Node, state: State, collect: bool) -> list[tuple[Node, State]]:
        frames, pc = node
        insn = self.cfg.instructions.get(pc)
        where = label(node, self.names)
        if insn is None:
            return []
        out: list[tuple[Node, State]] = []
        nxt = pc + insn.size
        try:
            if pc in self.assumes:
                after = transfer.assume_pseudo(state, self.assumes[pc])
                if after is None:
                    self._unreachable(where, log.unreachable(self.assumes[pc].text()),
                                      (frames, nxt), collect)
                    return []
                return [((frames, nxt), after)]
            if pc in self.options.terminal_slots or (
                    insn.opcode == op.OPCODE_CALL and insn.src == 0
                    and insn.imm in self.options.terminal_calls):
                return []  # the run ends here (a poisoned call)
            if insn.opcode == op.OPCODE_EXIT:
                transfer.require(locks.exit_text(state))
                if frames and frames[-1] in self.callback_sites:
                    return self._return_from_callback(frames, state)
                if frames:
                    return self._returns(frames, state)
                transfer.require(_exit_check(state))
                if state.refs and self.options.track_references:
                    transfer.require(references.leak_text(state.refs, self.names))
                self._record_exit(state)
                return []
            if transfer.is_conditional_jump(insn):
                for edge in self.cfg.edges[pc]:
                    after, text = transfer.branch(state, insn, edge)
                    if after is None:
                        if insn.operation != op.JMP_JSET:
                            targets = {e.target for e in self.cfg.edges[pc]}
                            if len(targets) > 1:
                                self._unreachable(
                                    f"{where}:{label((frames, edge.target), self.names)}",
                                    log.unreachable(text), (frames, edge.target), collect)
                        continue
                    out.append(((frames, edge.target), after))
                return out
            if insn.opcode in (op.OPCODE_JA, op.OPCODE_JA32):
                return [((frames, self.cfg.edges[pc][0].target), state)]
            if is_local_call(insn):
                transfer.require(locks.call_text(state, None))
                target = self.cfg.edges[pc][0].target
                active = self._active(frames)
                if target in active:
                    self.emit(where, "illegal recursion", collect)
                    return []
                if len(frames) + 1 >= MAX_FRAMES:
                    self.emit("", "too many call stack frames", collect)
                    return []
                inner = (*frames, pc)
                before = self.saved.get(inner)
                self.saved[inner] = state.copy() if before is None else before.join(state)
                returns: list[tuple[Node, State]] = []
                if before is not None and not self.saved[inner].leq(before):
                    # what the callee's exits give back changed with what it saved:
                    # send them again (a callee whose own states did not change
                    # would not, and the return site would keep stale registers)
                    for node_, exiting in self._partitions():
                        if node_[0] == inner and self.cfg.instructions[node_[1]].opcode == (
                                op.OPCODE_EXIT):
                            returns += self._returns(inner, exiting)
                # The callee's frame lies below the caller's (r10 moves down by a frame,
                # as in the VM and Linux); the caller's frames stay reachable through
                # the pointers it passes.
                callee = state.copy()
                frame = self.options.frame_size
                if frame:  # the callee's frame is below its caller's, as in the VM
                    callee.regs[10] = RegValue.pointer(STACK, Scalar.const(
                        self.options.stack_size - len(inner) * frame))
                else:
                    callee.stack = Stack()
                return [((inner, target), callee), *returns]
            after = state.copy()
            cls = insn.insn_class
            if cls in (op.CLASS_ALU, op.CLASS_ALU64):
                transfer.alu(after, insn, self.options, pc if self.options.ctx else -1)
            elif cls in (op.CLASS_LDX, op.CLASS_ST, op.CLASS_STX):
                base = insn.src if cls == op.CLASS_LDX else insn.dst
                transfer.require(locks.direct_access_text(
                    base, state.regs[base], insn.off, transfer.WIDTHS[insn.mem_size],
                    self.options))
                transfer.memory(after, insn, self.options)
            elif insn.is_lddw:
                transfer.lddw(after, insn, self.options.lddw.get(pc) or
                              callbacks.function_address(pc, insn))
            elif insn.opcode in (op.OPCODE_CALL, op.OPCODE_CALLX):
                transfer.helper_call(after, insn, self.options, pc)
                helper = callbacks.callback_helper(insn, state, self.options)
                if helper is not None:
                    out = self._enter_callback(node, state, helper)
                    callbacks.after_call(after, helper)
            elif cls == op.CLASS_LD and insn.mode in (op.MODE_ABS, op.MODE_IND):
                transfer.require(locks.legacy_load_text(state))
                transfer.legacy_packet_load(after, insn)
            else:  # never end a path silently: what follows would go unchecked
                raise Failed(f"Unsupported instruction (opcode {insn.opcode:#04x})")
            if self.options.ctx is not None:
                transfer.name_result(after, insn, pc, state)
            return [((frames, nxt), after), *out]
        except Failed as failure:
            self.emit(where, str(failure), collect)
            return []

    def _active(self, frames: tuple[int, ...]) -> set[int]:
        """The entries of the functions running at ``frames`` (a call or a callback)."""
        active = {0}
        for f in frames:
            active |= self.callback_sites.get(f) or {self.cfg.edges[f][0].target}
        return active

    def _enter_callback(self, node: Node, state: State, helper: str) -> list[tuple[Node, State]]:
        """The helper call at ``node`` calls its callback (any number of times)."""
        frames, pc = node
        if not self.options.frame_size:
            raise Failed(f"Callbacks need call frames (bpf_{helper})")
        if self.functions is None:
            self.functions = callbacks.function_slots(self.cfg.instructions, self.options.lddw)
        found = callbacks.targets(state, self.functions, self.cfg.instructions)
        if set(found) & self._active(frames):
            raise Failed("illegal recursion")
        if len(frames) + 1 >= MAX_FRAMES:
            raise Failed("too many call stack frames")
        self.callback_sites.setdefault(pc, set()).update(found)
        inner = (*frames, pc)
        callee = callbacks.entry_state(state, helper, self.options, len(inner))
        if callee is None:
            return []
        self.saved[inner] = state.copy() if inner not in self.saved else (
            self.saved[inner].join(state))
        return [((inner, target), callee.copy() if i else callee)
                for i, target in enumerate(found)]

    def _return_from_callback(self, frames: tuple[int, ...], state: State) -> list[
            tuple[Node, State]]:
        """A callback's exit: back to its helper's call, which may call it again."""
        caller = self.saved.get(frames)
        call_pc = frames[-1]
        if caller is None:
            return []
        moves = any(self._moves_packet(t) for t in self.callback_sites[call_pc])
        back = callbacks.return_state(caller, state, self.options, len(frames), moves,
                                      self.names)
        return [((frames[:-1], call_pc), back)]

    def _moves_packet(self, function: int) -> bool:
        found = self.packet_movers.get(function)
        if found is None:
            found = self.packet_movers[function] = callbacks.may_change_packet(
                self.cfg.instructions, function)
        return found

    def _returns(self, frames: tuple[int, ...], state: State) -> list[tuple[Node, State]]:
        """The edge from a callee's exit (in ``state``) back to its caller: the caller's
        saved registers and r0."""
        caller = self.saved.get(frames)
        if caller is None:
            return []
        back = caller.copy()
        back.regs[0] = state.regs[0]
        frame = self.options.frame_size
        if frame:
            # One stack for all frames: the callee's writes through pointers
            # into its callers' frames stay; its own frame is gone. r1-r5
            # hold what the callee left: unreadable, as in Linux.
            back.stack = state.stack.copy()
            top = self.options.stack_size - len(frames) * frame
            back.stack.havoc(top - frame, top)
            back.ranges = dict(state.ranges)
            back.refs = state.refs
            for r in range(1, 6):
                back.regs[r] = UNINIT_VALUE
        back.packet_size = state.packet_size
        back.refs = state.refs
        call_pc = frames[-1]
        ret_insn = self.cfg.instructions[call_pc]
        return [((frames[:-1], call_pc + ret_insn.size), back)]

    def _check_termination(self) -> None:
        """Report each loop that never terminates or may not: one no feasible edge
        leaves, and one (or one nested in it) no ranking argument proves finite
        (see :mod:`libbpf_compat.verifier.termination`)."""
        succs: termination.Successors = {}
        leaves: set[Node] = set()
        for node, state in self._partitions():
            out = self.step(node, state, collect=False)
            if node[0] and node[0][-1] in self.callback_sites:
                # a callback's return to its helper's call is not a loop to prove: the
                # helper bounds its calls (nr_loops, the map's entries)
                out = [(succ, after) for succ, after in out if succ[0] == node[0]
                       or len(succ[0]) > len(node[0])]
            succs.setdefault(node, []).extend(out)
            insn = self.cfg.instructions.get(node[1])
            if insn is not None and insn.opcode == op.OPCODE_EXIT and not node[0]:
                leaves.add(node)
        graph = {node: {succ for succ, _ in out} for node, out in succs.items()}
        loops = termination.LoopGraph(self.states, succs, self.cfg.instructions,
                                      frozenset(self.assumes), self.options)
        for scc in termination.components(graph):
            if not termination.is_loop(graph, scc):
                continue
            leaves_scc = any(succ not in scc for n in scc for succ in graph[n])
            if not leaves_scc and not scc & leaves:
                head = min(scc, key=lambda n: (len(n[0]), n[1]))
                self._loop_message(head, "no path leaves it")
                continue
            for unproven in termination.prove_loop(loops, scc, LOOP_COUNTER_LIMIT):
                self._loop_message(unproven.head, unproven.reason)

    def _loop_message(self, head: Node, reason: str) -> None:
        where = label(head, self.names)
        text = f"Loop counter is too large (pc[{where}] < {LOOP_COUNTER_LIMIT})"
        if self.options.ctx is not None:  # real programs: say why
            text += f": {reason}"
        self.emit(f"{where} (counter)", text, True)

    def _unreachable(self, where: str, text: str, target: Node, collect: bool) -> None:
        """An infeasible edge: reported once no partition of the node takes it."""
        if collect and self.dead is not None:
            self.dead.append((where, text, target))
        else:
            self.emit(where, text, collect)

    def _partitions(self) -> list[tuple[Node, State]]:
        return [(node, state) for node, parts in self.parts.items() for state in parts.values()]

    def _join(self, succ: Node, old: State, state: State, part: Key = CATCH_ALL) -> State:
        count = self.visits.get((succ, part), 0) + 1
        self.visits[(succ, part)] = count
        if (succ[1] in self.cfg.loop_heads or succ[1] in self.callback_sites) and (
                count > WIDEN_AFTER):
            return old.widen(state, self.options.thresholds)
        return old.join(state)

    def _merge(self, succ: Node, old: State, state: State, part: Key = CATCH_ALL) -> State:
        """Join at ``succ``; registers whose variables differ between the two states get
        a variable of this node (a phi) where the registers sharing a variable in the
        old state share one (at the same distance) in the new one too. Facts about the
        node's variables from an earlier visit are forgotten first."""
        incoming = state.copy()
        for phi in self.node_phis.get(succ, ()):
            incoming.forget_sym(phi)
        if incoming.leq(old):
            return old
        new = self._join(succ, old, incoming, part)
        mine = self.node_phis.setdefault(succ, set())
        groups: dict[object, list[int]] = {}
        for r in range(11):
            a, b = old.regs[r].sym, incoming.regs[r].sym
            value = new.regs[r]
            if a == b or not (value.is_number or value.types == {PACKET}):
                continue
            if a is None or b is None:
                key: object = ("reg", r)
            else:
                key = ("var", a[0])
            groups.setdefault(key, []).append(r)
        for key, regs in groups.items():
            pairs = set()
            for r in regs:
                a, b = old.regs[r].sym, incoming.regs[r].sym
                pairs.add((b[0], (a[1] if a else 0) - b[1]) if b is not None else None)
            first = old.regs[regs[0]].sym
            if len(pairs) != 1 or (None in pairs and len(regs) > 1):
                continue  # no one variable for them: the join dropped theirs
            keep = first is not None and first[0] in mine
            pair = next(iter(pairs))
            phi = first[0] if keep and first is not None else self._phi(succ, (key, pair))
            mine.add(phi)
            for r in regs:
                a = old.regs[r].sym
                new.regs[r] = new.regs[r].with_sym((phi, a[1] if a is not None else 0))
            # the packet ranges of the variables the phi stands for carry over to it
            n_old = old.ranges.get(first[0]) if first is not None else None
            n_in = incoming.ranges.get(pair[0]) if pair is not None else None
            if n_old is not None and n_in is not None and pair is not None:
                new.ranges[phi] = min(n_old, n_in + pair[1])
        return new

    def _phi(self, node: Node, key: object) -> int:
        full = (node, key)
        found = self.phi_ids.get(full)
        if found is None:
            found = self.phi_ids[full] = -1 - len(self.phi_ids)
        return found

    def _record_exit(self, state: State) -> None:
        r = self.result
        r.exit_state = state if r.exit_state is None else r.exit_state.join(state)

    def _add(self, succ: Node, state: State, push: list[tuple[Node, Key]]) -> None:
        """Join ``state`` into its partition at ``succ``; ``push`` gets what changed.
        The key is taken at every node: partitions that differ only in registers dead
        there are joined at once."""
        parts = self.parts.setdefault(succ, {})
        live, tested = self.live.get(succ[1], ()), self.tested.get(succ[1], -1)
        part = partition.place(parts, state, live, tested)
        old = parts.get(part)
        same_flag = partition.group(parts, part[0])
        if old is None and len(same_flag) >= MAX_PARTITIONS:
            self._coarsen(succ, same_flag, state, push)
            return
        if old is None:
            new = state
        else:
            new = self._combine(succ, old, state, part)
            if new is old:
                return
        parts[part] = new
        push.append((succ, part))

    def _coarsen(self, succ: Node, same_flag: list[Key], state: State,
                 push: list[tuple[Node, Key]]) -> None:
        """Too many ways to get to ``succ`` with one flag: its partitions ``same_flag``
        and ``state`` are keyed again at the next level (kinds without constants, then
        one catch-all) and the states of each new key joined, for the rest of the run.
        (Folding them in is no visit: widening counts the joins that follow.)"""
        parts = self.parts[succ]
        live, tested = self.live.get(succ[1], ()), self.tested.get(succ[1], -1)
        flag, level = same_flag[0][0], same_flag[0][1]
        entries = [(self.visits.get((succ, p), 0), parts.pop(p)) for p in same_flag]
        entries.append((0, state))
        while True:
            level = partition.coarser(level)
            keys = [partition.key(st, live, tested, flag, level) for _, st in entries]
            if len(set(keys)) <= MAX_PARTITIONS:
                break
        counts: dict[Key, int] = {}
        for k, (count, st) in zip(keys, entries, strict=True):
            old = parts.get(k)
            parts[k] = st if old is None else self._combine(succ, old, st, k)
            counts[k] = max(counts.get(k, 0), count)
        for k, count in counts.items():
            self.visits[(succ, k)] = count
            push.append((succ, k))

    def _combine(self, succ: Node, old: State, state: State, part: Key) -> State:
        """The join of ``state`` into ``old`` at ``succ``: ``old`` itself when that
        adds nothing."""
        if self.options.ctx is not None:  # real programs: variables at joins
            new = self._merge(succ, old, state, part)
            return old if new.leq(old) else new
        if state.leq(old):
            return old
        return self._join(succ, old, state, part)

    def run(self, initial: State) -> AnalysisResult:
        start: Node = ((), 0)
        first = partition.place({}, initial, self.live.get(0, ()), self.tested.get(0, -1))
        self.parts[start] = {first: initial}
        order = 0
        queue: list[tuple[int, tuple[int, ...], int, Key]] = [(0, (), order, first)]
        queued = {(start, first)}
        processed = 0
        push: list[tuple[Node, Key]] = []
        while queue:
            pc, frames, _, part = heapq.heappop(queue)
            node = (frames, pc)
            queued.discard((node, part))
            state = self.parts[node].get(part)
            if state is None:
                continue  # joined into the node's catch-all since it was queued
            processed += 1
            if processed > self.limit:
                self.result.complete = False
                self.emit("", f"processed more than {self.limit} instructions", True)
                break
            for succ, after in self.step(node, state, collect=False):
                self._add(succ, after, push)
            for succ, succ_part in push:
                if (succ, succ_part) not in queued:
                    queued.add((succ, succ_part))
                    order += 1
                    heapq.heappush(queue, (succ[1], succ[0], order, succ_part))
            push.clear()
        self.result.processed = processed
        self.result.partitions = {node: len(parts) for node, parts in self.parts.items()}
        self.states = {node: _joined(list(parts.values())) for node, parts in self.parts.items()
                       if parts}
        self.result.states = self.states
        if self.options.termination and self.result.complete:
            self._check_termination()
        if self.options.reject_unreachable:
            for pc in sorted(set(self.cfg.instructions) - reachable(self.cfg)):
                self.emit(label(((), pc), self.names), "Unreachable instruction", True)
        # Report from the fixpoint: each reachable node's checks, once; an edge is
        # unreachable when no partition of its node takes it.
        self.result.exit_state = None
        for node in sorted(self.parts, key=lambda n: (n[1], n[0])):
            self.dead = []
            reached: set[Node] = set()
            for state in self.parts[node].values():
                reached.update(succ for succ, _ in self.step(node, state, collect=True))
            dead, self.dead = self.dead, None
            for where, text, target in dead:
                if target not in reached:
                    self.emit(where, text, True)
        return self.result


def _joined(states: list[State]) -> State:
    joined = states[0]
    for other in states[1:]:
        joined = joined.join(other)
    return joined


def invalid_bytecode(instructions: dict[int, Instruction]) -> list[tuple[int, str]]:
    """(slot, reason) for each invalid instruction, each jump to no instruction and an
    end the last instruction falls through."""
    found: list[tuple[int, str]] = []
    for pc, insn in sorted(instructions.items()):
        why = validate(insn)
        if why is not None:
            found.append((pc, why))
            continue
        for edge in successors(pc, insn):
            if edge.target in instructions:
                continue
            if edge.kind in ("next", "return"):
                found.append((pc, "the program falls off its end"))
            else:
                found.append((pc, f"jump to slot {edge.target}, not an instruction"))
    return found


def _exit_check(state: State) -> str | None:
    r0 = state.regs[0]
    return None if r0.is_number else log.must_be_number(0)


# The initial state from a case's pre-state ------------------------------------------------

_OFFSET_TYPES = {"stack_offset": "stack", "ctx_offset": "ctx", "packet_offset": "packet",
                 "shared_offset": "shared"}


def _resolve(spec: ValueSpec | None, pre: PreState, seen: int = 0) -> Interval | None:
    if spec is None or seen > 4:
        return None
    if isinstance(spec, Interval):
        return spec
    name = spec.strip()
    if "." in name and name.startswith("r"):
        reg_text, attr = name.split(".", 1)
        try:
            reg = pre.registers.get(int(reg_text[1:]))
        except ValueError:
            return None
        if reg is None:
            return None
        if attr == "svalue":
            return _resolve(reg.svalue, pre, seen + 1)
        if attr == "uvalue":
            return _resolve(reg.uvalue, pre, seen + 1)
        value = reg.offsets.get(attr, reg.extra.get(attr))
        return _resolve(value, pre, seen + 1)
    return None


def _signed(iv: Interval | None) -> Scalar:
    if iv is None:
        return TOP
    return Scalar.from_signed(max(iv.lo, -(1 << 63)), min(iv.hi, (1 << 63) - 1))


def _unsigned(iv: Interval | None) -> Scalar:
    if iv is None:
        return TOP
    return Scalar.from_unsigned(max(iv.lo, 0), min(iv.hi, (1 << 64) - 1))


def initial_state(pre: PreState) -> State:
    state = State([RegValue() for _ in range(11)])
    ps = _resolve(pre.packet_size, pre)
    if ps is not None:
        state.packet_size = _unsigned(ps)
    mo = _resolve(pre.meta_offset, pre)
    if mo is not None:
        state.meta_offset = _signed(mo)
    for r, spec in pre.registers.items():
        if not 0 <= r <= 10:
            continue
        types = set(spec.types or set())
        if not types:
            types = {_OFFSET_TYPES[k] for k in spec.offsets if k in _OFFSET_TYPES}
            if not types and (spec.svalue is not None or spec.uvalue is not None):
                types = set(ALL_TYPES)  # a value without a type: any type
        if not types:
            continue
        value = _signed(_resolve(spec.svalue, pre)).meet(_unsigned(_resolve(spec.uvalue,
                                                                               pre)))
        if value.bottom:  # svalue and uvalue disagree: the unsigned view wins (as callx reads)
            value = _unsigned(_resolve(spec.uvalue, pre))
        if types and types <= POINTER_TYPES and spec.svalue is None and spec.uvalue is None:
            value = POINTER_VALUE
        offset = BOTTOM
        for key, iv in spec.offsets.items():
            resolved = _resolve(iv, pre)
            if isinstance(iv, str) and iv.strip() == "packet_size":
                types = {PACKET_END if t == PACKET else t for t in types}
                offset = offset.join(TOP)
            elif resolved is not None:
                offset = offset.join(_signed(resolved))
            elif key:
                offset = offset.join(TOP)
        if offset.bottom:
            offset = TOP
        region = _unsigned(_resolve(spec.extra.get("shared_region_size"), pre))
        map_fd = _unsigned(_resolve(spec.extra.get("map_fd"), pre))
        types.discard(UNINIT)
        if types == {PACKET} and any("packet_offset=packet_size" in r_ for r_ in
                                     pre.relations):
            types = {PACKET_END}
        state.regs[r] = RegValue(frozenset(types), value, offset, region, map_fd)
    for cell in pre.stack:
        if cell.field == "type" and cell.value == NUMBER:
            state.stack.mark_numeric(cell.lo, cell.hi + 1)
    for cell in pre.stack:  # a known number in a whole cell
        if cell.field in ("svalue", "uvalue") and state.stack.all_numeric(cell.lo, cell.hi + 1):
            cell_range = _resolve(parse_value(cell.value), pre)
            if cell_range is not None:
                where = (cell.lo, cell.hi - cell.lo + 1)
                known = state.stack.cells.get(where, RegValue.number()).value
                scalar = (_signed(cell_range) if cell.field == "svalue"
                          else _unsigned(cell_range))
                state.stack.cells[where] = RegValue.number(known.meet(scalar))
    return state


def analyze(instructions: dict[int, Instruction], assumes: dict[int, Assume],
            initial: State, options: Options | None = None,
            limit: int = DEFAULT_LIMIT, names: dict[int, int] | None = None) -> AnalysisResult:
    """Analyze from ``initial``; ``names`` maps slots to the indices messages show.

    Bytecode that is not valid (an unknown opcode, a field its form does not use, a jump
    out of the program or into an lddw) is refused, unanalysed: never a crash."""
    options = options or Options()
    invalid = invalid_bytecode(instructions) if options.validate_bytecode else []
    if invalid:
        return AnalysisResult([Message(label(((), pc), names), f"Invalid bytecode: {why}")
                               for pc, why in invalid], complete=False)
    return Analyzer(instructions, assumes, options, limit, names).run(initial)


__all__ = ["AnalysisResult", "Options", "analyze", "initial_state"]
