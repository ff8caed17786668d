"""Map definitions: BTF .maps, legacy maps sections, global data, .kconfig and .ksyms."""

from __future__ import annotations

import errno
import struct
from pathlib import Path

import pytest

from libbpf_compat.elf.data_sections import internal_map_name
from libbpf_compat.elf.externs import DEFAULT_KERNEL_VERSION, parse_kconfig
from libbpf_compat.elf.mapdefs import MapDef
from libbpf_compat.elf.parse import ParsedObject, parse_object
from libbpf_compat.elf.reader import ElfFile
from libbpf_compat.elf.relocations import RelocKind
from libbpf_compat.errors import LibbpfError
from libbpf_compat.isa import decode
from libbpf_compat.isa import opcodes as op
from libbpf_compat.uapi import (
    BPF_F_MMAPABLE,
    BPF_F_NO_PREALLOC,
    BPF_F_RDONLY_PROG,
    BPF_MAP_TYPE_ARRAY,
    BPF_MAP_TYPE_ARRAY_OF_MAPS,
    BPF_MAP_TYPE_HASH,
    BPF_MAP_TYPE_HASH_OF_MAPS,
    BPF_MAP_TYPE_PROG_ARRAY,
)

OBJECTS = Path(__file__).parent / "fixtures" / "objects"


def _parse(name: str, *, abi: str | None = None, kconfig: str | None = None) -> ParsedObject:
    return parse_object((OBJECTS / f"{name}.o").read_bytes(), f"{name}.o", name, abi=abi,
                        kconfig=kconfig)


def _maps(parsed: ParsedObject) -> dict[str, MapDef]:
    return {m.name: m for m in parsed.maps}


def test_btf_maps_attributes() -> None:
    parsed = _parse("btf_maps")
    maps = _maps(parsed)
    flows = maps["flows"]
    assert (flows.type, flows.key_size, flows.value_size, flows.max_entries) == (
        BPF_MAP_TYPE_HASH, 12, 16, 1024)
    assert flows.map_flags == BPF_F_NO_PREALLOC and flows.pinning == 1
    assert parsed.btf is not None
    assert parsed.btf.name_of(flows.btf_key_type_id) == "flow_key"
    assert parsed.btf.name_of(flows.btf_value_type_id) == "flow_stats"
    sized = maps["sized"]
    assert (sized.type, sized.key_size, sized.value_size, sized.max_entries) == (
        BPF_MAP_TYPE_ARRAY, 4, 24, 16)
    assert sized.numa_node == 3 and sized.btf_key_type_id == 0


def test_map_in_map_with_initial_contents() -> None:
    maps = _maps(_parse("btf_maps"))
    outer = maps["outer_array"]
    assert outer.type == BPF_MAP_TYPE_ARRAY_OF_MAPS
    assert (outer.key_size, outer.value_size, outer.max_entries) == (4, 4, 3)
    assert outer.inner is not None
    assert (outer.inner.type, outer.inner.key_size, outer.inner.value_size,
            outer.inner.max_entries) == (BPF_MAP_TYPE_ARRAY, 4, 8, 4)
    assert outer.init_slots == {0: "inner_a", 2: "inner_b"}
    hashed = maps["outer_hash"]
    assert hashed.type == BPF_MAP_TYPE_HASH_OF_MAPS and hashed.inner is not None
    assert hashed.init_slots == {}


def test_prog_array_with_initial_contents() -> None:
    jumps = _maps(_parse("btf_maps"))["jumps"]
    assert jumps.type == BPF_MAP_TYPE_PROG_ARRAY
    assert (jumps.key_size, jumps.value_size, jumps.max_entries) == (4, 4, 4)
    assert jumps.init_slots == {1: "tail_one", 3: "tail_two"}


