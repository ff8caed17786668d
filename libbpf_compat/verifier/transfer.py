"""Transfer functions: the abstract effect of one instruction (or assumption) on a state.

:func:`step` returns the states for each successor edge and the messages of the
checks that failed; a failed check ends the path.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from libbpf_compat.helpers.ids import helper_by_internal
from libbpf_compat.helpers.prototypes import (
    CHANGES_PACKET_DATA,
    Arg,
    Prototype,
    Ret,
    prototype,
    size_argument,
)
from libbpf_compat.isa import Instruction
from libbpf_compat.isa import opcodes as op
from libbpf_compat.verifier import checks, locks, log, numeric, references, relations
from libbpf_compat.verifier.cases import Assume
from libbpf_compat.verifier.cfg import Edge, is_conditional
from libbpf_compat.verifier.numeric import BOTTOM, TOP, Scalar
from libbpf_compat.verifier.stack import Stack
from libbpf_compat.verifier.types import (
    ALLOC_MEM,
    CTX,
    FUNC,
    MAP_FD,
    MAP_FD_PROGRAMS,
    NON_NULL,
    NUMBER,
    PACKET,
    PACKET_END,
    PACKET_META,
    POINTER_TYPES,
    SHARED,
    SOCKET,
    STACK,
    UNINIT,
    UNINIT_VALUE,
    RegValue,
)

FRAME_SIZE = 512  # each call frame's stack, as in Linux and the VM
#: Pointer types whose values all point into one region: comparing two of them compares
#: their offsets. (Two map values, sockets or records may be different objects.)
SINGLE_REGIONS = frozenset({CTX, STACK, PACKET})
WIDTHS = {op.SIZE_B: 1, op.SIZE_H: 2, op.SIZE_W: 4, op.SIZE_DW: 8}
# The test context (XDP-like): which 32-bit fields load packet pointers.
CTX_POINTERS = {0: PACKET, 4: PACKET_END}
CTX_POINTER_WIDTH = 4
# What a pointer's address may be: any user-space address of the host (x86-64 and
# arm64 keep them below 2**47). PREVAIL assumes [1, 2147418112], which a 64-bit VM's
# stack and buffers do not honour: a branch on that bound is not dead code here.
POINTER_VALUE = NON_NULL
NULLABLE_VALUE = Scalar.from_unsigned(0, NON_NULL.u.hi)
ARITH_TYPE_TEXT = "in {number, ctx, stack, packet, shared}"
NO_ARITH_TYPES = frozenset({MAP_FD, MAP_FD_PROGRAMS})
ALU_NAMES = {op.ALU_ADD: "add", op.ALU_SUB: "sub", op.ALU_MUL: "mul", op.ALU_DIV: "div",
             op.ALU_OR: "or", op.ALU_AND: "and", op.ALU_LSH: "lsh", op.ALU_RSH: "rsh",
             op.ALU_MOD: "mod", op.ALU_XOR: "xor", op.ALU_ARSH: "arsh"}
JMP_OPS = {op.JMP_JEQ: "==", op.JMP_JNE: "!=", op.JMP_JGT: ">", op.JMP_JGE: ">=",
           op.JMP_JLT: "<", op.JMP_JLE: "<=", op.JMP_JSGT: "s>", op.JMP_JSGE: "s>=",
           op.JMP_JSLT: "s<", op.JMP_JSLE: "s<=", op.JMP_JSET: "&=="}


@dataclass(frozen=True)
class MapShape:
    """What the verifier needs to know of a map: its key and value sizes."""

    key_size: int
    value_size: int
    #: the offset of the value's ``struct bpf_spin_lock`` (from BTF), -1 when it has none
    spin_lock_off: int = -1


#: The map every fd stands for in PREVAIL's YAML cases (a 4-byte key and value).
TEST_MAP = MapShape(4, 4)


@dataclass(frozen=True)
class CtxModel:
    """A program's context as the verifier sees it: its size, the fields that load
    packet pointers (offset -> PACKET, PACKET_END or PACKET_META) and their width, the
    readable fields and the writable ones (``(offset, size)`` each)."""

    name: str
    size: int
    pointers: dict[int, str]
    pointer_width: int
    readable: tuple[tuple[int, int], ...]
    writable: tuple[tuple[int, int], ...]

    def covers(self, ranges: tuple[tuple[int, int], ...], lo: int, hi: int) -> bool:
        return any(start <= lo and hi <= start + size for start, size in ranges)


@dataclass
class Options:
    allow_division_by_zero: bool = True
    big_endian: bool = False
    termination: bool = False
    #: map fd -> shape; fds not listed stand for ``default_map``.
    maps: dict[int, MapShape] = field(default_factory=dict)
    default_map: MapShape = field(default_factory=lambda: TEST_MAP)
    #: the context of a real program (None: the YAML cases' XDP-like test context)
    ctx: CtxModel | None = None
    #: bytes of stack (r10 points at the end of the first frame's)
    stack_size: int = checks.STACK_SIZE
    #: the bytes of one call frame; frame d (0 the program's) is the ``size`` bytes
    #: below ``stack_size - d * size`` (frames grow down, as in the VM and Linux), no
    #: access may cross from one frame into another nor reach below the current one
    frame_size: int = FRAME_SIZE
    #: slot -> the value a resolved ``lddw`` at that slot loads (maps, global data)
    lddw: dict[int, RegValue] = field(default_factory=dict)
    #: helper ids refused when they have no prototype (those the runtime implements:
    #: their arguments cannot be checked); other helpers without one are opaque calls
    #: (the runtime fails the run if one is reached), their result a number
    unprototyped_refused: frozenset[int] = frozenset()
    #: helper numbers a host-registered program type provides itself (Python
    #: callables given the registers): opaque calls, their result a number
    own_helpers: frozenset[int] = frozenset()
    #: helper ids whose call ends the run (libbpf's poison call), and slots of calls
    #: that do (unresolved weak kfuncs): paths end there without an error
    terminal_calls: frozenset[int] = frozenset()
    terminal_slots: set[int] = field(default_factory=set)
    #: maps of maps: outer map id -> the id (in ``maps``) of its inner map's shape
    inner_maps: dict[int, int] = field(default_factory=dict)
    #: widening stops at these values (sorted; the program's comparison constants)
    thresholds: tuple[int, ...] = ()
    #: the size of the context; None leaves context accesses unchecked (a real
    #: program's ``ctx`` checks them field by field)
    ctx_size: int | None = None
    #: every ring buffer record reserved is submitted or discarded, once
    track_references: bool = True
    #: refuse instructions no path reaches (as Linux); PREVAIL ignores them
    reject_unreachable: bool = False
    #: refuse bytecode RFC 9669 does not define before analysing it
    validate_bytecode: bool = True


@dataclass
class State:
    regs: list[RegValue]
    stack: Stack = field(default_factory=Stack)
    packet_size: Scalar = field(default_factory=lambda: Scalar.from_unsigned(0, 0xFFFF))
    meta_offset: Scalar = field(default_factory=lambda: Scalar.const(0))
    #: packet ranges: id -> n when the packet holds at least ``v + n`` bytes for the
    #: variable ``v`` of packet pointers with that id (see RegValue.sym)
    ranges: dict[int, int] = field(default_factory=dict)
    #: ring buffer records reserved (by the slot of the reserve) and not yet submitted
    #: or discarded on some path here
    refs: frozenset[int] = frozenset()
    #: the spin lock the paths here hold: the ids of its map, locks.NO_LOCK for the
    #: paths holding none (see verifier.locks)
    lock: frozenset[int] = locks.UNLOCKED

    def copy(self) -> State:
        return State(list(self.regs), self.stack.copy(), self.packet_size, self.meta_offset,
                     dict(self.ranges), self.refs, self.lock)

    def _ranges_join(self, other: State) -> dict[int, int]:
        return {i: min(n, other.ranges[i]) for i, n in self.ranges.items() if i in other.ranges}

    def join(self, other: State) -> State:
        out = State([a.join(b) for a, b in zip(self.regs, other.regs, strict=True)],
                    self.stack.join(other.stack), self.packet_size.join(other.packet_size),
                    self.meta_offset.join(other.meta_offset), self._ranges_join(other),
                    self.refs | other.refs, self.lock | other.lock)
        relations.join(self, other, out)
        return out

    def widen(self, other: State, thresholds: tuple[int, ...] = ()) -> State:
        return State([a.widen(b, thresholds) for a, b in zip(self.regs, other.regs, strict=True)],
                     self.stack.widen(other.stack, thresholds),
                     self.packet_size.widen(other.packet_size),
                     self.meta_offset.widen(other.meta_offset), self._ranges_join(other),
                     self.refs | other.refs, self.lock | other.lock)

    def leq(self, other: State) -> bool:
        return (all(a.leq(b) for a, b in zip(self.regs, other.regs, strict=True))
                and self.stack.leq(other.stack) and self.packet_size.leq(other.packet_size)
                and self.meta_offset.leq(other.meta_offset) and self.refs <= other.refs
                and self.lock <= other.lock
                and all(i in self.ranges and self.ranges[i] >= n
                        for i, n in other.ranges.items()))

    def forget_sym(self, sym_id: int) -> None:
        """A new variable is made at ``sym_id``: facts about the old one go."""
        self.ranges.pop(sym_id, None)
        for r, v in enumerate(self.regs):
            if v.sym is not None and v.sym[0] == sym_id:
                v = self.regs[r] = v.with_sym(None)
            if v.room is not None and v.room[0] == sym_id:  # lengths past the old one
                self.regs[r] = v.with_facts(None, v.stack_run)
        cells = self.stack.cells
        for key, v in list(cells.items()):
            if v.sym is not None and v.sym[0] == sym_id:
                v = cells[key] = v.with_sym(None)
            if v.room is not None and v.room[0] == sym_id:
                cells[key] = v.with_facts(None, v.stack_run)


class Failed(Exception):
    """A check failed: the path ends with this message."""


def require(message: str | None) -> None:
    if message is not None:
        raise Failed(message)


# ALU ----------------------------------------------------------------------------------------


def _number(s: Scalar) -> RegValue:
    return RegValue.number(s) if not s.bottom else RegValue.number(TOP)


def alu(state: State, insn: Instruction, options: Options, pc: int = -1) -> None:
    is64 = insn.insn_class == op.CLASS_ALU64
    code = insn.operation
    d = insn.dst
    regs = state.regs
    dst = regs[d]
    use_src = insn.source == op.SRC_X and code not in (op.ALU_NEG, op.ALU_END)
    src = regs[insn.src] if use_src else RegValue.number(Scalar.const(insn.imm))
    if code == op.ALU_MOV:
        if insn.off:  # movsx
            if use_src:
                require(checks.number(insn.src, src))
            regs[d] = _number(numeric.movsx(src.value, insn.off, is64))
        elif is64:
            regs[d] = src
        else:
            if use_src:
                require(checks.number(insn.src, src))
            regs[d] = relations.after_alu(code, is64, src,
                                          src, _number(numeric.truncate32(src.value)))
        return
    if code == op.ALU_END:
        require(checks.number(d, dst))
        to_big = insn.source == op.END_TO_BE
        if is64:  # bswap: always swaps
            to_big = not options.big_endian
        regs[d] = _number(numeric.byteswap(dst.value, insn.imm, to_big, options.big_endian))
        return
    if code == op.ALU_NEG:
        require(checks.number(d, dst))
        regs[d] = _number(numeric.neg(dst.value, is64))
        return
    name = ALU_NAMES.get(code, "")
    if code in (op.ALU_DIV, op.ALU_MOD) and insn.off == op.ALU_SIGNED_OFFSET:
        name = "s" + name
    if code in (op.ALU_ADD, op.ALU_SUB) and not (dst.is_number and src.is_number):
        if (code == op.ALU_ADD and use_src and src.types & POINTER_TYPES
                and not dst.is_number):
            raise Failed(log.add_pointers(insn.src, d))
        # A function's address names the function: no arithmetic on it (callbacks
        # are known functions). A map (or program map) is a handle: none on it either.
        if dst.only == FUNC or (use_src and src.only == FUNC):
            raise Failed(log.invalid_type(d if dst.only == FUNC else insn.src,
                                          ARITH_TYPE_TEXT))
        if dst.types & NO_ARITH_TYPES:
            raise Failed(log.invalid_type(d, ARITH_TYPE_TEXT))
        if use_src and src.types & NO_ARITH_TYPES:
            raise Failed(log.invalid_type(insn.src, ARITH_TYPE_TEXT))
        if use_src and code == op.ALU_SUB and not src.is_number:
            if _regions(src.types) != _regions(dst.types):
                raise Failed(log.subtract_pointers("different", insn.src, d))
            if not _regions(src.types) <= {NUMBER, CTX, STACK, PACKET}:
                raise Failed(log.subtract_pointers("non-singleton", insn.src, d))
        if use_src and UNINIT in src.types:
            raise Failed(log.invalid_type(insn.src, ARITH_TYPE_TEXT))
        if UNINIT in dst.types:  # arithmetic on a register nothing was written to
            raise Failed(log.invalid_type(d, ARITH_TYPE_TEXT))
        if options.ctx is not None:
            _real_pointer_arith(code, d, dst, src, use_src)
        if options.ctx is not None and (dst.types | src.types) & NULLABLE_TYPES and (
                (dst.value.u.contains(0) and dst.types & NULLABLE_TYPES)
                or (src.value.u.contains(0) and src.types & NULLABLE_TYPES)):
            raise Failed(log.nullable_arithmetic(d))
        if is64:
            regs[d] = pointer_arith(code, dst, src, state, pc if use_src else -1)
        elif code == op.ALU_SUB and use_src and not src.is_number:
            # ``w1 -= w2`` of two pointers into one region: the low half of their
            # distance (the addresses' low halves differ by the distance mod 2**32)
            diff = pointer_arith(code, dst, src, state)
            regs[d] = _number(numeric.truncate32(diff.value))
        elif dst.types <= POINTER_TYPES and src.is_number:
            # A truncated pointer: neither a pointer one may use nor a number one may leak.
            regs[d] = RegValue(dst.types | {NUMBER}, numeric.TOP32)
        else:
            require(checks.number(insn.src, src) if use_src else None)
            require(checks.number(d, dst))
        return
    if use_src:
        if code in (op.ALU_DIV, op.ALU_MOD):
            require(checks.divisor(insn.src, src, is64, options.allow_division_by_zero))
        else:
            require(checks.number(insn.src, src))
    require(checks.number(d, dst))
    regs[d] = relations.after_alu(code, is64, dst, src,
                                  _number(numeric.binary(name, dst.value, src.value, is64)))


def _real_pointer_arith(code: int, d: int, dst: RegValue, src: RegValue,
                        use_src: bool) -> None:
    """What Linux refuses of pointer arithmetic, for real programs: on map pointers
    (a helper would get a map that is none), and pointer + pointer."""
    maps = frozenset({MAP_FD, MAP_FD_PROGRAMS})
    if (dst.types | (src.types if use_src else frozenset())) & maps:
        raise Failed(log.map_pointer_arithmetic(d))
    if (code == op.ALU_ADD and use_src and dst.types & POINTER_TYPES
            and src.types & POINTER_TYPES):
        raise Failed(log.pointer_plus_pointer(d))


def _regions(types: frozenset[str]) -> frozenset[str]:
    """Types as regions: the packet's end is a pointer into the packet."""
    return frozenset(PACKET if t == PACKET_END else t for t in types)


