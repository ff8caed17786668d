"""ALU semantics of the interpreter, against the reference model and Linux's
documented edge cases."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from libbpf_compat.vm import Vm
from tests import rawcode as rc
from tests.alu_model import M32, M64, alu

#: every test twice: interpreted, then as machine code (conftest.py)
pytestmark = pytest.mark.usefixtures("vm_mode")

BINOPS = ["add", "sub", "mul", "div", "sdiv", "or", "and", "lsh", "rsh", "mod", "smod", "xor",
          "mov", "arsh"]
INT64_MIN = 1 << 63

EDGE64 = [0, 1, 2, 7, 31, 32, 63, 64, 65, M32, 1 << 31, 1 << 32, INT64_MIN, M64, M64 - 1,
          INT64_MIN - 1, 0x8000_0000_0000_0001]


def run_binop(op: str, dst: int, src: int, *, wide: bool, reg: bool) -> int:
    name = {"sdiv": "div", "smod": "mod"}.get(op, op)
    off = 1 if op in ("sdiv", "smod") else 0
    code = rc.lddw(0, dst)
    if reg:
        code += rc.lddw(1, src) + rc.alu(name, 0, 1, reg=True, wide=wide, off=off)
    else:
        code += rc.alu(name, 0, src, reg=False, wide=wide, off=off)
    return Vm(code + rc.exit_()).run()


def expected(op: str, dst: int, src: int, *, wide: bool, reg: bool) -> int:
    if not reg:  # the immediate is a sign-extended 32-bit value
        src = src & M32
        src = src - (1 << 32) if src >> 31 else src
        src &= M64
    if not wide:
        return alu(op, dst, src, 32)
    return alu(op, dst, src, 64)


@pytest.mark.parametrize("wide", [True, False], ids=["alu64", "alu32"])
@pytest.mark.parametrize("op", BINOPS)
def test_edge_values_register_form(op: str, wide: bool) -> None:
    for d in EDGE64:
        for s in EDGE64:
            assert run_binop(op, d, s, wide=wide, reg=True) == expected(
                op, d, s, wide=wide, reg=True), (op, hex(d), hex(s))


@settings(max_examples=300, deadline=None)
@given(op=st.sampled_from(BINOPS), dst=st.integers(0, M64), src=st.integers(0, M64),
       wide=st.booleans(), reg=st.booleans())
def test_random_operands_match_model(op: str, dst: int, src: int, wide: bool, reg: bool) -> None:
    if not reg:
        src &= M32
    assert run_binop(op, dst, src, wide=wide, reg=reg) == expected(op, dst, src, wide=wide, reg=reg)


def test_linux_division_edge_cases() -> None:
    # division by zero gives 0; modulo by zero leaves dst (32-bit: zero-extended)
    assert run_binop("div", 1234, 0, wide=True, reg=True) == 0
    assert run_binop("mod", 1234, 0, wide=True, reg=True) == 1234
    assert run_binop("div", M64, 0, wide=False, reg=False) == 0
    assert run_binop("mod", 0xFFFF_FFFF_0000_0005, 0, wide=False, reg=True) == 5
    assert run_binop("sdiv", 5, 0, wide=True, reg=True) == 0
    assert run_binop("smod", 5, 0, wide=True, reg=True) == 5
    # INT64_MIN / -1 overflows to INT64_MIN; INT64_MIN % -1 is 0
    assert run_binop("sdiv", INT64_MIN, M64, wide=True, reg=True) == INT64_MIN
    assert run_binop("smod", INT64_MIN, M64, wide=True, reg=True) == 0
    assert run_binop("sdiv", INT64_MIN, -1, wide=True, reg=False) == INT64_MIN
    assert run_binop("sdiv", 0x8000_0000, M32, wide=False, reg=True) == 0x8000_0000
    assert run_binop("smod", 0x8000_0000, M32, wide=False, reg=True) == 0
    # signed modulo truncates toward zero: -7 % 2 == -1, 7 % -2 == 1
    assert run_binop("smod", -7 & M64, 2, wide=True, reg=True) == -1 & M64
    assert run_binop("smod", 7, -2 & M64, wide=True, reg=True) == 1
    assert run_binop("sdiv", -7 & M64, 2, wide=True, reg=True) == -3 & M64


def test_shift_counts_are_masked() -> None:
    assert run_binop("lsh", 1, 64, wide=True, reg=True) == 1
    assert run_binop("lsh", 1, 65, wide=True, reg=True) == 2
    assert run_binop("lsh", 1, 32, wide=False, reg=True) == 1
    assert run_binop("rsh", INT64_MIN, 127, wide=True, reg=True) == 1
    assert run_binop("arsh", INT64_MIN, 63, wide=True, reg=True) == M64
    assert run_binop("arsh", 0x8000_0000, 31, wide=False, reg=False) == M32
    assert run_binop("arsh", 0x8000_0000, 33, wide=False, reg=True) == 0xC000_0000


def test_32bit_ops_zero_the_upper_half() -> None:
    for op in ("add", "sub", "mul", "or", "and", "xor", "mov", "lsh", "rsh", "arsh"):
        assert run_binop(op, M64, 1, wide=False, reg=False) >> 32 == 0, op
    code = rc.lddw(0, M64) + rc.insn(rc.ALU | rc.ALU_OPS["neg"], 0) + rc.exit_()
    assert Vm(code).run() == 1
    code = rc.lddw(0, 5) + rc.insn(rc.ALU64 | rc.ALU_OPS["neg"], 0) + rc.exit_()
    assert Vm(code).run() == (-5) & M64


@pytest.mark.parametrize(("wide", "bits", "value", "result"), [
    (True, 8, 0x80, 0xFFFF_FFFF_FFFF_FF80),
    (True, 8, 0x17F, 0x7F),
    (True, 16, 0x8001, 0xFFFF_FFFF_FFFF_8001),
    (True, 32, 0x1_8000_0000, 0xFFFF_FFFF_8000_0000),
    (True, 32, 0x7FFF_FFFF, 0x7FFF_FFFF),
    (False, 8, 0xFFFF_FFFF_0000_00FF, 0xFFFF_FFFF),
    (False, 16, 0x1234_8000, 0xFFFF_8000),
    (False, 16, 0x7FFF, 0x7FFF),
])
def test_movsx_sign_extends_every_width(wide: bool, bits: int, value: int, result: int) -> None:
    code = rc.lddw(1, value) + rc.alu("mov", 0, 1, reg=True, wide=wide, off=bits) + rc.exit_()
    assert Vm(code).run() == result


@pytest.mark.parametrize(("size", "nbytes", "raw", "result"), [
    (rc.B, 1, b"\x80", 0xFFFF_FFFF_FFFF_FF80),
    (rc.B, 1, b"\x7f", 0x7F),
    (rc.H, 2, b"\x00\x80", 0xFFFF_FFFF_FFFF_8000),
    (rc.W, 4, b"\x00\x00\x00\x80", 0xFFFF_FFFF_8000_0000),
    (rc.W, 4, b"\xff\xff\xff\x7f", 0x7FFF_FFFF),
])
def test_sign_extending_loads(size: int, nbytes: int, raw: bytes, result: int) -> None:
    code = rc.ldx(size, 0, 1, 0, signed=True) + rc.exit_()
    assert Vm(code).run(raw) == result
    unsigned = rc.ldx(size, 0, 1, 0) + rc.exit_()
    assert Vm(unsigned).run(raw) == int.from_bytes(raw, "little")


@pytest.mark.parametrize(("cls", "src_bit", "width", "value", "result"), [
    (rc.ALU, rc.X, 16, 0x1122_3344_5566_7788, 0x8877),  # be16
    (rc.ALU, rc.X, 32, 0x1122_3344_5566_7788, 0x8877_6655),  # be32
    (rc.ALU, rc.X, 64, 0x1122_3344_5566_7788, 0x8877_6655_4433_2211),  # be64
    (rc.ALU, rc.K, 16, 0x1122_3344_5566_7788, 0x7788),  # le16 truncates
    (rc.ALU, rc.K, 32, 0x1122_3344_5566_7788, 0x5566_7788),
    (rc.ALU, rc.K, 64, 0x1122_3344_5566_7788, 0x1122_3344_5566_7788),
    (rc.ALU64, rc.K, 16, 0x1122_3344_5566_7788, 0x8877),  # bswap16
    (rc.ALU64, rc.K, 32, 0x1122_3344_5566_7788, 0x8877_6655),
    (rc.ALU64, rc.K, 64, 0x1122_3344_5566_7788, 0x8877_6655_4433_2211),
])
def test_byte_swaps(cls: int, src_bit: int, width: int, value: int, result: int) -> None:
    code = rc.lddw(0, value) + rc.insn(cls | rc.ALU_OPS["end"] | src_bit, 0, 0, 0, width)
    assert Vm(code + rc.exit_()).run() == result


def test_lddw_loads_64_bits() -> None:
    assert Vm(rc.lddw(0, 0x8877_6655_4433_2211) + rc.exit_()).run() == 0x8877_6655_4433_2211
