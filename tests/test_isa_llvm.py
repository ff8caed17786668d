"""Cross-check encodings and kernel-syntax spellings against llvm-objdump.

Every form is encoded into an object file (llvm-mc assembles ``.byte``
directives) and disassembled by llvm-objdump; for each instruction LLVM
decodes, its text must assemble to the same bytes with our kernel syntax,
and our disassembly must read the same.  Skipped without the LLVM tools.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from libbpf_compat.isa import FORMS, Instruction, assemble, disassemble

LLVM_MC = shutil.which("llvm-mc")
LLVM_OBJDUMP = shutil.which("llvm-objdump")

# Forms older LLVM releases (14 here) decode wrongly or print differently, so they
# prove nothing either way: cpu-v4 instructions read with their v3 meaning
# (sdiv as div, movsx as mov), 32-bit atomics read as the xadd of cpu v1, calls
# printed without their kind, callx reading its register from imm, pseudo lddw
# printed as ld_pseudo without the second immediate.
LLVM_DIFFERS = re.compile(r"sdiv|smod|movsx|atomic_.*32|call_local|call_kfunc|callx|lddw_")

pytestmark = pytest.mark.skipif(
    LLVM_MC is None or LLVM_OBJDUMP is None, reason="llvm-mc and llvm-objdump are not installed"
)


def _instances() -> list[tuple[str, Instruction]]:
    out = []
    for form in FORMS:
        for dst, src, number in ((3, 4, 5), (0, 9, -7)):
            values = {"dst": dst, "src": src}
            for role in form.roles:
                values.setdefault(role, number)
            if form.group == "ldind":
                values["imm"] = 0  # llvm prints LD_IND without its immediate
            if "imm64" in form.roles:
                values["imm64"] = 0x1122334455667788 if number > 0 else 2**64 - 7
            out.append((form.name, form.build(values)))
    return out


def _objdump(code: bytes, workdir: Path) -> dict[int, str]:
    source = workdir / "forms.s"
    lines = [".text"]
    lines += [".byte " + ",".join(str(b) for b in code[i : i + 8]) for i in range(0, len(code), 8)]
    source.write_text("\n".join(lines) + "\n")
    obj = workdir / "forms.o"
    assert LLVM_MC is not None and LLVM_OBJDUMP is not None
    subprocess.run(
        [LLVM_MC, "-triple=bpfel", "-filetype=obj", str(source), "-o", str(obj)], check=True
    )
    result = subprocess.run(
        [LLVM_OBJDUMP, "-d", "--mcpu=v3", str(obj)], check=True, capture_output=True, text=True
    )
    texts = {}
    for line in result.stdout.splitlines():
        match = re.match(r"\s*(\d+):\t(?:[0-9a-f]{2}\s)+(.*)", line)
        if match:
            texts[int(match.group(1))] = match.group(2).strip()
    return texts


def test_llvm_objdump_agrees(tmp_path: Path) -> None:
    instances = _instances()
    code = b"".join(insn.encode() for _, insn in instances)
    texts = _objdump(code, tmp_path)
    checked = set()
    slot = 0
    for name, insn in instances:
        text = texts[slot]
        slot += insn.size
        if text == "<unknown>" or LLVM_DIFFERS.match(name):
            continue
        assert assemble(text, "kernel") == insn.encode(), (name, text)
        ours = disassemble(insn.encode(), "kernel").strip()
        assert ours == re.sub(r" <[^<>]*>$", "", text), (name, text)
        checked.add(name)
    # LLVM 14 knows the cpu v1-v3 forms: most of the catalogue must have been compared.
    assert len(checked) >= 90, sorted(checked)
