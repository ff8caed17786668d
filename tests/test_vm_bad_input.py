"""Malformed bytecode is refused at load with the instruction index; what
only run time can tell stops the run. Nothing crashes the process."""

from __future__ import annotations

import errno

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from libbpf_compat.vm import Vm, VmError
from tests import rawcode as rc

#: every test twice: interpreted, then as machine code (conftest.py)
pytestmark = pytest.mark.usefixtures("vm_mode")

EXIT = rc.exit_()


def refused(code: bytes) -> VmError:
    with pytest.raises(VmError) as info:
        Vm(code)
    assert info.value.errno == errno.EINVAL
    return info.value


@pytest.mark.parametrize(("code", "pc", "words"), [
    (EXIT + b"\x95\0\0", 1, "multiple of 8"),
    (b"", None, "empty"),
    (rc.mov(0, 0) + rc.lddw(0, 1)[:8], 1, "truncated"),
    (rc.ja(5) + EXIT, 0, "outside the program"),
    (rc.ja(-2) + EXIT, 0, "outside the program"),
    (rc.ja(1) + rc.lddw(0, 1) + EXIT, 0, "middle of an lddw"),
    (rc.insn(0xFF) + EXIT, 0, "unknown opcode"),
    (rc.insn(0x8F) + EXIT, 0, "unknown opcode"),
    (rc.call_local(7) + EXIT, 0, "outside the program"),
    (rc.call_local(1) + rc.lddw(0, 3) + EXIT, 0, "middle of an lddw"),
    (rc.mov(0, 0), 0, "fall off"),
    (rc.mov(0, 0) + rc.jmp("jeq", 0, 0, -1, reg=False), 1, "fall off"),
    (rc.mov(10, 0) + EXIT, 0, "r10"),
    (rc.ldx(rc.DW, 10, 1, 0) + EXIT, 0, "r10"),
    (rc.lddw(10, 1) + EXIT, 0, "r10"),
    (rc.atomic(rc.DW, 1, 10, 0, 0x01) + EXIT, 0, "r10"),
    (rc.mov(11, 0) + EXIT, 0, "register r11"),
    (rc.lddw(1, 5, src=1) + EXIT, 0, "pseudo source 1"),
    (rc.lddw(1, 5) [:8] + rc.insn(0x18) + EXIT, 0, "second slot"),
    (rc.insn(rc.LD | rc.DW | rc.ABS) + EXIT, 0, "unknown opcode"),
    (rc.alu("mov", 0, 1, reg=True, off=24) + EXIT, 0, "movsx"),
    (rc.alu("add", 0, 1, reg=False, off=1) + EXIT, 0, "offset"),
    (rc.insn(rc.ALU | rc.ALU_OPS["end"], 0, 0, 0, 8) + EXIT, 0, "width"),
    (rc.insn(rc.JMP | rc.JMP_OPS["call"], 0, 3, 0, 1) + EXIT, 0, "invalid source"),
    (rc.insn(rc.STX | rc.DW | rc.ATOMIC, 1, 2, 0, 0x02) + EXIT, 0, "atomic operation"),
    (rc.insn(rc.STX | rc.B | rc.ATOMIC, 1, 2, 0, 0) + EXIT, 0, "unknown opcode"),
    (EXIT + rc.insn(rc.JMP32 | rc.JMP_OPS["exit"]), 1, "exit in the jmp32"),
])
def test_refused_at_load(code: bytes, pc: int | None, words: str) -> None:
    err = refused(code)
    assert err.pc == pc
    assert words in str(err)


@pytest.mark.parametrize(("code", "pc"), [
    (rc.insn(0x07, 0, 0, 1, 1) + EXIT, 0),   # add64 imm with an offset
    (rc.insn(0x07, 0, 1, 0, 1) + EXIT, 0),   # add64 imm with a source register
    (rc.insn(0x0F, 0, 1, 0, 1) + EXIT, 0),   # add64 reg with an immediate
    (rc.insn(0x95, 1) , 0),                  # exit with a dst register
    (rc.insn(0x05, 0, 0, 0, 1) + EXIT, 0),   # ja with an immediate
    (rc.insn(0x85, 1, 0, 0, 1) + EXIT, 0),   # call with a dst register
    (rc.insn(0x61, 0, 1, 0, 1) + EXIT, 0),   # ldxw with an immediate
    (rc.insn(0x62, 1, 2, 0, 1) + EXIT, 0),   # stw with a source register
    (rc.insn(0x84, 0, 0, 0, 1) + EXIT, 0),   # neg32 with an immediate
    (rc.insn(0xD4, 0, 1, 0, 16) + EXIT, 0),  # le16 with a source register
])
def test_nonzero_unused_fields_are_refused(code: bytes, pc: int) -> None:
    assert refused(code).pc == pc


@settings(max_examples=2000, deadline=None)
@given(st.binary(min_size=0, max_size=96))
def test_random_bytes_never_crash(code: bytes) -> None:
    try:
        vm = Vm(code, bounds_check=True, budget=10_000)
    except VmError:
        return
    for h in range(256):
        vm.register_helper(h, lambda *a: 0)
    try:
        vm.run(bytearray(64))
    except VmError as exc:
        assert exc.errno in (errno.EFAULT, errno.ETIME, errno.E2BIG, errno.EINVAL)
