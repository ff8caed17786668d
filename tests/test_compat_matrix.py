"""compat_matrix.md is what the registries generate today, and its
instruction table covers every form once."""

from __future__ import annotations

from libbpf_compat import isa
from libbpf_compat.compat_matrix import MATRIX, interpreter_status, render


def test_matrix_is_current() -> None:
    assert MATRIX.read_text() == render(), (
        "compat_matrix.md is stale: run python -m libbpf_compat.compat_matrix --write")


def test_instruction_table_counts_every_form_once() -> None:
    section = render().split("## Instruction set")[1].split("\n## ")[0]
    rows = [line.split(" | ") for line in section.splitlines() if line.startswith("| ")
            and line.split(" | ")[1].isdigit()]
    assert sum(int(row[1]) for row in rows) == len(isa.FORMS)


def test_interpreter_status_reflects_the_vm() -> None:
    by_name = {f.name: f for f in isa.FORMS}
    assert interpreter_status(by_name["add64_imm"]) == "executes"
    assert interpreter_status(by_name["ldabsdw"]).startswith("refused: not RFC 9669")
    pseudo = [f for f in isa.FORMS if f.group == "lddw" and f.fixed_fields.get("src")]
    assert pseudo and all("object loader" in interpreter_status(f) for f in pseudo)
