"""Running a YAML case through the analysis and comparing its messages."""

from __future__ import annotations

from dataclasses import dataclass

from libbpf_compat.verifier.analysis import analyze, initial_state
from libbpf_compat.verifier.cases import Case
from libbpf_compat.verifier.transfer import Options


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
