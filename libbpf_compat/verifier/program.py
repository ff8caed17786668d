"""Verifying a real program: the pre-state of its program type, its maps, its log.

:func:`verify_program` takes a program's linked code (CO-RE applied, helper calls
renumbered to internal IDs, map ``lddw`` not yet resolved to addresses), what each
relocated ``lddw`` loads (:func:`lddw_values`), the shapes of the object's maps and
the context of its program type (from :mod:`libbpf_compat.hooks.contexts`), and
returns a :class:`Verdict` with the messages and a log a person can act on.

The pre-state is Linux's: ``r1`` points at the context, ``r10`` at the end of a
512-byte stack frame, every other register is uninitialised. A map ``lddw`` gives a
map (its key and value sizes known), a global data ``lddw`` a pointer into the map's
value (``.rodata``, ``.data``, ``.bss``, ``.kconfig``), a function address the function
(a callback, :mod:`~libbpf_compat.verifier.callbacks`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache

from libbpf_compat.btf import POISON_HELPER, BtfExt
from libbpf_compat.elf.relocations import InsnRelocation, RelocKind
from libbpf_compat.helpers.ids import helper_by_name
from libbpf_compat.helpers.native import C_HELPER_NAMES
from libbpf_compat.hooks.contexts import CtxLayout
from libbpf_compat.isa import Instruction, decode, disassemble_instruction, slot_indices
from libbpf_compat.isa import opcodes as op
from libbpf_compat.uapi import BpfMapType
from libbpf_compat.verifier.analysis import AnalysisResult, Node, analyze
from libbpf_compat.verifier.callbacks import function_value
from libbpf_compat.verifier.cfg import is_conditional
from libbpf_compat.verifier.log import Message
from libbpf_compat.verifier.numeric import TOP, UMAX64, Scalar
from libbpf_compat.verifier.relations import LENGTHS
from libbpf_compat.verifier.stack import Stack
from libbpf_compat.verifier.transfer import CtxModel, MapShape, Options, State
from libbpf_compat.verifier.types import (
    CTX,
    MAP_FD,
    MAP_FD_PROGRAMS,
    NON_NULL,
    NUMBER,
    PACKET,
    PACKET_END,
    PACKET_META,
    SHARED,
    STACK,
    UNINIT,
    RegValue,
)
from libbpf_compat.verifier.walk import LOG_LEVEL1, LOG_LEVEL2, parse_label, path_to, statistics

#: Bytes of stack per frame and call frames (the main program's included), as Linux.
STACK_SIZE = 512
MAX_FRAMES = 8
#: Instructions the analysis may process before it gives up, as Linux.
MAX_PROCESSED = 1_000_000
#: Log levels (libbpf's ``log_level``, bits as Linux's): 1 a rejection's failing
#: instruction and its state, after the instructions of one path to it (the state at
#: each branch taken, the last PATH_LIMIT instructions); 2 instead every reached
#: instruction with the state before it; 4 (BPF_LOG_STATS) the verification time and
#: stack depth. Any level ends with the statistics line (``processed N insns ...``);
#: 4 alone gives only the statistics.
LOG_BRIEF, LOG_STATES = LOG_LEVEL1, LOG_LEVEL2
PATH_LIMIT = 200

_UNREACHABLE = "Code becomes unreachable"
_PROG_ARRAYS = frozenset({BpfMapType.BPF_MAP_TYPE_PROG_ARRAY})


@dataclass(frozen=True)
class MapInfo:
    """What the verifier knows of an object's map: its internal type and shape."""

    name: str
    type: int
    key_size: int
    value_size: int
    max_entries: int
    #: a map of maps: its inner maps' shape
    inner: MapInfo | None = None
    #: the offset of the value's ``struct bpf_spin_lock`` (from BTF), -1 when none
    spin_lock_off: int = -1


#: Ids of inner map shapes: this plus the outer map's index.
INNER_MAP_BASE = 1 << 20


@dataclass
class Verdict:
    """The outcome of verifying one program."""

    name: str
    ok: bool
    processed: int = 0
    seconds: float = 0.0
    messages: list[str] = field(default_factory=list)
    log: str = ""
    #: the reason a program type cannot be verified (then ``ok`` is False)
    unsupported: str | None = None
    #: instructions (slots) of the linked program
    insns: int = 0