def test_map_relocations_become_map_index_lddw() -> None:
    parsed = _parse("btf_maps")
    entry = next(p for p in parsed.programs if p.name == "entry")
    names = [m.name for m in parsed.maps]
    insns = {}
    slot = 0
    for insn in decode(entry.linked.code):
        insns[slot] = insn
        slot += insn.size
    seen = []
    for reloc in entry.linked.relocations:
        assert reloc.kind is RelocKind.MAP
        insn = insns[reloc.insn]
        assert insn.is_lddw and insn.src == op.PSEUDO_MAP_IDX
        assert names[insn.imm] == reloc.symbol == names[reloc.map_index]
        seen.append(reloc.symbol)
    assert seen == ["flows", "outer_array", "sized", "outer_hash", "jumps"]


def test_legacy_maps_section() -> None:
    parsed = _parse("legacy_maps")
    assert [m.name for m in parsed.maps] == ["counts", "slots"]
    counts, slots = parsed.maps
    assert (counts.type, counts.key_size, counts.value_size, counts.max_entries,
            counts.map_flags) == (BPF_MAP_TYPE_HASH, 4, 8, 64, BPF_F_NO_PREALLOC)
    assert (slots.type, slots.key_size, slots.value_size, slots.max_entries) == (
        BPF_MAP_TYPE_ARRAY, 4, 16, 8)
    relocs = parsed.programs[0].linked.relocations
    assert [(r.symbol, r.map_index) for r in relocs] == [("slots", 1), ("counts", 0)]


def test_legacy_map_in_map_with_inner_map_index() -> None:
    maps = _maps(_parse("legacy_map_in_map"))
    outer = maps["outer"]
    assert outer.type == BPF_MAP_TYPE_ARRAY_OF_MAPS and outer.numa_node == 1
    assert outer.inner is not None and outer.inner.name == "inner_tpl"
    assert outer.inner.max_entries == 2


def test_windows_map_layout_with_windows_abi() -> None:
    parsed = _parse("windows", abi="windows")
    (definition,) = parsed.maps
    assert definition.legacy_words == (1, 8, 32, 1024, 0, 0, 0, 0)
    assert (definition.type, definition.key_size, definition.value_size,
            definition.max_entries, definition.map_flags) == (1, 8, 32, 1024, 0)


def test_legacy_section_size_not_a_multiple_of_the_maps_is_refused() -> None:
    data = bytearray((OBJECTS / "legacy_maps.o").read_bytes())
    elf = ElfFile(bytes(data), "x")
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    index = elf.by_name["maps"].index
    struct.pack_into("<Q", data, shoff + 64 * index + 32, 39)  # sh_size
    with pytest.raises(LibbpfError, match=r"'maps'.*number of maps") as info:
        parse_object(bytes(data), "legacy_maps.o", "legacy_maps")
    assert info.value.errno == errno.EINVAL


@pytest.mark.parametrize(
    ("obj", "section", "expected"),
    [
        ("globals", ".data", "globals.data"),
        ("globals", ".rodata", "globals.rodata"),
        ("globals", ".bss", "globals.bss"),
        ("globals", ".kconfig", "globals.kconfig"),
        ("a_very_long_object_name", ".rodata", "a_very_l.rodata"),
        ("a_very_long_object_name", ".bss", "a_very_l.bss"),
        ("a_very_long_object_name", ".kconfig", "a_very_.kconfig"),
        ("obj", ".rodata.str1.1", ".rodata.str1.1"),
        ("obj", ".data.custom", ".data.custom"),
        ("obj", ".data.a_long_custom_name", ".data.a_long_cu"),
        ("my-prog", ".data", "my_prog.data"),
    ],
)
def test_internal_map_names_follow_libbpf(obj: str, section: str, expected: str) -> None:
    assert internal_map_name(obj, section) == expected


