"""Soundness fuzzing: every program the verifier accepts must run without a bounds violation.

Programs come from a generator biased towards what real programs do (packet bounds
checks then loads, spills and fills, map lookups with and without null checks, pointer
arithmetic, loops, helpers with stack buffers, 32-bit ops, local calls) and from
mutations of programs (the YAML cases' code and the generated ones). Each program is
verified under one pre-state (:func:`pre_state`); each accepted one runs in the VM with
bounds checking on, several times, over random inputs laid out as the pre-state says:

- r1 points to a 64-byte context whose 32-bit fields at 0 and 4 hold the packet's start
  and end (the verifier's XDP-like test context), the rest random bytes;
- the packet (random length, random bytes), the context, map values and a ring buffer
  record live in memory below 2 GiB (``MAP_32BIT``), where the 32-bit fields can name
  them and where the verifier assumes pointers lie;
- each map fd a program loads stands for a real map (:class:`FuzzMap`) with random
  contents; the helpers are Python functions that check every pointer argument against
  the memory the run may touch, as the VM checks loads and stores;
- a short prologue (not verified) records r10 so the helpers know where the stack is.

A ``VmError`` with ``EFAULT`` (or a helper argument outside the run's memory) on an
accepted program is a verifier bug. ``python3 -m libbpf_compat.verifier.fuzz
--iterations N`` runs a long campaign; ``LBC_FUZZ_ITERATIONS`` sizes the test suite's.
"""

from __future__ import annotations

import argparse
import ctypes
import errno
import mmap
import random
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from libbpf_compat import isa
from libbpf_compat.errors import LibbpfError
from libbpf_compat.helpers.ids import helper_by_name
from libbpf_compat.helpers.native import c_helper
from libbpf_compat.helpers.prototypes import PROTOTYPES, Arg, Prototype, Ret, size_argument
from libbpf_compat.isa import Instruction
from libbpf_compat.isa import opcodes as op
from libbpf_compat.verifier.analysis import AnalysisResult, analyze, initial_state
from libbpf_compat.verifier.cases import parse_pre
from libbpf_compat.verifier.transfer import MapShape, Options
from libbpf_compat.vm import Vm, VmError

CTX_SIZE = 64
FRAME_SIZE = 512
STACK_TOTAL = 4096
PAGE = 4096
PACKET_MAX = 0xFFFF
RECORD_SIZE = 16  # the one ring buffer record size reserve hands out
BUDGET = 200_000
#: The maps fds stand for: fd -> (key size, value size). Other fds are TEST_MAP-shaped.
MAPS: dict[int, MapShape] = {1: MapShape(4, 4), 2: MapShape(4, 8), 3: MapShape(8, 16)}
MAX_ENTRIES = 4
MAX_MAPS = 16  # distinct fds one program may load (each map takes MAX_ENTRIES pages)
PROLOGUE_SLOTS = 4
#: helpers the runs use the runtime's C code for: they call the program's functions back
CALLBACK_HELPERS_RUN = ("loop",)

PRE_STATE = ["r1.type=ctx", "r1.ctx_offset=0", "r10.type=stack", "r10.stack_offset=4096"]


def pre_state() -> list[str]:
    """The pre-state every fuzzed program is verified under (as YAML lines)."""
    return list(PRE_STATE)


def options() -> Options:
    return Options(maps=dict(MAPS), ctx_size=CTX_SIZE)


# Memory below 2 GiB ------------------------------------------------------------------------

_MAP_32BIT = 0x40
_ARENA_PAGES = 128


class Arena:
    """Pages below 2 GiB, carved into fixed places: scratch, ctx, packet, map values."""

    def __init__(self) -> None:
        size = _ARENA_PAGES * PAGE
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mmap.restype = ctypes.c_void_p
        libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                              ctypes.c_int, ctypes.c_long]
        flags = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | _MAP_32BIT
        found = libc.mmap(None, size, mmap.PROT_READ | mmap.PROT_WRITE, flags, -1, 0)
        addr = int(found or 0)
        if addr in (0, ctypes.c_void_p(-1).value) or addr + size > 0x7FFF0000:
            raise LibbpfError(errno.ENOMEM, "cannot map memory below 2 GiB for the fuzzer")
        self.base: int = addr
        self.size = size
        self.scratch = addr                    # page 0: r10 at entry
        self.ctx = addr + 1 * PAGE             # page 1
        self.record = addr + 2 * PAGE          # page 2: the ring buffer record
        self.packet = addr + 4 * PAGE          # pages 4..20
        self.values = addr + 24 * PAGE         # pages 24..87: one page per map value

    def value_slot(self, index: int) -> int:
        return self.values + index * PAGE

    def view(self, address: int, size: int) -> memoryview:
        return memoryview((ctypes.c_char * size).from_address(address)).cast("B")

    def write(self, address: int, data: bytes) -> None:
        ctypes.memmove(address, data, len(data))

    def read(self, address: int, size: int) -> bytes:
        return ctypes.string_at(address, size)


_ARENA: Arena | None = None


def arena() -> Arena:
    global _ARENA
    if _ARENA is None:
        _ARENA = Arena()
    return _ARENA


# Maps ----------------------------------------------------------------------------------------