def pointer_arith(code: int, dst: RegValue, src: RegValue, state: State,
                  pc: int = -1) -> RegValue:
    """``pc`` (when a register is added to a packet pointer) names the new variable
    the result's offset is."""
    if code == op.ALU_ADD and dst.is_number and src.only is not None:
        dst, src = src, dst
    if dst.only == PACKET_END and src.is_number:
        # The end moved: a pointer into the packet at packet_size (as PREVAIL models the
        # end), no longer the end a bounds check may compare against.
        dst = RegValue(frozenset({PACKET}), dst.value, state.packet_size)
    if code == op.ALU_ADD:
        if src.is_number and dst.only is not None:
            sym = None
            step = src.value.s.singleton
            at = dst.offset.s.singleton
            if dst.only == PACKET and pc >= 0 and src.sym is not None and at is not None:
                sym = (src.sym[0], src.sym[1] + at)  # the offset is the number's variable
            elif dst.only == PACKET and pc >= 0:  # a register added: a new variable
                state.forget_sym(pc)
                sym = (pc, 0)
            elif dst.only == PACKET and step is not None and dst.sym is not None:
                sym = (dst.sym[0], dst.sym[1] + step)
            # a pointer that cannot be null (stack, packet, context) stays non-null: an
            # access through it is checked against its region, not its address
            value = (numeric.binary("add", dst.value, src.value)
                     if dst.types & NULLABLE_TYPES else dst.value)
            out = RegValue(dst.types, value, numeric.binary("add", dst.offset, src.value),
                           dst.region_size, dst.map_fd, sym)
            past = relations.slack(state, dst, src.room)
            if past is not None and sym is not None and pc >= 0:
                _add_range(state, out, past)  # start + len lies at or before the end
            return out
        if src.is_number and dst.types <= POINTER_TYPES:
            return RegValue(dst.types, TOP, TOP)  # several regions: the offset is lost
        return RegValue.number()
    if src.is_number and dst.only is not None and dst.sym is not None and (
            src.value.s.singleton is not None):
        return RegValue(dst.types, numeric.binary("sub", dst.value, src.value),
                        numeric.binary("sub", dst.offset, src.value),
                        dst.region_size, dst.map_fd,
                        (dst.sym[0], dst.sym[1] - src.value.s.singleton))
    if src.is_number and dst.only is not None:
        return RegValue(dst.types, numeric.binary("sub", dst.value, src.value),
                        numeric.binary("sub", dst.offset, src.value),
                        dst.region_size, dst.map_fd)
    if src.is_number and dst.types <= POINTER_TYPES:
        return RegValue(dst.types, TOP, TOP)
    if dst.only is not None and dst.types == src.types:
        return RegValue.number(numeric.binary("sub", dst.offset, src.offset))
    if dst.only == PACKET_END and src.only == PACKET:
        return RegValue.number(numeric.binary("sub", state.packet_size, src.offset)
                               ).with_facts(relations.length(state, src), None)
    return RegValue.number()


