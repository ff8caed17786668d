"""The x86-64 JIT: when it applies, how it is switched, and a differential
test of random programs (ALU, loads, stores, atomics, branches, helper
calls) whose results and memory must equal the interpreter's. The other VM
suites run every test interpreted and as machine code (conftest.vm_mode)."""

from __future__ import annotations

import errno
import os
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from libbpf_compat.errors import LibbpfError
from libbpf_compat.libbpf_maps import bpf_map_create, bpf_map_update_elem
from libbpf_compat.mapstore import fd_table
from libbpf_compat.object import Program
from libbpf_compat.prog_load import bpf_prog_load
from libbpf_compat.test_run import bpf_prog_test_run_opts, bpf_test_run_opts
from libbpf_compat.uapi import BpfMapType, BpfProgType
from libbpf_compat.vm import JIT_ENV, HelperFn, StopProgram, TailCall, Vm, VmError
from tests import rawcode as rc
from tests.jit_support import JIT_PLATFORM

needs_jit = pytest.mark.skipif(not JIT_PLATFORM, reason="the JIT translates only on x86-64 Linux")
M64 = (1 << 64) - 1
DATA_REGS = [0, 2, 3, 4, 5, 6, 7, 8, 9]  # never r1 (the memory) or r10 (the frame)
MEM_SIZE = 160
SCRATCH = 80  # mem[0:72] receives r0, r2..r9 at the end; the rest is the program's


@needs_jit
def test_jit_is_opt_in_and_env_switched(monkeypatch: pytest.MonkeyPatch) -> None:
    code = rc.mov(0, 7) + rc.exit_()
    monkeypatch.delenv(JIT_ENV, raising=False)
    assert not Vm(code).jitted
    assert Vm(code, jit=True).jitted
    monkeypatch.setenv(JIT_ENV, "1")
    assert Vm(code).jitted
    assert not Vm(code, jit=False).jitted
    monkeypatch.setenv(JIT_ENV, "0")
    vm = Vm(code, jit=True)
    assert not vm.jitted and vm.run() == 7


@needs_jit
def test_checked_counted_and_budgeted_runs_interpret(jit_allowed: None) -> None:
    loop = rc.mov(0, 0) + rc.alu("add", 0, 1, reg=False) + rc.jmp("jlt", 0, 1000, -2, reg=False)
    vm = Vm(loop + rc.exit_(), jit=True)
    assert vm.run() == 1000 and vm.last_insn_count == 0
    vm.count_instructions = True
    assert vm.run() == 1000 and vm.last_insn_count == 1 + 2 * 1000 + 1
    vm.count_instructions = False
    vm.budget = 50
    with pytest.raises(LibbpfError) as exc:
        vm.run()
    assert exc.value.errno == errno.ETIME
    checked = Vm(rc.ldx(rc.DW, 0, 0, 0) + rc.exit_(), bounds_check=True, jit=True)
    with pytest.raises(LibbpfError) as exc:
        checked.run()
    assert exc.value.errno == errno.EFAULT


@needs_jit
def test_set_jit_relinks(jit_allowed: None) -> None:
    vm = Vm(rc.mov(0, 3) + rc.exit_())
    assert not vm.jitted
    vm.set_jit(True)
    assert vm.jitted and vm.run() == 3
    vm.set_jit(False)
    assert not vm.jitted and vm.jit_note == ""


def _failure(code: bytes, jit: bool,
             helpers: dict[int, HelperFn]) -> tuple[int | None, int | None, str]:
    vm = Vm(code, jit=jit)
    for number, fn in helpers.items():
        vm.register_helper(number, fn)
    assert vm.jitted == jit
    with pytest.raises(VmError) as exc:
        vm.run()
    return exc.value.errno, exc.value.pc, str(exc.value)


def _boom(*args: int) -> int:
    raise ValueError("no")


def _nested(depth: int) -> bytes:
    """Each function calls the next; the last one exits."""
    return b"".join(rc.call_local(1) + rc.exit_() for _ in range(depth)) + rc.mov(0, 1) + rc.exit_()


