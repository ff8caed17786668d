"""The bpf_conformance / uBPF syntax: spellings, labels, numbers, errors."""

from __future__ import annotations

import errno

import pytest

from libbpf_compat.errors import LibbpfError
from libbpf_compat.isa import (
    AssemblerError,
    Instruction,
    assemble,
    decode,
    disassemble,
    disassemble_instruction,
)


def asm(text: str) -> list[Instruction]:
    return decode(assemble(text))


# (text, bytes): the spellings the task lists, plus aliases.
EXAMPLES = [
    ("mov %r0, 1", "b7 00 00 00 01 00 00 00"),
    ("mov32 %r0, 0", "b4 00 00 00 00 00 00 00"),
    ("add32 %r0, -3", "04 00 00 00 fd ff ff ff"),
    ("lddw %r0, 0x1122334455667788", "18 00 00 00 88 77 66 55 00 00 00 00 44 33 22 11"),
    ("lddw %r0, 2147483648", "18 00 00 00 00 00 00 80 00 00 00 00 00 00 00 00"),
    ("lddw %r0, -1", "18 00 00 00 ff ff ff ff 00 00 00 00 ff ff ff ff"),
    ("ldxw %r0, [%r1+2]", "61 10 02 00 00 00 00 00"),
    ("ldxdw %r0, [%r10-8]", "79 a0 f8 ff 00 00 00 00"),
    ("ldxsb %r0, [%r10-1]", "91 a0 ff ff 00 00 00 00"),
    ("ldxb %r0, [%r1]", "71 10 00 00 00 00 00 00"),
    ("ldxb %r0, [%r1 + 0x10]", "71 10 10 00 00 00 00 00"),
    ("stb [%r1+2], 0x11", "72 01 02 00 11 00 00 00"),
    ("stxdw [%r10-8], %r1", "7b 1a f8 ff 00 00 00 00"),
    ("lock fetch add32 [%r10-4], %r1", "c3 1a fc ff 01 00 00 00"),
    ("lock add [%r10-8], %r1", "db 1a f8 ff 00 00 00 00"),
    ("lock xchg [%r10-8], %r1", "db 1a f8 ff e1 00 00 00"),
    ("lock fetch xchg [%r10-8], %r1", "db 1a f8 ff e1 00 00 00"),
    ("lock cmpxchg32 [%r10-8], %r1", "c3 1a f8 ff f1 00 00 00"),
    ("ja +1", "05 00 01 00 00 00 00 00"),
    ("ja -1", "05 00 ff ff 00 00 00 00"),
    ("ja32 +1", "06 00 00 00 01 00 00 00"),
    ("call 5", "85 00 00 00 05 00 00 00"),
    ("call helper 5", "85 00 00 00 05 00 00 00"),
    ("call runtime 7", "85 20 00 00 07 00 00 00"),
    ("call %r2", "8d 02 00 00 00 00 00 00"),
    ("callx %r2", "8d 02 00 00 00 00 00 00"),
    ("call helper %r2", "8d 02 00 00 00 00 00 00"),
    ("call local +2", "85 10 00 00 02 00 00 00"),
    ("neg %r0", "87 00 00 00 00 00 00 00"),
    ("le16 %r0", "d4 00 00 00 10 00 00 00"),
    ("be64 %r0", "dc 00 00 00 40 00 00 00"),
    ("bswap16 %r0", "d7 00 00 00 10 00 00 00"),
    ("swap16 %r0", "d7 00 00 00 10 00 00 00"),
    ("movsx832 %r2, %r1", "bc 12 08 00 00 00 00 00"),
    ("movsx1664 %r8, %r7", "bf 78 10 00 00 00 00 00"),
    ("movsx3264 %r0, %r1", "bf 10 20 00 00 00 00 00"),
    ("sdiv %r0, %r1", "3f 10 01 00 00 00 00 00"),
    ("smod32 %r0, 3", "94 00 01 00 03 00 00 00"),
    ("jeq %r1, 0xb, +0", "15 01 00 00 0b 00 00 00"),
    ("jne32 %r0, 15, +3", "56 00 03 00 0f 00 00 00"),
    ("ldabsw 1", "20 00 00 00 01 00 00 00"),
    ("ldindb %r1, 2", "50 10 00 00 02 00 00 00"),
    ("lddw %r1, map_fd 3", "18 11 00 00 03 00 00 00 00 00 00 00 00 00 00 00"),
    ("lddw %r1, map_value 3, 8", "18 21 00 00 03 00 00 00 00 00 00 00 08 00 00 00"),
    ("exit", "95 00 00 00 00 00 00 00"),
    ("mov %r0 1", "b7 00 00 00 01 00 00 00"),  # the reference also splits on spaces
    ("mov %r0,1", "b7 00 00 00 01 00 00 00"),
    ("mov %r10, 1", "b7 0a 00 00 01 00 00 00"),  # assemblable; validate() refuses it
    ("mov %r15, %r11", "bf bf 00 00 00 00 00 00"),  # the reference's fake registers
    (".insn 0x07, 1, 0, 1, 1", "07 01 01 00 01 00 00 00"),
    (".insn 0x18, 1, 0, 0, 1, 2", "18 01 00 00 01 00 00 00 00 00 00 00 02 00 00 00"),
]