# Memory -------------------------------------------------------------------------------------


def memory(state: State, insn: Instruction, options: Options) -> None:
    cls = insn.insn_class
    width = WIDTHS[insn.mem_size]
    regs = state.regs
    if cls == op.CLASS_LDX:
        base_reg, write = insn.src, False
    else:
        base_reg, write = insn.dst, True
    base = regs[base_reg]
    require(checks.memory_base(base_reg, base))
    atomic = cls == op.CLASS_STX and insn.mode == op.MODE_ATOMIC
    if cls == op.CLASS_STX:
        value = regs[insn.src]
        if atomic:
            require(checks.number(insn.src, value))
        else:
            require(checks.stored_value(base_reg, base, insn.src, value, width))
    require(checks.bounds(base_reg, base, insn.off, width, write, state.packet_size,
                          state.meta_offset, options.stack_size, _range_of(state, base),
                          _one_frame(options), options.ctx_size,
                          stack_floor(state, options)))
    ctx = options.ctx
    if ctx is None and write and CTX in base.types and not base.offset.bottom:
        lo = base.offset.s.lo + insn.off
        hi = base.offset.s.hi + insn.off + width
        if any(lo < slot + CTX_POINTER_WIDTH and slot < hi for slot in CTX_POINTERS):
            # Part of a pointer field, or maybe: a later load would trust what it holds.
            raise Failed(log.ctx_pointer_write(log.access_text(base_reg, insn.off, width,
                                                               True)))
    ctx_pointers = CTX_POINTERS if ctx is None else ctx.pointers
    pointer_width = CTX_POINTER_WIDTH if ctx is None else ctx.pointer_width
    if ctx is not None and CTX in base.types:
        _check_ctx_access(ctx, base_reg, base, insn.off, width, write, atomic)
    field_at = base.offset.s.singleton if base.only == CTX else None
    if field_at is not None and field_at + insn.off in ctx_pointers:
        kind = ctx_pointers[field_at + insn.off]
        if write:
            raise Failed(log.ctx_pointer_write(log.access_text(base_reg, insn.off, width, True)))
        if cls == op.CLASS_LDX and width == pointer_width:
            offset_value = (Scalar.const(0) if kind == PACKET else
                            state.meta_offset if kind in ("meta", PACKET_META) else TOP)
            regs[insn.dst] = RegValue(frozenset({PACKET_END if kind == PACKET_END
                                                 else PACKET}),
                                      POINTER_VALUE, offset_value)
            return
    if cls == op.CLASS_LDX and base.only == CTX:
        lo = base.offset.s.lo + insn.off
        hi = base.offset.s.hi + insn.off + width
        if any(lo < slot + pointer_width and slot < hi for slot in ctx_pointers):
            # Part of a pointer field, or maybe one: not a number one may publish.
            regs[insn.dst] = RegValue(frozenset({NUMBER, PACKET}))
            return
    where = base.offset.s.singleton if base.only == STACK else None
    offset = where + insn.off if where is not None else None
    if cls == op.CLASS_LDX:
        if offset is not None:
            loaded = state.stack.load(offset, width)
            if loaded.is_number and width < 8:
                loaded = RegValue.number(loaded.value.meet(
                    Scalar.from_unsigned(0, (1 << (8 * width)) - 1)))
                if loaded.value.bottom:
                    loaded = RegValue.number(Scalar.from_unsigned(0, (1 << (8 * width)) - 1))
            if insn.mode == op.MODE_MEMSX:
                loaded = RegValue.number(numeric.movsx(loaded.value, 8 * width))
            regs[insn.dst] = loaded
        else:
            lo = base.offset.s.lo + insn.off
            hi = base.offset.s.hi + insn.off + width
            if base.only == STACK and not (
                    state.stack.all_numeric(lo, hi) if options.ctx is None else not any(
                        k[0] < hi and lo < k[0] + k[1] and not v.is_number
                        for k, v in state.stack.cells.items())):
                # Somewhere in a range: every byte it may read must hold a number (a
                # real program, as Linux lets a privileged one, may read bytes nothing
                # wrote -- the VM's stack is its own -- but never a spilled pointer)
                raise Failed(log.stack_not_numeric(log.access_text(base_reg, insn.off, width,
                                                                   False)))
            top = Scalar.from_unsigned(0, (1 << (8 * width)) - 1)
            if insn.mode == op.MODE_MEMSX:
                top = numeric.movsx(TOP, 8 * width)
            regs[insn.dst] = RegValue.number(top)
        return
    if base.only != STACK:
        if atomic:
            atomic_result(state, insn, width)
        return
    if offset is None:
        lo = max(0, base.offset.s.lo + insn.off)
        hi = min(options.stack_size, base.offset.s.hi + insn.off + width)
        stored_number = not atomic and (cls == op.CLASS_ST or regs[insn.src].is_number)
        spilled = any(k[0] < hi and lo < k[0] + k[1] and not v.is_number
                      for k, v in state.stack.cells.items())
        if stored_number and not spilled:
            # a number somewhere in bytes holding no pointer: each byte holds a number
            # now or what it held (as Linux marks them STACK_MISC), values unknown
            state.stack.mark_numeric(lo, hi)
        else:
            state.stack.havoc(lo, hi)
        return
    if atomic:
        state.stack.mark_numeric(offset, offset + width)
        atomic_result(state, insn, width)
        return
    if cls == op.CLASS_ST:
        mask = (1 << (8 * width)) - 1
        state.stack.store(offset, width, RegValue.number(Scalar.const(insn.imm & mask)))
    else:
        value = regs[insn.src]
        if width < 8 and value.is_number:
            value = RegValue.number(value.value if value.value.u.hi < (1 << (8 * width))
                                    else Scalar.from_unsigned(0, (1 << (8 * width)) - 1))
        elif width < 8:
            value = RegValue.number(Scalar.from_unsigned(0, (1 << (8 * width)) - 1))
        if value.stack_run is not None:  # a run is a fact about registers only
            value = value.with_facts(value.room, None)
        state.stack.store(offset, width, value)


