"""The assembly syntaxes by name and the assemble / disassemble entry points."""

from __future__ import annotations

import errno
from collections.abc import Sequence

from libbpf_compat.errors import LibbpfError
from libbpf_compat.isa import syntax_conformance, syntax_kernel
from libbpf_compat.isa.assembly import (
    Syntax,
    assemble_program,
    disassemble_program,
    format_instruction,
)
from libbpf_compat.isa.instruction import Buffer, Instruction, decode, encode

SYNTAXES: dict[str, Syntax] = {
    syntax_conformance.SYNTAX.name: syntax_conformance.SYNTAX,
    syntax_kernel.SYNTAX.name: syntax_kernel.SYNTAX,
}


def get_syntax(name: str) -> Syntax:
    """The syntax called ``name`` ("conformance" or "kernel")."""
    try:
        return SYNTAXES[name]
    except KeyError:
        expected = " or ".join(repr(known) for known in SYNTAXES)
        raise LibbpfError(
            errno.EINVAL, f"unknown assembly syntax {name!r} (expected {expected})"
        ) from None


def assemble(text: str, syntax: str = "conformance") -> bytes:
    """The bytecode of assembly ``text``; raises :class:`AssemblerError` naming the
    line and its text when a line cannot be assembled."""
    return encode(assemble_program(text, get_syntax(syntax)))


def assemble_instructions(text: str, syntax: str = "conformance") -> list[Instruction]:
    """Like :func:`assemble`, as instructions."""
    return assemble_program(text, get_syntax(syntax))


def disassemble(
    code: Buffer | Sequence[Instruction], syntax: str = "conformance", *, labels: bool = False
) -> str:
    """Assembly text for bytecode (or decoded instructions), one instruction per line.

    Jump and call targets are numeric offsets, or with ``labels`` generated
    labels (``L<slot>``) where they land on an instruction.  Instructions the
    syntax cannot spell are written as ``.insn`` directives with a comment
    saying why, so ``assemble(disassemble(code, s), s) == code`` always holds.
    """
    insns = decode(code) if isinstance(code, bytes | bytearray | memoryview) else list(code)
    return disassemble_program(insns, get_syntax(syntax), labels=labels)


def disassemble_instruction(insn: Instruction, syntax: str = "conformance") -> str:
    """One instruction as text (targets as numeric offsets)."""
    return format_instruction(insn, get_syntax(syntax))


__all__ = [
    "SYNTAXES",
    "assemble",
    "assemble_instructions",
    "disassemble",
    "disassemble_instruction",
    "get_syntax",
]
