"""Machinery shared by the assembly syntaxes: numbers, labels, the two-pass
assembler driver, the disassembler driver and the raw ``.insn`` directive.

A syntax (a :class:`Syntax` subclass) only turns one line of text into a
:class:`Statement` and one instruction into text; everything about labels,
pc-relative targets and programs lives here, identical for both syntaxes.

The ``.insn`` directive writes any encodable instruction field by field::

    .insn OPCODE, DST, SRC, OFF, IMM[, IMM_HI]

Disassemblers print it for instructions that have no spelling (unknown
opcodes, non-zero unused fields), so every decodable program round-trips.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, replace

from libbpf_compat.isa import forms as fm
from libbpf_compat.isa import opcodes as op
from libbpf_compat.isa.errors import AssemblerError
from libbpf_compat.isa.forms import Form
from libbpf_compat.isa.instruction import Instruction, slot_indices
from libbpf_compat.isa.validate import validate


class LineError(Exception):
    """A problem with one line; the driver adds the line number and text."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# Numbers ---------------------------------------------------------------------------------

NUMBER = r"[+-]?\s*(?:0[xX][0-9a-fA-F]+|[0-9]+)"
_NUMBER = re.compile(r"([+-]?)\s*(0[xX][0-9a-fA-F]+|[0-9]+)")


def parse_number(text: str) -> tuple[int, bool]:
    """The value of a decimal or ``0x`` hexadecimal literal with an optional sign,
    and whether it was written in hexadecimal."""
    match = _NUMBER.fullmatch(text.strip())
    if match is None:
        raise LineError(f"invalid number {text.strip()!r}")
    sign, digits = match.groups()
    value = int(digits, 0) if digits[:2].lower() == "0x" else int(digits, 10)
    return (-value if sign == "-" else value), digits[:2].lower() == "0x"


def fit(value: int, bits: int, what: str, *, unsigned: bool = True) -> int:
    """``value`` as a signed ``bits``-bit field; with ``unsigned`` its unsigned bit
    pattern is accepted too (``0xffffffff`` for -1)."""
    low = -(1 << (bits - 1))
    high = (1 << bits) - 1 if unsigned else (1 << (bits - 1)) - 1
    if not low <= value <= high:
        raise LineError(f"{what} {value} is out of range ({low}..{high})")
    return value - (1 << bits) if value >= 1 << (bits - 1) else value


def parse_register(text: str, prefix: str) -> int:
    """The number of a register written ``<prefix><n>`` (r0-r10, and r11-r15 that
    only negative tests use)."""
    match = re.fullmatch(re.escape(prefix) + r"(\d+)", text.strip())
    if match is None or int(match.group(1)) > 15:
        raise LineError(f"invalid register {text.strip()!r}")
    return int(match.group(1))


# Statements ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A pc-relative target as written: a label or an explicit offset."""

    label: str | None = None
    delta: int | None = None


@dataclass(frozen=True)
class Statement:
    """One assembled instruction, its target still to be resolved when it has one."""

    insn: Instruction
    target: Target | None = None
    target_role: str | None = None


@dataclass(frozen=True)
class ParsedLine:
    """The labels a line defines and the instruction it holds, if any."""

    labels: tuple[str, ...] = ()
    statement: Statement | None = None


_RAW = re.compile(r"\.insn\b(.*)", re.DOTALL)


def parse_raw(text: str) -> Statement | None:
    """The ``.insn`` directive, or None when ``text`` is not one."""
    match = _RAW.fullmatch(text.strip())
    if match is None:
        return None
    parts = [part.strip() for part in match.group(1).split(",")]
    if len(parts) not in (5, 6):
        raise LineError(".insn takes 5 or 6 values: opcode, dst, src, off, imm[, imm_hi]")
    values = [parse_number(part)[0] for part in parts]
    opcode, dst, src = values[:3]
    if not 0 <= opcode <= 0xFF:
        raise LineError(f"opcode {opcode} is out of range (0..255)")
    for name, reg in (("dst", dst), ("src", src)):
        if not 0 <= reg <= 15:
            raise LineError(f"{name} register {reg} is out of range (0..15)")
    off = fit(values[3], 16, "offset")
    imm = fit(values[4], 32, "immediate")
    imm_hi = fit(values[5], 32, "upper immediate") if len(values) == 6 else 0
    if imm_hi and opcode != op.OPCODE_LDDW:
        raise LineError("only lddw (opcode 0x18) has an upper immediate")
    return Statement(Instruction(opcode, dst, src, off, imm, imm_hi))


def format_raw(insn: Instruction) -> str:
    """``insn`` as an ``.insn`` directive."""
    text = f".insn {insn.opcode:#04x}, {insn.dst}, {insn.src}, {insn.off}, {insn.imm}"
    return text + (f", {insn.imm_hi}" if insn.is_lddw else "")


# Syntaxes --------------------------------------------------------------------------------