def name_result(state: State, insn: Instruction, pc: int, before: State) -> None:
    """A number an ALU or load instruction makes becomes the variable named ``pc`` (moves
    keep the variable they copy, adding a constant keeps it at another distance), so
    packet pointers offset by it can share ranges."""
    cls = insn.insn_class
    if insn.opcode in (op.OPCODE_CALL, op.OPCODE_CALLX):
        result = state.regs[0]
        if result.types & NULLABLE_TYPES or result.types == {MAP_FD} or result.is_number:
            # copies of the result share its null checks (and a number's bounds)
            state.forget_sym(pc)
            state.regs[0] = result.with_sym((pc, 0))
        return
    if cls not in (op.CLASS_ALU, op.CLASS_ALU64, op.CLASS_LDX):
        return
    if cls != op.CLASS_LDX and insn.operation == op.ALU_MOV and insn.source == op.SRC_X \
            and not insn.off and cls == op.CLASS_ALU64:
        return
    value = state.regs[insn.dst]
    old = before.regs[insn.dst]
    if (cls == op.CLASS_ALU64 and insn.operation in (op.ALU_ADD, op.ALU_SUB)
            and insn.source == op.SRC_K and value.is_number and old.is_number
            and old.sym is not None and abs(insn.imm) < (1 << 31)
            and old.value.s.lo >= -(1 << 62) and old.value.s.hi <= (1 << 62)):
        step = insn.imm if insn.operation == op.ALU_ADD else -insn.imm
        state.regs[insn.dst] = value.with_sym((old.sym[0], old.sym[1] + step))
        return
    if value.is_number:
        state.forget_sym(pc)
        state.regs[insn.dst] = value.with_sym((pc, 0))


