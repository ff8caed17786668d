"""What a verifier log shows beyond the failing instruction, as Linux's does.

:func:`path_to` rebuilds one path the analysis found feasible from the entry to a
node (Linux's level 1 log prints the instructions it walked to the error), and
:func:`statistics` gives Linux's closing lines (``processed N insns (limit L)
max_states_per_insn M total_states T peak_states P``, and with ``BPF_LOG_STATS`` the
verification time and the stack depth of each function).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from libbpf_compat.isa import Instruction
from libbpf_compat.isa import opcodes as op
from libbpf_compat.verifier import transfer
from libbpf_compat.verifier.analysis import AnalysisResult, Node
from libbpf_compat.verifier.cfg import is_conditional, is_local_call, successors
from libbpf_compat.verifier.transfer import State

#: log_level bits (Linux's BPF_LOG_LEVEL1, BPF_LOG_LEVEL2, BPF_LOG_STATS)
LOG_LEVEL1, LOG_LEVEL2, LOG_STATS = 1, 2, 4


def parse_label(label: str) -> Node | None:
    """The node a message label names (``"3/12"`` -> ((3,), 12)); None for an edge
    or a label without one."""
    head = label.split(" ")[0]
    if not head or ":" in head:
        return None
    parts = head.split("/")
    if not all(p.isdigit() for p in parts):
        return None
    return tuple(int(p) for p in parts[:-1]), int(parts[-1])


def _steps(node: Node, insn: Instruction, state: State | None) -> list[tuple[Node, State | None]]:
    """The nodes the analysis may go to from ``node`` (a conditional jump: with the
    state the branch leaves, only the branches feasible in ``state``)."""
    frames, pc = node
    if insn.opcode == op.OPCODE_EXIT:
        return [((frames[:-1], frames[-1] + 1), None)] if frames else []
    if is_local_call(insn):
        return [(((*frames, pc), e.target), None) for e in successors(pc, insn)
                if e.kind == "call"]
    out: list[tuple[Node, State | None]] = []
    for edge in successors(pc, insn):
        after: State | None = None
        if is_conditional(insn) and state is not None:
            after, _text = transfer.branch(state, insn, edge)
            if after is None:
                continue
        out.append(((frames, edge.target), after))
    return out


def path_to(insns: dict[int, Instruction], result: AnalysisResult,
            target: Node) -> list[tuple[Node, State | None]]:
    """A shortest path of reached nodes from the entry to ``target`` (its last element),
    each node with the state the branch into it left (None when not a branch); empty
    when there is none (``target`` not reached, or only through a callback)."""
    start: Node = ((), 0)
    if start not in result.states or target not in result.states:
        return []
    came: dict[Node, tuple[Node, State | None] | None] = {start: None}
    todo = deque([start])
    while todo and target not in came:
        node = todo.popleft()
        insn = insns.get(node[1])
        if insn is None:
            continue
        for succ, after in _steps(node, insn, result.states[node]):
            if succ in result.states and succ not in came:
                came[succ] = (node, after)
                todo.append(succ)
    if target not in came:
        return []
    path: list[tuple[Node, State | None]] = []
    node = target
    while (back := came[node]) is not None:
        path.append((node, back[1]))
        node = back[0]
    path.append((start, None))
    return path[::-1]


def _stack_depths(result: AnalysisResult, entries: Iterable[int], stack_size: int,
                  frame_size: int) -> list[int]:
    """The bytes of its frame each function (by entry slot, in order) uses on some path."""
    starts = sorted(set(entries) | {0})
    depth = dict.fromkeys(starts, 0)
    for (frames, pc), state in result.states.items():
        function = max(s for s in starts if s <= pc)
        top = stack_size - len(frames) * frame_size
        for off, _width in state.stack.cells:
            if top - frame_size <= off < top:
                depth[function] = max(depth[function], top - off)
    return [depth[s] for s in starts]


def statistics(result: AnalysisResult, insns: dict[int, Instruction], level: int,
               seconds: float, limit: int, stack_size: int, frame_size: int,
               entries: Iterable[int] = ()) -> list[str]:
    """Linux's closing lines of a log at ``level`` (see the module doc). The states
    are the partitions the fixpoint keeps per instruction (they are never freed, so
    the peak is the total)."""
    out = []
    if level & LOG_STATS:
        calls = {pc + 1 + i.imm for pc, i in insns.items() if is_local_call(i)}
        depths = _stack_depths(result, {*entries, *calls}, stack_size, frame_size)
        out.append(f"verification time {round(seconds * 1_000_000)} usec")
        out.append("stack depth " + "+".join(str(d) for d in depths))
    counts = result.partitions.values()
    total = sum(counts)
    out.append(f"processed {result.processed} insns (limit {limit}) max_states_per_insn "
               f"{max(counts, default=0)} total_states {total} peak_states {total}")
    return out


__all__ = ["LOG_LEVEL1", "LOG_LEVEL2", "LOG_STATS", "parse_label", "path_to", "statistics"]
