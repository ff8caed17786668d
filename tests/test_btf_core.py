"""CO-RE: relocations of a clang-built program resolved against target BTFs
where fields moved, were renamed through a ___flavour, changed width or
disappeared; the patched programs run on the VM over memory laid out like
the target."""

from __future__ import annotations

import errno
import struct
from pathlib import Path
from typing import Any

import pytest
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from libbpf_compat.btf import (
    POISON_HELPER,
    Btf,
    BtfExt,
    BtfKind,
    CoreRelo,
    CoreReloKind,
    CoreResult,
    apply_core_relos,
    encode,
    essential_name,
    patch_insn,
    resolve_core_relo,
)
from libbpf_compat.errors import LibbpfError
from libbpf_compat.vm import Vm

FIXTURES = Path(__file__).parent / "fixtures" / "btf"
LOCAL_O = FIXTURES / "core_local.bpf.o"
K = CoreReloKind
U32 = 0xFFFFFFFF


def load(name: str) -> Btf:
    return Btf.from_file(FIXTURES / f"{name}.bpf.o")


@pytest.fixture(scope="module")
def local() -> Btf:
    return load("core_local")


@pytest.fixture(scope="module")
def relos(local: Btf) -> list[CoreRelo]:
    return BtfExt.from_file(LOCAL_O, local).core_relos["tc"]


def section_and_functions() -> tuple[bytes, dict[str, tuple[int, int]]]:
    """The "tc" section's code and each function's (offset, size) in it."""
    with LOCAL_O.open("rb") as f:
        elf = ELFFile(f)
        sec = elf.get_section_by_name("tc")
        symtab = elf.get_section_by_name(".symtab")
        assert sec is not None and isinstance(symtab, SymbolTableSection)
        index = next(i for i, s in enumerate(elf.iter_sections()) if s.name == "tc")
        funcs = {s.name: (s["st_value"], s["st_size"])
                 for s in symtab.iter_symbols()
                 if s["st_info"]["type"] == "STT_FUNC" and s["st_shndx"] == index}
        code: bytes = sec.data()
        return code, funcs


def run(code: bytes, func: str, funcs: dict[str, tuple[int, int]], mem: bytes,
        helpers: dict[int, Any] | None = None) -> int:
    off, size = funcs[func]
    vm = Vm(code[off:off + size], bounds_check=True)
    for hid, fn in (helpers or {}).items():
        vm.register_helper(hid, fn)
    return vm.run(bytearray(mem)) & U32


def by_access(local: Btf, relos: list[CoreRelo], target: Btf) -> dict[tuple[str, str, K],
                                                                         CoreResult]:
    return {(local.name_of(r.type_id), r.access_str, r.kind): resolve_core_relo(local, r, target)
            for r in relos}


def test_essential_names() -> None:
    assert essential_name("core_ver___v2") == "core_ver"
    assert essential_name("a___b___c") == "a___b"
    assert essential_name("plain") == "plain"
    assert essential_name("x____y") == "x____y"
    assert essential_name("x___") == "x___"


def test_values_against_moved_layout(local: Btf, relos: list[CoreRelo]) -> None:
    target = load("core_target")
    res = by_access(local, relos, target)
    (task_t,) = target.find("core_task", BtfKind.STRUCT)
    (task_l,) = local.find("core_task", BtfKind.STRUCT)
    # target layout (core_target.bpf.c): comm@0 start@8 lo:6@bit128 hi:10@bit134
    # pid@20 inner{pad,b,a}@24 extra[3]@40, size 56
    expected = {
        ("core_task", "0:0", K.FIELD_BYTE_OFFSET): (0, 20),
        ("core_task", "0:2", K.FIELD_BYTE_OFFSET): (8, 8),
        ("core_task", "0:3:1", K.FIELD_BYTE_OFFSET): (20, 32),
        ("core_task", "0:6:3", K.FIELD_BYTE_OFFSET): (29, 3),
        ("core_ver___v2", "0:1", K.FIELD_BYTE_OFFSET): (4, 8),
        ("core_task", "0:1", K.FIELD_EXISTS): (1, 0),
        ("core_task", "0:0", K.FIELD_EXISTS): (1, 1),
        ("core_task", "0:2", K.FIELD_BYTE_SIZE): (8, 8),
        ("core_task", "0:5", K.FIELD_SIGNED): (1, 1),
        ("core_task", "0", K.TYPE_SIZE): (40, 56),
        ("core_missing", "0", K.TYPE_EXISTS): (1, 0),
        ("core_state", "2", K.ENUMVAL_EXISTS): (1, 0),
        ("core_state", "1", K.ENUMVAL_VALUE): (2, 20),
        ("core_task", "0:5", K.FIELD_BYTE_OFFSET): (24, 16),
        ("core_task", "0:5", K.FIELD_LSHIFT_U64): (48, 48),
        ("core_task", "0:5", K.FIELD_RSHIFT_U64): (52, 54),
        ("core_task", "0", K.TYPE_ID_LOCAL): (task_l, task_l),
        ("core_task", "0", K.TYPE_ID_TARGET): (task_l, task_t),
    }
    for key, (orig, new) in expected.items():
        assert (res[key].orig_val, res[key].new_val, res[key].poison) == (orig, new, False), key
    flags = res[("core_task", "0:1", K.FIELD_BYTE_OFFSET)]
    assert flags.poison and flags.target_type_id is None
    assert res[("core_task", "0", K.TYPE_ID_TARGET)].validate is False
    assert res[("core_task", "0:5", K.FIELD_BYTE_OFFSET)].validate is False  # bitfield