def _range_of(state: State, value: RegValue) -> int | None:
    """The bytes known past a packet pointer's offset from its variable's range."""
    if value.sym is None or value.sym[0] not in state.ranges:
        return None
    return state.ranges[value.sym[0]] - value.sym[1]


def _check_ctx_access(ctx: CtxModel, reg: int, base: RegValue, off: int, width: int,
                      write: bool, atomic: bool) -> None:
    """A context access must fall inside one field the program may read (or write)."""
    access = log.access_text(reg, off, width, write)
    if base.only != CTX:
        raise Failed(log.invalid_type(reg, "== ctx"))
    at = base.offset.s.singleton
    if at is None:
        raise Failed(log.ctx_variable_offset(ctx.name, access))
    if at != 0:  # as Linux: the context is read through the pointer the program got
        raise Failed(log.ctx_modified(ctx.name, access))
    lo, hi = at + off, at + off + width
    if lo < 0 or hi > ctx.size:
        raise Failed(log.upper_bound(f"sizeof({ctx.name}) = {ctx.size}", access) if lo >= 0
                     else log.lower_bound("0", access))
    if atomic:
        raise Failed(log.ctx_bad_field(ctx.name, access))
    if not ctx.covers(ctx.writable if write else ctx.readable, lo, hi):
        raise Failed(log.ctx_bad_field(ctx.name, access))


def _one_frame(options: Options) -> int:
    """Real programs: the frame size no access may cross (as Linux checks each frame
    apart); 0 for the YAML cases, whose stack PREVAIL checks as one."""
    return options.frame_size if options.ctx is not None else 0


def stack_floor(state: State, options: Options) -> int:
    """The lowest stack offset the current frame may touch (0 when unknown or when frames
    are not laid out on one stack)."""
    r10 = state.regs[10]
    if not options.frame_size or r10.only != STACK or r10.offset.bottom:
        return 0
    return max(0, r10.offset.s.lo - options.frame_size)


def atomic_result(state: State, insn: Instruction, width: int) -> None:
    top = Scalar.from_unsigned(0, (1 << (8 * width)) - 1)
    if insn.imm == op.ATOMIC_CMPXCHG:
        state.regs[0] = RegValue.number(top)
    elif insn.imm & op.ATOMIC_FETCH:
        state.regs[insn.src] = RegValue.number(top)


# Branches -----------------------------------------------------------------------------------


def condition_text(dst: int, cond: str, src: int | None, imm: int, is64: bool) -> str:
    right = f"r{src}" if src is not None else str(imm)
    return f"r{dst} {cond if is64 else 'w' + cond} {right}"


