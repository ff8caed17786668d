"""The bpf_conformance test format, and running its cases on this VM.

A case file has sections introduced by ``-- name`` lines: ``asm`` (the
program in the conformance assembler syntax), ``raw`` (the program as 64-bit
hex words), ``mem`` (hex bytes; r1 points at them, r2 is their length),
``result`` (the expected r0) and ``error`` (an expected error). ``#`` lines
outside ``asm`` are comments.

Helper 5 is the conformance suite's "unwind" helper, as in uBPF's plugin: it
returns its argument, and a zero argument ends the program with r0 = 0.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from libbpf_compat import isa
from libbpf_compat.errors import LibbpfError
from libbpf_compat.vm import StopProgram, Vm

UNWIND_HELPER = 5

Outcome = Literal["refused", "error", "result"]


@dataclass
class ConformanceCase:
    """One parsed ``.data`` file."""

    name: str
    sections: dict[str, str] = field(default_factory=dict)

    @property
    def asm(self) -> str | None:
        return self.sections.get("asm")

    @property
    def raw(self) -> bytes | None:
        text = self.sections.get("raw")
        if text is None:
            return None
        return parse_raw(text)

    @property
    def mem(self) -> bytes:
        return bytes.fromhex(" ".join(self.sections.get("mem", "").split()))

    @property
    def result(self) -> int | None:
        text = self.sections.get("result", "").strip()
        return int(text, 0) if text else None

    @property
    def error(self) -> str | None:
        return self.sections.get("error")


@dataclass(frozen=True)
class CaseRun:
    """What running a case gave: refused (assembler or loader), a run-time
    error, or a result in r0."""

    outcome: Outcome
    value: int = 0
    message: str = ""


def parse_raw(text: str) -> bytes:
    """A ``-- raw`` section: hex byte pairs (``07 00 01 00 ...``) or 64-bit
    little-endian words (``0x5566778800000018``)."""
    tokens = text.split()
    if all(len(token) == 2 for token in tokens):
        return bytes(int(token, 16) for token in tokens)
    return b"".join(struct.pack("<Q", int(token, 16)) for token in tokens)


def parse_case(text: str, name: str = "<case>") -> ConformanceCase:
    case = ConformanceCase(name)
    current: str | None = None
    lines: list[str] = []
    for line in text.splitlines():
        if line.startswith("-- "):
            if current is not None:
                case.sections[current] = "\n".join(lines).strip("\n")
            current, lines = line[3:].strip(), []
        elif current is not None and (current == "asm" or not line.startswith("#")):
            lines.append(line)
    if current is not None:
        case.sections[current] = "\n".join(lines).strip("\n")
    return case


def load_case(path: Path) -> ConformanceCase:
    return parse_case(path.read_text(), path.stem)


def conformance_vm(code: bytes, *, bounds_check: bool = True, jit: bool = False) -> Vm:
    """A VM with the helpers the conformance suite expects. ``jit`` runs it
    as machine code, which takes runs without a budget (the suite's
    programs all end)."""
    vm = Vm(code, bounds_check=bounds_check, budget=None if jit else 10_000_000, jit=jit)

    def unwind(r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
        if r1 == 0:
            raise StopProgram(0)
        return r1

    vm.register_helper(UNWIND_HELPER, unwind)
    return vm


def program_of(case: ConformanceCase) -> bytes:
    """The case's program: its raw words if it has them, else its assembly.
    Raises LibbpfError when it has neither or the assembler refuses it."""
    raw = case.raw
    if raw is not None:
        return raw
    if case.asm is None:
        raise LibbpfError(22, f"{case.name}: the case has no program (no asm or raw section)")
    return isa.assemble(case.asm)


def run_case(case: ConformanceCase, *, bounds_check: bool = True, jit: bool = False) -> CaseRun:
    try:
        vm = conformance_vm(program_of(case), bounds_check=bounds_check, jit=jit)
    except LibbpfError as exc:
        return CaseRun("refused", message=str(exc))
    try:
        return CaseRun("result", vm.run(case.mem))
    except LibbpfError as exc:
        return CaseRun("error", message=str(exc))


def passes(case: ConformanceCase, run: CaseRun) -> bool:
    """A positive case passes when the program ran and returned its result."""
    return case.result is not None and run.outcome == "result" and run.value == case.result


def detected(case: ConformanceCase, run: CaseRun) -> bool:
    """A negative case (one a correct runner must not pass) is detected when
    the program was refused or stopped, or gave a result other than the one
    the case states (a case stating only an error states no result)."""
    return run.outcome != "result" or case.result is None or run.value != case.result


def shared_dir() -> Path:
    """Where the shared third-party data lives: $LIBBPF_COMPAT_SHARED, else
    ../shared beside the repository."""
    env = os.environ.get("LIBBPF_COMPAT_SHARED")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent.parent / "shared"
