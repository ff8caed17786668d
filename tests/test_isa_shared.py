"""The assemblers against the shared third-party corpora, when they are present.

The shared directory is ``$LIBBPF_COMPAT_SHARED``, else ``<repo>/../shared``:
``conformance/`` holds the bpf_conformance test vectors, ``verifier-tests/``
PREVAIL's YAML test cases (kernel-syntax code).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from libbpf_compat.conformance import load_case, parse_raw
from libbpf_compat.isa import AssemblerError, assemble, decode, disassemble, validate
from tests.shared_data import SHARED, shared_params

CONFORMANCE = SHARED / "conformance"
VERIFIER_TESTS = SHARED / "verifier-tests"

SYNTAX_NAMES = ("conformance", "kernel")


def sections(path: Path) -> dict[str, str]:
    return load_case(path).sections


# bpf_conformance ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", shared_params("*.data", "conformance", "tests"))
def test_conformance_program_assembles(path: Path) -> None:
    parts = sections(path)
    code = assemble(parts["asm"])
    assert code
    if "raw" in parts:
        assert code == parse_raw(parts["raw"])
    for syntax in SYNTAX_NAMES:
        for labels in (False, True):
            assert assemble(disassemble(code, syntax, labels=labels), syntax) == code


def test_conformance_corpus_size() -> None:
    if not (CONFORMANCE / "tests").is_dir():
        pytest.skip(f"{CONFORMANCE} is absent (set LIBBPF_COMPAT_SHARED)")
    assert len(list((CONFORMANCE / "tests").glob("*.data"))) >= 313


def test_conformance_lddw_raw() -> None:
    path = CONFORMANCE / "tests" / "lddw.data"
    if not path.is_file():
        pytest.skip(f"{path} is absent (set LIBBPF_COMPAT_SHARED)")
    parts = sections(path)
    assert assemble(parts["asm"]) == parse_raw(parts["raw"])
    assert parse_raw(parts["raw"]) == bytes.fromhex(
        "18 00 00 00 88 77 66 55 00 00 00 00 44 33 22 11 95 00 00 00 00 00 00 00"
    )


# What the assembler must say about each invalid_* file of the negative corpus.
REFUSALS = {
    "invalid_imm32_dec_range": "immediate 2147483648 is out of range",
    "invalid_imm32_hex_range": "immediate 4294967296 is out of range",
    "invalid_label": "undefined label 'NOT_A_LABEL'",
    "invalid_lock": "invalid number of operands for lock or",
    "invalid_lock2": "invalid number of operands for lock",
    "invalid_mnemonic": "invalid mnemonic 'ldxq'",
    "invalid_offset": "invalid operands for ldxb",
    "invalid_offset_range": "offset 65536 is out of range",
    "invalid_operand_count": "invalid number of operands for lddw",
    "invalid_register": "invalid register '%r50'",
}


@pytest.mark.parametrize("path", shared_params("invalid_*.data", "conformance", "negative"))
def test_conformance_invalid_is_refused(path: Path) -> None:
    if path.stem == "invalid_unknown_directive":
        # Its `-- Unknown directive` line is a section header the test-file parser must
        # refuse; the assembly section before it is empty.
        assert not sections(path).get("asm", "").strip()
        return
    with pytest.raises(AssemblerError) as info:
        assemble(sections(path)["asm"])
    assert REFUSALS[path.stem] in str(info.value)


@pytest.mark.parametrize("path", shared_params("unused-*.data", "conformance", "negative"))
def test_conformance_unused_fields_are_invalid(path: Path) -> None:
    code = parse_raw(sections(path)["raw"])
    first = decode(code)[0]
    reason = validate(first)
    assert reason is not None
    assert "non-zero unused" in reason or "invalid offset" in reason
    for syntax in SYNTAX_NAMES:
        assert disassemble(code, syntax).startswith(".insn")
        assert assemble(disassemble(code, syntax), syntax) == code


# PREVAIL's verifier tests ------------------------------------------------------------------


VERIFIER_FILES = [
    param
    for param in shared_params("*.yaml", "verifier-tests")
    if param.values[0] is None or param.values[0].name != "test-schema.yaml"
]


@pytest.mark.parametrize("path", VERIFIER_FILES)
def test_verifier_yaml_code_assembles(path: Path) -> None:
    """Every code line of every test case, assembled as its test case's program."""
    yaml = pytest.importorskip("yaml")
    cases = 0
    for case in yaml.safe_load_all(path.read_text()):
        if not case or "code" not in case:
            continue
        cases += 1
        program: list[str] = []
        for label, block in case["code"].items():
            program.append(f"{label}:")
            for line in block.splitlines():
                text = line.strip()
                if text.startswith("assume"):
                    # A verifier assumption, not an instruction: refused with a reason.
                    with pytest.raises(AssemblerError, match="verifier assumption"):
                        assemble(text, "kernel")
                    continue
                if "&!=" in text:
                    # PREVAIL's negated jset: no eBPF instruction encodes it.
                    with pytest.raises(AssemblerError, match="negated jset"):
                        assemble(text, "kernel")
                    continue
                program.append(text)
        code = assemble("\n".join(program), "kernel")
        for syntax in SYNTAX_NAMES:
            assert assemble(disassemble(code, syntax, labels=True), syntax) == code
    assert cases > 0
