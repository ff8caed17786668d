"""The ELF container: header checks, sections, symbols and relocation sections."""

from __future__ import annotations

import errno
import io
import struct
from pathlib import Path
from typing import Any

import pytest
from elftools.elf.elffile import ELFFile

from libbpf_compat.elf.reader import SHT_SYMTAB, ElfFile
from libbpf_compat.errors import LibbpfError

OBJECTS = Path(__file__).parent / "fixtures" / "objects"


def _data(name: str) -> bytes:
    return (OBJECTS / f"{name}.o").read_bytes()


def test_sections_match_pyelftools() -> None:
    data = _data("subprogs")
    elf = ElfFile(data, "subprogs.o")
    reference = ELFFile(io.BytesIO(data))
    assert [s.name for s in elf.sections] == [s.name for s in reference.iter_sections()]
    for ours, theirs in zip(elf.sections, reference.iter_sections(), strict=True):
        assert ours.size == theirs["sh_size"]
        if theirs["sh_type"] != "SHT_NOBITS" and ours.index:
            assert ours.data == theirs.data()
    assert elf.by_name["xdp"].is_executable
    assert not elf.by_name["license"].is_executable


def test_symbols_match_pyelftools() -> None:
    data = _data("btf_maps")
    elf = ElfFile(data, "btf_maps.o")
    table: Any = ELFFile(io.BytesIO(data)).get_section_by_name(".symtab")
    theirs = list(table.iter_symbols())
    assert len(elf.symbols) == len(theirs)
    for ours, ref in zip(elf.symbols, theirs, strict=True):
        if ref["st_info"]["type"] != "STT_SECTION":
            assert ours.name == ref.name
        assert (ours.value, ours.size) == (ref["st_value"], ref["st_size"])
        shndx = ref["st_shndx"]
        assert ours.shndx == (shndx if isinstance(shndx, int) else ours.shndx)


def test_relocations_match_pyelftools_for_code_sections() -> None:
    data = _data("btf_maps")
    elf = ElfFile(data, "btf_maps.o")
    reference = ELFFile(io.BytesIO(data))
    xdp = elf.by_name["xdp"]
    rel: Any = reference.get_section_by_name(".relxdp")
    theirs = [(r["r_offset"], r["r_info_sym"], r["r_info_type"]) for r in rel.iter_relocations()]
    assert [(r.offset, r.symbol, r.type) for r in elf.relocations[xdp.index]] == theirs
    assert len(theirs) == 5
    # Relocations of debug information are not read at all.
    debug = elf.by_name[".debug_info"]
    assert debug.index not in elf.relocations


def _patched(data: bytes, offset: int, value: bytes) -> bytes:
    return data[:offset] + value + data[offset + len(value):]


@pytest.mark.parametrize(
    ("offset", "value", "err", "words"),
    [
        (0, b"\x7fELG", errno.EINVAL, "bad magic"),
        (4, b"\x01", errno.ENOTSUP, "not ELF64"),
        (5, b"\x07", errno.ENOTSUP, "data encoding"),
        (18, struct.pack("<H", 62), errno.ENOTSUP, "is not BPF"),
        (16, struct.pack("<H", 2), errno.ENOTSUP, "not a relocatable object"),
    ],
)
def test_bad_headers_name_the_file(offset: int, value: bytes, err: int, words: str) -> None:
    data = _patched(_data("legacy_maps"), offset, value)
    with pytest.raises(LibbpfError) as info:
        ElfFile(data, "legacy_maps.o")
    assert info.value.errno == err
    assert "legacy_maps.o" in str(info.value)
    assert words in str(info.value)


def test_big_endian_object_is_read() -> None:
    elf = ElfFile(_data("subprogs_be"), "subprogs_be.o")
    assert not elf.little_endian
    little = ElfFile(_data("subprogs"), "subprogs.o")
    assert [s.name for s in elf.symbols] == [s.name for s in little.symbols]
    assert [s.value for s in elf.symbols] == [s.value for s in little.symbols]


@pytest.mark.parametrize("length", [0, 10, 63, 64, 200, 1000])
def test_truncated_file_is_refused(length: int) -> None:
    with pytest.raises(LibbpfError) as info:
        ElfFile(_data("globals")[:length], "globals.o")
    assert info.value.errno in (errno.EINVAL, errno.ENOTSUP)


def test_missing_symbol_table_is_refused() -> None:
    data = bytearray(_data("legacy_maps"))
    elf = ElfFile(bytes(data), "x")
    symtab = next(s for s in elf.sections if s.type == SHT_SYMTAB)
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    struct.pack_into("<I", data, shoff + 64 * symtab.index + 4, 1)  # now PROGBITS
    with pytest.raises(LibbpfError, match=r"no symbol table") as info:
        ElfFile(bytes(data), "legacy_maps.o")
    assert info.value.errno == errno.EINVAL


def test_section_outside_the_file_is_refused() -> None:
    data = bytearray(_data("legacy_maps"))
    elf = ElfFile(bytes(data), "x")
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    index = elf.by_name["socket"].index
    struct.pack_into("<Q", data, shoff + 64 * index + 24, len(data) - 8)  # sh_offset
    with pytest.raises(LibbpfError, match=r"'socket'.*past the end of the file"):
        ElfFile(bytes(data), "legacy_maps.o")


def test_symbol_in_missing_section_is_refused() -> None:
    data = bytearray(_data("legacy_maps"))
    elf = ElfFile(bytes(data), "x")
    symtab = next(s for s in elf.sections if s.type == SHT_SYMTAB)
    target = next(s for s in elf.symbols if s.name == "count_packets")
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    symtab_offset = struct.unpack_from("<Q", data, shoff + 64 * symtab.index + 24)[0]
    struct.pack_into("<H", data, symtab_offset + 24 * target.index + 6, 200)
    with pytest.raises(LibbpfError, match=r"'count_packets' is in section index 200"):
        ElfFile(bytes(data), "legacy_maps.o")
