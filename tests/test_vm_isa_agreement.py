"""The Python validator (libbpf_compat.isa) and the C loader agree on which
encodings are valid: every catalogued form loads in the VM, and random
slots are accepted or refused alike. The one designed difference: the raw
VM refuses lddw pseudo sources (map and BTF references), which only an
object loader can resolve."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from libbpf_compat import isa
from libbpf_compat.compat_matrix import sample_program
from libbpf_compat.isa import forms as fm
from libbpf_compat.vm import Vm, VmError

#: every test twice: interpreted, then as machine code (conftest.py)
pytestmark = pytest.mark.usefixtures("vm_mode")

EXIT = isa.Instruction(0x95)


def loads(code: bytes) -> bool:
    try:
        Vm(code)
    except VmError:
        return False
    return True


@pytest.mark.parametrize("form", isa.FORMS, ids=[f.name for f in isa.FORMS])
def test_every_form_agrees(form: isa.Form) -> None:
    insns = sample_program(form)
    code = isa.encode(insns)
    valid = not isa.validate_program(insns)
    pseudo = form.group == fm.LDDW and form.opcode == 0x18 and insns[0].src != 0
    assert loads(code) == (valid and not pseudo), (form.name, isa.validate_program(insns))


@settings(max_examples=3000, deadline=None)
@given(opcode=st.integers(0, 255), regs=st.integers(0, 255),
       off=st.sampled_from([0, 1, 8, 16, 32, -1, 0x7FFF]),
       imm=st.sampled_from([0, 1, 16, 32, 64, 0x01, 0x40, 0xE1, 0xF1, -1]))
def test_random_slots_agree(opcode: int, regs: int, off: int, imm: int) -> None:
    slot = struct.pack("<BBhi", opcode, regs, off, imm)
    code = slot + (b"\0" * 8 if opcode == 0x18 else b"") + isa.encode([EXIT])
    try:
        insns = isa.decode(code)
    except isa.DecodeError:
        assert not loads(code)
        return
    problems = isa.validate_program(insns)
    if not problems and opcode == 0x18 and insns[0].src != 0:
        problems = [(0, "pseudo lddw")]
    assert loads(code) == (not problems), (code.hex(), problems)
