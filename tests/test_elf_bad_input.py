"""Bad objects: bad relocations, and mutated fixtures raise only LibbpfError, quickly."""

from __future__ import annotations

import errno
import random
import struct
import time
from pathlib import Path

import pytest

from libbpf_compat.elf.reader import SHT_REL, ElfFile
from libbpf_compat.errors import LibbpfError
from libbpf_compat.libbpf_object import bpf_object__open_mem
from libbpf_compat.object import bpf_object_open_opts

OBJECTS = Path(__file__).parent / "fixtures" / "objects"
FIXTURES = ["globals", "btf_maps", "legacy_maps", "legacy_map_in_map", "subprogs",
            "subprogs_be", "windows", "ksyms"]


def _rel_entry(data: bytes, rel_section: str, index: int) -> int:
    """File offset of relocation ``index`` of ``rel_section``."""
    elf = ElfFile(data, "x")
    section = elf.by_name[rel_section]
    assert section.type == SHT_REL
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    base = struct.unpack_from("<Q", data, shoff + 64 * section.index + 24)[0]
    return int(base + 16 * index)


def _open(data: bytes) -> None:
    bpf_object__open_mem(data, bpf_object_open_opts(object_name="mutant"))


def test_relocation_against_unknown_symbol_names_section_and_symbol() -> None:
    data = bytearray((OBJECTS / "legacy_maps.o").read_bytes())
    entry = _rel_entry(bytes(data), ".relsocket", 0)
    struct.pack_into("<Q", data, entry + 8, (999 << 32) | 1)
    with pytest.raises(LibbpfError) as info:
        _open(bytes(data))
    assert info.value.errno == errno.EINVAL
    assert "'socket'" in str(info.value) and "symbol 999" in str(info.value)


def test_relocation_section_that_patches_another_section_is_corrupt() -> None:
    """A ``.rel<name>`` section whose sh_info names some other section (a
    corrupted header, as in the corpus's invalid/ files) is refused, naming both."""
    data = bytearray((OBJECTS / "legacy_maps.o").read_bytes())
    elf = ElfFile(bytes(data), "x")
    rel = elf.by_name[".relsocket"]
    other = elf.by_name["license"]
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    struct.pack_into("<I", data, shoff + 64 * rel.index + 44, other.index)
    with pytest.raises(LibbpfError, match=r"'.relsocket' applies to section \d+ 'license'") as info:
        _open(bytes(data))
    assert info.value.errno == errno.EINVAL


def test_relocation_outside_its_section() -> None:
    data = bytearray((OBJECTS / "legacy_maps.o").read_bytes())
    entry = _rel_entry(bytes(data), ".relsocket", 0)
    struct.pack_into("<Q", data, entry, 0x10000)
    with pytest.raises(LibbpfError, match=r"'slots'.*outside section 'socket'") as info:
        _open(bytes(data))
    assert info.value.errno == errno.EINVAL


def test_relocation_to_a_place_where_no_map_is() -> None:
    data = bytearray((OBJECTS / "legacy_maps.o").read_bytes())
    entry = _rel_entry(bytes(data), ".relsocket", 0)
    # Point the lddw of 'slots' at the section symbol of 'socket' (code, not a map).
    struct.pack_into("<Q", data, entry + 8, (14 << 32) | 1)
    elf = ElfFile(bytes(data), "x")
    assert elf.symbols[14].name == "counts"
    struct.pack_into("<Q", data, entry + 8, (15 << 32) | 1)  # LICENSE: not a map, not data
    with pytest.raises(LibbpfError, match=r"'LICENSE'.*section 'license'"):
        _open(bytes(data))


def test_relocation_on_an_instruction_that_is_not_lddw_or_call() -> None:
    data = bytearray((OBJECTS / "legacy_maps.o").read_bytes())
    entry = _rel_entry(bytes(data), ".relsocket", 0)
    struct.pack_into("<Q", data, entry, 0x8)  # on the second instruction
    with pytest.raises(LibbpfError, match=r"neither lddw nor call"):
        _open(bytes(data))


def test_undefined_function_is_refused() -> None:
    data = bytearray((OBJECTS / "ksyms.o").read_bytes())
    # Rename the .ksyms DATASEC so the kfunc is no longer declared as an extern.
    where = data.find(b".ksyms\0")
    assert where > 0
    data[where:where + 6] = b".ksymz"
    with pytest.raises(LibbpfError) as info:
        _open(bytes(data))
    assert info.value.errno == errno.ENOENT
    assert "undefined" in str(info.value)


def _mutate_a_section(data: bytearray, rng: random.Random) -> None:
    """Flip bits inside the symbol table, a relocation section, BTF, maps or code."""
    elf = ElfFile(bytes(data), "x")
    targets = [s for s in elf.sections if s.index and s.size and s.type != 8 and (
        s.type in (2, SHT_REL) or s.is_executable or s.name in (".BTF", ".maps", "maps"))]
    section = rng.choice(targets)
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    base = struct.unpack_from("<Q", data, shoff + 64 * section.index + 24)[0]
    for _ in range(rng.randint(1, 3)):
        data[base + rng.randrange(section.size)] ^= 1 << rng.randrange(8)


def _mutants(seed: int, count: int) -> list[bytes]:
    rng = random.Random(seed)
    out = []
    for i in range(count):
        data = bytearray((OBJECTS / f"{FIXTURES[i % len(FIXTURES)]}.o").read_bytes())
        kind = rng.randrange(4)
        if kind == 3 and FIXTURES[i % len(FIXTURES)] != "subprogs_be":
            _mutate_a_section(data, rng)
        elif kind == 0:
            for _ in range(rng.randint(1, 8)):
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        elif kind == 1:
            del data[rng.randrange(len(data)):]
        else:
            # Corrupt a header field: the section headers or the symbol table.
            pos = rng.randrange(min(len(data), 64), len(data))
            data[pos:pos + 4] = rng.randbytes(4)
        out.append(bytes(data))
    return out


def test_mutated_fixtures_raise_only_libbpf_error() -> None:
    start = time.monotonic()
    opened = refused = 0
    for data in _mutants(seed=20261126, count=1500):
        try:
            _open(data)
            opened += 1
        except LibbpfError:
            refused += 1
    elapsed = time.monotonic() - start
    assert opened + refused == 1500
    assert refused > 300  # most mutations break something the reader checks
    assert elapsed < 60
    print(f"\nmutations: {opened} still open, {refused} refused, {elapsed:.1f} s")


@pytest.mark.parametrize("name", FIXTURES)
def test_every_truncation_point_of_the_headers_is_refused(name: str) -> None:
    data = (OBJECTS / f"{name}.o").read_bytes()
    for length in range(0, 64, 3):
        with pytest.raises(LibbpfError):
            _open(data[:length])
    with pytest.raises(LibbpfError):
        _open(data[: len(data) - 1])  # section headers sit at the end
