"""The control-flow graph: successors of each instruction, basic blocks, loop heads.

Instructions are keyed by slot index (``lddw`` takes two slots). A conditional jump
has two edges (``taken``, ``fallthrough``), ``ja`` one, ``exit`` none; a local call
(``call <sub>``) has a ``call`` edge to the callee and a ``return`` edge to the next
slot. Helper calls fall through.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from libbpf_compat.isa import Instruction
from libbpf_compat.isa import opcodes as op


@dataclass(frozen=True)
class Edge:
    target: int
    kind: str  # next, taken, fallthrough, jump, call, return


def is_conditional(insn: Instruction) -> bool:
    return (insn.insn_class in (op.CLASS_JMP, op.CLASS_JMP32)
            and insn.operation not in (op.JMP_JA, op.JMP_CALL, op.JMP_EXIT))


def is_local_call(insn: Instruction) -> bool:
    return insn.opcode == op.OPCODE_CALL and insn.src == op.CALL_LOCAL


def jump_offset(insn: Instruction) -> int:
    if insn.opcode == op.OPCODE_JA32:
        return insn.imm
    return insn.off


def successors(pc: int, insn: Instruction) -> list[Edge]:
    nxt = pc + insn.size
    if insn.opcode == op.OPCODE_EXIT:
        return []
    if insn.opcode in (op.OPCODE_JA, op.OPCODE_JA32):
        return [Edge(pc + 1 + jump_offset(insn), "jump")]
    if is_conditional(insn):
        return [Edge(pc + 1 + insn.off, "taken"), Edge(nxt, "fallthrough")]
    if is_local_call(insn):
        return [Edge(pc + 1 + insn.imm, "call"), Edge(nxt, "return")]
    return [Edge(nxt, "next")]


@dataclass
class CFG:
    instructions: dict[int, Instruction]
    edges: dict[int, list[Edge]] = field(default_factory=dict)
    leaders: list[int] = field(default_factory=list)
    loop_heads: set[int] = field(default_factory=set)

    def block_of(self, pc: int) -> int:
        """The leader of the basic block holding ``pc``."""
        best = 0
        for leader in self.leaders:
            if leader <= pc:
                best = leader
        return best


def build(instructions: dict[int, Instruction]) -> CFG:
    cfg = CFG(instructions)
    leaders = {0} if instructions else set()
    for pc, insn in instructions.items():
        edges = successors(pc, insn)
        cfg.edges[pc] = edges
        if len(edges) != 1 or edges[0].kind != "next":
            leaders.update(e.target for e in edges)
            leaders.add(pc + insn.size)
        for e in edges:
            if e.target <= pc and e.kind in ("taken", "jump"):
                cfg.loop_heads.add(e.target)
    cfg.leaders = sorted(x for x in leaders if x in instructions)
    return cfg


def reachable(cfg: CFG) -> set[int]:
    """The slots some path of edges from slot 0 reaches (calls included)."""
    seen = {0} if 0 in cfg.instructions else set()
    todo = list(seen)
    while todo:
        for edge in cfg.edges.get(todo.pop(), []):
            if edge.target in cfg.instructions and edge.target not in seen:
                seen.add(edge.target)
                todo.append(edge.target)
    return seen
