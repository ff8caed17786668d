"""Numeric constants of the eBPF instruction set (RFC 9669) and their name tables.

An opcode byte is either ``operation | source | class`` (arithmetic and jump
classes) or ``mode | size | class`` (load and store classes).  The tables at
the end give every operation its canonical name once; the instruction forms
(:mod:`libbpf_compat.isa.forms`) and both assembly syntaxes are built from
them.
"""

from __future__ import annotations

from typing import Final, NamedTuple

# Instruction classes (the low three bits of the opcode).
CLASS_LD: Final = 0x00
CLASS_LDX: Final = 0x01
CLASS_ST: Final = 0x02
CLASS_STX: Final = 0x03
CLASS_ALU: Final = 0x04
CLASS_JMP: Final = 0x05
CLASS_JMP32: Final = 0x06
CLASS_ALU64: Final = 0x07
CLASS_MASK: Final = 0x07

# Source bit of arithmetic and jump instructions.
SRC_K: Final = 0x00  # the immediate
SRC_X: Final = 0x08  # the source register
SRC_MASK: Final = 0x08

# Operation nibble of arithmetic and jump instructions.
OP_MASK: Final = 0xF0

ALU_ADD: Final = 0x00
ALU_SUB: Final = 0x10
ALU_MUL: Final = 0x20
ALU_DIV: Final = 0x30
ALU_OR: Final = 0x40
ALU_AND: Final = 0x50
ALU_LSH: Final = 0x60
ALU_RSH: Final = 0x70
ALU_NEG: Final = 0x80
ALU_MOD: Final = 0x90
ALU_XOR: Final = 0xA0
ALU_MOV: Final = 0xB0
ALU_ARSH: Final = 0xC0
ALU_END: Final = 0xD0

# Byte swap direction (the source bit of ALU | END).
END_TO_LE: Final = SRC_K
END_TO_BE: Final = SRC_X

JMP_JA: Final = 0x00
JMP_JEQ: Final = 0x10
JMP_JGT: Final = 0x20
JMP_JGE: Final = 0x30
JMP_JSET: Final = 0x40
JMP_JNE: Final = 0x50
JMP_JSGT: Final = 0x60
JMP_JSGE: Final = 0x70
JMP_CALL: Final = 0x80
JMP_EXIT: Final = 0x90
JMP_JLT: Final = 0xA0
JMP_JLE: Final = 0xB0
JMP_JSLT: Final = 0xC0
JMP_JSLE: Final = 0xD0

# Size and mode of load and store instructions.
SIZE_W: Final = 0x00
SIZE_H: Final = 0x08
SIZE_B: Final = 0x10
SIZE_DW: Final = 0x18
SIZE_MASK: Final = 0x18

MODE_IMM: Final = 0x00
MODE_ABS: Final = 0x20
MODE_IND: Final = 0x40
MODE_MEM: Final = 0x60
MODE_MEMSX: Final = 0x80
MODE_ATOMIC: Final = 0xC0
MODE_MASK: Final = 0xE0

# Atomic operations (the immediate of STX | ATOMIC).
ATOMIC_ADD: Final = 0x00
ATOMIC_OR: Final = 0x40
ATOMIC_AND: Final = 0x50
ATOMIC_XOR: Final = 0xA0
ATOMIC_FETCH: Final = 0x01
ATOMIC_XCHG: Final = 0xE0 | ATOMIC_FETCH
ATOMIC_CMPXCHG: Final = 0xF0 | ATOMIC_FETCH

# Source-register values of lddw (0x18): what the 64-bit immediate means.
PSEUDO_IMM64: Final = 0  # a plain 64-bit value
PSEUDO_MAP_FD: Final = 1  # map by file descriptor
PSEUDO_MAP_VALUE: Final = 2  # address of a map's value + offset (second slot)
PSEUDO_BTF_ID: Final = 3  # address of a variable by BTF id (ksym)
PSEUDO_FUNC: Final = 4  # address of a function, pc-relative
PSEUDO_MAP_IDX: Final = 5  # map by index
PSEUDO_MAP_IDX_VALUE: Final = 6  # address of a map's value by index + offset

