"""The eBPF instruction set: opcodes, instructions, validation, two assembly syntaxes.

- :mod:`~libbpf_compat.isa.opcodes`: numeric constants and name tables (RFC 9669);
- :mod:`~libbpf_compat.isa.instruction`: :class:`Instruction`, :func:`encode`, :func:`decode`;
- :mod:`~libbpf_compat.isa.forms`: the catalogue of instruction forms;
- :mod:`~libbpf_compat.isa.validate`: :func:`validate`, :func:`validate_program`;
- :mod:`~libbpf_compat.isa.syntax_conformance`: the bpf_conformance / uBPF syntax;
- :mod:`~libbpf_compat.isa.syntax_kernel`: the kernel-verifier / llvm-objdump syntax;
- :mod:`~libbpf_compat.isa.syntaxes`: :func:`assemble`, :func:`disassemble`.
"""

from __future__ import annotations

from libbpf_compat.isa.errors import AssemblerError, DecodeError
from libbpf_compat.isa.forms import FORMS, Form, match_form
from libbpf_compat.isa.instruction import SLOT_SIZE, Instruction, decode, encode, slot_indices
from libbpf_compat.isa.syntaxes import (
    SYNTAXES,
    assemble,
    assemble_instructions,
    disassemble,
    disassemble_instruction,
)
from libbpf_compat.isa.validate import validate, validate_program

__all__ = [
    "FORMS",
    "SLOT_SIZE",
    "SYNTAXES",
    "AssemblerError",
    "DecodeError",
    "Form",
    "Instruction",
    "assemble",
    "assemble_instructions",
    "decode",
    "disassemble",
    "disassemble_instruction",
    "encode",
    "match_form",
    "slot_indices",
    "validate",
    "validate_program",
]
