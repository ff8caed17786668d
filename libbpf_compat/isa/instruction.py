"""The :class:`Instruction` type and the binary encoding of eBPF programs.

An instruction is 8 bytes, little-endian::

    byte 0      opcode
    byte 1      dst register (low nibble), src register (high nibble)
    bytes 2-3   off, signed 16 bits
    bytes 4-7   imm, signed 32 bits

``lddw`` (opcode 0x18) takes two slots: the second slot is all zero except
its ``imm``, the upper 32 bits of the 64-bit immediate (``imm_hi`` here).
"""

from __future__ import annotations

import errno
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from libbpf_compat.errors import LibbpfError
from libbpf_compat.isa import opcodes as op
from libbpf_compat.isa.errors import DecodeError

SLOT_SIZE = 8

_SLOT = struct.Struct("<BBhi")

Buffer = bytes | bytearray | memoryview


def _signed(value: int, bits: int, what: str) -> int:
    """``value`` as a signed ``bits``-bit integer; accepts the unsigned spelling too."""
    if not -(1 << (bits - 1)) <= value < (1 << bits):
        raise LibbpfError(errno.EINVAL, f"{what} {value} does not fit in {bits} bits")
    return value - (1 << bits) if value >= 1 << (bits - 1) else value


@dataclass(frozen=True)
class Instruction:
    """One eBPF instruction; ``lddw`` also holds its second slot's ``imm_hi``.

    ``off``, ``imm`` and ``imm_hi`` are stored signed; the constructor also
    takes their unsigned bit patterns (``imm=0xffffffff`` is ``imm=-1``).
    """

    opcode: int
    dst: int = 0
    src: int = 0
    off: int = 0
    imm: int = 0
    imm_hi: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.opcode <= 0xFF:
            raise LibbpfError(errno.EINVAL, f"opcode {self.opcode} does not fit in 8 bits")
        for name in ("dst", "src"):
            value = getattr(self, name)
            if not 0 <= value <= op.REG_FIELD_MAX:
                raise LibbpfError(errno.EINVAL, f"{name} register {value} does not fit in 4 bits")
        object.__setattr__(self, "off", _signed(self.off, 16, "offset"))
        object.__setattr__(self, "imm", _signed(self.imm, 32, "immediate"))
        object.__setattr__(self, "imm_hi", _signed(self.imm_hi, 32, "upper immediate"))
        if self.imm_hi and not self.is_lddw:
            raise LibbpfError(
                errno.EINVAL, f"imm_hi is only meaningful for lddw, not opcode {self.opcode:#04x}"
            )

    @classmethod
    def lddw(cls, dst: int, value: int, src: int = op.PSEUDO_IMM64) -> Instruction:
        """An lddw of the 64-bit ``value`` (signed or unsigned) into ``dst``."""
        bits = _signed(value, 64, "64-bit immediate") & 0xFFFF_FFFF_FFFF_FFFF
        return cls(op.OPCODE_LDDW, dst, src, 0, bits & 0xFFFF_FFFF, bits >> 32)

    # Opcode fields.
    @property
    def insn_class(self) -> int:
        """The instruction class (``opcodes.CLASS_*``)."""
        return self.opcode & op.CLASS_MASK

    @property
    def operation(self) -> int:
        """The operation nibble of arithmetic and jump opcodes (``ALU_*``, ``JMP_*``)."""
        return self.opcode & op.OP_MASK

    @property
    def source(self) -> int:
        """``SRC_K`` or ``SRC_X`` for arithmetic and jump opcodes."""
        return self.opcode & op.SRC_MASK

    @property
    def mem_size(self) -> int:
        """The size bits of load and store opcodes (``SIZE_*``)."""
        return self.opcode & op.SIZE_MASK

    @property
    def mode(self) -> int:
        """The mode bits of load and store opcodes (``MODE_*``)."""
        return self.opcode & op.MODE_MASK

    @property
    def is_lddw(self) -> bool:
        """Whether this is the two-slot 64-bit immediate load."""
        return self.opcode == op.OPCODE_LDDW

    @property
    def size(self) -> int:
        """The number of 8-byte slots: 2 for lddw, else 1."""
        return 2 if self.is_lddw else 1

    @property
    def imm64(self) -> int:
        """lddw's 64-bit immediate, unsigned (``imm`` low half, ``imm_hi`` high half)."""
        return (self.imm & 0xFFFF_FFFF) | ((self.imm_hi & 0xFFFF_FFFF) << 32)

    def encode(self) -> bytes:
        """The instruction's 8 bytes (16 for lddw)."""
        first = _SLOT.pack(self.opcode, self.dst | (self.src << 4), self.off, self.imm)
        if self.is_lddw:
            return first + _SLOT.pack(0, 0, 0, self.imm_hi)
        return first


def encode(insns: Iterable[Instruction]) -> bytes:
    """The bytecode of a sequence of instructions."""
    return b"".join(insn.encode() for insn in insns)


def decode(code: Buffer) -> list[Instruction]:
    """Split bytecode into instructions; lddw takes two slots and yields one Instruction.

    Raises :class:`DecodeError` (EINVAL) naming the slot when the length is
    not a multiple of 8, an lddw is truncated or its second slot has anything
    but the upper immediate set.
    """
    data = bytes(code)
    if len(data) % SLOT_SIZE:
        raise DecodeError(
            len(data) // SLOT_SIZE,
            f"the code is {len(data)} bytes, not a multiple of {SLOT_SIZE} "
            f"(the last instruction has {len(data) % SLOT_SIZE} bytes)",
        )
    count = len(data) // SLOT_SIZE
    insns: list[Instruction] = []
    index = 0
    while index < count:
        opcode, regs, off, imm = _SLOT.unpack_from(data, index * SLOT_SIZE)
        imm_hi = 0
        if opcode == op.OPCODE_LDDW:
            if index + 1 >= count:
                raise DecodeError(index, "lddw is truncated: its second slot is missing")
            opcode2, regs2, off2, imm_hi = _SLOT.unpack_from(data, (index + 1) * SLOT_SIZE)
            if opcode2 or regs2 or off2:
                raise DecodeError(
                    index + 1,
                    "the second slot of lddw must have a zero opcode, registers and offset "
                    f"(opcode {opcode2:#04x}, registers {regs2:#04x}, offset {off2})",
                )
        insns.append(Instruction(opcode, regs & 0x0F, regs >> 4, off, imm, imm_hi))
        index += 2 if opcode == op.OPCODE_LDDW else 1
    return insns


def slot_indices(insns: Sequence[Instruction]) -> list[int]:
    """The slot index of each instruction (lddw counts as two slots)."""
    indices: list[int] = []
    slot = 0
    for insn in insns:
        indices.append(slot)
        slot += insn.size
    return indices


__all__ = ["SLOT_SIZE", "Buffer", "Instruction", "decode", "encode", "slot_indices"]