def ctx_model(layout: CtxLayout) -> CtxModel:
    """The verifier's view of a context layout: its pointer fields load packet pointers
    (``*_end`` the end, ``*meta*`` the metadata start, the other the start)."""
    pointers: dict[int, str] = {}
    widths = set()
    packet = layout.packet
    for f in layout.fields:
        if f.pointer and packet is not None and f.name in packet:
            kind = PACKET_END if f.name == packet[-1] else PACKET
            pointers[f.offset] = kind
            widths.add(f.size)
        elif f.pointer and packet is None:
            kind = (PACKET_END if f.name.endswith("_end") else
                    PACKET_META if "meta" in f.name else PACKET)
            pointers[f.offset] = kind
            widths.add(f.size)
    readable = tuple((f.offset, f.size) for f in layout.fields)
    writable = tuple((f.offset, f.size) for f in layout.fields if f.writable)
    width = widths.pop() if len(widths) == 1 else 8
    return CtxModel(layout.name, layout.size, pointers, width, readable, writable)


def lddw_values(relocations: Iterable[InsnRelocation], maps: Sequence[MapInfo],
                options: Options) -> None:
    """Fill ``options.lddw`` (slot -> loaded value) and ``options.maps`` (by map index)."""
    for index, m in enumerate(maps):
        options.maps[index] = MapShape(m.key_size, m.value_size, m.spin_lock_off)
        if m.inner is not None:
            options.maps[INNER_MAP_BASE + index] = MapShape(m.inner.key_size,
                                                            m.inner.value_size,
                                                            m.inner.spin_lock_off)
            options.inner_maps[index] = INNER_MAP_BASE + index
    for r in relocations:
        if r.kind is RelocKind.MAP and 0 <= r.map_index < len(maps):
            m = maps[r.map_index]
            kind = MAP_FD_PROGRAMS if m.type in _PROG_ARRAYS else MAP_FD
            options.lddw[r.insn] = RegValue(frozenset({kind}), NON_NULL, TOP, TOP,
                                            Scalar.const(r.map_index))
        elif r.kind in (RelocKind.MAP_VALUE, RelocKind.KCONFIG) and 0 <= r.map_index < len(
                maps):
            size = maps[r.map_index].value_size
            options.lddw[r.insn] = RegValue(frozenset({SHARED}), NON_NULL,
                                            Scalar.const(r.offset), Scalar.const(size),
                                            Scalar.const(r.map_index))
        elif r.kind is RelocKind.FUNC_ADDR:  # a callback (see verifier.callbacks)
            options.lddw[r.insn] = function_value(r.offset)
        elif r.kind is RelocKind.KSYM:
            options.lddw[r.insn] = RegValue.number()


@cache
def _implemented_helpers() -> frozenset[int]:
    """Internal ids of the helpers the runtime implements (in C)."""
    found = (helper_by_name(name) for name in C_HELPER_NAMES)
    return frozenset(h.internal for h in found if h is not None)


def _thresholds(insns: Iterable[Instruction]) -> tuple[int, ...]:
    """Widening thresholds: the constants jumps compare with, one either side, and the
    limits of narrow integers."""
    found = {0, 0xFF, 0xFFFF, 0x7FFF_FFFF, 0xFFFF_FFFF}
    for insn in insns:
        if is_conditional(insn) and insn.source == op.SRC_K:
            found.update((insn.imm - 1, insn.imm, insn.imm + 1))
    return tuple(sorted(found))


def initial_program_state(stack_size: int = STACK_SIZE * MAX_FRAMES) -> State:
    """r1 the context, r10 the top of the stack (frame 0 is the 512 bytes below it)."""
    regs = [RegValue() for _ in range(11)]
    regs[1] = RegValue.pointer(CTX, Scalar.const(0))
    regs[10] = RegValue.pointer(STACK, Scalar.const(stack_size))
    return State(regs, Stack())


def _pc_of(label: str) -> int | None:
    """The instruction index a message label names (``"3/12"`` -> 12)."""
    last = label.split("/")[-1].split(":")[0].split(" ")[0]
    return int(last) if last.isdigit() else None


def _interval(s: Scalar) -> str:
    if s.bottom:
        return "⊥"
    lo, hi = s.s.lo, s.s.hi
    if lo == hi:
        return str(lo)
    if lo <= -(1 << 63) and hi >= (1 << 63) - 1:
        return "?"
    return f"[{lo}, {hi}]"


