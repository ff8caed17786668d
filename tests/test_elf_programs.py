"""Functions of code sections, sub-programs appended and calls fixed up, as libbpf links."""

from __future__ import annotations

import errno
import struct
from pathlib import Path

import pytest

from libbpf_compat.elf.parse import ParsedObject, ParsedProgram, parse_object
from libbpf_compat.elf.reader import ElfFile
from libbpf_compat.elf.relocations import RelocKind
from libbpf_compat.errors import LibbpfError
from libbpf_compat.isa import decode, encode
from libbpf_compat.isa import opcodes as op
from libbpf_compat.vm import Vm

OBJECTS = Path(__file__).parent / "fixtures" / "objects"
BPF_FUNC_LOOP = 181


def _parse(name: str) -> ParsedObject:
    return parse_object((OBJECTS / f"{name}.o").read_bytes(), f"{name}.o", name)


def _program(parsed: ParsedObject, name: str) -> ParsedProgram:
    return next(p for p in parsed.programs if p.name == name)


def _run(program: ParsedProgram) -> int:
    insns = decode(program.linked.code)
    # bpf_loop's callback address is for a loader to resolve; the helper is mocked here.
    plain = [i if not (i.is_lddw and i.src == op.PSEUDO_FUNC) else type(i).lddw(i.dst, 0)
             for i in insns]
    vm = Vm(encode(plain))
    vm.register_helper(BPF_FUNC_LOOP, lambda *args: 0)
    return vm.run()


def test_functions_of_every_code_section() -> None:
    parsed = _parse("subprogs")
    assert parsed.functions == {
        ".text": ["global_helper", "middle", "leaf", "loop_body"],
        "classifier": ["in_other_section"],
        "xdp": ["first", "second"],
        "tc": ["third"],
    }


def test_each_subprogram_is_appended_once_in_call_order() -> None:
    parsed = _parse("subprogs")
    assert _program(parsed, "first").linked.subprograms == ["global_helper", "middle", "leaf"]
    assert _program(parsed, "second").linked.subprograms == ["leaf"]
    # A call across sections (tc -> classifier) and a callback address (bpf_loop).
    assert _program(parsed, "third").linked.subprograms == [
        "loop_body", "global_helper", "in_other_section", "middle", "leaf"]


@pytest.mark.parametrize("name", ["subprogs", "subprogs_be"])
def test_linked_programs_compute_what_the_c_source_says(name: str) -> None:
    parsed = _parse(name)

    def leaf(x: int) -> int:
        return x * 3

    def middle(x: int) -> int:
        return leaf(x) + 1

    def global_helper(x: int) -> int:
        return middle(x) + leaf(x)

    assert _run(_program(parsed, "first")) == global_helper(1) + middle(2)
    assert _run(_program(parsed, "second")) == leaf(4)
    assert _run(_program(parsed, "third")) == global_helper(5) + (9 - 5)


def test_appended_code_is_the_subprogram_code_with_calls_rewritten() -> None:
    data = (OBJECTS / "subprogs.o").read_bytes()
    parsed = parse_object(data, "subprogs.o", "subprogs")
    elf = ElfFile(data, "subprogs.o")
    text = elf.by_name[".text"].data
    functions = {f.name: f for f in
                 (p.function for p in parsed.programs if p.section_name == ".text")}
    first = _program(parsed, "first")
    calls = {r.insn: r for r in first.linked.relocations}
    code = first.linked.code
    offset = first.function.size
    for name in first.linked.subprograms:
        function = functions[name]
        original = text[function.offset:function.end]
        linked = code[offset:offset + function.size]
        for slot in range(function.size // 8):
            mine, theirs = linked[slot * 8:slot * 8 + 8], original[slot * 8:slot * 8 + 8]
            if offset // 8 + slot in calls:
                assert mine[:4] == theirs[:4]
            else:
                assert mine == theirs
        offset += function.size
    assert offset == len(code)
    for reloc in first.linked.relocations:
        assert reloc.kind is RelocKind.CALL
        opcode, regs, _, imm = struct.unpack_from("<BBhi", code, reloc.insn * 8)
        assert opcode == op.OPCODE_CALL and regs >> 4 == op.CALL_LOCAL
        assert reloc.insn + 1 + imm == reloc.offset


def test_callback_address_is_a_pseudo_func_lddw() -> None:
    third = _program(_parse("subprogs"), "third")
    reloc = next(r for r in third.linked.relocations if r.kind is RelocKind.FUNC_ADDR)
    assert reloc.symbol == "loop_body"
    insn = decode(third.linked.code)[0:3]
    lddw = next(i for i in insn if i.is_lddw)
    assert lddw.src == op.PSEUDO_FUNC
    assert reloc.insn + 1 + lddw.imm == reloc.offset


def test_big_endian_code_is_converted_to_the_little_endian_layout() -> None:
    little = _parse("subprogs")
    big = _parse("subprogs_be")
    for a, b in zip(little.programs, big.programs, strict=True):
        assert a.name == b.name
        assert a.linked.code == b.linked.code


def test_section_without_function_symbols_is_one_program() -> None:
    data = bytearray((OBJECTS / "legacy_maps.o").read_bytes())
    elf = ElfFile(bytes(data), "x")
    symtab = next(s for s in elf.sections if s.type == 2)
    func = next(s for s in elf.symbols if s.name == "count_packets")
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    base = struct.unpack_from("<Q", data, shoff + 64 * symtab.index + 24)[0]
    data[base + 24 * func.index + 4] = (func.bind << 4) | 0  # STT_NOTYPE
    parsed = parse_object(bytes(data), "legacy_maps.o", "legacy_maps")
    assert parsed.functions == {"socket": ["socket"]}


def test_function_outside_its_section_is_refused() -> None:
    data = bytearray((OBJECTS / "legacy_maps.o").read_bytes())
    elf = ElfFile(bytes(data), "x")
    symtab = next(s for s in elf.sections if s.type == 2)
    func = next(s for s in elf.symbols if s.name == "count_packets")
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    base = struct.unpack_from("<Q", data, shoff + 64 * symtab.index + 24)[0]
    struct.pack_into("<Q", data, base + 24 * func.index + 16, func.size + 8)
    with pytest.raises(LibbpfError) as info:
        parse_object(bytes(data), "legacy_maps.o", "legacy_maps")
    assert info.value.errno == errno.EINVAL
    assert "'count_packets'" in str(info.value) and "'socket'" in str(info.value)


def test_license_and_version() -> None:
    parsed = _parse("legacy_maps")
    assert parsed.license == "Dual BSD/GPL"
    assert parsed.kern_version == 0x050A00
    assert _parse("windows").license == ""


def test_program_longer_than_the_kernel_limit_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from libbpf_compat.elf import linker

    monkeypatch.setattr(linker, "MAX_PROGRAM_INSNS", 10)
    with pytest.raises(LibbpfError) as info:
        _parse("subprogs")
    assert info.value.errno == errno.E2BIG
    assert "exceeds 10 instructions" in str(info.value)