def test_patched_program_reads_the_moved_fields(local: Btf, relos: list[CoreRelo]) -> None:
    target = load("core_target")
    code, funcs = section_and_functions()
    patched = apply_core_relos(code, relos, local, target)
    task = {"pid": 1000, "start": 5_000_000, "inner": {"a": 3, "b": 40}, "comm": "abcdefg",
            "lo": 9, "hi": -300}
    expected = (1000 + 5_000_000 + 40 + ord("d")) & U32
    (task_t,) = target.find("core_task", BtfKind.STRUCT)
    (task_l,) = local.find("core_task", BtfKind.STRUCT)
    target_mem = encode(target, task_t, task)
    local_mem = encode(local, task_l, task)
    assert target_mem != local_mem[:len(target_mem)]
    # unpatched code reads the local layout, patched code the target's
    assert run(code, "read_fields", funcs, local_mem) == expected
    assert run(patched, "read_fields", funcs, target_mem) == expected
    assert run(code, "read_fields", funcs, target_mem + bytes(16)) != expected
    # the ___v2 flavour matched struct core_ver, where 'renamed' sits at 8
    (ver_t,) = target.find("core_ver")
    assert run(patched, "read_ver", funcs, encode(target, ver_t, {"renamed": 77})) == 77
    # bitfield read through byte offset + shifts, sign-extended
    assert run(patched, "bitfield", funcs, target_mem) == -300 & U32
    assert run(code, "bitfield", funcs, local_mem) == -300 & U32
    # the queries: flags missing, pid present, sizeof(start) 8, hi signed,
    # sizeof(struct core_task) 56, core_missing absent, ST_GONE absent, ST_SLEEP 20
    want = 0 + (1 << 1) + (8 << 2) + (1 << 8) + (56 << 9) + 0 + 0 + (20 << 18)
    assert run(patched, "queries", funcs, target_mem) == want
    want_local = 1 + (1 << 1) + (8 << 2) + (1 << 8) + (40 << 9) + (1 << 16) + (1 << 17) + (2 << 18)
    assert run(code, "queries", funcs, local_mem) == want_local
    assert run(patched, "type_ids", funcs, target_mem) == task_l + (task_t << 16)


def test_poisoned_read_fails_only_when_it_runs(local: Btf, relos: list[CoreRelo]) -> None:
    target = load("core_target")
    code, funcs = section_and_functions()
    patched = apply_core_relos(code, relos, local, target)
    off, size = funcs["read_flags"]
    insns = [patched[i:i + 8] for i in range(off, off + size, 8)]
    poison = struct.pack("<BBhi", 0x85, 0, 0, POISON_HELPER)
    assert poison in insns
    mem = bytes(56)
    with pytest.raises(LibbpfError):
        run(patched, "read_flags", funcs, mem)
    calls: list[int] = []

    def bad_relo(*_: int) -> int:
        calls.append(1)
        return 0

    run(patched, "read_flags", funcs, mem, {POISON_HELPER: bad_relo})
    assert calls == [1]


def test_width_changes(local: Btf, relos: list[CoreRelo]) -> None:
    target = load("core_target_wide")
    res = by_access(local, relos, target)
    pid = res[("core_task", "0:0", K.FIELD_BYTE_OFFSET)]
    assert (pid.orig_sz, pid.new_sz, pid.fail_memsz_adjust) == (4, 8, False)
    start = res[("core_task", "0:2", K.FIELD_BYTE_OFFSET)]
    assert (start.orig_sz, start.new_sz, start.fail_memsz_adjust) == (8, 4, True)
    code, funcs = section_and_functions()
    patched = apply_core_relos(code, relos, local, target)
    off, size = funcs["read_fields"]
    (task_t,) = target.find("core_task", BtfKind.STRUCT)
    mem = encode(target, task_t, {"pid": (1 << 40) + 5})
    # the start load was poisoned: the program stops there unless that helper exists
    with pytest.raises(LibbpfError):
        run(patched, "read_fields", funcs, mem)
    # the pid load became a 64-bit load (0x79) at offset 0
    pid_insn = patched[off + pid_slot(code, off, size, relos, 0):][:8]
    assert pid_insn[0] == 0x79 and struct.unpack_from("<h", pid_insn, 2)[0] == 0


def pid_slot(code: bytes, off: int, size: int, relos: list[CoreRelo], field: int) -> int:
    """Byte offset, inside the function, of the load the relocation of
    core_task member ``field`` patches."""
    for r in relos:
        if r.access_str == f"0:{field}" and r.kind == K.FIELD_BYTE_OFFSET and \
                off <= r.insn_off < off + size:
            return r.insn_off - off
    raise AssertionError("no such relocation")