def assume(state: State, dst: int, cond: str, src: int | None, imm: int,
           is64: bool) -> State | None:
    """The state where the condition holds, or None when it cannot."""
    a = state.regs[dst]
    b = state.regs[src] if src is not None else RegValue.number(
        Scalar.const(imm if is64 else imm & numeric.MASK32))
    if not is64 and src is None:
        b = RegValue.number(Scalar.const(imm & numeric.MASK32 if imm >= 0 else imm))
    out = state.copy()
    if src == dst and a.only is not None:
        return None if cond in ("!=", "<", ">", "s<", "s>") else out
    if MAP_FD in a.types and cond not in ("==", "!="):
        raise Failed(log.invalid_type(dst, ARITH_TYPE_TEXT))
    if a.types == {MAP_FD} and b.is_number and src is None and cond in ("==", "!="):
        na, _nb = numeric.refine(a.value, b.value, cond, is64)
        if na.bottom:
            return None
        out.regs[dst] = RegValue(a.types, na, a.offset, a.region_size, a.map_fd, a.sym)
        if a.sym is not None:
            _refine_copies(out, a, na)
        return out
    if a.types == {MAP_FD} and b.types == {MAP_FD}:
        na, nb = numeric.refine(a.map_fd, b.map_fd, cond, True)
        return None if na.bottom else out
    if (a.types <= POINTER_TYPES and b.is_number) or (
            a.is_number and b.types <= POINTER_TYPES):
        pointer = dst if a.types <= POINTER_TYPES else src
        if cond.startswith("s") or not is64:
            raise Failed(log.must_be_number(pointer if pointer is not None else dst))
        if src is not None:
            return out
        na, nb = numeric.refine(a.value, b.value, cond, is64)
        if na.bottom:
            return None
        out.regs[dst] = RegValue(a.types, na, a.offset, a.region_size, a.map_fd, a.sym)
        out.refs = references.after_null_test(a, out.regs[dst], out.refs)
        if src is not None:
            out.regs[src] = RegValue(b.types, nb, b.offset, b.region_size, b.map_fd, b.sym)
        if a.sym is not None and a.types & NULLABLE_TYPES:
            _refine_copies(out, a, na)
        return out
    if a.is_number and b.is_number:
        na, nb = numeric.refine(a.value, b.value, cond, is64)
        if na.bottom:
            return None
        out.regs[dst] = RegValue.number(na).with_sym(a.sym).with_facts(a.room, a.stack_run)
        relations.share(out, a, out.regs[dst])
        if src is not None:
            out.regs[src] = RegValue.number(nb).with_sym(b.sym).with_facts(b.room,
                                                                          b.stack_run)
            relations.share(out, b, out.regs[src])
        if not (relations.learn_bound(out, out.regs[dst])
                and (src is None or relations.learn_bound(out, out.regs[src]))):
            return None
        if src is not None and is64:
            relations.compare(out, dst, cond, src)
        return out
    if a.only is not None and a.only == b.only and a.only in SINGLE_REGIONS and is64:
        # Addresses in one region compare as their offsets do, as signed numbers: an
        # offset may be negative (data - 1) without the address wrapping around.
        signed = cond if cond.startswith("s") or cond in ("==", "!=") else "s" + cond
        na, nb = numeric.refine(a.offset, b.offset, signed, True)
        if na.bottom:
            return None
        out.regs[dst] = RegValue(a.types, a.value, na, a.region_size, a.map_fd, a.sym)
        if src is not None:
            out.regs[src] = RegValue(b.types, b.value, nb, b.region_size, b.map_fd, b.sym)
        return out
    if a.only == PACKET and b.only == PACKET_END and is64:
        # data + off <= data_end (or < ): the packet holds at least off bytes.
        if cond in ("<=", "<", "s<=", "s<"):
            extra = 1 if cond.endswith("<") else 0
            out.packet_size = out.packet_size.meet(
                Scalar.from_unsigned(max(0, a.offset.s.lo + extra), numeric.UMAX64))
            if out.packet_size.bottom:
                return None
            _add_range(out, a, extra)
        return out
    if b.only == PACKET and a.only == PACKET_END and is64 and cond in (">=", ">", "s>=", "s>"):
        extra = 1 if cond.endswith(">") else 0
        out.packet_size = out.packet_size.meet(
            Scalar.from_unsigned(max(0, b.offset.s.lo + extra), numeric.UMAX64))
        _add_range(out, b, extra)
        return None if out.packet_size.bottom else out
    return out


#: Pointer types a helper may return as null.
NULLABLE_TYPES = frozenset({SHARED, SOCKET, ALLOC_MEM})


def _refine_copies(state: State, checked: RegValue, value: Scalar) -> None:
    """A null check of one copy of a helper's result refines every copy of it (same
    variable, same type) in the registers and the stack; a null record is no
    reference to release."""
    null = value.u.singleton == 0
    if checked.sym is not None and null:
        state.refs = state.refs - {checked.sym[0]}

    def refined(v: RegValue) -> RegValue:
        return RegValue(v.types, v.value.meet(value), v.offset, v.region_size, v.map_fd,
                        v.sym)

    for r, v in enumerate(state.regs):
        if v.sym == checked.sym and v.types == checked.types:
            state.regs[r] = refined(v)
    cells = state.stack.cells
    for key, v in list(cells.items()):
        if v.sym == checked.sym and v.types == checked.types:
            cells[key] = refined(v)


def _add_range(state: State, pointer: RegValue, extra: int) -> None:
    """``pointer (+ extra) <= packet end`` holds: record it for its variable."""
    if pointer.sym is not None:
        sym_id, k = pointer.sym
        state.ranges[sym_id] = max(state.ranges.get(sym_id, k + extra), k + extra)


def branch(state: State, insn: Instruction, edge: Edge) -> tuple[State | None, str]:
    cond = JMP_OPS[insn.operation]
    if edge.kind == "fallthrough":
        cond = numeric.NEGATION[cond]
    src = insn.src if insn.source == op.SRC_X else None
    is64 = insn.insn_class == op.CLASS_JMP
    text = condition_text(insn.dst, cond, src, insn.imm, is64)
    return assume(state, insn.dst, cond, src, insn.imm, is64), text


def assume_pseudo(state: State, a: Assume) -> State | None:
    return assume(state, a.dst, a.op, a.src, a.imm, a.is64)


# Calls and lddw -----------------------------------------------------------------------------


