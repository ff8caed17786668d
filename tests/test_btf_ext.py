""".BTF.ext: func info against the ELF symbol table, line info against the
C source, CO-RE records against the access strings in the source."""

from __future__ import annotations

import errno
import struct
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from libbpf_compat.btf import Btf, BtfExt, BtfKind, CoreReloKind, Func
from libbpf_compat.btf.elf_section import elf_section
from libbpf_compat.errors import LibbpfError

FIXTURES = Path(__file__).parent / "fixtures" / "btf"
OBJECTS = ["types", "core_local"]


def functions(path: Path) -> dict[tuple[str, int], str]:
    """(section name, byte offset) -> function name, from the ELF symbols."""
    with path.open("rb") as f:
        elf = ELFFile(f)
        symtab = elf.get_section_by_name(".symtab")
        assert isinstance(symtab, SymbolTableSection)
        out = {}
        for sym in symtab.iter_symbols():
            if sym["st_info"]["type"] == "STT_FUNC":
                sec = elf.get_section(sym["st_shndx"]).name
                out[(sec, sym["st_value"])] = sym.name
        return out


@pytest.mark.parametrize("name", OBJECTS)
def test_func_info_matches_symbols(name: str) -> None:
    path = FIXTURES / f"{name}.bpf.o"
    btf = Btf.from_file(path)
    ext = BtfExt.from_file(path, btf)
    expected = functions(path)
    found = {}
    for sec, infos in ext.func_info.items():
        for info in infos:
            t = btf.type_by_id(info.type_id)
            assert isinstance(t, Func)
            found[(sec, info.insn_off)] = t.name
            assert info.insn_idx * 8 == info.insn_off
    assert found == expected


@pytest.mark.parametrize("name", OBJECTS)
def test_line_info_quotes_the_source(name: str) -> None:
    path = FIXTURES / f"{name}.bpf.o"
    source = (FIXTURES / f"{name}.bpf.c").read_text().splitlines()
    btf = Btf.from_file(path)
    ext = BtfExt.from_file(path, btf)
    total = 0
    for infos in ext.line_info.values():
        offsets = [i.insn_off for i in infos]
        assert offsets == sorted(offsets)
        for info in infos:
            assert info.file_name.endswith(f"{name}.bpf.c")
            assert info.line == source[info.line_num - 1]
            assert 0 <= info.col <= len(info.line) + 1
            total += 1
    assert total > 5


def test_core_relos_of_the_local_fixture() -> None:
    path = FIXTURES / "core_local.bpf.o"
    btf = Btf.from_file(path)
    ext = BtfExt.from_file(path, btf)
    assert list(ext.core_relos) == ["tc"]
    relos = ext.core_relos["tc"]
    kinds = {r.kind for r in relos}
    assert kinds == set(CoreReloKind) - {CoreReloKind.TYPE_MATCHES}
    (task,) = btf.find("core_task", BtfKind.STRUCT)
    by_access = {(r.type_id, r.access_str, r.kind) for r in relos}
    # t->pid, t->start, t->inner.b and t->comm[3], as written in read_fields()
    for access in ("0:0", "0:2", "0:3:1", "0:6:3"):
        assert (task, access, CoreReloKind.FIELD_BYTE_OFFSET) in by_access
    (state,) = btf.find("core_state")
    assert (state, "2", CoreReloKind.ENUMVAL_EXISTS) in by_access
    assert (state, "1", CoreReloKind.ENUMVAL_VALUE) in by_access


def test_objects_without_ext(tmp_path: Path) -> None:
    path = FIXTURES / "core_target.bpf.o"
    btf = Btf.from_file(path)
    with pytest.raises(LibbpfError) as info:
        BtfExt.from_file(path, btf)
    assert info.value.errno == errno.ENOENT


def _ext_bytes() -> tuple[Btf, bytes]:
    path = FIXTURES / "core_local.bpf.o"
    data = elf_section(path.read_bytes(), ".BTF.ext", str(path))
    assert data is not None
    return Btf.from_file(path), data


def test_bad_ext_fields() -> None:
    btf, data = _ext_bytes()
    hdr_len = struct.unpack_from("<I", data, 4)[0]
    fi_off = struct.unpack_from("<I", data, 8)[0]
    first_rec = hdr_len + fi_off + 4  # after rec_size: sec_name_off, num_info, records
    bad_sec = bytearray(data)
    struct.pack_into("<I", bad_sec, first_rec, 1 << 30)
    with pytest.raises(LibbpfError, match="string offset"):
        BtfExt.from_bytes(bytes(bad_sec), btf)
    bad_type = bytearray(data)
    struct.pack_into("<I", bad_type, first_rec + 12, 5000)  # first func_info type_id
    with pytest.raises(LibbpfError, match=r"BTF type \[5000\]"):
        BtfExt.from_bytes(bytes(bad_type), btf)
    bad_size = bytearray(data)
    struct.pack_into("<I", bad_size, hdr_len + fi_off, 3)
    with pytest.raises(LibbpfError, match="record size 3"):
        BtfExt.from_bytes(bytes(bad_size), btf)
    bad_count = bytearray(data)
    struct.pack_into("<I", bad_count, first_rec + 4, 1 << 20)
    with pytest.raises(LibbpfError, match="overrun"):
        BtfExt.from_bytes(bytes(bad_count), btf)
    with pytest.raises(LibbpfError, match="bad magic"):
        BtfExt.from_bytes(b"\0\0" + data[2:], btf)
