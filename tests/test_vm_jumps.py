"""Every branch form, 64- and 32-bit, immediate and register, against the
reference model; unconditional jumps including ja32."""

from __future__ import annotations

import itertools

import pytest

from libbpf_compat.vm import Vm
from tests import rawcode as rc
from tests.alu_model import M32, M64, jump

#: every test twice: interpreted, then as machine code (conftest.py)
pytestmark = pytest.mark.usefixtures("vm_mode")

CONDS = ["jeq", "jne", "jgt", "jge", "jlt", "jle", "jset", "jsgt", "jsge", "jslt", "jsle"]
VALUES = [0, 1, 2, 0x7FFF_FFFF, 0x8000_0000, M32, 1 << 32, (1 << 32) + 1, 0x7FFF_FFFF_FFFF_FFFF,
          1 << 63, M64, M64 - 1, 0xFFFF_FFFF_0000_0001]
IMMS = [0, 1, 2, -1, -2, 0x7FFF_FFFF, -0x8000_0000]


def branch(op: str, dst: int, src: int, *, wide: bool, reg: bool) -> bool:
    code = rc.lddw(1, dst)
    if reg:
        code += rc.lddw(2, src) + rc.jmp(op, 1, 2, 2, reg=True, wide=wide)
    else:
        code += rc.jmp(op, 1, src, 2, reg=False, wide=wide)
    code += rc.mov(0, 0) + rc.exit_() + rc.mov(0, 1) + rc.exit_()
    return Vm(code).run() == 1


@pytest.mark.parametrize("wide", [True, False], ids=["jmp", "jmp32"])
@pytest.mark.parametrize("op", CONDS)
def test_register_form(op: str, wide: bool) -> None:
    for d, s in itertools.product(VALUES, VALUES):
        assert branch(op, d, s, wide=wide, reg=True) == jump(op, d, s, 64 if wide else 32), (
            op, hex(d), hex(s))


@pytest.mark.parametrize("wide", [True, False], ids=["jmp", "jmp32"])
@pytest.mark.parametrize("op", CONDS)
def test_immediate_form_sign_extends(op: str, wide: bool) -> None:
    for d, imm in itertools.product(VALUES, IMMS):
        assert branch(op, d, imm, wide=wide, reg=False) == jump(op, d, imm & M64,
                                                               64 if wide else 32), (
            op, hex(d), imm)


def test_ja_forward_and_backward() -> None:
    # r0 = 0; loop: r0 += 1; if r0 < 5 goto loop (via ja); exit
    code = (rc.mov(0, 0) + rc.alu("add", 0, 1, reg=False)            # 0, 1
            + rc.jmp("jge", 0, 5, 1, reg=False)                      # 2
            + rc.ja(-3)                                              # 3 -> 1
            + rc.exit_())                                            # 4
    assert Vm(code).run() == 5


def test_ja32_uses_the_immediate() -> None:
    ja32 = rc.insn(rc.JMP32 | rc.JMP_OPS["ja"], 0, 0, 0, 1)
    code = rc.mov(0, 1) + ja32 + rc.mov(0, 2) + rc.exit_()
    assert Vm(code).run() == 1