class Syntax(ABC):
    """An assembly syntax: how one line reads and how one instruction prints."""

    name: str
    comment: str  # what starts a comment in disassembly output

    @abstractmethod
    def parse_line(self, line: str) -> ParsedLine:
        """The labels and the instruction on one line; raises :class:`LineError`."""

    @abstractmethod
    def format_form(self, insn: Instruction, form: Form, target: str | None) -> str | None:
        """``insn`` (an instance of ``form``) as text, ``target`` already rendered;
        None when the syntax has no spelling for the form."""

    @abstractmethod
    def format_delta(self, delta: int, form: Form) -> str:
        """A numeric pc-relative target of ``form``."""

    @abstractmethod
    def format_label_ref(self, name: str, form: Form) -> str:
        """A reference to a label as a target of ``form``."""

    @abstractmethod
    def format_label_def(self, name: str) -> str:
        """A line defining a label."""

    def implicit_labels(self, statements: Sequence[Statement]) -> dict[str, int]:
        """Labels the syntax defines without a definition line (name -> slot)."""
        return {}


# Assembling ------------------------------------------------------------------------------


def assemble_program(text: str, syntax: Syntax) -> list[Instruction]:
    """Assemble ``text`` in two passes: parse every line, then resolve targets."""
    lines = text.splitlines()
    pending: list[tuple[int, Statement]] = []  # (line index, statement)
    labels: dict[str, int] = {}
    label_lines: dict[str, int] = {}
    slot = 0
    for index, line in enumerate(lines):
        try:
            parsed = syntax.parse_line(line)
        except LineError as error:
            raise AssemblerError(index + 1, line, error.reason) from None
        for label in parsed.labels:
            if label in labels:
                reason = f"duplicate label {label!r} (first defined on line {label_lines[label]})"
                raise AssemblerError(index + 1, line, reason)
            labels[label] = slot
            label_lines[label] = index + 1
        if parsed.statement is not None:
            pending.append((index, parsed.statement))
            slot += parsed.statement.insn.size
    statements = [statement for _, statement in pending]
    known = {**syntax.implicit_labels(statements), **labels}
    insns: list[Instruction] = []
    slot = 0
    for index, statement in pending:
        try:
            insns.append(_resolve(statement, slot, known))
        except LineError as error:
            raise AssemblerError(index + 1, lines[index], error.reason) from None
        slot += statement.insn.size
    return insns


def _resolve(statement: Statement, slot: int, labels: dict[str, int]) -> Instruction:
    target, role = statement.target, statement.target_role
    if target is None or role is None:
        return statement.insn
    field = fm.ROLE_FIELDS[role][0]
    bits = 16 if field == "off" else 32
    if target.label is None:
        assert target.delta is not None
        return replace(
            statement.insn, **{field: fit(target.delta, bits, "target offset", unsigned=False)}
        )
    if target.label not in labels:
        raise LineError(f"undefined label {target.label!r}")
    delta = labels[target.label] - (slot + 1)
    try:
        value = fit(delta, bits, "target offset", unsigned=False)
    except LineError:
        raise LineError(
            f"label {target.label!r} is {delta:+d} instructions away, "
            f"too far for the {bits}-bit {field} field"
        ) from None
    return replace(statement.insn, **{field: value})


# Disassembling ---------------------------------------------------------------------------


def disassemble_program(insns: Sequence[Instruction], syntax: Syntax, *, labels: bool) -> str:
    """One line per instruction; with ``labels``, targets inside the program get
    generated labels ``L<slot>`` instead of numeric offsets."""
    slots = slot_indices(insns)
    total = slots[-1] + insns[-1].size if insns else 0
    matched = [fm.match_form(insn) for insn in insns]
    named: set[int] = set()
    if labels:
        starts = {*slots, total}
        for insn, slot, form in zip(insns, slots, matched, strict=True):
            if form is not None and form.target_role is not None:
                target = slot + 1 + form.operands(insn)[form.target_role]
                if target in starts:
                    named.add(target)
    out: list[str] = []
    for insn, slot, form in zip(insns, slots, matched, strict=True):
        if slot in named:
            out.append(syntax.format_label_def(f"L{slot}"))
        out.append(_format_one(insn, slot, form, syntax, named))
    if total in named:
        out.append(syntax.format_label_def(f"L{total}"))
    return "".join(line + "\n" for line in out)


def format_instruction(insn: Instruction, syntax: Syntax) -> str:
    """One instruction as text, targets as numeric offsets."""
    return _format_one(insn, 0, fm.match_form(insn), syntax, set())


def _format_one(
    insn: Instruction, slot: int, form: Form | None, syntax: Syntax, named: set[int]
) -> str:
    text = None
    if form is not None:
        target = None
        if form.target_role is not None:
            delta = form.operands(insn)[form.target_role]
            if slot + 1 + delta in named:
                target = syntax.format_label_ref(f"L{slot + 1 + delta}", form)
            else:
                target = syntax.format_delta(delta, form)
        text = syntax.format_form(insn, form, target)
    if text is None:
        what = form.name if form else "this form"
        reason = validate(insn) or f"{what} has no spelling in the {syntax.name} syntax"
        text = f"{format_raw(insn)}  {syntax.comment} {reason}"
    return text


__all__ = [
    "NUMBER",
    "LineError",
    "ParsedLine",
    "Statement",
    "Syntax",
    "Target",
    "assemble_program",
    "disassemble_program",
    "fit",
    "format_instruction",
    "format_raw",
    "parse_number",
    "parse_raw",
    "parse_register",
]
