"""The kernel-verifier / llvm-objdump assembly syntax (C-like statements).

Disassembly follows llvm-objdump's spelling (immediates in signed decimal,
``w`` registers for 32-bit operations, ``goto +N`` / ``goto -N`` targets);
the assembler also reads the spellings of the PREVAIL verifier's test files.
Each form has one table entry: a list of templates whose first one prints.

===================================  =========================================
form                                 spellings (first one printed)
===================================  =========================================
ALU (64: ``r``, 32: ``w``)           ``r0 += 1``, ``w0 -= w1``, ``r0 = 1``,
                                     ``r0 s/= r1``, ``r0 s%= 3``, ``r0 s>>= 3``
                                     (also ``>>>=``); the dst register's letter
                                     chooses 64/32 bits, the source's is free
neg                                  ``r0 = -r0``, ``w0 = -w0``
movsx                                ``r0 = (s8)r1``, ``w0 = (s16)w1``; PREVAIL
                                     ``r0 s8= r1`` (its ``w2 s32= r2`` gets the
                                     natural encoding, refused by validate())
byte swaps                           ``r0 = le16 r0``, ``r0 = be32 r0``,
                                     ``r0 = bswap64 r0`` (PREVAIL ``swap64``)
lddw                                 ``r1 = 1234 ll`` (also ``1234ll``)
lddw pseudo sources 1-6              ``r1 = map_fd 3``, ``r1 = map_val(3) + 8``,
                                     ``r1 = variable_addr(7)``,
                                     ``r1 = code_addr(+5)``,
                                     ``r1 = map_by_idx(2)``,
                                     ``r1 = mva(map_by_idx(2)) + 8`` (PREVAIL);
                                     llvm's ``ld_pseudo r1, 1, 3``
loads                                ``r0 = *(u32 *)(r1 + 4)``, ``*(s16 *)``
stores                               ``*(u64 *)(r10 - 8) = r1``, ``… = 5``
legacy packet loads                  ``r0 = *(u8 *)skb[4]``,
                                     ``r0 = *(u16 *)skb[r1]``,
                                     ``r0 = *(u16 *)skb[r1 + 4]``
atomics                              ``lock *(u64 *)(r1 + 0) += r2``,
                                     ``r2 = atomic_fetch_add((u64 *)(r1 + 0), r2)``,
                                     ``r2 = xchg_64(r1 + 0, r2)``,
                                     ``r0 = cmpxchg_64(r1 + 0, r0, r2)``
                                     (32-bit: ``w2``, ``xchg32_32``,
                                     ``cmpxchg32_32``); PREVAIL
                                     ``lock *(u32 *)(r2 + 4) += r1 fetch``,
                                     ``x=``, ``cx=``
jumps                                ``goto +1``, ``gotol +1`` (ja32),
                                     ``if r1 > 16 goto +2``, ``if w1 s< -3 goto
                                     <out>``, ``if r1 & 4 goto +1`` (PREVAIL
                                     ``&==``)
calls                                ``call 1`` (helper), ``call pc+3`` (the
                                     kernel log's spelling) or ``call <label>``
                                     (local), ``call_btf 5`` (kfunc, PREVAIL's
                                     spelling), ``callx r2``, ``exit``
===================================  =========================================

Targets are ``+N``/``-N`` (also ``pc+N``; a trailing ``<…>`` annotation as
llvm-objdump prints it is ignored), ``<label>`` or a bare ``label``.  Labels
are defined by ``<label>:`` or ``label:`` at the start of a line (the rest of
the line may hold an instruction).  Comments start with ``;`` or ``//`` (so a
statement may end with ``;``).  A leading ``N:`` instruction index, and the
raw bytes llvm-objdump prints after it, are skipped.

Refused with an explanation: PREVAIL's ``assume`` lines (verifier
assumptions, not instructions) and ``&!=`` conditions (PREVAIL's negation of
jset, "jump if dst & src is zero", which no eBPF instruction encodes).
``.insn OPCODE, DST, SRC, OFF, IMM[, IMM_HI]`` writes any instruction field
by field.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from libbpf_compat.isa import forms as fm
from libbpf_compat.isa.assembly import (
    NUMBER,
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

# Placeholders of templates and the role each one fills.
_REGISTERS = ("dst", "src")
_NUMBERS = ("imm", "imm64", "imm_hi")
_OFFSETS = ("off", "ind")  # " + N" / " - N"; "ind" (LD_IND's imm) is omitted when 0
_TARGETS = ("target", "ptarget")  # "ptarget" needs "pc" before a number (local calls)
_WORDLIKE = frozenset(_REGISTERS + _TARGETS)

_PLACEHOLDER = re.compile(r"\{(\w+)\}")
# Template tokens: placeholders, words, brackets and punctuation, operator runs.
_TOKEN = re.compile(r"(\s*)(\{\w+\}|\w+|[()\[\],*]|[^\w\s{()\[\],*]+)")


@dataclass
class Template:
    """One spelling of a form: text with ``{placeholder}`` operands.

    ``letters`` gives the letter each register placeholder prints with
    (``r`` by default); registers in ``strict`` must be written with it.
    Whitespace in the text is optional when reading, except between two
    word-like tokens (``callx r2``, ``goto out``); other tokens may also be
    separated by whitespace the text does not have (``*( u32 * )``).
    """

    form: Form
    text: str
    letters: Mapping[str, str] = field(default_factory=dict)
    strict: frozenset[str] = frozenset()
    regex: re.Pattern[str] = field(init=False)
    slots: list[tuple[str, tuple[str, str, str]]] = field(init=False)

    def __post_init__(self) -> None:
        pieces: list[str] = []
        self.slots = []
        previous_wordlike = False
        for match in _TOKEN.finditer(self.text):
            space, token = match.groups()
            placeholder = _PLACEHOLDER.fullmatch(token)
            if placeholder is not None:
                wordlike = placeholder.group(1) in _WORDLIKE
            else:
                wordlike = token[0].isalnum() or token[0] == "_"
            if pieces:
                pieces.append(r"\s+" if space and previous_wordlike and wordlike else r"\s*")
            if placeholder is None:
                pieces.append(re.escape(token))
            else:
                index = len(self.slots)
                groups = (f"g{index}a", f"g{index}b", f"g{index}c")
                self.slots.append((placeholder.group(1), groups))
                pieces.append(self._placeholder(placeholder.group(1), groups))
            previous_wordlike = wordlike
        self.regex = re.compile(r"\s*" + "".join(pieces) + r"\s*")

    def _placeholder(self, name: str, groups: tuple[str, str, str]) -> str:
        a, b, c = groups
        if name in _REGISTERS:
            letter = self.letters.get(name, "r") if name in self.strict else "[rw]"
            return rf"(?P<{a}>{letter}\d+)"
        if name in _NUMBERS:
            return rf"(?P<{a}>{NUMBER})"
        if name in _OFFSETS:
            return rf"(?:(?P<{a}>[+-])\s*(?P<{b}>0[xX][0-9a-fA-F]+|[0-9]+))?"
        annotation = r"(?:\s*<[^<>]*>)?"  # llvm-objdump's <symbol+offset> after a number
        if name == "ptarget":
            return rf"(?:pc\s*(?P<{a}>{NUMBER}){annotation}|<(?P<{b}>[\w.]+)>)"
        return (
            rf"(?:(?:pc\s*)?(?P<{a}>{NUMBER}){annotation}|<(?P<{b}>[\w.]+)>"
            rf"|(?P<{c}>[A-Za-z_.][\w.]*))"
        )

    def parse(self, text: str) -> Statement | None:
        """The statement ``text`` spells with this template, or None if it does not match."""
        match = self.regex.fullmatch(text)
        if match is None:
            return None
        values: dict[str, int] = {}
        seen: dict[str, int] = {}
        target: Target | None = None
        groups = match.groupdict()
        for name, (a, b, c) in self.slots:
            if name in _TARGETS:
                target = _target(groups[a], groups[b], groups.get(c))
                continue
            if name in _REGISTERS:
                value = parse_register(match.group(a), match.group(a)[0])
            elif name in _OFFSETS:
                value = _offset(match.group(a), match.group(b), name)
            elif name == "imm64":
                value = fit(parse_number(match.group(a))[0], 64, "64-bit immediate")
            else:
                value = fit(parse_number(match.group(a))[0], 32, "immediate")
            if name in seen and seen[name] != value:
                raise LineError(f"both {name} registers of this instruction must be the same")
            seen[name] = value
            values["imm" if name == "ind" else name] = value
        form = self.form
        return Statement(form.build(values), target, form.target_role if target else None)

    def format(self, insn: Instruction, target: str | None) -> str:
        """``insn`` spelled with this template; ``target`` is the rendered target."""
        values = self.form.operands(insn)

        def render(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in _REGISTERS:
                return f"{self.letters.get(name, 'r')}{values[name]}"
            if name in _TARGETS:
                assert target is not None
                return target
            if name == "imm64":
                return str(fit(values[name], 64, "64-bit immediate"))
            if name in _OFFSETS:
                value = insn.off if name == "off" else insn.imm
                if name == "ind" and not value:
                    return ""
                return f" + {value}" if value >= 0 else f" - {-value}"
            return str(values[name])

        return _PLACEHOLDER.sub(render, self.text)


def _offset(sign: str | None, digits: str | None, name: str) -> int:
    if sign is None or digits is None:
        return 0
    value = parse_number(sign + digits)[0]
    return fit(value, 16 if name == "off" else 32, "offset", unsigned=False)


def _target(number: str | None, label: str | None, bare: str | None) -> Target:
    if number is not None:
        return Target(delta=parse_number(number)[0])
    return Target(label=label if label is not None else bare)


# The spelling table ----------------------------------------------------------------------

_ALU_SYMBOLS = {
    "add": "+",
    "sub": "-",
    "mul": "*",
    "div": "/",
    "or": "|",
    "and": "&",
    "lsh": "<<",
    "rsh": ">>",
    "mod": "%",
    "xor": "^",
    "mov": "",
    "arsh": "s>>",
    "sdiv": "s/",
    "smod": "s%",
}
_JUMP_SYMBOLS = {
    "jeq": "==",
    "jgt": ">",
    "jge": ">=",
    "jset": "&",
    "jne": "!=",
    "jsgt": "s>",
    "jsge": "s>=",
    "jlt": "<",
    "jle": "<=",
    "jslt": "s<",
    "jsle": "s<=",
}
_ATOMIC_SYMBOLS = {"add": "+", "or": "|", "and": "&", "xor": "^"}
_PSEUDO_SPELLINGS = {
    "map_fd": "map_fd {imm}",
    "map_value": "map_val({imm}) + {imm_hi}",
    "var_addr": "variable_addr({imm})",
    "code_addr": "code_addr({target})",
    "map_idx": "map_by_idx({imm})",
    "map_idx_value": "mva(map_by_idx({imm})) + {imm_hi}",
}

Spellings = list[tuple[str, dict[str, str]]]  # (template text, register letters)


def _letter(form: Form) -> dict[str, str]:
    letter = "r" if form.wide else "w"
    return {"dst": letter, "src": letter}


def _alu(form: Form) -> Spellings:
    operand = "{src}" if form.register_source else "{imm}"
    spellings = [f"{{dst}} {_ALU_SYMBOLS[form.op]}= {operand}"]
    if form.op == "arsh":
        spellings.append(f"{{dst}} >>>= {operand}")
    return [(text, _letter(form)) for text in spellings]


def _lddw(form: Form) -> Spellings:
    if form.op == "imm64":
        return [("{dst} = {imm64} ll", {})]
    source = form.fixed_fields["src"]
    operand = "{target}" if form.target_role else "{imm}"
    return [
        ("{dst} = " + _PSEUDO_SPELLINGS[form.op], {}),
        (f"ld_pseudo {{dst}}, {source}, {operand}", {}),
    ]


def _memory(form: Form, base: str) -> str:
    return f"*({'s' if form.signed else 'u'}{form.bits} *)({{{base}}}{{off}})"


def _atomic(form: Form) -> Spellings:
    bits, letters = form.bits, {"src": "r" if form.wide else "w"}
    memory = _memory(form, "dst")
    address = "{dst}{off}"
    name = form.op.removeprefix("fetch_")
    if form.op in _ATOMIC_SYMBOLS:
        texts = [f"lock {memory} {_ATOMIC_SYMBOLS[name]}= {{src}}"]
    elif name in _ATOMIC_SYMBOLS:
        texts = [
            f"{{src}} = atomic_fetch_{name}((u{bits} *)({address}), {{src}})",
            f"lock {memory} {_ATOMIC_SYMBOLS[name]}= {{src}} fetch",
        ]
    elif name == "xchg":
        call = "xchg_64" if form.wide else "xchg32_32"
        texts = [f"{{src}} = {call}({address}, {{src}})", f"lock {memory} x= {{src}}"]
    else:
        r0 = "r0" if form.wide else "w0"
        call = "cmpxchg_64" if form.wide else "cmpxchg32_32"
        texts = [f"{r0} = {call}({address}, {r0}, {{src}})", f"lock {memory} cx= {{src}}"]
    return [(text, letters) for text in texts]


def _jcond(form: Form) -> Spellings:
    operand = "{src}" if form.register_source else "{imm}"
    symbols = [_JUMP_SYMBOLS[form.op]] + (["&=="] if form.op == "jset" else [])
    return [(f"if {{dst}} {symbol} {operand} goto {{target}}", _letter(form)) for symbol in symbols]


def _end(form: Form) -> Spellings:
    texts = [f"{{dst}} = {form.op}{form.bits} {{dst}}"]
    if form.op == "bswap":
        texts.append(f"{{dst}} = swap{form.bits} {{dst}}")
    return [(text, {}) for text in texts]


def _movsx(form: Form) -> Spellings:
    return [
        (f"{{dst}} = (s{form.bits}){{src}}", _letter(form)),
        (f"{{dst}} s{form.bits}= {{src}}", _letter(form)),
    ]


_CALLS = {"helper": "call {imm}", "local": "call {ptarget}", "kfunc": "call_btf {imm}"}

# Per group: the templates of a form, the printed one first.
_SPELLINGS: dict[str, Callable[[Form], Spellings]] = {
    fm.ALU: _alu,
    fm.NEG: lambda f: [("{dst} = -{dst}", _letter(f))],
    fm.MOVSX: _movsx,
    fm.END: _end,
    fm.LDDW: _lddw,
    fm.LDABS: lambda f: [(f"r0 = *(u{f.bits} *)skb[{{imm}}]", {})],
    fm.LDIND: lambda f: [(f"r0 = *(u{f.bits} *)skb[{{src}}{{ind}}]", {})],
    fm.LDX: lambda f: [(f"{{dst}} = {_memory(f, 'src')}", {})],
    fm.ST: lambda f: [(f"{_memory(f, 'dst')} = {{imm}}", {})],
    fm.STX: lambda f: [(f"{_memory(f, 'dst')} = {{src}}", {})],
    fm.ATOMIC: _atomic,
    fm.JA: lambda f: [("goto {target}" if f.wide else "gotol {target}", {})],
    fm.JCOND: _jcond,
    fm.CALL: lambda f: [(_CALLS[f.op], {})],
    fm.CALLX: lambda f: [("callx {dst}", {})],
    fm.EXIT: lambda f: [("exit", {})],
}

# Registers whose letter selects the form (64-bit r vs 32-bit w).
_STRICT = {fm.ALU: {"dst"}, fm.NEG: {"dst"}, fm.MOVSX: {"dst"}, fm.JCOND: {"dst"}}

_LEAD = re.compile(
    r"\s*(?:(?:[rw]\d+|\{\w+\})\s*((?:s\d*)?[^\s\w{]*|[a-z]*)=|([A-Za-z_.][\w.]*|\*))"
)


def _lead(text: str) -> str | None:
    """The key that selects the templates worth trying: the first word, or the
    assignment operator after a leading register (``+=``, ``=``, ``s8=`` …)."""
    match = _LEAD.match(text)
    if match is None:
        return None
    return match.group(2) if match.group(2) is not None else match.group(1) + "="


TEMPLATES: dict[str, list[Template]] = {}  # lead key -> templates
CANONICAL: dict[str, Template] = {}  # form name -> printing template
for _form in fm.FORMS:
    for _index, (_text, _letters) in enumerate(_SPELLINGS[_form.group](_form)):
        _template = Template(_form, _text, _letters, frozenset(_STRICT.get(_form.group, ())))
        _key = _lead(_text)
        assert _key is not None, _text
        TEMPLATES.setdefault(_key, []).append(_template)
        if _index == 0:
            CANONICAL[_form.name] = _template


# Parsing ---------------------------------------------------------------------------------

_COMMENT = re.compile(r";|//")
_LABEL = re.compile(
    r"\s*(?:[0-9a-fA-F]+\s+)?(?:<([\w.]+)>|([A-Za-z_.][\w.]*))\s*:(?!=)(.*)", re.DOTALL
)
_INDEX = re.compile(r"\s*\d+:\s*(?:[0-9a-fA-F]{2}\s+)*")
_REFUSED = (
    (
        re.compile(r"\s*assume\b"),
        "'assume' is a verifier assumption (PREVAIL test syntax), not an eBPF instruction",
    ),
    (
        re.compile(r"\s*if\b.*&!="),
        "'&!=' is PREVAIL's negated jset (jump if dst & src is zero); "
        "no eBPF instruction encodes it",
    ),
)


def _parse_instruction(text: str) -> Statement:
    for pattern, reason in _REFUSED:
        if pattern.match(text):
            raise LineError(reason)
    for template in TEMPLATES.get(_lead(text) or "", ()):
        statement = template.parse(text)
        if statement is not None:
            return statement
    raise LineError("unrecognized instruction")


class KernelSyntax(Syntax):
    """The kernel-verifier / llvm-objdump syntax (see the module documentation)."""

    name = "kernel"
    comment = ";"

    def parse_line(self, line: str) -> ParsedLine:
        text = _COMMENT.split(line, 1)[0]
        labels: list[str] = []
        match = _LABEL.fullmatch(text)
        while match is not None:
            labels.append(match.group(1) or match.group(2))
            text = match.group(3)
            match = _LABEL.fullmatch(text)
        index = _INDEX.match(text)
        if index is not None:
            text = text[index.end() :]
        if not text.strip():
            return ParsedLine(tuple(labels))
        statement = parse_raw(text)
        if statement is None:
            statement = _parse_instruction(text.strip())
        return ParsedLine(tuple(labels), statement)

    def format_form(self, insn: Instruction, form: Form, target: str | None) -> str | None:
        template = CANONICAL.get(form.name)
        return None if template is None else template.format(insn, target)

    def format_delta(self, delta: int, form: Form) -> str:
        return f"pc{delta:+d}" if form.name == "call_local" else f"{delta:+d}"

    def format_label_ref(self, name: str, form: Form) -> str:
        return f"<{name}>"

    def format_label_def(self, name: str) -> str:
        return f"<{name}>:"


SYNTAX = KernelSyntax()

__all__ = ["CANONICAL", "SYNTAX", "TEMPLATES", "KernelSyntax", "Template"]