def test_global_data_maps_and_their_contents() -> None:
    parsed = _parse("globals")
    maps = _maps(parsed)
    assert set(maps) == {"globals.data", "globals.rodata", ".data.custom", ".rodata.consts",
                         "globals.bss", ".rodata.str1.1", "globals.kconfig"}
    for definition in maps.values():
        assert definition.internal
        assert (definition.type, definition.key_size, definition.max_entries) == (
            BPF_MAP_TYPE_ARRAY, 4, 1)
        assert definition.value_size == len(definition.initial_value or b"")
        readonly = ".rodata" in definition.name or definition.name.endswith(".kconfig")
        assert definition.map_flags == BPF_F_MMAPABLE | (BPF_F_RDONLY_PROG if readonly else 0)
    assert maps["globals.data"].initial_value == struct.pack("<i", 7)
    assert maps["globals.rodata"].initial_value == struct.pack("<I", 100)
    assert maps["globals.bss"].initial_value == bytes(8)
    assert maps[".data.custom"].initial_value == struct.pack("<4I", 1, 2, 3, 4)
    assert maps[".rodata.consts"].initial_value == struct.pack("<H", 0xBEEF)
    assert maps[".rodata.str1.1"].initial_value == b"a string constant in .rodata\0"


def test_global_data_relocations_point_into_their_maps() -> None:
    parsed = _parse("globals")
    names = [m.name for m in parsed.maps]
    program = next(p for p in parsed.programs if p.name == "read_globals")
    by_symbol = {r.symbol: r for r in program.linked.relocations}
    assert names[by_symbol["counter"].map_index] == "globals.data"
    assert names[by_symbol["table"].map_index] == ".data.custom"
    assert names[by_symbol["magic"].map_index] == ".rodata.consts"
    slots = {}
    slot = 0
    for insn in decode(program.linked.code):
        slots[slot] = insn
        slot += insn.size
    for reloc in program.linked.relocations:
        insn = slots[reloc.insn]
        assert insn.is_lddw and insn.src == op.PSEUDO_MAP_IDX_VALUE
        assert (insn.imm, insn.imm_hi) == (reloc.map_index, reloc.offset)
    table = by_symbol["table"]
    # counter += table[2]: clang reads table[2] through the symbol's base and an offset.
    assert table.kind is RelocKind.MAP_VALUE and table.offset in (0, 8)


def test_kconfig_values_from_the_open_option() -> None:
    parsed = _parse("globals", kconfig="# a comment\nCONFIG_HZ=250\nCONFIG_BPF_SYSCALL=y\n"
                                       "LINUX_KERNEL_VERSION=0x050f00\n")
    kconfig = _maps(parsed)["globals.kconfig"]
    externs = parsed.externs.externs
    value = kconfig.initial_value or b""

    def read(name: str) -> int:
        extern = externs[name]
        return int.from_bytes(value[extern.offset:extern.offset + extern.size], "little")

    assert read("CONFIG_HZ") == 250
    assert read("CONFIG_BPF_SYSCALL") == 1
    assert read("LINUX_KERNEL_VERSION") == 0x050F00
    assert parsed.externs.missing == []
    program = next(p for p in parsed.programs if p.name == "read_globals")
    kinds = {r.symbol: r for r in program.linked.relocations if r.kind is RelocKind.KCONFIG}
    assert set(kinds) == {"CONFIG_HZ", "CONFIG_BPF_SYSCALL", "LINUX_KERNEL_VERSION"}
    assert all(r.offset == externs[r.symbol].offset for r in kinds.values())


def test_kconfig_defaults_and_missing_values() -> None:
    parsed = _parse("globals")
    externs = parsed.externs.externs
    value = _maps(parsed)["globals.kconfig"].initial_value or b""
    version = externs["LINUX_KERNEL_VERSION"]
    assert int.from_bytes(value[version.offset:version.offset + 4], "little") == (
        DEFAULT_KERNEL_VERSION)
    # CONFIG_HZ is strong and unset: recorded for the loader; the weak one is just zero.
    assert parsed.externs.missing == ["CONFIG_HZ"]
    assert externs["CONFIG_BPF_SYSCALL"].weak


@pytest.mark.parametrize(
    ("text", "err"),
    [("CONFIG_HZ=lots", errno.EINVAL), ("not a line", errno.EINVAL),
     ("CONFIG_BPF_SYSCALL=7", errno.EINVAL), ("CONFIG_HZ=0x1_0000_0000", errno.ERANGE)],
)
def test_bad_kconfig_values_are_refused(text: str, err: int) -> None:
    with pytest.raises(LibbpfError) as info:
        _parse("globals", kconfig=text)
    assert info.value.errno == err


