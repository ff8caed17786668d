"""validate() and validate_program()."""

from __future__ import annotations

import pytest

from libbpf_compat.isa import Instruction, assemble_instructions, validate, validate_program
from libbpf_compat.isa import opcodes as op


@pytest.mark.parametrize(
    "insn",
    [
        Instruction(0xB7, 0, 0, 0, 1),  # mov r0, 1
        Instruction(0x0F, 1, 10),  # add r1, r10: r10 may be read
        Instruction(0x3F, 1, 2, 1),  # sdiv
        Instruction(0xBF, 1, 2, 32),  # movsx3264
        Instruction(0xD7, 1, 0, 0, 64),  # bswap64
        Instruction(0x7A, 10, 0, -8, 5),  # stdw [r10-8], 5: r10 may be a base
        Instruction(0xC3, 10, 1, -4, op.ATOMIC_CMPXCHG),
        Instruction(0xDB, 1, 0, 0, op.ATOMIC_XCHG),  # xchg writes src r0
        Instruction(0x18, 1, op.PSEUDO_MAP_VALUE, 0, 5, 16),  # map value + 16
        Instruction(0x50, 0, 3, 0, 4),  # ldindb r3, 4
        Instruction(0x85, 0, op.CALL_KFUNC, 0, 1234),
        Instruction(0x8D, 3),  # callx r3
    ],
)
def test_valid(insn: Instruction) -> None:
    assert validate(insn) is None


@pytest.mark.parametrize(
    ("insn", "reason"),
    [
        (Instruction(0xFF), "unknown opcode 0xff"),
        (Instruction(0x8E), "unknown opcode 0x8e"),  # call in the JMP32 class
        (Instruction(0x07, 1, 0, 1, 1), "non-zero unused offset field (1)"),
        (Instruction(0x07, 1, 2, 0, 1), "non-zero unused source register field (2)"),
        (Instruction(0x0F, 1, 2, 0, 1), "non-zero unused immediate field (1)"),
        (Instruction(0x37, 1, 0, 2, 1), "invalid offset 2 (expected 0, 1)"),
        (Instruction(0xBF, 1, 2, 4), "invalid offset 4 (expected 0, 8, 16, 32)"),
        (Instruction(0xBC, 1, 2, 32), "32-bit movsx only sign-extends from 8 or 16 bits"),
        (Instruction(0xD4, 1, 0, 0, 8), "invalid immediate 8 (expected 16, 32, 64)"),
        (Instruction(0xDF, 1, 0, 0, 16), "unknown opcode 0xdf"),  # bswap with the X bit
        (Instruction(0x18, 1, 7, 0, 1), "invalid source register 7 (expected 0, 1, 2, 3, 4, 5, 6)"),
        (Instruction(0x18, 1, 1, 0, 1, 2), "non-zero unused upper immediate"),
        (Instruction(0x85, 0, 3, 0, 1), "invalid source register 3 (expected 0, 1, 2)"),
        (Instruction(0x85, 1, 0, 0, 1), "non-zero unused destination register field (1)"),
        (Instruction(0x95, 0, 0, 0, 1), "non-zero unused immediate field (1)"),
        (Instruction(0xDB, 1, 2, 0, 0x02), "invalid immediate 2"),  # no such atomic op
        (Instruction(0x38, 0, 0, 0, 1), "legacy packet loads have no 64-bit size"),
        (Instruction(0x20, 1, 0, 0, 1), "non-zero unused destination register field (1)"),
        (Instruction(0xB7, 11, 0, 0, 1), "invalid destination register r11"),
        (Instruction(0xBF, 1, 12), "invalid source register r12"),
        (Instruction(0xB7, 10, 0, 0, 1), "mov64_imm writes to r10"),
        (Instruction(0x79, 10, 1), "ldxdw writes to r10"),
        (Instruction.lddw(10, 1), "lddw writes to r10"),
        (Instruction(0xDB, 1, 10, 0, op.ATOMIC_ADD | op.ATOMIC_FETCH), "writes to r10"),
    ],
)
def test_invalid(insn: Instruction, reason: str) -> None:
    problem = validate(insn)
    assert problem is not None
    assert reason in problem


def test_program_valid() -> None:
    insns = assemble_instructions(
        """
        mov %r0, 0
        lddw %r1, 5
        jeq %r1, 5, done
        call local func
        done:
        exit
        func:
        ja32 +0
        exit
        """
    )
    assert validate_program(insns) == []


def test_program_problems() -> None:
    insns = [
        Instruction(0x05, off=1),  # jumps into the middle of the lddw
        Instruction.lddw(1, 5),
        Instruction(0x15, 1, 0, 5, 0),  # jumps past the end
        Instruction(0x07, 1, 0, 1, 1),  # unused offset
        Instruction(0xB7, 0, 0, 0, 0),  # falls off the end
    ]
    problems = validate_program(insns)
    assert [slot for slot, _ in problems] == [0, 3, 4, 5]
    assert "in the middle of an lddw" in problems[0][1]
    assert "outside the program" in problems[1][1]
    assert "non-zero unused offset" in problems[2][1]
    assert "fall off its end" in problems[3][1]


def test_program_empty() -> None:
    assert validate_program([]) == [(0, "the program is empty")]