@needs_jit
@pytest.mark.parametrize(("code", "helpers"), [
    # a helper fails inside a subprogram: nothing after it runs
    (rc.call_local(2) + rc.mov(0, 1) + rc.exit_() + rc.mov(6, 5) + rc.call(9) + rc.mov(0, 2)
     + rc.exit_(), {9: _boom}),
    # callx of a helper that is not there
    (rc.mov(3, 77) + rc.insn(rc.JMP | rc.JMP_OPS["call"] | rc.X, 3) + rc.exit_(), {}),
    # a ninth call frame
    (_nested(8), {}),
], ids=["helper-error", "callx-unknown", "ninth-frame"])
def test_run_errors_equal_the_interpreter_s(jit_allowed: None, code: bytes,
                                             helpers: dict[int, HelperFn]) -> None:
    assert _failure(code, True, helpers) == _failure(code, False, helpers)


@needs_jit
def test_legacy_packet_loads_out_of_range_end_the_run_with_zero(jit_allowed: None) -> None:
    ldabs = rc.insn(rc.LD | rc.ABS | rc.W, 0, 0, 0, 2)
    ldind = rc.insn(rc.LD | rc.IND | rc.H, 0, 6, 0, 1)
    code = rc.mov(6, 1) + ldabs + rc.movr(7, 0) + ldind + rc.alu("add", 0, 7, reg=True) + rc.exit_()
    for jit in (False, True):
        vm = Vm(code, jit=jit)
        assert vm.run(bytes([1, 2, 3, 4, 5, 6])) == 0x03040506 + 0x0304
        assert vm.run(bytes([1, 2, 3, 4, 5])) == 0  # the word at 2 is past the end


# ------------------------------------------------------------ differential

def _reg(draw: st.DrawFn) -> int:
    return draw(st.sampled_from(DATA_REGS))


EDGES = [0, 1, 2, -1, -2, 31, 32, 63, 64, 0x7FFFFFFF, -(1 << 31)]
IMM = st.one_of(st.integers(-(1 << 31), (1 << 31) - 1), st.sampled_from(EDGES))
#: register values: edge cases often, so that comparisons hit equality and signs
VALUE = st.one_of(st.integers(0, M64), st.sampled_from([v & M64 for v in EDGES]
                                                      + [1 << 63, (1 << 63) - 1, 0xFFFFFFFF]))
ALU_NAMES = ["add", "sub", "mul", "div", "sdiv", "or", "and", "lsh", "rsh", "mod", "smod",
             "xor", "mov", "arsh"]
JMP_NAMES = ["jeq", "jgt", "jge", "jset", "jne", "jsgt", "jsge", "jlt", "jle", "jslt", "jsle"]
ATOMIC_OPS = [0x00, 0x40, 0x50, 0xA0, 0x01, 0x41, 0x51, 0xA1, 0xE1, 0xF1]
SIZES = {rc.B: 1, rc.H: 2, rc.W: 4, rc.DW: 8}


#: an instruction, or a forward jump (op, dst, src or imm, reg, wide) resolved later
Chunk = bytes | tuple[str, int, int, int, bool, bool]


