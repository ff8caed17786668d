"""Whether instructions are valid RFC 9669 eBPF, with a reason when they are not.

These are the checks the native loader makes on each slot (known form,
unused fields zero, registers r0-r10, no write to the frame pointer r10)
plus, for whole programs, jump targets and falling off the end.  The
verifier's deeper checks (types, bounds, initialisation) are not here.
"""

from __future__ import annotations

from collections.abc import Sequence

from libbpf_compat.isa import forms as fm
from libbpf_compat.isa import opcodes as op
from libbpf_compat.isa.forms import Form
from libbpf_compat.isa.instruction import Instruction, slot_indices

_FIELD_NAMES = {
    "dst": "destination register",
    "src": "source register",
    "off": "offset",
    "imm": "immediate",
    "imm_hi": "upper immediate (second slot)",
}

# Forms whose destination register is written (so it must not be r10).
_WRITES_DST = frozenset({fm.ALU, fm.NEG, fm.MOVSX, fm.END, fm.LDDW, fm.LDX})


def _describe(insn: Instruction) -> str:
    candidates = fm.FORMS_BY_OPCODE.get(insn.opcode, ())
    groups = {form.group for form in candidates}
    if len(candidates) > 3 and len(groups) == 1:
        what = groups.pop()
    else:
        what = "/".join(sorted(form.name for form in candidates))
    return f"opcode {insn.opcode:#04x} ({what})"


def _mismatch_reason(insn: Instruction) -> str:
    """Why ``insn`` matches none of the forms of its opcode."""
    candidates = fm.FORMS_BY_OPCODE.get(insn.opcode, ())
    if not candidates:
        return f"unknown opcode {insn.opcode:#04x}"

    # The candidate wrong in the fewest fields tells what is wrong; among those, prefer
    # one whose wrong fields no other form would accept as they are (lddw with src 1
    # and an upper immediate is a map_fd with a stray upper immediate, not a bad src).
    def rank(form: Form) -> tuple[int, int]:
        wrong = form.mismatches(insn)
        explained = sum(
            1
            for field, _, actual in wrong
            if any(other.fixed_fields.get(field) == actual for other in candidates)
        )
        return len(wrong), explained

    ranked = sorted(candidates, key=rank)
    field, _, actual = ranked[0].mismatches(insn)[0]
    allowed = sorted(
        {
            form.fixed_fields[field]
            for form in candidates
            if not form.nonstandard and [name for name, _, _ in form.mismatches(insn)] == [field]
        }
    )
    name = _FIELD_NAMES[field]
    if allowed == [0]:
        return f"{_describe(insn)} has a non-zero unused {name} field ({actual})"
    expected = ", ".join(str(value) for value in allowed)
    return f"{_describe(insn)} has an invalid {name} {actual} (expected {expected})"


def _register_reason(insn: Instruction, form: Form) -> str | None:
    for name in ("dst", "src"):
        value = getattr(insn, name)
        if value >= op.REG_COUNT:
            return f"invalid {_FIELD_NAMES[name]} r{value} (registers are r0-r10)"
    writes_fp = form.group in _WRITES_DST and insn.dst == op.REG_FP
    if form.group == fm.ATOMIC and form.op.startswith(("fetch_", "xchg")):
        writes_fp = insn.src == op.REG_FP
    if writes_fp:
        return f"{form.name} writes to r10, the read-only frame pointer"
    return None


def validate(insn: Instruction) -> str | None:
    """None if ``insn`` is a valid instruction, else why it is not.

    Valid means: a known RFC 9669 form, every field the form does not use
    zero (or at its fixed value), registers r0-r10, and no write to r10.
    Jump targets are checked by :func:`validate_program`.
    """
    form = fm.match_form(insn)
    if form is None:
        return _mismatch_reason(insn)
    if form.nonstandard:
        return f"{form.name} (opcode {insn.opcode:#04x}) is not valid: {form.nonstandard}"
    return _register_reason(insn, form)


def validate_program(insns: Sequence[Instruction]) -> list[tuple[int, str]]:
    """Every problem of a program as ``(slot index, reason)``, empty when it is valid.

    On top of :func:`validate` for each instruction: the program is not
    empty, jump and local-call targets are inside the program and not in the
    middle of an lddw, and the last instruction does not fall off the end.
    """
    if not insns:
        return [(0, "the program is empty")]
    slots = slot_indices(insns)
    starts = set(slots)
    total = slots[-1] + insns[-1].size
    problems: list[tuple[int, str]] = []
    for insn, slot in zip(insns, slots, strict=True):
        reason = validate(insn)
        if reason is not None:
            problems.append((slot, reason))
            continue
        form = fm.match_form(insn)
        assert form is not None
        role = form.target_role
        if role is not None:
            target = slot + 1 + form.operands(insn)[role]
            what = f"{form.name} target {target}"
            if not 0 <= target < total:
                problems.append((slot, f"{what} is outside the program (0..{total - 1})"))
            elif target not in starts:
                problems.append((slot, f"{what} is in the middle of an lddw"))
    last = insns[-1]
    last_form = fm.match_form(last)
    if last_form is not None and last_form.group not in (fm.EXIT, fm.JA):
        problems.append((slots[-1], "the program can fall off its end after this instruction"))
    return problems


__all__ = ["validate", "validate_program"]
