"""Instruction: construction, encoding, decoding, accessors."""

from __future__ import annotations

import errno

import pytest

from libbpf_compat.errors import LibbpfError
from libbpf_compat.isa import DecodeError, Instruction, decode, encode, slot_indices
from libbpf_compat.isa import opcodes as op


def test_encode_layout() -> None:
    insn = Instruction(0x61, dst=1, src=10, off=-8, imm=0)
    assert insn.encode() == bytes.fromhex("61 a1 f8 ff 00 00 00 00")
    assert Instruction(0xB7, 2, 0, 0, -1).encode() == bytes.fromhex("b7 02 00 00 ff ff ff ff")


def test_lddw_two_slots() -> None:
    insn = Instruction.lddw(3, 0x1122334455667788)
    assert insn.encode() == bytes.fromhex("18 03 00 00 88 77 66 55 00 00 00 00 44 33 22 11")
    assert insn.size == 2
    assert insn.is_lddw
    assert insn.imm64 == 0x1122334455667788
    assert insn.imm == 0x55667788
    assert insn.imm_hi == 0x11223344
    assert Instruction.lddw(0, -1).imm64 == 0xFFFF_FFFF_FFFF_FFFF
    assert Instruction.lddw(1, 5, src=op.PSEUDO_MAP_FD).src == 1


def test_unsigned_spellings_normalise_to_signed() -> None:
    assert Instruction(0xB7, imm=0xFFFF_FFFF) == Instruction(0xB7, imm=-1)
    assert Instruction(0x05, off=0xFFFF).off == -1
    assert Instruction(0x18, imm_hi=0x8000_0000).imm_hi == -(1 << 31)


@pytest.mark.parametrize(
    "fields",
    [
        {"opcode": 256},
        {"opcode": -1},
        {"opcode": 0xB7, "dst": 16},
        {"opcode": 0xB7, "src": -1},
        {"opcode": 0x05, "off": 1 << 16},
        {"opcode": 0x05, "off": -(1 << 15) - 1},
        {"opcode": 0xB7, "imm": 1 << 32},
        {"opcode": 0xB7, "imm_hi": 1},  # only lddw has an upper immediate
    ],
)
def test_out_of_range_fields_are_refused(fields: dict[str, int]) -> None:
    with pytest.raises(LibbpfError) as info:
        Instruction(**fields)
    assert info.value.errno == errno.EINVAL


def test_accessors() -> None:
    alu = Instruction(0xCF, 1, 2)  # arsh64 reg
    assert alu.insn_class == op.CLASS_ALU64
    assert alu.operation == op.ALU_ARSH
    assert alu.source == op.SRC_X
    load = Instruction(0x91, 1, 2)  # ldxsb
    assert load.insn_class == op.CLASS_LDX
    assert load.mode == op.MODE_MEMSX
    assert load.mem_size == op.SIZE_B
    assert load.size == 1
    assert not load.is_lddw


def test_decode_roundtrip_and_slots() -> None:
    insns = [
        Instruction(0xB7, 0, 0, 0, 1),
        Instruction.lddw(1, 1 << 40),
        Instruction(0x05, off=-3),
        Instruction(0x95),
    ]
    code = encode(insns)
    assert len(code) == 40
    assert decode(code) == insns
    assert decode(bytearray(code)) == insns
    assert decode(memoryview(code)) == insns
    assert slot_indices(insns) == [0, 1, 3, 4]
    assert decode(b"") == []


def test_decode_length_not_multiple_of_8() -> None:
    with pytest.raises(DecodeError) as info:
        decode(bytes(20))
    assert info.value.errno == errno.EINVAL
    assert info.value.index == 2
    assert "instruction 2" in str(info.value)
    assert "not a multiple of 8" in str(info.value)


def test_decode_truncated_lddw() -> None:
    code = Instruction(0xB7).encode() + Instruction.lddw(1, 5).encode()[:8]
    with pytest.raises(DecodeError) as info:
        decode(code)
    assert info.value.index == 1
    assert "lddw is truncated" in str(info.value)


def test_decode_bad_lddw_second_slot() -> None:
    code = Instruction.lddw(1, 5).encode()[:8] + Instruction(0x95).encode()
    with pytest.raises(DecodeError) as info:
        decode(code)
    assert info.value.index == 1
    assert "second slot of lddw" in str(info.value)


def test_decode_error_is_a_libbpf_error() -> None:
    with pytest.raises(LibbpfError):
        decode(b"\x18" + bytes(7))