def format_reg(reg: int, v: RegValue) -> str:
    if v.types == {UNINIT}:
        return ""
    if v.is_number:
        return f"R{reg}=scalar({_interval(v.value)})"
    parts = []
    for t in sorted(v.types):
        if t == NUMBER:
            parts.append("scalar")
        elif t in (MAP_FD, MAP_FD_PROGRAMS):
            parts.append(f"map_ptr(map {_interval(v.map_fd)})")
        elif t == STACK and v.offset.s.singleton is not None:
            parts.append(f"fp{v.offset.s.singleton - STACK_SIZE * MAX_FRAMES:+d}")
        else:
            text = f"{t}(off={_interval(v.offset)}"
            if t == SHARED and v.region_size.u.hi != UMAX64:
                text += f", size={_interval(v.region_size)}"
            if t == PACKET and v.sym is not None:
                text += f", var@{v.sym[0]}{v.sym[1]:+d}"
            if t not in (CTX, STACK, PACKET, PACKET_END) and v.value.u.contains(0):
                text += ", or null"
            parts.append(text + ")")
    return f"R{reg}=" + "|".join(parts)


def format_state(state: State, stack_size: int = STACK_SIZE * MAX_FRAMES) -> str:
    regs = " ".join(filter(None, (format_reg(r, v) for r, v in enumerate(state.regs))))
    packet = f" packet_size>={state.packet_size.s.lo}" if state.packet_size.s.lo else ""
    packet += "".join(f" packet_size>=var@{i}{n:+d}" for i, n in sorted(state.ranges.items())
                      if i != LENGTHS)
    cells = " ".join(
        f"fp{off - stack_size}={format_reg(0, v)[3:] or 'uninit'}"
        for (off, _w), v in sorted(state.stack.cells.items()) if not v.is_number)
    return regs + packet + (f" stack: {cells}" if cells else "")


class _Source:
    """C source lines from BTF line info, by instruction index of the linked program."""

    def __init__(self, ext: BtfExt | None, pieces: Sequence[tuple[int, str, int, int]]) -> None:
        self.lines: dict[int, str] = {}
        if ext is None:
            return
        for start, section, offset, end in pieces:
            for info in ext.line_info.get(section, ()):
                if offset <= info.insn_off < end and info.line:
                    slot = start + (info.insn_off - offset) // 8
                    where = f"{info.file_name.rsplit('/', 1)[-1]}:{info.line_num}"
                    self.lines[slot] = f"; {info.line.strip()} @ {where}"

    def line_for(self, pc: int) -> str | None:
        best = None
        for slot in self.lines:
            if slot <= pc and (best is None or slot > best):
                best = slot
        return self.lines[best] if best is not None else None


def _insn_lines(pc: int, insn: Instruction, source: _Source, last: list[str | None]) -> list[str]:
    """``pc``'s disassembly, after its C source line when that changes (``last`` holds
    the line shown before)."""
    out = []
    line = source.line_for(pc)
    if line and line != last[0]:
        out.append(line)
    last[0] = line
    out.append(f"{pc}: ({insn.opcode:02x}) {disassemble_instruction(insn, 'kernel')}")
    return out


def _path_lines(insns: dict[int, Instruction], result: AnalysisResult, target: Node,
                source: _Source) -> list[str]:
    """The instructions of a path from the entry to ``target`` (not included), with
    ``from X to Y: state`` at each conditional jump, as Linux's level 1 log."""
    path = path_to(insns, result, target)
    out = []
    first = max(0, len(path) - 1 - PATH_LIMIT)
    if first:
        out.append(f"... {first} earlier instructions of the path")
    elif path:
        out.append(f"0: {format_state(result.states[path[0][0]])}")
    last: list[str | None] = [None]
    for (node, _into), (succ, branch) in zip(path[first:], path[first + 1:], strict=False):
        pc = node[1]
        out += _insn_lines(pc, insns[pc], source, last)
        if branch is not None:
            out.append(f"from {pc} to {succ[1]}: {format_state(branch)}")
    return out