@st.composite
def chunk(draw: st.DrawFn) -> Chunk:
    """One instruction (bytes), or a forward jump to resolve later."""
    kind = draw(st.sampled_from(["alu", "alu", "alu", "unary", "mem", "stack", "atomic",
                                 "jump", "jump", "jump", "call", "lddw"]))
    wide = draw(st.booleans())
    if kind == "alu":
        name = draw(st.sampled_from(ALU_NAMES))
        signed = name in ("sdiv", "smod")
        op = {"sdiv": "div", "smod": "mod"}.get(name, name)
        reg = draw(st.booleans())
        src = _reg(draw) if reg else draw(IMM)
        return rc.alu(op, _reg(draw), src, reg=reg, wide=wide, off=1 if signed else 0)
    if kind == "unary":
        d = _reg(draw)
        form = draw(st.sampled_from(["neg", "le", "be", "bswap", "movsx"]))
        if form == "neg":
            return rc.alu("neg", d, 0, reg=False, wide=wide)
        if form == "movsx":
            width = draw(st.sampled_from([8, 16] + ([32] if wide else [])))
            return rc.alu("mov", d, _reg(draw), reg=True, wide=wide, off=width)
        bits = draw(st.sampled_from([16, 32, 64]))
        if form == "bswap":
            return rc.insn(rc.ALU64 | rc.ALU_OPS["end"], d, 0, 0, bits)
        return rc.insn(rc.ALU | rc.ALU_OPS["end"] | (rc.X if form == "be" else rc.K), d, 0, 0, bits)
    if kind in ("mem", "stack"):
        size = draw(st.sampled_from([rc.B, rc.H, rc.W, rc.DW]))
        if kind == "mem":
            base, off = 1, draw(st.integers(SCRATCH, MEM_SIZE - SIZES[size]))
        else:
            base, off = 10, -draw(st.integers(SIZES[size], 64))
        what = draw(st.sampled_from(["ldx", "ldxs", "stx", "st"]))
        if what == "ldx" or (what == "ldxs" and size == rc.DW):
            return rc.ldx(size, _reg(draw), base, off)
        if what == "ldxs":
            return rc.ldx(size, _reg(draw), base, off, signed=True)
        if what == "stx":
            return rc.stx(size, base, _reg(draw), off)
        return rc.st(size, base, off, draw(IMM))
    if kind == "atomic":
        size = rc.DW if wide else rc.W
        n = SIZES[size]
        off = draw(st.integers(SCRATCH // n, MEM_SIZE // n - 1)) * n
        return rc.atomic(size, 1, _reg(draw), off, draw(st.sampled_from(ATOMIC_OPS)))
    if kind == "call":
        return rc.call(1)
    if kind == "lddw":
        return rc.lddw(_reg(draw), draw(st.integers(0, M64)))
    reg = draw(st.booleans())
    return ("jump", draw(st.integers(0, len(JMP_NAMES) - 1)), _reg(draw),
            _reg(draw) if reg else draw(IMM), reg, wide)


def assemble(chunks: list[Chunk], targets: list[int]) -> bytes:
    """Prologue (registers from mem, a zeroed stack), the chunks with each
    jump going forward to chunk index `targets[i]` (or the epilogue), and the
    epilogue storing r0, r2..r9 into mem[0:72]."""
    pro = b"".join(rc.ldx(rc.DW, r, 1, 8 * i) for i, r in enumerate(DATA_REGS))
    pro += b"".join(rc.st(rc.DW, 10, -8 * k, 0) for k in range(1, 9))
    sizes = [len(c) // 8 if isinstance(c, bytes) else 1 for c in chunks]
    out = []
    for i, c in enumerate(chunks):
        if isinstance(c, bytes):
            out.append(c)
            continue
        _, op, dst, src, reg, wide = c
        target = max(targets[i], i + 1)
        delta = sum(sizes[i + 1:target])
        out.append(rc.jmp(JMP_NAMES[op], dst, src, delta, reg=reg, wide=wide))
    epi = b"".join(rc.stx(rc.DW, 1, r, 8 * i) for i, r in enumerate(DATA_REGS))
    return pro + b"".join(out) + epi + rc.exit_()


def helper(r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    return (r2 * 3 + (r3 ^ 0x55) * 5 + r4 * 11 - r5 * 7) & M64


@needs_jit
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chunks=st.lists(chunk(), min_size=1, max_size=40),
       seed=st.lists(st.one_of(st.integers(0, 3), st.integers(0, 40)), min_size=40,
                     max_size=40),
       values=st.lists(VALUE, min_size=MEM_SIZE // 8, max_size=MEM_SIZE // 8))
def test_jit_agrees_with_the_interpreter(chunks: list[Chunk], seed: list[int],
                                         values: list[int]) -> None:
    mem = b"".join(v.to_bytes(8, "little") for v in values)
    targets = [i + 1 + s for i, s in enumerate(seed[:len(chunks)])]
    targets = [min(t, len(chunks)) for t in targets]
    code = assemble(chunks, targets)
    results = []
    for jit in (False, True):
        vm = Vm(code, jit=jit)
        vm.register_helper(1, helper)
        assert vm.jitted == jit, vm.jit_note
        buf = bytearray(mem)
        results.append((vm.run(buf), bytes(buf)))
    assert results[0] == results[1]


# ------------------------------------------------------------ mixed runs

def _tail_caller(target: Vm, *, jit: bool) -> Vm:
    """A subprogram tail-calls target; its caller adds 1 to what returns."""
    code = (rc.mov(6, 7) + rc.call_local(3) + rc.alu("add", 0, 6, reg=True)
            + rc.alu("add", 0, 1, reg=False) + rc.exit_()
            + rc.call(12) + rc.mov(0, 99) + rc.exit_())
    vm = Vm(code, jit=jit)

    def tail_call(*args: int) -> int:
        raise TailCall(target)

    vm.register_helper(12, tail_call)
    return vm


@needs_jit
@pytest.mark.parametrize(("caller_jit", "target_jit"),
                         [(True, False), (False, True), (True, True)])
def test_tail_calls_between_machine_code_and_the_interpreter(
        jit_allowed: None, caller_jit: bool, target_jit: bool) -> None:
    target = Vm(rc.ldx(rc.B, 0, 1, 0) + rc.alu("add", 0, 1000, reg=False) + rc.exit_(),
                jit=target_jit)
    vm = _tail_caller(target, jit=caller_jit)
    assert vm.jitted == caller_jit
    # the target's r0 returns to the subprogram's caller, whose r6 is kept
    assert vm.run(b"\x05") == 1005 + 7 + 1


@needs_jit
def test_stop_inside_an_interpreted_tail_call_target_ends_the_run(jit_allowed: None) -> None:
    target = Vm(rc.call(13) + rc.mov(0, 1) + rc.exit_(), jit=False)

    def stop(*args: int) -> int:
        raise StopProgram(42)

    target.register_helper(13, stop)
    assert _tail_caller(target, jit=True).run(b"\x00") == 42



@pytest.mark.parametrize("value_size", [4, 8, 12, 20, 64, 100])
def test_inline_array_lookup_for_every_element_size(value_size: int) -> None:
    """The JIT's inline ARRAY lookup (a shift for power-of-two elements, a
    multiply otherwise) finds each element and refuses indexes past the end."""
    entries = 5
    map_fd = bpf_map_create(BpfMapType.BPF_MAP_TYPE_ARRAY, "arr", 4, value_size, entries)
    fds = [map_fd]
    try:
        for i in range(entries):
            value = bytes((i * 7 + k) & 0xFF for k in range(value_size))
            bpf_map_update_elem(map_fd, struct.pack("<I", i), value)
        for index in [*range(entries), entries, 0xFFFFFFFF]:
            insns = b"".join([
                rc.st(rc.W, 10, -4, index if index < 1 << 31 else index - (1 << 32)),
                rc.lddw(1, map_fd, src=1),
                rc.movr(2, 10), rc.alu("add", 2, -4, reg=False),
                rc.call(1),
                rc.jmp("jeq", 0, 0, 2, reg=False),
                rc.ldx(rc.B, 0, 0, value_size - 1),
                rc.exit_(),
                rc.mov(0, 0x1FF), rc.exit_(),
            ])
            fd = bpf_prog_load(BpfProgType.BPF_PROG_TYPE_XDP, "lookup", "GPL", insns,
                               len(insns) // 8)
            fds.append(fd)
            prog = fd_table.get(fd)
            assert isinstance(prog, Program) and prog.vm is not None
            if JIT_PLATFORM and os.environ.get(JIT_ENV) != "0":
                assert prog.vm.jitted, prog.vm.jit_note
            opts = bpf_test_run_opts(data_in=bytes(64))
            bpf_prog_test_run_opts(fd, opts)
            expected = (index * 7 + value_size - 1) & 0xFF if index < entries else 0x1FF
            assert opts.retval == expected, (value_size, index)
    finally:
        for fd in fds:
            fd_table.close(fd)