def test_ambiguous_flavours(local: Btf, relos: list[CoreRelo]) -> None:
    target = load("core_ambiguous")
    relo = next(r for r in relos if local.name_of(r.type_id) == "core_ver___v2")
    with pytest.raises(LibbpfError, match="ambiguity") as info:
        resolve_core_relo(local, relo, target)
    assert info.value.errno == errno.EINVAL


def test_type_matches(local: Btf) -> None:
    target = load("core_target")
    (inner,) = local.find("core_inner")
    (ver,) = local.find("core_ver___v2")
    (state,) = local.find("core_state")
    match = resolve_core_relo(local, CoreRelo(0, inner, "0", K.TYPE_MATCHES), target)
    assert (match.orig_val, match.new_val) == (1, 1)  # a, b: same names and types
    miss = resolve_core_relo(local, CoreRelo(0, ver, "0", K.TYPE_MATCHES), target)
    assert miss.new_val == 0  # 'old' is missing from the target
    enum = resolve_core_relo(local, CoreRelo(0, state, "0", K.TYPE_MATCHES), target)
    assert enum.new_val == 0  # ST_GONE is missing from the target
    exists = resolve_core_relo(local, CoreRelo(0, ver, "0", K.TYPE_EXISTS), target)
    assert exists.new_val == 1  # compatible kinds suffice for existence


def test_bad_relocations(local: Btf) -> None:
    target = load("core_target")
    (task,) = local.find("core_task", BtfKind.STRUCT)
    for access, pattern in (("0:99", "member 99 out of range"), ("x", "malformed"),
                            ("0:6:8", "index 8 out of array bounds"),
                            ("0:0:1", "cannot index into")):
        with pytest.raises(LibbpfError, match=pattern):
            resolve_core_relo(local, CoreRelo(8, task, access, K.FIELD_BYTE_OFFSET), target)
    with pytest.raises(LibbpfError, match="access string '0'"):
        resolve_core_relo(local, CoreRelo(0, task, "0:1", K.TYPE_SIZE), target)
    with pytest.raises(LibbpfError, match=r"\[9999\]"):
        resolve_core_relo(local, CoreRelo(0, 9999, "0", K.TYPE_SIZE), target)
    (int_id,) = local.find("int")
    with pytest.raises(LibbpfError, match="not an enumerator"):
        resolve_core_relo(local, CoreRelo(0, int_id, "0", K.ENUMVAL_VALUE), target)
    (ptr,) = [t.id for t in local.types if t.kind == BtfKind.PTR][:1]
    with pytest.raises(LibbpfError) as info:
        resolve_core_relo(local, CoreRelo(0, ptr, "0", K.TYPE_SIZE), target)
    assert info.value.errno == errno.EOPNOTSUPP  # anonymous types have no candidates


def insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def result(orig: int, new: int, **kw: Any) -> CoreResult:
    return CoreResult(K.FIELD_BYTE_OFFSET, orig, new, kw.pop("poison", False),
                      kw.pop("validate", True), **kw)


def test_patch_insn_forms() -> None:
    relo = CoreRelo(0, 1, "0:0", K.FIELD_BYTE_OFFSET)
    # ALU immediate
    assert patch_insn(insn(0x07, 1, imm=4), relo, result(4, 12)) == insn(0x07, 1, imm=12)
    with pytest.raises(LibbpfError, match="unexpected immediate 5, expected 4"):
        patch_insn(insn(0x07, 1, imm=5), relo, result(4, 12))
    with pytest.raises(LibbpfError, match="does not take an immediate"):
        patch_insn(insn(0x0F, 1, 2), relo, result(0, 1))
    # load offset
    assert patch_insn(insn(0x61, 0, 1, off=4), relo, result(4, 40)) == insn(0x61, 0, 1, off=40)
    with pytest.raises(LibbpfError) as info:
        patch_insn(insn(0x61, 0, 1, off=4), relo, result(4, 40000))
    assert info.value.errno == errno.ERANGE
    # lddw: both halves
    lddw = insn(0x18, 1, imm=7) + insn(0)
    big = (1 << 40) + 3
    assert patch_insn(lddw, relo, result(7, big)) == insn(0x18, 1, imm=3) + insn(0, imm=1 << 8)
    # poison: one slot, or both slots of an lddw
    poison = insn(0x85, imm=POISON_HELPER)
    assert patch_insn(lddw, relo, result(0, 0, poison=True)) == poison * 2
    assert patch_insn(insn(0x61), relo, result(0, 0, poison=True)) == poison
    # jumps cannot be relocated
    with pytest.raises(LibbpfError, match="opcode 0x05"):
        patch_insn(insn(0x05, off=1), relo, result(0, 1))


def test_apply_rejects_offsets_outside_the_section(local: Btf) -> None:
    target = load("core_target")
    (task,) = local.find("core_task", BtfKind.STRUCT)
    with pytest.raises(LibbpfError, match="outside"):
        apply_core_relos(insn(0x61) * 2, [CoreRelo(16, task, "0:0", K.FIELD_BYTE_OFFSET)],
                         local, target)