def map_shape(options: Options, fds: Scalar, smallest: bool = False) -> MapShape:
    """The shape of the map ``fds`` names. When it may name several, the largest key and
    value (what a helper reads must fit all of them) or, with ``smallest``, the smallest
    (the value a lookup returns may be from any of them)."""
    fd = fds.u.singleton
    if fd is not None:
        return options.maps.get(fd, options.default_map)
    shapes = [m for i, m in options.maps.items() if fds.u.lo <= i <= fds.u.hi]
    if not shapes or options.ctx is None:  # the YAML cases: any fd is the default map
        shapes = [*options.maps.values(), options.default_map]
    pick = min if smallest else max
    return MapShape(pick(m.key_size for m in shapes), pick(m.value_size for m in shapes))


def helper_id(state: State, insn: Instruction, options: Options | None = None) -> int:
    """The internal id of the helper a ``call``/``callx`` names, or raise."""
    if insn.opcode == op.OPCODE_CALL:
        if options is not None and insn.imm in options.own_helpers:
            return insn.imm
        if helper_by_internal(insn.imm) is None:
            raise Failed(log.invalid_helper(insn.imm))
        return insn.imm
    reg = insn.dst
    target = state.regs[reg]
    require(checks.number(reg, target))
    found = target.value.u.singleton
    if found is None:
        raise Failed(log.callx_not_singleton(reg))
    if prototype(found) is None:
        raise Failed(log.invalid_helper(found, reg))
    return found


def check_arguments(state: State, proto: Prototype, options: Options) -> None:
    """Check r1..r5 against the prototype, in order; the first failure ends the path."""
    regs = state.regs
    for index, kind in enumerate(proto.args):
        reg = index + 1
        value = regs[reg]
        if kind in (Arg.ANYTHING, Arg.CONST_SIZE, Arg.CONST_SIZE_OR_ZERO):
            continue  # sizes are checked with their memory argument
        if kind == Arg.SCALAR:
            require(checks.number(reg, value))
        elif kind in (Arg.CONST_MAP_PTR, Arg.PROG_ARRAY_PTR):
            require(checks.map_argument(reg, value, kind == Arg.PROG_ARRAY_PTR))
            if (options.ctx is not None and kind == Arg.PROG_ARRAY_PTR
                    and value.types != {MAP_FD_PROGRAMS}):
                raise Failed(log.invalid_type(reg, "== map_fd_programs"))
            if options.ctx is not None and value.value.u.contains(0):
                raise Failed(log.possible_null(f"r{reg} as a map"))
        elif kind == Arg.PTR_TO_CTX:
            require(checks.single_type(reg, value, CTX))
            if options.ctx is not None and value.offset.s.singleton != 0:
                raise Failed(log.ctx_modified(options.ctx.name, f"r{reg} as an argument"))
        elif kind == Arg.PTR_TO_SOCKET:
            require(checks.single_type(reg, value, SOCKET))
        elif kind == Arg.PTR_TO_ALLOC_MEM:
            require(checks.single_type(reg, value, ALLOC_MEM))
            if options.track_references:
                ref = references.reference_of(value)
                state.refs, problem = references.release(regs, state.refs, reg)
                require(problem)
                for lo, width in references.released_cells(state.stack.cells, ref or 0):
                    state.stack.havoc(lo, lo + width)
        elif kind == Arg.PTR_TO_FUNC:
            # a static function's address (``lddw`` of a code address): the analysis
            # calls it back (verifier.callbacks)
            if value.types != {FUNC}:
                raise Failed(log.callback_not_function(reg))
        elif kind == Arg.PTR_TO_SPIN_LOCK:
            # the lock field of a map value: 4 bytes the helper writes
            require(locks.pointer_text(reg, value, options))
            require(checks.helper_memory(reg, value, 4, f"r{reg} as a spin lock", True, False,
                                         state.stack.numeric, state.packet_size,
                                         state.meta_offset, options.stack_size,
                                         _one_frame(options), stack_floor(state, options)))
        elif kind.is_map_region:
            require(checks.helper_memory_type(reg, value))
            shape = map_shape(options, regs[1].map_fd)
            key = kind == Arg.PTR_TO_MAP_KEY
            size = shape.key_size if key else shape.value_size
            write = kind == Arg.PTR_TO_UNINIT_MAP_VALUE
            where = log.within(reg, "key_size" if key else "value_size")
            require(checks.helper_memory(reg, value, size, where, write, True,
                                         state.stack.numeric, state.packet_size,
                                         state.meta_offset, options.stack_size,
                                         _one_frame(options), stack_floor(state, options)))
            if write:
                _written(state, value, size)
        elif kind.is_memory:
            size_at = size_argument(proto, index)
            if kind == Arg.PTR_TO_MEM_OR_NULL and value.is_number:
                require(None if value.value.value == 0 else
                        log.invalid_type(reg, checks.HELPER_MEMORY_TEXT))
                continue
            if value.only != ALLOC_MEM:  # a ring buffer record is memory too
                require(checks.helper_memory_type(reg, value))
            if size_at is None:
                continue
            size_reg = size_at + 1
            size_value = regs[size_reg]
            require(checks.size_argument(size_reg, size_value,
                                         proto.args[size_at] == Arg.CONST_SIZE_OR_ZERO))
            size = min(size_value.value.u.hi, numeric.UMAX64)
            write = kind == Arg.PTR_TO_UNINIT_MEM
            where = f"valid_access(r{reg}.offset, width=r{size_reg}) for " + (
                "write" if write else "read")
            # a size related to the pointer: the room past a packet pointer it was
            # computed from, or the bytes of a stack run it counts
            known = size if (relations.fits(state, value, size_value) if value.only == PACKET
                             else not write and relations.stack_known(state, value,
                                                                      size_value)) else None
            require(checks.helper_memory(reg, value, size, where, write, False,
                                         state.stack.numeric, state.packet_size,
                                         state.meta_offset, options.stack_size,
                                         _one_frame(options), stack_floor(state, options),
                                         known))
            if write:
                _written(state, value, size)


