"""Building raw eBPF bytecode by hand in tests, including encodings the
assembler would refuse (bad input for the loader)."""

from __future__ import annotations

import struct

# classes
LD, LDX, ST, STX, ALU, JMP, JMP32, ALU64 = range(8)
# sizes
W, H, B, DW = 0x00, 0x08, 0x10, 0x18
# modes
IMM, ABS, IND, MEM, MEMSX, ATOMIC = 0x00, 0x20, 0x40, 0x60, 0x80, 0xC0
K, X = 0x00, 0x08
ALU_OPS = {
    "add": 0x00, "sub": 0x10, "mul": 0x20, "div": 0x30, "or": 0x40, "and": 0x50,
    "lsh": 0x60, "rsh": 0x70, "neg": 0x80, "mod": 0x90, "xor": 0xA0, "mov": 0xB0,
    "arsh": 0xC0, "end": 0xD0,
}
JMP_OPS = {
    "ja": 0x00, "jeq": 0x10, "jgt": 0x20, "jge": 0x30, "jset": 0x40, "jne": 0x50,
    "jsgt": 0x60, "jsge": 0x70, "call": 0x80, "exit": 0x90, "jlt": 0xA0, "jle": 0xB0,
    "jslt": 0xC0, "jsle": 0xD0,
}


def insn(opcode: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    """One 8-byte slot; fields are packed as given (no validation)."""
    return struct.pack("<BBhi", opcode, (src << 4) | dst, off, _s32(imm))


def _s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def lddw(dst: int, value: int, src: int = 0) -> bytes:
    value &= (1 << 64) - 1
    return insn(LD | DW | IMM, dst, src, 0, value & 0xFFFFFFFF) + insn(0, 0, 0, 0, value >> 32)


def alu(op: str, dst: int, src_or_imm: int, *, reg: bool, wide: bool = True, off: int = 0) -> bytes:
    opcode = (ALU64 if wide else ALU) | ALU_OPS[op] | (X if reg else K)
    if reg:
        return insn(opcode, dst, src_or_imm, off, 0)
    return insn(opcode, dst, 0, off, src_or_imm)


def jmp(op: str, dst: int, src_or_imm: int, off: int, *, reg: bool, wide: bool = True) -> bytes:
    opcode = (JMP if wide else JMP32) | JMP_OPS[op] | (X if reg else K)
    if reg:
        return insn(opcode, dst, src_or_imm, off, 0)
    return insn(opcode, dst, 0, off, src_or_imm)


def mov(dst: int, imm: int) -> bytes:
    return insn(ALU64 | ALU_OPS["mov"] | K, dst, 0, 0, imm)


def movr(dst: int, src: int) -> bytes:
    return insn(ALU64 | ALU_OPS["mov"] | X, dst, src)


def exit_() -> bytes:
    return insn(JMP | JMP_OPS["exit"])


def call(helper: int) -> bytes:
    return insn(JMP | JMP_OPS["call"], 0, 0, 0, helper)


def call_local(delta: int) -> bytes:
    return insn(JMP | JMP_OPS["call"], 0, 1, 0, delta)


def ja(off: int) -> bytes:
    return insn(JMP | JMP_OPS["ja"], 0, 0, off, 0)


def ldx(size: int, dst: int, src: int, off: int, *, signed: bool = False) -> bytes:
    return insn(LDX | size | (MEMSX if signed else MEM), dst, src, off, 0)


def stx(size: int, dst: int, src: int, off: int) -> bytes:
    return insn(STX | size | MEM, dst, src, off, 0)


def st(size: int, dst: int, off: int, imm: int) -> bytes:
    return insn(ST | size | MEM, dst, 0, off, imm)


def atomic(size: int, dst: int, src: int, off: int, op: int) -> bytes:
    return insn(STX | size | ATOMIC, dst, src, off, op)