@pytest.mark.parametrize(("text", "hexcode"), EXAMPLES)
def test_example(text: str, hexcode: str) -> None:
    assert assemble(text) == bytes.fromhex(hexcode)


def test_comments_blank_lines_and_labels() -> None:
    code = assemble(
        """
        # a whole-line comment
        mov %r0, 0   # a trailing comment

        start:
        jeq %r0, 0, done   # forward
        ja start           # backward
        done: exit
        """
    )
    assert decode(code) == [
        Instruction(0xB7),
        Instruction(0x15, 0, 0, 1, 0),
        Instruction(0x05, off=-2),
        Instruction(0x95),
    ]


def test_labels_count_lddw_as_two_slots() -> None:
    insns = asm("ja over\nlddw %r0, 1\nover:\nexit\ncall local f\nf:\nexit")
    assert insns[0].off == 2
    assert insns[3].imm == 0


def test_exit_as_a_target_means_the_first_exit() -> None:
    """As in the bpf_conformance assembler (prime.data: `ja exit`)."""
    insns = asm("jeq %r1, 0, exit\nmov %r0, 1\nexit\nmov %r0, 2\nexit")
    assert insns[0].off == 1
    insns = asm("ja exit\nmov %r0, 1\nexit")  # forward to the only exit
    assert insns[0].off == 1


def test_a_defined_exit_label_wins() -> None:
    insns = asm("ja exit\nexit\nexit:\nexit")
    assert insns[0].off == 1


def test_exit_without_an_exit_instruction_is_undefined() -> None:
    with pytest.raises(AssemblerError, match="undefined label 'exit'"):
        assemble("ja exit")


@pytest.mark.parametrize(
    ("text", "imm"),
    [
        ("mov32 %r0, 2147483647", 2147483647),
        ("mov32 %r0, -2147483648", -2147483648),
        ("mov32 %r0, 0xffffffff", -1),
        ("mov32 %r0, 0x80000000", -2147483648),
        ("mov32 %r0, -0x80000000", -2147483648),
        ("mov32 %r0, 010", 10),
        ("mov32 %r0, 0XfF", 255),
    ],
)
def test_immediate_ranges_accepted(text: str, imm: int) -> None:
    assert asm(text)[0].imm == imm


