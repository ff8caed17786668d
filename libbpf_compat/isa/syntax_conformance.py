"""The bpf_conformance / uBPF assembly syntax.

One instruction per line, ``mnemonic operand, operand, …``; registers are
``%r0``-``%r10``; memory operands ``[%r1+2]``, ``[%r10-8]``, ``[%r1]``;
``#`` starts a comment; ``name:`` defines a label (on its own line or before
an instruction).  Jump and local-call targets are a label or a signed offset
(``+3``, ``-1``); like the reference assembler, ``exit`` used as a target
without an ``exit:`` label means the first ``exit`` instruction of the
program.

Numbers are decimal or ``0x`` hexadecimal with an optional sign.  A 32-bit
immediate must fit the field as the reference assembler checks it: decimal
values in -2147483648..2147483647, hexadecimal values up to 0xffffffff (the
bit pattern).  Memory offsets likewise: decimal -32768..32767, hexadecimal up
to 0xffff.  lddw takes any 64-bit value, signed or unsigned.

Mnemonics (``32`` suffix: the 32-bit ALU/JMP32 class; none: 64-bit)::

    add sub mul div sdiv or and lsh rsh mod smod xor mov arsh  %rD, %rS|imm
    neg %rD                     le16/le32/le64, be16/be32/be64 %rD
    bswap16/32/64 %rD           (alias swap16/32/64)
    movsx864 movsx1664 movsx3264 movsx832 movsx1632  %rD, %rS
    ldxb/h/w/dw %rD, [%rS+off]  ldxsb/h/w (sign-extending)
    stb/h/w/dw [%rD+off], imm   stxb/h/w/dw [%rD+off], %rS
    lddw %rD, imm64
    ldabsb/h/w imm              ldindb/h/w %rS, imm   (legacy packet loads)
    lock [fetch] add|or|and|xor[32] [%rD+off], %rS
    lock xchg[32] / lock cmpxchg[32] [%rD+off], %rS
    ja target                   ja32 target (32-bit offset in imm)
    jeq jgt jge jset jne jsgt jsge jlt jle jslt jsle[32] %rD, %rS|imm, target
    call imm (helper)           call local target        call runtime imm (kfunc)
    call %rD (callx)            exit

Forms the reference assembler has no mnemonic for (our own spelling)::

    lddw %rD, map_fd N              src 1: the map with file descriptor N
    lddw %rD, map_value N, OFF      src 2: map N's value + OFF
    lddw %rD, var_addr N            src 3: the variable with BTF id N
    lddw %rD, code_addr target      src 4: the address of a function
    lddw %rD, map_idx N             src 5: the map with index N
    lddw %rD, map_idx_value N, OFF  src 6: map index N's value + OFF
    ldabsdw imm, ldinddw %rS, imm   64-bit legacy packet loads (not RFC 9669)
    callx %rD, call helper N        aliases of call %rD and call N

``.insn OPCODE, DST, SRC, OFF, IMM[, IMM_HI]`` writes any instruction field
by field (see :mod:`libbpf_compat.isa.assembly`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from libbpf_compat.isa import forms as fm
from libbpf_compat.isa import opcodes as op
from libbpf_compat.isa.assembly import (
    LineError,
    ParsedLine,
    Statement,
    Syntax,
    Target,
    fit,
    parse_number,
    parse_raw,
    parse_register,
)
from libbpf_compat.isa.forms import Form
from libbpf_compat.isa.instruction import Instruction


@dataclass(frozen=True)
class Mem:
    """A memory operand ``[%rN+off]``: the register fills ``base``, the offset ``off``."""

    base: str


@dataclass(frozen=True)
class Keyword:
    """A literal word, written before the operand that follows it."""

    word: str


Element = str | Mem | Keyword  # a str is a role (see forms.py)


@dataclass(frozen=True)
class Spelling:
    """How one form is written: its mnemonic and the layout of its operands."""

    mnemonic: str
    form: Form
    layout: tuple[Element, ...]


# The spelling table ----------------------------------------------------------------------

_SUFFIX = {size.bits: size.suffix for size in op.MEM_SIZES}

Layouts = Sequence[tuple[str, Sequence[Element]]]


def _w(form: Form) -> str:
    return "" if form.wide else "32"


def _lddw(form: Form) -> Layouts:
    if form.op == "imm64":
        return [("lddw", ("dst", "imm64"))]
    return [("lddw", ("dst", Keyword(form.op), *form.roles[1:]))]


def _atomic(form: Form) -> Layouts:
    layout: tuple[Element, ...] = (Mem("dst"), "src")
    name = f"lock {form.op.replace('_', ' ')}{_w(form)}"
    spellings = [(name, layout)]
    if form.op in ("xchg", "cmpxchg"):
        spellings.append((f"lock fetch {form.op}{_w(form)}", layout))
    return spellings


def _call(form: Form) -> Layouts:
    return {
        "helper": [("call", ("imm",)), ("call helper", ("imm",))],
        "local": [("call local", ("target_imm",))],
        "kfunc": [("call runtime", ("imm",))],
    }[form.op]


def _source(form: Form) -> str:
    return "src" if form.register_source else "imm"


# Per group: the spellings of a form, the canonical (printed) one first.
_SPELLINGS: dict[str, Callable[[Form], Layouts]] = {
    fm.ALU: lambda f: [(f.op + _w(f), ("dst", _source(f)))],
    fm.NEG: lambda f: [("neg" + _w(f), ("dst",))],
    # The reference has no spelling for the 32-bit movsx of 32 bits (not an instruction).
    fm.MOVSX: lambda f: (
        [] if f.nonstandard else [(f"movsx{f.bits}{64 if f.wide else 32}", ("dst", "src"))]
    ),
    fm.END: lambda f: (
        [(f"{f.op}{f.bits}", ("dst",))] + ([(f"swap{f.bits}", ("dst",))] if f.op == "bswap" else [])
    ),
    fm.LDDW: _lddw,
    fm.LDABS: lambda f: [(f"ldabs{_SUFFIX[f.bits]}", ("imm",))],
    fm.LDIND: lambda f: [(f"ldind{_SUFFIX[f.bits]}", ("src", "imm"))],
    fm.LDX: lambda f: [(f"ldx{'s' if f.signed else ''}{_SUFFIX[f.bits]}", ("dst", Mem("src")))],
    fm.ST: lambda f: [(f"st{_SUFFIX[f.bits]}", (Mem("dst"), "imm"))],
    fm.STX: lambda f: [(f"stx{_SUFFIX[f.bits]}", (Mem("dst"), "src"))],
    fm.ATOMIC: _atomic,
    fm.JA: lambda f: [(f.op, (f.roles[0],))],
    fm.JCOND: lambda f: [(f.op + _w(f), ("dst", _source(f), "target_off"))],
    fm.CALL: _call,
    fm.CALLX: lambda f: [("call", ("dst",)), ("callx", ("dst",)), ("call helper", ("dst",))],
    fm.EXIT: lambda f: [("exit", ())],
}

MNEMONICS: dict[str, list[Spelling]] = {}
CANONICAL: dict[str, Spelling] = {}
for _form in fm.FORMS:
    for _index, (_mnemonic, _layout) in enumerate(_SPELLINGS[_form.group](_form)):
        _spelling = Spelling(_mnemonic, _form, tuple(_layout))
        MNEMONICS.setdefault(_mnemonic, []).append(_spelling)
        if _index == 0:
            CANONICAL[_form.name] = _spelling
_MAX_WORDS = max(len(mnemonic.split()) for mnemonic in MNEMONICS)


# Parsing ---------------------------------------------------------------------------------

_LABEL = re.compile(r"\s*([A-Za-z_.][\w.]*)\s*:(.*)", re.DOTALL)
_OPERAND = re.compile(r"\s*(\[[^\]]*\]|[^\s,\[\]]+)\s*(,?)")
_WORD = re.compile(r"[A-Za-z_.][\w.]*")
_NUMERIC = re.compile(r"[+-]?\d")
_MEMORY = re.compile(r"\[\s*(%\w*)\s*(?:([+-])\s*([^\]]*?))?\s*\]")


def _split_operands(text: str) -> list[str]:
    tokens: list[str] = []
    pos, end = 0, len(text.rstrip())
    while pos < end:
        match = _OPERAND.match(text, pos)
        if match is None:
            raise LineError(f"cannot read the operands at {text[pos:].strip()!r}")
        tokens.append(match.group(1))
        pos = match.end()
        if match.group(2) and pos >= end:
            raise LineError("trailing comma after the last operand")
    return tokens


def _accepts(element: Element, token: str) -> bool:
    """Whether ``token`` has the shape ``element`` needs (values are checked later)."""
    if isinstance(element, Mem):
        return token.startswith("[")
    if isinstance(element, Keyword):
        return token == element.word
    if element in ("dst", "src"):
        return token.startswith("%")
    if element in fm.TARGET_ROLES:
        return token[0] in "+-" or _WORD.fullmatch(token) is not None
    return _NUMERIC.match(token) is not None


def _imm32(token: str) -> int:
    value, hexadecimal = parse_number(token)
    return fit(value, 32, "immediate", unsigned=hexadecimal)


def _offset(text: str) -> int:
    value, hexadecimal = parse_number(text)
    return fit(value, 16, "offset", unsigned=hexadecimal)


def _target(token: str) -> Target:
    if token[0] in "+-":
        return Target(delta=parse_number(token)[0])
    return Target(label=token)


def _statement(spelling: Spelling, tokens: Sequence[str]) -> Statement:
    values: dict[str, int] = {}
    target: Target | None = None
    for element, token in zip(spelling.layout, tokens, strict=True):
        if isinstance(element, Keyword):
            continue
        if isinstance(element, Mem):
            match = _MEMORY.fullmatch(token)
            if match is None:
                raise LineError(f"invalid memory operand {token!r} (expected [%rN+offset])")
            values[element.base] = parse_register(match.group(1), "%r")
            if match.group(2):
                values["off"] = _offset(match.group(2) + match.group(3))
        elif element in ("dst", "src"):
            values[element] = parse_register(token, "%r")
        elif element in fm.TARGET_ROLES:
            target = _target(token)
        elif element == "imm64":
            values[element] = fit(parse_number(token)[0], 64, "64-bit immediate")
        else:
            values[element] = _imm32(token)
    form = spelling.form
    return Statement(form.build(values), target, form.target_role if target else None)


def _usage(spellings: Sequence[Spelling]) -> str:
    shapes = {
        "dst": "%rD",
        "src": "%rS",
        "imm": "imm",
        "imm64": "imm64",
        "imm_hi": "offset",
        "target_off": "target",
        "target_imm": "target",
    }
    usages = []
    for spelling in spellings:
        parts: list[str] = []
        for element in spelling.layout:
            if isinstance(element, Mem):
                parts.append(f"[{shapes[element.base]}+offset]")
            elif isinstance(element, Keyword):
                parts.append(element.word)
            else:
                parts.append(shapes[element])
        usages.append(f"{spelling.mnemonic} {', '.join(parts)}".strip())
    return " or ".join(usages)


def _parse_instruction(text: str) -> Statement:
    words = list(re.finditer(r"\S+", text))
    for count in range(min(_MAX_WORDS, len(words)), 0, -1):
        mnemonic = " ".join(word.group() for word in words[:count])
        if mnemonic in MNEMONICS:
            break
    else:
        first = words[0].group()
        if first == "lock":
            if len(words) == 1:
                raise LineError(
                    "invalid number of operands for lock "
                    "(expected lock [fetch] <op> [%rD+offset], %rS)"
                )
            raise LineError(f"invalid atomic operation {' '.join(w.group() for w in words[1:3])!r}")
        raise LineError(f"invalid mnemonic {first!r}")
    spellings = MNEMONICS[mnemonic]
    tokens = _split_operands(text[words[count - 1].end() :])
    sized = [spelling for spelling in spellings if len(spelling.layout) == len(tokens)]
    if not sized:
        counts = sorted({len(spelling.layout) for spelling in spellings})
        expected = ", ".join(str(count) for count in counts[:-1])
        expected = f"{expected} or {counts[-1]}" if expected else str(counts[-1])
        raise LineError(
            f"invalid number of operands for {mnemonic}: expected {expected}, got {len(tokens)}"
        )
    for spelling in sized:
        pairs = zip(spelling.layout, tokens, strict=True)
        if all(_accepts(element, token) for element, token in pairs):
            return _statement(spelling, tokens)
    raise LineError(f"invalid operands for {mnemonic} (expected {_usage(sized)})")


class ConformanceSyntax(Syntax):
    """The bpf_conformance / uBPF syntax (see the module documentation)."""

    name = "conformance"
    comment = "#"

    def parse_line(self, line: str) -> ParsedLine:
        text = line.split("#", 1)[0]
        labels: list[str] = []
        match = _LABEL.fullmatch(text)
        while match is not None:
            labels.append(match.group(1))
            text = match.group(2)
            match = _LABEL.fullmatch(text)
        if not text.strip():
            return ParsedLine(tuple(labels))
        statement = parse_raw(text)
        if statement is None:
            statement = _parse_instruction(text)
        return ParsedLine(tuple(labels), statement)

    def implicit_labels(self, statements: Sequence[Statement]) -> dict[str, int]:
        # As in the reference assembler: `exit` names the first exit instruction.
        slot = 0
        for statement in statements:
            if statement.insn.opcode == op.OPCODE_EXIT:
                return {"exit": slot}
            slot += statement.insn.size
        return {}

    def format_form(self, insn: Instruction, form: Form, target: str | None) -> str | None:
        spelling = CANONICAL.get(form.name)
        if spelling is None:
            return None
        values = form.operands(insn)
        parts: list[str] = []
        pending = ""
        for element in spelling.layout:
            if isinstance(element, Keyword):
                pending = element.word + " "
                continue
            parts.append(pending + self._operand(element, values, insn, target))
            pending = ""
        return f"{spelling.mnemonic} {', '.join(parts)}".rstrip()

    @staticmethod
    def _operand(
        element: Element, values: dict[str, int], insn: Instruction, target: str | None
    ) -> str:
        if isinstance(element, Mem):
            base = f"%r{values[element.base]}"
            return f"[{base}{insn.off:+d}]" if insn.off else f"[{base}]"
        assert isinstance(element, str)
        if element in ("dst", "src"):
            return f"%r{values[element]}"
        if element in fm.TARGET_ROLES:
            assert target is not None
            return target
        if element == "imm64":
            return f"{values[element]:#x}"
        return format_imm(values[element])

    def format_delta(self, delta: int, form: Form) -> str:
        return f"{delta:+d}"

    def format_label_ref(self, name: str, form: Form) -> str:
        return name

    def format_label_def(self, name: str) -> str:
        return f"{name}:"


def format_imm(imm: int) -> str:
    """A 32-bit immediate as the reference disassembler writes it: small and
    negative values in decimal, others as the unsigned hexadecimal pattern."""
    if -10 <= imm <= 10 or (imm < 0 and imm != -(1 << 31)):
        return str(imm)
    return f"{imm & 0xFFFF_FFFF:#x}"


SYNTAX = ConformanceSyntax()

__all__ = ["CANONICAL", "MNEMONICS", "SYNTAX", "ConformanceSyntax", "Spelling", "format_imm"]