def _written(state: State, value: RegValue, size: int) -> None:
    """A helper filled ``size`` bytes at ``value``: on the stack they now hold numbers."""
    if value.only != STACK:
        return
    start = value.offset.s.singleton
    if start is not None:
        state.stack.mark_numeric(start, start + size)
    else:
        state.stack.havoc(max(0, value.offset.s.lo),
                          min(checks.STACK_SIZE, value.offset.s.hi + size))


def helper_result(state: State, proto: Prototype, options: Options) -> RegValue:
    ret = proto.ret
    fds = state.regs[1].map_fd.u
    candidates = [i for i in options.maps if fds.lo <= i <= fds.hi]
    if ret == Ret.MAP_VALUE_OR_NULL and candidates and all(
            i in options.inner_maps for i in candidates):
        # a map of maps gives an inner map, or null
        inner = [options.inner_maps[i] for i in candidates]
        return RegValue(frozenset({MAP_FD}), NULLABLE_VALUE, TOP, TOP,
                        Scalar.from_unsigned(min(inner), max(inner)))
    if ret == Ret.MAP_VALUE_OR_NULL:
        shape = map_shape(options, state.regs[1].map_fd, smallest=True)
        # the value keeps its map (its spin lock's place; see verifier.locks)
        return RegValue(frozenset({SHARED}), NULLABLE_VALUE, Scalar.const(0),
                        Scalar.const(shape.value_size), state.regs[1].map_fd)
    if ret == Ret.SOCKET_OR_NULL:
        return RegValue(frozenset({SOCKET}), NULLABLE_VALUE, Scalar.const(0))
    if ret == Ret.ALLOC_MEM_OR_NULL:
        size = state.regs[2]
        return RegValue(frozenset({ALLOC_MEM}), NULLABLE_VALUE, Scalar.const(0),
                        size.value if size.is_number else TOP)
    return RegValue.number()


def helper_call(state: State, insn: Instruction, options: Options | None = None,
                pc: int = 0) -> None:
    """A helper call: the arguments checked against the helper's prototype (from the
    helper registry), r1-r5 clobbered, r0 typed by the prototype's return kind; a record
    a helper reserves (at slot ``pc``) is a reference to release."""
    options = options or Options()
    result = RegValue.number()
    if insn.opcode == op.OPCODE_CALLX or insn.source == 0:
        hid = helper_id(state, insn, options)
        found = prototype(hid)
        named = helper_by_internal(hid) if hid not in options.own_helpers else None
        name = named.name if named is not None else None
        require(locks.call_text(state, name))
        if found is not None:
            check_arguments(state, found, options)
            if name == "spin_lock":
                require(locks.acquire(state, state.regs[1]))
            elif name == "spin_unlock":
                require(locks.release(state, state.regs[1]))
            result = helper_result(state, found, options)
            if found.ret == Ret.ALLOC_MEM_OR_NULL and options.track_references:
                result, problem = references.acquire(result, state.refs, pc)
                require(problem)
                state.refs = state.refs | {pc}
        elif hid in options.unprototyped_refused:
            known = helper_by_internal(hid)
            raise Failed(log.helper_without_prototype(known.name if known else str(hid)))
        else:  # an opaque helper may fill the stack it is given (with numbers)
            for r in range(1, 6):
                arg = state.regs[r]
                if options.ctx is not None and arg.only == CTX and (
                        arg.offset.s.singleton != 0):
                    raise Failed(log.ctx_modified(options.ctx.name, f"r{r} as an argument"))
                if arg.only == STACK and not arg.offset.bottom:
                    lo = max(0, arg.offset.s.lo)
                    frame = options.frame_size
                    end = (lo // frame + 1) * frame if frame else options.stack_size
                    state.stack.mark_numeric(lo, min(end, options.stack_size))
        known = helper_by_internal(hid)
        if known is not None and known.name in CHANGES_PACKET_DATA:
            invalidate_packet(state)
    for r in range(1, 6):
        state.regs[r] = UNINIT_VALUE
    state.regs[0] = result


def invalidate_packet(state: State) -> None:
    """The packet may have moved: every packet pointer (in registers or spilled) is
    stale, and what was known of the packet's size is gone."""
    stale = frozenset({PACKET, PACKET_END, PACKET_META})
    for r, v in enumerate(state.regs):
        if v.types & stale:
            state.regs[r] = UNINIT_VALUE
    for (off, width), v in list(state.stack.cells.items()):
        if v.types & stale:
            state.stack.havoc(off, off + width)
    state.packet_size = Scalar.from_unsigned(0, 0xFFFF)
    state.ranges.clear()
    relations.forget_packet(state)


def lddw(state: State, insn: Instruction, resolved: RegValue | None = None) -> None:
    if resolved is not None:
        state.regs[insn.dst] = resolved
    elif insn.src in (op.PSEUDO_MAP_FD, op.PSEUDO_MAP_IDX):
        state.regs[insn.dst] = RegValue(frozenset({MAP_FD}), TOP, BOTTOM, TOP,
                                        Scalar.const(insn.imm))
    else:
        state.regs[insn.dst] = RegValue.number(Scalar.const(insn.imm64))


def legacy_packet_load(state: State, insn: Instruction) -> None:
    """``r0 = *(u16 *)skb[r7 + 4]`` (LD_ABS / LD_IND): r6 must be the context; the load
    is checked at run time (out of the packet ends the program with 0); r1-r5 are
    clobbered as by a call."""
    require(checks.single_type(6, state.regs[6], "ctx"))
    if insn.mode == op.MODE_IND:
        require(checks.number(insn.src, state.regs[insn.src]))
    width = WIDTHS[insn.mem_size]
    for r in range(1, 6):
        state.regs[r] = UNINIT_VALUE
    state.regs[0] = RegValue.number(Scalar.from_unsigned(0, (1 << (8 * width)) - 1))


def is_conditional_jump(insn: Instruction) -> bool:
    return is_conditional(insn)


__all__ = ["TEST_MAP", "CtxModel", "Failed", "MapShape", "Options", "State"]