@dataclass
class FuzzMap:
    """A hash map with at most MAX_ENTRIES entries, each value in its own page."""

    fd: int
    shape: MapShape
    first_slot: int
    entries: dict[bytes, int] = field(default_factory=dict)  # key -> slot index

    def slot_address(self, i: int) -> int:
        return arena().value_slot(self.first_slot + i)

    def fill(self, rng: random.Random) -> None:
        self.entries.clear()
        keys = rng.sample(range(6), rng.randint(0, MAX_ENTRIES))
        for i, k in enumerate(keys):
            self.entries[k.to_bytes(self.shape.key_size, "little")] = i
            arena().write(self.slot_address(i), rng.randbytes(self.shape.value_size))

    def lookup(self, key: bytes) -> int:
        slot = self.entries.get(key)
        return 0 if slot is None else self.slot_address(slot)

    def update(self, key: bytes, value: bytes) -> int:
        slot = self.entries.get(key)
        if slot is None:
            free = set(range(MAX_ENTRIES)) - set(self.entries.values())
            if not free:
                return -errno.E2BIG
            slot = min(free)
            self.entries[key] = slot
        arena().write(self.slot_address(slot), value)
        return 0

    def delete(self, key: bytes) -> int:
        return 0 if self.entries.pop(key, None) is not None else -errno.ENOENT


# The run ---------------------------------------------------------------------------------------


class Violation(Exception):
    """A bounds violation in an accepted program."""


@dataclass
class RunContext:
    """What one run may touch, for the helpers' argument checks."""

    rng: random.Random
    maps: dict[int, FuzzMap]
    regions: list[tuple[int, int, bool]]  # (start, size, writable)
    record_out: bool = False

    frames: int = 1  # frames a helper may see: all of them when the program calls

    def stack(self) -> tuple[int, int]:
        top = struct.unpack("<Q", arena().read(arena().scratch, 8))[0]
        return top - FRAME_SIZE * self.frames, FRAME_SIZE * self.frames

    def check(self, address: int, size: int, write: bool, what: str) -> None:
        if size <= 0:
            return
        spans = [*self.regions, (*self.stack(), True)]
        for start, length, writable in spans:
            if start <= address and address + size <= start + length:
                if write and not writable:
                    break
                return
        raise Violation(f"{what}: {size} bytes at {address:#x} outside the run's memory")


def _mask(value: int) -> int:
    return value & ((1 << 64) - 1)