# Source-register values of call (0x85).
CALL_HELPER: Final = 0
CALL_LOCAL: Final = 1
CALL_KFUNC: Final = 2

# Whole opcodes with a fixed meaning.
OPCODE_LDDW: Final = CLASS_LD | MODE_IMM | SIZE_DW  # 0x18
OPCODE_JA: Final = CLASS_JMP | JMP_JA  # 0x05
OPCODE_JA32: Final = CLASS_JMP32 | JMP_JA  # 0x06
OPCODE_CALL: Final = CLASS_JMP | JMP_CALL | SRC_K  # 0x85
OPCODE_CALLX: Final = CLASS_JMP | JMP_CALL | SRC_X  # 0x8d
OPCODE_EXIT: Final = CLASS_JMP | JMP_EXIT  # 0x95

# Registers: r0..r10 exist; the 4-bit fields can also hold 11..15.
REG_COUNT: Final = 11
REG_FP: Final = 10  # the read-only frame pointer
REG_FIELD_MAX: Final = 15


class Named(NamedTuple):
    """An operation name and its code."""

    name: str
    code: int


class Size(NamedTuple):
    """A memory access size: its mnemonic suffix, opcode bits and width."""

    suffix: str
    code: int
    bits: int


# Binary arithmetic operations (each has K and X forms in ALU and ALU64).
ALU_BINARY: Final = (
    Named("add", ALU_ADD),
    Named("sub", ALU_SUB),
    Named("mul", ALU_MUL),
    Named("div", ALU_DIV),
    Named("or", ALU_OR),
    Named("and", ALU_AND),
    Named("lsh", ALU_LSH),
    Named("rsh", ALU_RSH),
    Named("mod", ALU_MOD),
    Named("xor", ALU_XOR),
    Named("mov", ALU_MOV),
    Named("arsh", ALU_ARSH),
)

# Signed division and modulo: the unsigned opcode with offset 1.
ALU_SIGNED: Final = (Named("sdiv", ALU_DIV), Named("smod", ALU_MOD))
ALU_SIGNED_OFFSET: Final = 1

# Sign-extending moves: MOV | X with the source width in the offset.
MOVSX_WIDTHS_64: Final = (8, 16, 32)
MOVSX_WIDTHS_32: Final = (8, 16)

BYTE_SWAP_WIDTHS: Final = (16, 32, 64)

# Conditional jumps (each has K and X forms in JMP and JMP32).
JMP_CONDITIONS: Final = (
    Named("jeq", JMP_JEQ),
    Named("jgt", JMP_JGT),
    Named("jge", JMP_JGE),
    Named("jset", JMP_JSET),
    Named("jne", JMP_JNE),
    Named("jsgt", JMP_JSGT),
    Named("jsge", JMP_JSGE),
    Named("jlt", JMP_JLT),
    Named("jle", JMP_JLE),
    Named("jslt", JMP_JSLT),
    Named("jsle", JMP_JSLE),
)

MEM_SIZES: Final = (
    Size("b", SIZE_B, 8),
    Size("h", SIZE_H, 16),
    Size("w", SIZE_W, 32),
    Size("dw", SIZE_DW, 64),
)

# Atomic read-modify-write operations with an optional FETCH bit.
ATOMIC_ARITH: Final = (
    Named("add", ATOMIC_ADD),
    Named("or", ATOMIC_OR),
    Named("and", ATOMIC_AND),
    Named("xor", ATOMIC_XOR),
)

# lddw pseudo sources other than the plain immediate.
PSEUDO_SOURCES: Final = (
    Named("map_fd", PSEUDO_MAP_FD),
    Named("map_value", PSEUDO_MAP_VALUE),
    Named("var_addr", PSEUDO_BTF_ID),
    Named("code_addr", PSEUDO_FUNC),
    Named("map_idx", PSEUDO_MAP_IDX),
    Named("map_idx_value", PSEUDO_MAP_IDX_VALUE),
)

# Pseudo sources whose second slot carries an offset.
PSEUDO_WITH_OFFSET: Final = frozenset({PSEUDO_MAP_VALUE, PSEUDO_MAP_IDX_VALUE})
