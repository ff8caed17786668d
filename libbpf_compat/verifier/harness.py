"""Running a YAML case through the analysis and comparing its messages."""

from __future__ import annotations

from dataclasses import dataclass

from libbpf_compat.verifier.analysis import analyze, initial_state
from libbpf_compat.verifier.cases import Case
from libbpf_compat.verifier.transfer import Options

#: The size of the context PREVAIL's YAML harness describes (data at 0, data_end at 4).
YAML_CTX_SIZE = 64


@dataclass
class Outcome:
    case: Case
    produced: set[str]
    expected: set[str]
    error: str | None = None

    @property
    def agrees(self) -> bool:
        return self.error is None and self.produced == self.expected


def case_options(case: Case) -> Options:
    return Options(
        allow_division_by_zero=case.option("allow_division_by_zero", True),
        big_endian=case.option("big_endian", False),
        termination=case.option("termination", False),
        ctx_size=YAML_CTX_SIZE,
        track_references=False,  # PREVAIL does not track ring buffer references
        validate_bytecode=False,  # PREVAIL's dialect has forms RFC 9669 lacks (w1 = (s32)w1)
    )


def run_case(case: Case) -> Outcome:
    expected = set(case.messages)
    if case.expected_exception is not None:
        return Outcome(case, set(), expected, f"expects an exception: {case.expected_exception}")
    if case.program is None:
        return Outcome(case, set(), expected, f"unsupported: {case.unsupported}")
    result = analyze(case.program.instructions, case.program.assumes,
                     initial_state(case.pre), case_options(case),
                     names=case.program.indices)
    return Outcome(case, result.texts, expected)
