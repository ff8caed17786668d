"""PREVAIL-style YAML verifier test cases, parsed into typed objects.

A case (see ``test-schema.yaml`` in the shared verifier tests) gives a pre-state as
constraints (``r1.type=number``, ``r1.svalue=[0, 5]``, ``s[504...511].type=number``,
``packet_size=64``…), code blocks keyed by labels, the expected post-state and the
expected messages. The code is assembled (kernel syntax) into one program; each
``assume`` line becomes a placeholder slot and an :class:`Assume` in a side table.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from libbpf_compat.isa import AssemblerError, Instruction, assemble, decode, slot_indices
from libbpf_compat.verifier.numeric import Interval

INFINITY = 1 << 70  # any bound past the 64-bit range stands for -oo/+oo

__all__ = ["Assume", "Case", "CaseError", "Interval", "PreState", "Program", "load_cases",
           "load_directory", "parse_case", "parse_pre"]

ValueSpec = Interval | str  # an interval, or a reference to another variable ("r1.svalue")


class CaseError(ValueError):
    """A test case that cannot be turned into a program."""


@dataclass
class RegisterPre:
    """What the pre-state says about one register."""

    types: frozenset[str] | None = None
    svalue: ValueSpec | None = None
    uvalue: ValueSpec | None = None
    offsets: dict[str, ValueSpec] = field(default_factory=dict)  # stack_offset, ctx_offset…
    extra: dict[str, ValueSpec] = field(default_factory=dict)  # shared_region_size, map_fd…


@dataclass
class StackPre:
    """What the pre-state says about the stack bytes ``lo..hi`` (inclusive)."""

    lo: int
    hi: int
    field: str  # type, svalue, uvalue
    value: str


@dataclass
class PreState:
    registers: dict[int, RegisterPre] = field(default_factory=dict)
    stack: list[StackPre] = field(default_factory=list)
    packet_size: ValueSpec | None = None
    meta_offset: ValueSpec | None = None
    relations: list[str] = field(default_factory=list)  # kept unparsed for now


@dataclass(frozen=True)
class Assume:
    """``assume r1 < r2`` / ``assume w1 s> 5``: continue only where the condition holds."""

    dst: int
    op: str
    src: int | None  # a register, or None for the immediate
    imm: int
    is64: bool

    def text(self) -> str:
        right = f"r{self.src}" if self.src is not None else str(self.imm)
        op = self.op if self.is64 else f"w{self.op}"
        return f"r{self.dst} {op} {right}"


@dataclass
class Program:
    """The assembled code: instructions by slot index, assumes by slot, labels."""

    instructions: dict[int, Instruction]
    assumes: dict[int, Assume]
    labels: dict[str, int]
    slots: int
    indices: dict[int, int]  # slot -> instruction index (lddw counts once), as labels show


@dataclass
class Case:
    name: str
    source: str  # file stem
    options: list[str]
    pre: PreState
    program: Program | None
    unsupported: str | None  # why the program could not be built
    messages: list[str]
    post: list[str]
    expected_exception: str | None = None

    def option(self, name: str, default: bool) -> bool:
        if name in self.options:
            return True
        if f"!{name}" in self.options:
            return False
        return default


_NUMBER = r"[-+]?(?:0x[0-9a-fA-F]+|\d+|oo)"


def parse_number(text: str) -> int:
    text = text.strip()
    if text in ("oo", "+oo"):
        return INFINITY
    if text == "-oo":
        return -INFINITY
    return int(text, 0)


def parse_value(text: str) -> ValueSpec:
    """``5``, ``[-3, 5]``, ``[-oo, 9]`` or a reference such as ``r1.svalue``."""
    text = text.strip()
    m = re.fullmatch(r"\[\s*(" + _NUMBER + r")\s*,\s*(" + _NUMBER + r")\s*\]", text)
    if m:
        return Interval(parse_number(m.group(1)), parse_number(m.group(2)))
    if re.fullmatch(_NUMBER, text):
        v = parse_number(text)
        return Interval(v, v)
    return text


def parse_pre(lines: list[str]) -> PreState:
    pre = PreState()
    for raw in lines:
        line = str(raw).strip()
        m = re.fullmatch(r"r(\d+)\.type\s*(=|in)\s*\{?([\w\s,]+)\}?", line)
        if m:
            reg = pre.registers.setdefault(int(m.group(1)), RegisterPre())
            reg.types = frozenset(t.strip() for t in m.group(3).split(",") if t.strip())
            continue
        m = re.fullmatch(r"r(\d+)\.(\w+)=(.+)", line)
        if m and "-" not in m.group(2):
            reg = pre.registers.setdefault(int(m.group(1)), RegisterPre())
            name, value = m.group(2), parse_value(m.group(3))
            if name == "svalue":
                reg.svalue = value
            elif name == "uvalue":
                reg.uvalue = value
            elif name.endswith("_offset"):
                reg.offsets[name] = value
            else:
                reg.extra[name] = value
            continue
        m = re.fullmatch(r"s\[(\d+)\.\.\.(\d+)\]\.(\w+)=(.+)", line)
        if m:
            pre.stack.append(StackPre(int(m.group(1)), int(m.group(2)), m.group(3),
                                      m.group(4).strip()))
            continue
        m = re.fullmatch(r"(packet_size|meta_offset)=(.+)", line)
        if m:
            if m.group(1) == "packet_size":
                pre.packet_size = parse_value(m.group(2))
            else:
                pre.meta_offset = parse_value(m.group(2))
            continue
        pre.relations.append(line)
    return pre


_ASSUME = re.compile(r"assume\s+([rw])(\d+)\s*(s?[<>]=?|==|!=|&==|&!=)\s*(?:([rw])(\d+)|("
                     + _NUMBER + r"))\s*;?")


def parse_assume(text: str) -> Assume:
    m = _ASSUME.fullmatch(text.strip())
    if not m:
        raise CaseError(f"cannot parse the assumption {text!r}")
    src = int(m.group(5)) if m.group(5) is not None else None
    imm = parse_number(m.group(6)) if m.group(6) is not None else 0
    return Assume(int(m.group(2)), m.group(3), src, imm, m.group(1) == "r")


PLACEHOLDER = "r0 = r0"  # stands in for an assume's slot; the Assume says what it means


def build_program(code: dict[str, Any]) -> Program:
    """Assemble the labelled blocks in order; assume lines become placeholders."""
    text: list[str] = []
    pending: dict[int, Assume] = {}  # instruction index -> assume
    count = 0
    label_index: dict[str, int] = {}
    for label, block in code.items():
        text.append(f"{label}:")
        label_index[label] = count
        lines = block if isinstance(block, list) else str(block).splitlines()
        for line in lines:
            stripped = str(line).strip()
            if not stripped or stripped.startswith(("#", "//")):
                continue
            if stripped.startswith("assume"):
                pending[count] = parse_assume(stripped)
                text.append(PLACEHOLDER)
            else:
                text.append(stripped)
            count += 1
    insns = decode(assemble("\n".join(text), "kernel"))
    if len(insns) != count:
        raise CaseError(f"{count} lines gave {len(insns)} instructions")
    slots = slot_indices(insns)
    total = slots[-1] + insns[-1].size if insns else 0
    return Program(
        instructions={slots[i]: insn for i, insn in enumerate(insns)},
        assumes={slots[i]: a for i, a in pending.items()},
        labels={name: slots[i] if i < len(slots) else total
                for name, i in label_index.items()},
        slots=total,
        indices={slot: i for i, slot in enumerate(slots)},
    )


def parse_case(doc: dict[str, Any], source: str = "") -> Case:
    program: Program | None = None
    unsupported: str | None = None
    try:
        program = build_program(doc.get("code") or {})
    except (AssemblerError, CaseError, ValueError) as exc:
        unsupported = str(exc)
    return Case(
        name=str(doc.get("test-case", "")),
        source=source,
        options=[str(o) for o in doc.get("options") or []],
        pre=parse_pre(list(doc.get("pre") or [])),
        program=program,
        unsupported=unsupported,
        messages=[str(m) for m in doc.get("messages") or []],
        post=[str(p) for p in doc.get("post") or []],
        expected_exception=doc.get("expected-exception"),
    )


def load_cases(path: Path) -> Iterator[Case]:
    """Every case of one YAML file."""
    import yaml

    for doc in yaml.safe_load_all(path.read_text()):
        if isinstance(doc, dict) and "test-case" in doc:
            yield parse_case(doc, path.stem)


def load_directory(directory: Path) -> list[Case]:
    cases: list[Case] = []
    for path in sorted(directory.glob("*.yaml")):
        if path.name != "test-schema.yaml":
            cases.extend(load_cases(path))
    return cases