def _render_log(name: str, insns: dict[int, Instruction], result: AnalysisResult,
                errors: list[Message], source: _Source, level: int, seconds: float,
                stats: list[str]) -> str:
    out: list[str] = []
    if level & LOG_STATES:
        by_pc: dict[int, list[tuple[Node, State]]] = {}
        for node, state in result.states.items():
            by_pc.setdefault(node[1], []).append((node, state))
        last_line = None
        for pc in sorted(by_pc):
            line = source.lines.get(pc)
            if line and line != last_line:
                out.append(line)
                last_line = line
            for node, state in by_pc[pc]:
                frames = "".join(f"{f}/" for f in node[0])
                out.append(f"{frames}{pc}: {format_state(state)}")
            insn = insns.get(pc)
            if insn is not None:
                out.append(f"{pc}: ({insn.opcode:02x}) {disassemble_instruction(insn, 'kernel')}")
    elif level & LOG_BRIEF and errors:
        target = parse_label(errors[0].label)
        if target is not None and target[1] in insns:
            out += _path_lines(insns, result, target, source)
    if level & (LOG_BRIEF | LOG_STATES):
        for message in errors:
            at = _pc_of(message.label)
            if at is not None and at in insns:
                pc = at
                line = source.line_for(pc)
                if line:
                    out.append(line)
                insn = insns[pc]
                out.append(f"{pc}: ({insn.opcode:02x}) {disassemble_instruction(insn, 'kernel')}")
                states = [s for (frames, at), s in result.states.items() if at == pc]
                if states:
                    joined = states[0]
                    for s in states[1:]:
                        joined = joined.join(s)
                    out.append(f"state: {format_state(joined)}")
            out.append(f"error at instruction {message.label or '?'}: {message.text}")
        verdict = "rejected" if errors else "verified"
        out.append(f"program {name!r}: {verdict}; processed {result.processed} insns "
                   f"in {seconds * 1000:.1f} ms")
    return "\n".join(out + stats) + "\n"


def verify_program(name: str, code: bytes, *, relocations: Iterable[InsnRelocation] = (),
                   maps: Sequence[MapInfo] = (), layout: CtxLayout | None,
                   ext: BtfExt | None = None,
                   pieces: Sequence[tuple[int, str, int, int]] = (),
                   log_level: int = LOG_BRIEF, limit: int = MAX_PROCESSED,
                   unsupported: str | None = None,
                   own_helpers: frozenset[int] = frozenset()) -> Verdict:
    """Verify ``code`` (see the module doc). ``layout`` is the program's context; with
    None, ``unsupported`` says why (the program type has no known context).
    ``pieces`` are (first slot, ELF section, byte offset, end) of each linked function,
    for source lines from ``ext``'s line info."""
    relocations = list(relocations)
    if layout is None or unsupported is not None:
        reason = unsupported or "no known context for its program type"
        return Verdict(name, False, unsupported=reason, messages=[reason],
                       log=f"program {name!r}: cannot be verified: {reason}\n")
    started = time.perf_counter()
    decoded = decode(code)
    insns = dict(zip(slot_indices(decoded), decoded, strict=True))
    # the context model checks every access against the layout's size and fields (with
    # the struct's name in the message), so ``ctx_size`` stays None here
    options = Options(termination=True, ctx=ctx_model(layout),
                      stack_size=STACK_SIZE * MAX_FRAMES, frame_size=STACK_SIZE,
                      unprototyped_refused=_implemented_helpers(),
                      terminal_calls=frozenset({POISON_HELPER}), own_helpers=own_helpers)
    lddw_values(relocations, maps, options)
    for slot, insn in insns.items():  # kfunc calls (only unresolved weak ones get here)
        if insn.opcode == op.OPCODE_CALL and insn.src == op.CALL_KFUNC:
            options.terminal_slots.add(slot)
    options.thresholds = _thresholds(insns.values())
    result = analyze(insns, {}, initial_program_state(options.stack_size), options, limit=limit)
    errors = [m for m in result.messages if not m.text.startswith(_UNREACHABLE)]
    errors.sort(key=lambda m: (_pc_of(m.label) is None, _pc_of(m.label) or 0))
    seconds = time.perf_counter() - started
    stats = statistics(result, insns, log_level, seconds, limit, options.stack_size,
                       options.frame_size, (start for start, _s, _o, _e in pieces))
    text = _render_log(name, insns, result, errors, _Source(ext, pieces), log_level, seconds,
                       stats)
    return Verdict(name, not errors, result.processed, seconds, [str(m) for m in errors], text,
                   insns=len(code) // 8)


__all__ = ["LOG_BRIEF", "LOG_STATES", "MAX_PROCESSED", "MapInfo", "Verdict", "ctx_model",
           "format_state", "initial_program_state", "lddw_values",
           "verify_program"]