def make_helper(helper_id: int, proto: Prototype, ctx: RunContext) -> Callable[
        [int, int, int, int, int], int]:
    """A helper that checks its pointer arguments as the prototype says, then acts."""

    def fn(r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
        regs = (r1, r2, r3, r4, r5)
        fmap = None
        for index, kind in enumerate(proto.args):
            value = regs[index]
            where = f"{proto.name} arg {index + 1}"
            if kind in (Arg.CONST_MAP_PTR, Arg.PROG_ARRAY_PTR):
                fmap = ctx.maps.get(value)
                if fmap is None:
                    raise Violation(f"{where}: {value:#x} is not a map")
            if kind.is_map_region:
                if fmap is None:
                    raise Violation(f"{where}: no map in r1")
                size = (fmap.shape.key_size if kind == Arg.PTR_TO_MAP_KEY
                        else fmap.shape.value_size)
                ctx.check(value, size, kind == Arg.PTR_TO_UNINIT_MAP_VALUE, where)
            elif kind.is_memory:
                at = size_argument(proto, index)
                if kind == Arg.PTR_TO_MEM_OR_NULL and value == 0:
                    continue
                if at is not None:
                    ctx.check(value, regs[at], kind == Arg.PTR_TO_UNINIT_MEM, where)
            elif kind == Arg.PTR_TO_CTX:
                if value != arena().ctx:
                    raise Violation(f"{where}: {value:#x} is not the context")
            elif kind == Arg.PTR_TO_ALLOC_MEM:
                if value != arena().record or not ctx.record_out:
                    raise Violation(f"{where}: {value:#x} is not a reserved record")
                ctx.record_out = False
        return _act(helper_id, proto, ctx, fmap, regs)

    return fn


def _act(helper_id: int, proto: Prototype, ctx: RunContext, fmap: FuzzMap | None,
         regs: tuple[int, ...]) -> int:
    _, r2, r3, _, _ = regs
    if fmap is not None and proto.name == "map_lookup_elem":
        return fmap.lookup(arena().read(r2, fmap.shape.key_size))
    if fmap is not None and proto.name == "map_update_elem":
        return _mask(fmap.update(arena().read(r2, fmap.shape.key_size),
                                 arena().read(r3, fmap.shape.value_size)))
    if fmap is not None and proto.name == "map_delete_elem":
        return _mask(fmap.delete(arena().read(r2, fmap.shape.key_size)))
    if proto.name == "ringbuf_reserve":
        if r2 == RECORD_SIZE and not ctx.record_out:
            ctx.record_out = True
            return arena().record
        return 0
    for index, kind in enumerate(proto.args):  # fill what the helper writes
        at = size_argument(proto, index)
        if kind == Arg.PTR_TO_UNINIT_MEM and at is not None and regs[at]:
            ctypes.memmove(regs[index], ctx.rng.randbytes(regs[at]), regs[at])
    if proto.ret in (Ret.MAP_VALUE_OR_NULL, Ret.SOCKET_OR_NULL, Ret.ALLOC_MEM_OR_NULL):
        return 0
    return ctx.rng.choice([0, 1, _mask(-1), ctx.rng.getrandbits(64), ctx.rng.randint(0, 64)])


def map_fds(instructions: list[Instruction]) -> set[int]:
    """The fds the program loads (as the unsigned 32-bit numbers the VM sees)."""
    return {i.imm & 0xFFFFFFFF for i in instructions
            if i.is_lddw and i.src in (op.PSEUDO_MAP_FD, op.PSEUDO_MAP_IDX)}


def vm_code(instructions: list[Instruction]) -> bytes:
    """The program as the VM runs it: a prologue storing r10, map loads as fd numbers,
    function addresses (callbacks) as the slot numbers the VM calls."""
    a = arena()
    prologue = [Instruction.lddw(0, a.scratch),
                Instruction(op.CLASS_STX | op.MODE_MEM | op.SIZE_DW, 0, 10, 0, 0),
                Instruction(op.CLASS_ALU64 | op.ALU_MOV | op.SRC_K, 0, 0, 0, 0)]
    body = []
    for slot, i in zip(isa.slot_indices(instructions), instructions, strict=True):
        if i.is_lddw and i.src in (op.PSEUDO_MAP_FD, op.PSEUDO_MAP_IDX):
            i = Instruction.lddw(i.dst, i.imm & 0xFFFFFFFF)
        elif i.is_lddw and i.src == op.PSEUDO_FUNC:
            i = Instruction.lddw(i.dst, max(0, PROLOGUE_SLOTS + slot + 1 + i.imm))
        body.append(i)
    return isa.encode([*prologue, *body])


def has_callbacks(instructions: list[Instruction]) -> bool:
    return any(i.is_lddw and i.src == op.PSEUDO_FUNC for i in instructions)


@dataclass
class RunOutcome:
    runs: int = 0
    violation: str | None = None
    other_errors: int = 0


def execute(instructions: list[Instruction], rng: random.Random, runs: int) -> RunOutcome:
    """Run an accepted program ``runs`` times over random inputs with bounds checks on."""
    a = arena()
    outcome = RunOutcome()
    try:
        vm = Vm(vm_code(instructions), bounds_check=True, budget=BUDGET)
    except VmError:
        outcome.other_errors += 1
        return outcome
    vm.count_instructions = True
    if len(map_fds(instructions)) > MAX_MAPS:  # more than the arena has pages for
        outcome.other_errors += 1
        return outcome
    maps: dict[int, FuzzMap] = {}
    for n, fd in enumerate(sorted(map_fds(instructions))):
        maps[fd] = FuzzMap(fd, MAPS.get(fd, Options().default_map), n * MAX_ENTRIES)
    vm.add_raw_region(a.scratch, 8, writable=True)
    for m in maps.values():
        for i in range(MAX_ENTRIES):
            vm.add_raw_region(m.slot_address(i), m.shape.value_size, writable=True)
    vm.add_raw_region(a.record, RECORD_SIZE, writable=True)
    ctx = RunContext(rng, maps, [])
    if has_callbacks(instructions) or any(
            i.opcode == op.OPCODE_CALL and i.src == op.CALL_LOCAL for i in instructions):
        ctx.frames = STACK_TOTAL // FRAME_SIZE
    for helper_id, proto in PROTOTYPES.items():
        vm.register_helper(helper_id, make_helper(helper_id, proto, ctx))
    for name in CALLBACK_HELPERS_RUN:  # the runtime's own: they call the program back
        found = helper_by_name(name)
        if found is not None:
            vm.register_native_helper(found.internal, c_helper(name))
    for _ in range(runs):
        length = rng.choice([0, 1, 2, 4, 8, 13, 14, 20, 34, 40, 54, 60, 64, 100,
                             rng.randint(0, 128), rng.randint(0, PACKET_MAX)])
        a.write(a.packet, rng.randbytes(length))
        ctx_bytes = bytearray(rng.randbytes(CTX_SIZE))
        struct.pack_into("<II", ctx_bytes, 0, a.packet, a.packet + length)
        a.write(a.ctx, bytes(ctx_bytes))
        for m in maps.values():
            m.fill(rng)
        ctx.record_out = False
        ctx.regions = [(a.ctx, CTX_SIZE, True), (a.record, RECORD_SIZE, True)]
        ctx.regions += [(m.slot_address(i), m.shape.value_size, True)
                        for m in maps.values() for i in range(MAX_ENTRIES)]
        packet = [(a.view(a.packet, length), True)] if length else []
        if length:
            ctx.regions.append((a.packet, length, True))
        outcome.runs += 1
        try:
            vm.run_repeat(a.view(a.ctx, CTX_SIZE), 1, regions=packet)
        except VmError as exc:
            if isinstance(exc.__cause__, Violation):
                outcome.violation = str(exc.__cause__)
                return outcome
            if exc.errno == errno.EFAULT:
                pc = exc.pc - PROLOGUE_SLOTS if exc.pc is not None else None
                outcome.violation = f"EFAULT at slot {pc}: {exc}"
                return outcome
            outcome.other_errors += 1
    return outcome


# Verification ------------------------------------------------------------------------------------


def slots(instructions: list[Instruction]) -> dict[int, Instruction]:
    return dict(zip(isa.slot_indices(instructions), instructions, strict=True))


def verify(instructions: list[Instruction]) -> AnalysisResult:
    pre = parse_pre(pre_state())
    return analyze(slots(instructions), {}, initial_state(pre), options())


def accepted(result: AnalysisResult) -> bool:
    """No failed check (a note that some code is unreachable is not a failure)."""
    return result.complete and all(m.text.startswith("Code becomes unreachable")
                                   for m in result.messages)


# Generation --------------------------------------------------------------------------------------


def _at(reg: int, off: int) -> str:
    """``(r7 + 4)`` / ``(r7 - 4)``: a memory operand in kernel syntax."""
    return f"(r{reg} {'-' if off < 0 else '+'} {abs(off)})"


class Generator:
    """Plausible random programs in kernel assembly syntax."""

    WIDTHS = ("u8", "u16", "u32", "u64")
    SIZE_OF: ClassVar[dict[str, int]] = {"u8": 1, "u16": 2, "u32": 4, "u64": 8}

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.labels = 0
        self.lines: list[str] = []
        self.tail: list[str] = []  # local functions, after the main exit

    def label(self) -> str:
        self.labels += 1
        return f"<l{self.labels}>"

    def near(self, value: int) -> int:
        if self.rng.random() < 0.6:
            return value
        return value + self.rng.choice([-1, 1, -4, 4, -8, 8])

    def width(self) -> str:
        return self.rng.choice(self.WIDTHS)

    def reg(self) -> int:
        return self.rng.choice([0, 2, 3, 4, 5, 6, 7, 8, 9])

    def emit(self, *lines: str) -> None:
        self.lines.extend(lines)

    # Snippets -------------------------------------------------------------------------
    def packet_access(self) -> None:
        w = self.width()
        n = self.rng.randint(1, 64)
        at = self.near(n - self.SIZE_OF[w])
        skip = self.label()
        cond = self.rng.choice([">", ">", ">=", "s>"])
        self.emit("r2 = r7", f"r2 += {n}", f"if r2 {cond} r8 goto {skip}")
        if self.rng.random() < 0.5:
            self.emit(f"r0 = *({w} *){_at(7, at)}")
        else:
            self.emit(f"*({w} *){_at(7, at)} = {self.rng.randint(0, 255)}")
        self.emit(f"{skip}:")

    def packet_variable(self) -> None:
        w = self.width()
        skip = self.label()
        mask = self.rng.choice([0x3, 0xF, 0x3F, 0xFF, 0x7FF])
        self.emit("r2 = r7", "r2 += 1", f"if r2 > r8 goto {skip}",
                  "r3 = *(u8 *)(r7 + 0)", f"r3 &= {mask}", "r2 = r7", "r2 += r3",
                  "r4 = r2", f"r4 += {self.near(self.SIZE_OF[w])}",
                  f"if r4 > r8 goto {skip}", f"r0 = *({w} *)(r2 + 0)", f"{skip}:")

    def packet_copy_check(self) -> None:
        """The check made through a copy, the access through the original."""
        skip = self.label()
        n = self.rng.randint(1, 40)
        self.emit("r9 = r7", f"r9 += {n}", "r3 = r9", f"if r3 > r8 goto {skip}",
                  f"r0 = *(u8 *){_at(7, self.near(n - 1))}", f"{skip}:")

    def spill_fill(self) -> None:
        slot = self.rng.choice([8, 16, 24, 32, 64, 256, 504, 512])
        src = self.rng.choice([7, 8, 6, 10, 1, 0])
        fill_w = self.rng.choice(["u64", "u64", "u32"])
        fill_at = slot - self.rng.choice([0, 0, 0, 4])
        self.emit(f"*(u64 *)(r10 - {slot}) = r{src}", f"r2 = *({fill_w} *)(r10 - {fill_at})")
        if self.rng.random() < 0.6:
            self.emit(f"r0 = *(u8 *){_at(2, self.rng.choice([0, 0, 1, 8, 63, 64]))}")

    def stack_write(self) -> None:
        w = self.width()
        at = self.rng.choice([1, 2, 4, 8, 16, 64, 500, 512, 513, 0, -8])
        sign = "-" if at >= 0 else "+"
        self.emit(f"*({w} *)(r10 {sign} {abs(at)}) = {self.rng.randint(-5, 5)}")
        if self.rng.random() < 0.5:
            self.emit(f"r0 = *({w} *)(r10 {sign} {abs(at)})")

    def stack_variable(self) -> None:
        mask = self.rng.choice([7, 15, 63, 255, 511, 1023])
        self.emit("call 7", f"r0 &= {mask}", "r2 = r10", f"r2 += {-self.near(mask + 8)}",
                  "r2 += r0", f"*(u8 *)(r2 + 0) = {self.rng.randint(0, 9)}")

    def map_lookup(self) -> None:
        fd = self.rng.choice([1, 2, 3, 1, 2, 4])
        key = self.rng.randint(0, 5)
        skip = self.label()
        shape = MAPS.get(fd, MapShape(4, 4))
        ksz = "u64" if shape.key_size == 8 else "u32"
        self.emit(f"*({ksz} *)(r10 - 8) = {key}", f"r1 = map_fd {fd}", "r2 = r10",
                  "r2 += -8", "call 1")
        if self.rng.random() < 0.8:
            self.emit(f"if r0 == 0 goto {skip}")
        w = self.width()
        at = self.near(max(0, shape.value_size - self.SIZE_OF[w]))
        if self.rng.random() < 0.5:
            self.emit(f"r0 = *({w} *){_at(0, at)}")
        else:
            self.emit(f"*({w} *){_at(0, at)} = 1")
        if self.rng.random() < 0.3:
            self.emit("r3 = 1", "lock *(u32 *)(r0 + 0) += r3")
        self.emit(f"{skip}:")

    def map_update(self) -> None:
        fd = self.rng.choice([1, 2, 3])
        shape = MAPS[fd]
        vsz = shape.value_size
        self.emit(f"*(u64 *)(r10 - 8) = {self.rng.randint(0, 5)}")
        for off in range(0, self.near(vsz), 8):
            self.emit(f"*(u64 *)(r10 - {32 - off}) = {off}")
        self.emit(f"r1 = map_fd {fd}", "r2 = r10", "r2 += -8", "r3 = r10",
                  f"r3 += {-self.near(32)}", "r4 = 0", "call 2")

    def helper_buffer(self) -> None:
        size = self.rng.choice([1, 4, 8, 16, 32, 64])
        at = self.rng.choice([self.near(size), self.near(512), 600, 1000])
        if self.rng.random() < 0.5:
            self.emit("r1 = r10", f"r1 += {-at}", f"r2 = {self.near(size)}", "r3 = 0",
                      "call 113", f"r0 = *(u64 *)(r10 - {max(8, size)})")
        else:
            self.emit("r1 = r10", f"r1 += {-at}", f"r2 = {self.near(size)}", "r3 = 0",
                      "r4 = 0", "r5 = 0", "call 28")

    def ringbuf(self) -> None:
        skip = self.label()
        size = self.rng.choice([RECORD_SIZE, RECORD_SIZE, 8, 32])
        self.emit("r1 = map_fd 1", f"r2 = {size}", "r3 = 0", "call 131")
        if self.rng.random() < 0.8:
            self.emit(f"if r0 == 0 goto {skip}")
        self.emit(f"*(u64 *)(r0 + {self.near(8)}) = 7", "r1 = r0", "r2 = 0",
                  f"call {self.rng.choice([132, 133])}", f"{skip}:")

    def pointer_alu(self) -> None:
        base = self.rng.choice([7, 8, 10, 6])
        opr = self.rng.choice(["+=", "-=", "*=", "|=", "&=", "<<=", ">>="])
        self.emit(f"r2 = r{base}", f"r2 {opr} {self.rng.choice([1, 2, 4, 8, -8])}")
        if self.rng.random() < 0.6:
            self.emit(f"r0 = *(u8 *){_at(2, self.rng.choice([-8, -1, 0, 1]))}")

    def alu32(self) -> None:
        r = self.reg()
        self.emit(f"w{r} = w{self.rng.choice([7, 8, 10, 6, 0, 3])}",
                  f"w{r} += {self.rng.randint(-4, 4)}")
        if self.rng.random() < 0.4:
            self.emit(f"r0 = *(u8 *)(r{r} + 0)")

    def ctx_access(self) -> None:
        w = self.width()
        at = self.rng.choice([0, 2, 4, 6, 8, 12, 16, 56, 60, 62, 63, 64, 72, -4])
        sign = "+" if at >= 0 else "-"
        if self.rng.random() < 0.7:
            self.emit(f"r0 = *({w} *)(r6 {sign} {abs(at)})")
        else:
            self.emit(f"*({w} *)(r6 {sign} {abs(at)}) = 0")

    def loop(self) -> None:
        head = self.label()
        n = self.rng.choice([1, 4, 16, 64, 511])
        self.emit("r9 = 0", f"{head}:", "r2 = r10", "r2 += -512", "r2 += r9",
                  f"*(u8 *)(r2 + 0) = {self.rng.randint(0, 3)}", "r9 += 1",
                  f"if r9 {self.rng.choice(['<', '<', '<=', '!='])} {n} goto {head}")

    def random_jump(self) -> None:
        skip = self.label()
        a = self.reg()
        self.emit(f"if r{a} {self.rng.choice(['==', '!=', '>', 's<', '&'])} "
                  f"{self.rng.randint(-2, 70)} goto {skip}", f"r{a} = r7", f"{skip}:")

    def local_call(self) -> None:
        """A subprogram given a pointer into the caller's frame (spilled values there)."""
        name = f"<f{self.labels}>"
        self.labels += 1
        spilled = self.rng.choice([10, 7, 0, 6])
        self.emit("r1 = r10", f"r1 += {self.rng.choice([-16, -16, -8, -24])}",
                  f"*(u64 *)(r10 - 16) = r{spilled}", f"call {name}",
                  self.rng.choice(["r2 = *(u64 *)(r10 - 16)", "r2 = r1", "r2 = r0"]))
        if self.rng.random() < 0.7:
            self.emit(f"r0 = *(u8 *){_at(2, self.rng.choice([-1, -8, 0]))}")
        self.tail += [f"{name}:", *self.rng.sample([
            "*(u64 *)(r1 + 0) = 5", "r0 = *(u64 *)(r1 + 0)", "*(u64 *)(r10 - 16) = r10",
            "r2 = *(u64 *)(r10 - 16)", "r0 = r1", "r1 = 7", "r0 = r10",
            "*(u64 *)(r10 - 8) = r1", f"r3 = *(u64 *)(r10 + {self.rng.choice([0, 8, 496])})",
            "*(u64 *)(r1 + 0) = r10"], self.rng.randint(1, 3)), "exit"]

    def loop_callback(self) -> None:
        """bpf_loop calling a function back with a context: a buffer in the caller's
        frame (summed into, indexed, holding a pointer), the context, or nothing."""
        name, inner = f"<f{self.labels}>", f"<f{self.labels}in>"
        self.labels += 1
        count = self.rng.choice([0, 1, 3, 8, 64, 1000, -1])
        ctx = self.rng.choice(["r10", "r10", "r10", "r10", "r6", "0", "r7"])
        self.emit("*(u64 *)(r10 - 8) = 0", "*(u64 *)(r10 - 16) = 0")
        spilled = self.rng.random() < 0.5
        if spilled:
            self.emit(f"*(u64 *)(r10 - {self.rng.choice([8, 16])}) = r{self.rng.choice([7, 6])}")
        self.emit(f"r1 = {count}", f"r2 = code_addr({name})",
                  f"r3 = {ctx}" if ctx != "0" else "r3 = 0")
        if ctx == "r10":
            self.emit(f"r3 += {self.rng.choice([-8, -16, -16, -4, 0])}")
        self.emit(f"r4 = {self.rng.choice([0, 0, 0, 1])}",
                  self.rng.choice(["call 181", "call 181", "r5 = 181\ncallx r5"]))
        if self.rng.random() < (0.6 if spilled else 0.15):
            self.emit(f"r2 = *(u64 *)(r10 - {self.rng.choice([8, 16])})",
                      f"r0 = *(u8 *){_at(2, self.rng.choice([0, 0, 1, 8]))}")
        body = self.rng.sample([
            "r3 = *(u64 *)(r2 + 0)\nr3 += r1\n*(u64 *)(r2 + 0) = r3",
            f"*(u64 *){_at(2, self.rng.choice([0, 8, -8]))} = r1",
            f"r3 = r10\nr3 += -{self.rng.choice([16, 64, 512])}\nr3 += r1\n"
            "*(u8 *)(r3 + 0) = 1",
            "*(u64 *)(r2 + 0) = r10",
            f"*(u64 *)(r2 + 0) = r{self.rng.choice([2, 1, 6])}",
            "r4 = *(u64 *)(r2 + 0)\nr0 = *(u8 *)(r4 + 0)",
            f"r4 = *(u32 *)(r2 + 0)\nr5 = *(u32 *)(r2 + 4)\nr3 = r4\n"
            f"r3 += {self.rng.choice([1, 8, 16])}\nif r3 > r5 goto +1\n"
            f"r0 = *(u8 *)(r4 + {self.rng.choice([0, 7, 15, 16])})",
            f"r0 = *(u8 *)(r10 - {self.rng.choice([1, 8, 512, 513])})",
            "r6 = r2\ncall 7\nr2 = r6",
            f"r1 = {self.rng.choice([1, 2])}\nr2 = code_addr({inner})\nr3 = r10\n"
            "r3 += -8\nr4 = 0\ncall 181\nr2 = *(u64 *)(r10 - 8)",
            f"if r1 > {self.rng.choice([0, 2, 7])} goto +1\nr0 = *(u64 *)(r2 + 0)",
        ], self.rng.randint(1, 2))
        ret = self.rng.choice(["r0 = 0", "r0 = 1", "r0 = r1\nr0 &= 1", "r0 = r1",
                               "r0 = 0"])
        lines = "\n".join([*body, ret, "exit"]).split("\n")
        self.tail += [f"{name}:", *lines,
                      f"{inner}:", "r3 = *(u64 *)(r2 + 0)", "r3 += r1",
                      "*(u64 *)(r2 + 0) = r3", "r0 = 0", "exit"]

    def legacy_load(self) -> None:
        """LD_ABS / LD_IND: checked at run time, r1-r5 gone afterwards."""
        w = self.rng.choice(["u8", "u16", "u32"])
        if self.rng.random() < 0.5:
            self.emit(f"r0 = *({w} *)skb[{self.rng.randint(0, 80)}]")
        else:
            self.emit(f"r3 = {self.rng.randint(0, 80)}", f"r0 = *({w} *)skb[r3]")
        if self.rng.random() < 0.3:
            self.emit(f"r0 = *(u8 *){_at(self.rng.choice([1, 2, 3]), 0)}")

    def reload_packet(self) -> None:
        self.emit("r7 = *(u32 *)(r6 + 0)", "r8 = *(u32 *)(r6 + 4)")

    def move_end(self) -> None:
        self.emit(f"r8 += {self.rng.choice([1, 4, 8, 64, -4])}")

    def compare_pointers(self) -> None:
        """A branch on two pointers, then an access that is safe only if it is taken."""
        skip = self.label()
        a, b = self.rng.sample([0, 6, 7, 8, 9, 10], 2)
        self.emit(f"if r{a} {self.rng.choice(['>', '<', '==', '!=', '>='])} r{b} goto {skip}",
                  "r0 = 0", "exit", f"{skip}:",
                  f"r0 = *(u8 *){_at(a, self.rng.choice([0, 8, 64, -8]))}")

    def callee_saved_pointer(self) -> None:
        """A map value kept in r9 across a lookup of another map."""
        skip = self.label()
        self.emit("*(u64 *)(r10 - 8) = 0", "r1 = map_fd 3", "r2 = r10", "r2 += -8", "call 1",
                  f"if r0 == 0 goto {skip}", "r9 = r0", "r1 = map_fd 1", "r2 = r10",
                  "r2 += -8", "call 1", f"if r0 == 0 goto {skip}",
                  f"if r9 {self.rng.choice(['>', '<'])} r0 goto {skip}",
                  f"r0 = *(u64 *){_at(9, self.rng.choice([8, 16]))}", f"{skip}:")

    SNIPPETS = ("legacy_load", "reload_packet", "move_end", "compare_pointers",
                "callee_saved_pointer", "packet_access", "packet_access", "packet_variable",
                "packet_copy_check", "spill_fill", "stack_write", "stack_variable",
                "map_lookup", "map_lookup", "map_update", "helper_buffer", "ringbuf",
                "pointer_alu", "alu32", "ctx_access", "loop", "random_jump", "local_call",
                "loop_callback", "loop_callback")

    def program(self) -> str:
        self.emit("r6 = r1", "r7 = *(u32 *)(r6 + 0)", "r8 = *(u32 *)(r6 + 4)", "r0 = 0")
        for _ in range(self.rng.randint(1, 4)):
            getattr(self, self.rng.choice(self.SNIPPETS))()
        self.emit("r0 = 0", "exit")
        return "\n".join(self.lines + self.tail)


def generate(rng: random.Random) -> list[Instruction]:
    return isa.decode(isa.assemble(Generator(rng).program(), "kernel"))


# Mutation ----------------------------------------------------------------------------------------

_BOUNDARY = (0, 1, -1, 2, 4, 7, 8, 16, 63, 64, 511, 512, -512, -8, 0x7FFFFFFF, -0x80000000)


def mutate(rng: random.Random, program: list[Instruction]) -> list[Instruction]:
    """One to three small changes: an immediate, an offset, a register or an opcode."""
    out = list(program)
    for _ in range(rng.randint(1, 3)):
        if not out:
            break
        i = rng.randrange(len(out))
        insn = out[i]
        choice = rng.randrange(5)
        try:
            if choice == 0:
                imm = rng.choice([insn.imm + rng.choice([-1, 1, -4, 4, 8]),
                                  rng.choice(_BOUNDARY)])
                out[i] = _replace(insn, imm=max(-(1 << 31), min(imm, (1 << 31) - 1)))
            elif choice == 1 and not insn.is_lddw:
                off = rng.choice([insn.off + rng.choice([-1, 1, -4, 4, 8, -8]),
                                  rng.choice(_BOUNDARY)])
                out[i] = _replace(insn, off=max(-(1 << 15), min(off, (1 << 15) - 1)))
            elif choice == 2:
                if rng.random() < 0.5:
                    out[i] = _replace(insn, dst=rng.randrange(11))
                else:
                    out[i] = _replace(insn, src=rng.randrange(11))
            elif choice == 3 and not insn.is_lddw:
                out[i] = _replace(insn, opcode=_similar_opcode(rng, insn.opcode))
            else:
                j = rng.randrange(len(out))
                if not out[i].is_lddw and not out[j].is_lddw:
                    out[i], out[j] = out[j], out[i]
        except LibbpfError:
            continue
    return out


def _replace(insn: Instruction, **changes: int) -> Instruction:
    fields = {"opcode": insn.opcode, "dst": insn.dst, "src": insn.src, "off": insn.off,
              "imm": insn.imm, "imm_hi": insn.imm_hi}
    fields.update(changes)
    return Instruction(**fields)


def _similar_opcode(rng: random.Random, opcode: int) -> int:
    cls = opcode & 0x07
    if cls in (op.CLASS_LDX, op.CLASS_ST, op.CLASS_STX):
        return (opcode & ~0x18) | rng.choice([op.SIZE_B, op.SIZE_H, op.SIZE_W, op.SIZE_DW])
    if cls in (op.CLASS_ALU, op.CLASS_ALU64, op.CLASS_JMP, op.CLASS_JMP32):
        if rng.random() < 0.3:
            flip = {op.CLASS_ALU: op.CLASS_ALU64, op.CLASS_ALU64: op.CLASS_ALU,
                    op.CLASS_JMP: op.CLASS_JMP32, op.CLASS_JMP32: op.CLASS_JMP}
            return (opcode & ~0x07) | flip[cls]
        return (opcode & 0x0F) | (rng.randrange(16) << 4)
    return opcode


def yaml_seeds(directory: Path) -> list[list[Instruction]]:
    """The code of the YAML cases in ``directory``, as mutation seeds."""
    from libbpf_compat.verifier.cases import load_directory

    return [list(c.program.instructions.values()) for c in load_directory(directory)
            if c.program is not None and not c.program.assumes]


def corpus_seeds(directory: Path, limit: int = 400) -> list[list[Instruction]]:
    """The programs of the ``.o`` files under ``directory`` (opened with the library),
    their map references turned into loads of the fuzzer's map fds."""
    from libbpf_compat.elf.log import libbpf_set_print
    from libbpf_compat.elf.relocations import RelocKind
    from libbpf_compat.object import BpfObject

    seeds: list[list[Instruction]] = []
    for path in sorted(directory.rglob("*.o")):
        previous = libbpf_set_print(None)  # open warnings are not the fuzzer's business
        try:
            obj = BpfObject.open_file(path)
        except LibbpfError:
            continue
        finally:
            libbpf_set_print(previous)
        for prog in obj.programs:
            try:
                insns = list(prog.insns)
                relocations = prog.relocations
            except LibbpfError:
                continue
            by_slot = dict(zip(isa.slot_indices(insns), range(len(insns)), strict=True))
            for rel in relocations:
                i = by_slot.get(rel.insn)
                if i is not None and insns[i].is_lddw and rel.kind == RelocKind.MAP:
                    insns[i] = Instruction.lddw(insns[i].dst, 1 + rel.map_index % len(MAPS),
                                                op.PSEUDO_MAP_FD)
            seeds.append(insns)
            if len(seeds) >= limit:
                return seeds
    return seeds


# The campaign ------------------------------------------------------------------------------------


@dataclass
class Stats:
    generated: int = 0
    mutated: int = 0
    invalid: int = 0
    accepted: int = 0
    runs: int = 0
    run_errors: int = 0
    verifier_crashes: list[str] = field(default_factory=list)
    violations: list[tuple[str, str]] = field(default_factory=list)  # (reason, program)

    def __str__(self) -> str:
        return (f"{self.generated + self.mutated} programs ({self.generated} generated, "
                f"{self.mutated} mutated, {self.invalid} invalid encodings), {self.accepted} "
                f"accepted, {self.runs} runs ({self.run_errors} ended by other errors), "
                f"{len(self.violations)} bounds violations, "
                f"{len(self.verifier_crashes)} verifier crashes")


def candidates(rng: random.Random, iterations: int,
               seeds: list[list[Instruction]]) -> Iterator[tuple[str, list[Instruction]]]:
    pool = list(seeds)
    for _ in range(iterations):
        if pool and rng.random() < 0.5:
            yield "mutated", mutate(rng, rng.choice(pool))
        else:
            program = generate(rng)
            if len(pool) < 2000:
                pool.append(program)
            yield "generated", program


def campaign(iterations: int, seed: int = 0, runs: int = 8,
             seeds: list[list[Instruction]] | None = None, stop_at_first: bool = False) -> Stats:
    rng = random.Random(seed)
    stats = Stats()
    for origin, program in candidates(rng, iterations, seeds or []):
        if origin == "generated":
            stats.generated += 1
        else:
            stats.mutated += 1
        try:
            isa.encode(program)
        except LibbpfError:
            stats.invalid += 1
            continue
        try:
            result = verify(program)
        except Exception as exc:  # a crash of the verifier is a finding
            stats.verifier_crashes.append(f"{type(exc).__name__}: {exc}\n{listing(program)}")
            continue
        if any(m.text.startswith("Invalid bytecode") for m in result.messages):
            stats.invalid += 1
            continue
        if not accepted(result):
            continue
        stats.accepted += 1
        outcome = execute(program, rng, runs)
        stats.runs += outcome.runs
        stats.run_errors += outcome.other_errors
        if outcome.violation is not None:
            stats.violations.append((outcome.violation, listing(program)))
            if stop_at_first:
                break
    return stats


def listing(program: list[Instruction]) -> str:
    return "\n".join(isa.disassemble_instruction(i, "kernel") for i in program)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m libbpf_compat.verifier.fuzz",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--runs", type=int, default=8, help="runs per accepted program")
    parser.add_argument("--show", type=int, default=3, help="violations to print")
    parser.add_argument("--yaml", type=Path, help="a directory of YAML cases to mutate")
    parser.add_argument("--corpus", type=Path, help="a directory of .o files to mutate")
    args = parser.parse_args(argv)
    start = time.monotonic()
    seeds = yaml_seeds(args.yaml) if args.yaml else []
    seeds += corpus_seeds(args.corpus) if args.corpus else []
    stats = campaign(args.iterations, args.seed, args.runs, seeds)
    print(f"seed {args.seed}: {stats} in {time.monotonic() - start:.1f} s")
    for reason, program in stats.violations[:args.show]:
        print(f"--- {reason}\n{program}")
    for crash in stats.verifier_crashes[:args.show]:
        print(f"--- verifier crash {crash}")
    return 1 if stats.violations or stats.verifier_crashes else 0


if __name__ == "__main__":
    raise SystemExit(main())
