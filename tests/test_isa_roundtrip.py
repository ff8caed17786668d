"""Property tests: encode/decode and assemble/disassemble round trips in both syntaxes."""

from __future__ import annotations

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from libbpf_compat.isa import (
    FORMS,
    Form,
    Instruction,
    assemble,
    decode,
    disassemble,
    disassemble_instruction,
    encode,
    match_form,
    validate,
)

SYNTAX_NAMES = ("conformance", "kernel")
STANDARD_FORMS = [form for form in FORMS if form.nonstandard is None]

_ROLE_VALUES: dict[str, st.SearchStrategy[int]] = {
    "dst": st.integers(0, 10),
    "src": st.integers(0, 10),
    "off": st.integers(-(1 << 15), (1 << 15) - 1),
    "imm": st.integers(-(1 << 31), (1 << 31) - 1),
    "imm_hi": st.integers(-(1 << 31), (1 << 31) - 1),
    "imm64": st.integers(0, (1 << 64) - 1),
    "target_off": st.integers(-(1 << 15), (1 << 15) - 1),
    "target_imm": st.integers(-(1 << 31), (1 << 31) - 1),
}

SETTINGS = settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.filter_too_much]
)


@st.composite
def valid_instructions(draw: st.DrawFn) -> Instruction:
    """A random instance of a random RFC 9669 form, valid per validate()."""
    form: Form = draw(st.sampled_from(STANDARD_FORMS))
    values = {role: draw(_ROLE_VALUES[role]) for role in form.roles}
    insn = form.build(values)
    assume(validate(insn) is None)  # e.g. no write to r10
    return insn


@st.composite
def any_instructions(draw: st.DrawFn) -> Instruction:
    """Any encodable instruction: every opcode, register field and value."""
    opcode = draw(st.integers(0, 255))
    return Instruction(
        opcode,
        draw(st.integers(0, 15)),
        draw(st.integers(0, 15)),
        draw(st.integers(-(1 << 15), (1 << 15) - 1)),
        draw(st.integers(-(1 << 31), (1 << 31) - 1)),
        draw(st.integers(-(1 << 31), (1 << 31) - 1)) if opcode == 0x18 else 0,
    )


def test_every_standard_form_can_be_generated() -> None:
    assert {form.group for form in STANDARD_FORMS} == {form.group for form in FORMS}


@SETTINGS
@given(valid_instructions())
def test_valid_instruction_roundtrip(insn: Instruction) -> None:
    code = insn.encode()
    assert decode(code) == [insn]
    form = match_form(insn)
    assert form is not None
    assert form.build(form.operands(insn)) == insn
    for syntax in SYNTAX_NAMES:
        text = disassemble(code, syntax)
        assert not text.startswith(".insn"), text
        assert assemble(text, syntax) == code, text
        assert assemble(disassemble_instruction(insn, syntax), syntax) == code


@SETTINGS
@given(st.lists(valid_instructions(), min_size=1, max_size=24), st.data())
def test_program_roundtrip_with_labels(insns: list[Instruction], data: st.DataObject) -> None:
    # Point some targets inside the program so that labels get generated.
    total = sum(insn.size for insn in insns)
    slot = 0
    program = []
    for insn in insns:
        form = match_form(insn)
        assert form is not None
        role = form.target_role
        if role is not None and data.draw(st.booleans()):
            target = data.draw(st.integers(0, total))
            insn = form.build({**form.operands(insn), role: target - slot - 1})
        program.append(insn)
        slot += insn.size
    code = encode(program)
    for syntax in SYNTAX_NAMES:
        for labels in (False, True):
            assert assemble(disassemble(code, syntax, labels=labels), syntax) == code


@SETTINGS
@given(st.lists(any_instructions(), min_size=1, max_size=8))
def test_any_instruction_roundtrip(insns: list[Instruction]) -> None:
    """Unknown opcodes and stray fields come back through `.insn`."""
    code = encode(insns)
    assert decode(code) == insns
    for insn in insns:
        reason = validate(insn)
        assert reason is None or isinstance(reason, str)
    for syntax in SYNTAX_NAMES:
        assert assemble(disassemble(code, syntax, labels=True), syntax) == code