def test_parse_kconfig_lines() -> None:
    assert parse_kconfig('CONFIG_A=y\n\n# x\nCONFIG_B="s"\n') == {"CONFIG_A": "y",
                                                                    "CONFIG_B": '"s"'}


def test_ksyms_externs() -> None:
    parsed = _parse("ksyms")
    externs = parsed.externs.externs
    assert externs["bpf_prog_active"].kind is RelocKind.KSYM
    assert externs["bpf_kfunc_example"].kind is RelocKind.KFUNC
    relocs = parsed.programs[0].linked.relocations
    assert [(r.kind, r.symbol) for r in relocs] == [
        (RelocKind.KSYM, "bpf_prog_active"), (RelocKind.KFUNC, "bpf_kfunc_example")]
    insns = decode(parsed.programs[0].linked.code)
    assert insns[0].is_lddw and insns[0].src == op.PSEUDO_BTF_ID
    call = next(i for i in insns if i.opcode == op.OPCODE_CALL)
    assert call.src == op.CALL_KFUNC


def _with_legacy_words(words: tuple[int, int, int, int, int]) -> bytes:
    """legacy_maps.o with its first map definition ('counts') replaced."""
    data = bytearray((OBJECTS / "legacy_maps.o").read_bytes())
    elf = ElfFile(bytes(data), "x")
    section = elf.by_name["maps"]
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    base = struct.unpack_from("<Q", data, shoff + 64 * section.index + 24)[0]
    struct.pack_into("<5I", data, base, *words)
    return bytes(data)


@pytest.mark.parametrize(
    ("words", "abi", "message"),
    [
        ((0, 4, 8, 64, 0), "linux", "unknown map type 0"),
        ((99, 4, 8, 64, 0), "linux", "unknown map type 99"),
        ((15, 4, 8, 64, 0), "windows", "unknown map type 15"),
        ((1, 0, 8, 64, 0), "linux", "key size is 0"),
        ((1, 4, 0, 64, 0), "linux", "value size is 0"),
    ],
)
def test_impossible_map_definitions_are_refused(
    words: tuple[int, int, int, int, int], abi: str, message: str
) -> None:
    with pytest.raises(LibbpfError) as info:
        parse_object(_with_legacy_words(words), "legacy_maps.o", "legacy_maps", abi=abi)
    assert info.value.errno == errno.EINVAL
    assert "'counts'" in str(info.value) and message in str(info.value)


def test_map_size_defaults() -> None:
    perf = parse_object(_with_legacy_words((4, 0, 0, 0, 0)), "x.o", "x").maps[0]
    assert (perf.key_size, perf.value_size) == (4, 4)
    queue = parse_object(_with_legacy_words((22, 0, 8, 16, 0)), "x.o", "x").maps[0]
    assert (queue.key_size, queue.value_size) == (0, 8)
    ringbuf = parse_object(_with_legacy_words((27, 0, 0, 4096, 0)), "x.o", "x").maps[0]
    assert (ringbuf.key_size, ringbuf.value_size) == (0, 0)
    # Windows numbering: 13 is a ring buffer there.
    windows = parse_object(_with_legacy_words((13, 0, 0, 4096, 0)), "x.o", "x", abi="windows")
    assert windows.maps[0].type == 13


def test_unresolved_externs_are_refused_naming_them() -> None:
    ksyms = _parse("ksyms")
    with pytest.raises(LibbpfError, match=r"bpf_prog_active|bpf_kfunc_example") as info:
        ksyms.externs.check_resolved(())
    assert info.value.errno == errno.ESRCH
    ksyms.externs.check_resolved({"bpf_prog_active", "bpf_kfunc_example"})
    globals_ = _parse("globals")
    with pytest.raises(LibbpfError, match="CONFIG_HZ"):
        globals_.externs.check_resolved(())
    _parse("globals", kconfig="CONFIG_HZ=100").externs.check_resolved(())