@pytest.mark.parametrize(
    ("text", "off"),
    [
        ("ldxb %r0, [%r1+32767]", 32767),
        ("ldxb %r0, [%r1-32768]", -32768),
        ("ldxb %r0, [%r1+0xffff]", -1),
        ("ja +32767", 32767),
        ("ja -32768", -32768),
    ],
)
def test_offset_ranges_accepted(text: str, off: int) -> None:
    assert asm(text)[0].off == off


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("mov32 %r0, 2147483648", "immediate 2147483648 is out of range"),
        ("mov32 %r0, -2147483649", "immediate -2147483649 is out of range"),
        ("mov32 %r0, 0x100000000", "immediate 4294967296 is out of range"),
        ("lddw %r0, 0x10000000000000000", "64-bit immediate"),
        ("ldxb %r0, [%r1+0x10000]", "offset 65536 is out of range"),
        ("ldxb %r0, [%r1+32768]", "offset 32768 is out of range"),
        ("ja +32768", "target offset 32768 is out of range"),
        ("ja32 +0x80000000", "target offset 2147483648 is out of range"),
        ("mov %r0, 0x", "invalid number '0x'"),
        ("mov %r0, 1x", "invalid number '1x'"),
        ("or %r0, %r50", "invalid register '%r50'"),
        ("or %r16, %r0", "invalid register '%r16'"),
        ("or %rx, %r0", "invalid register '%rx'"),
        ("or r0, %r1", "invalid operands for or"),
        ("ldxq %r0, %r1", "invalid mnemonic 'ldxq'"),
        ("add64 %r0, 1", "invalid mnemonic 'add64'"),
        ("ldxb %r0, %r1", "invalid operands for ldxb (expected ldxb %rD, [%rS+offset])"),
        ("lddw %r0", "invalid number of operands for lddw: expected 2, 3 or 4, got 1"),
        ("exit %r0", "invalid number of operands for exit: expected 0, got 1"),
        ("mov %r0, 1, 2", "invalid number of operands for mov"),
        ("mov %r0, 1,", "trailing comma"),
        ("ldxb %r0, [%r1+2", "cannot read the operands"),
        ("lock", "invalid number of operands for lock"),
        ("lock or [%r10-8]", "invalid number of operands for lock or"),
        ("lock nand [%r10-8], %r1", "invalid atomic operation 'nand [%r10-8],'"),
        ("ja NOT_A_LABEL", "undefined label 'NOT_A_LABEL'"),
        ("ja 5", "invalid operands for ja"),
        ("call local 5", "invalid operands for call local"),
        ("stxb [%r1*2], %r0", "invalid memory operand"),
        ("x:\nx:\nexit", "duplicate label 'x' (first defined on line 1)"),
        (".insn 1, 2", ".insn takes 5 or 6 values"),
        (".insn 0x100, 0, 0, 0, 0", "opcode 256 is out of range"),
        (".insn 0x07, 0, 0, 0, 0, 1", "only lddw (opcode 0x18) has an upper immediate"),
    ],
)
def test_errors(text: str, message: str) -> None:
    with pytest.raises(AssemblerError) as info:
        assemble(text)
    assert info.value.errno == errno.EINVAL
    assert message in str(info.value)


def test_error_names_line_and_text() -> None:
    with pytest.raises(AssemblerError) as info:
        assemble("mov %r0, 1\n\n  or %r0, %r50   # bad\nexit")
    error = info.value
    assert error.line == 3
    assert error.text == "  or %r0, %r50   # bad"
    assert str(error) == "[EINVAL] line 3: invalid register '%r50': 'or %r0, %r50   # bad'"


def test_unknown_syntax() -> None:
    with pytest.raises(LibbpfError, match="unknown assembly syntax 'att'"):
        assemble("exit", "att")


def test_disassembly_formats() -> None:
    code = assemble(
        "mov %r0, 10\nmov %r0, 11\nmov %r0, -11\nmov %r0, 0x80000000\n"
        "ldxw %r0, [%r1]\nstxw [%r1+4], %r2\njeq %r1, %r2, -1\nexit"
    )
    assert disassemble(code) == (
        "mov %r0, 10\nmov %r0, 0xb\nmov %r0, -11\nmov %r0, 0x80000000\n"
        "ldxw %r0, [%r1]\nstxw [%r1+4], %r2\njeq %r1, %r2, -1\nexit\n"
    )


def test_disassembly_with_labels() -> None:
    code = assemble("ja +2\nlddw %r0, 1\ncall local +0\nexit\nja -5\nja -9\nja +0")
    text = disassemble(code, labels=True)
    assert text == (
        "ja L3\nL1:\nlddw %r0, 0x1\nL3:\ncall local L4\nL4:\nexit\nja L1\nja -9\nja L8\nL8:\n"
    )
    assert assemble(text) == code


def test_invalid_instructions_disassemble_as_insn() -> None:
    code = bytes.fromhex("07 01 01 00 01 00 00 00 ff 00 00 00 00 00 00 00")
    text = disassemble(code)
    assert text == (
        ".insn 0x07, 1, 0, 1, 1  # opcode 0x07 (add64_imm) has a non-zero unused offset "
        "field (1)\n.insn 0xff, 0, 0, 0, 0  # unknown opcode 0xff\n"
    )
    assert assemble(text) == code


def test_empty_program() -> None:
    assert assemble("") == b""
    assert assemble("# only a comment\n\n") == b""
    assert disassemble(b"") == ""


def test_disassemble_instructions_and_single_instruction() -> None:
    insns = [Instruction(0xB7, 0, 0, 0, 2), Instruction(0x95)]
    assert disassemble(insns) == "mov %r0, 2\nexit\n"
    assert disassemble(insns, "kernel") == "r0 = 2\nexit\n"
    assert disassemble_instruction(Instruction(0x05, off=-1), "kernel") == "goto -1"
    assert disassemble_instruction(Instruction(0x85, 0, 1, 0, 3)) == "call local +3"
