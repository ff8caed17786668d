"""Parsing .BTF: every kind, checked against bpftool's JSON dump of the same
fixtures, plus hand-built blobs for what clang 14 does not emit (ENUM64,
split BTF, big-endian)."""

from __future__ import annotations

import functools
import json
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest

from libbpf_compat.btf import (
    Array,
    Btf,
    BtfKind,
    BtfType,
    Composite,
    Datasec,
    DeclTag,
    Enum,
    Float,
    Func,
    FuncProto,
    Fwd,
    Int,
    IntEncoding,
    Ref,
    Var,
    decode,
    dump_c,
)
from libbpf_compat.errors import LibbpfError

FIXTURES = Path(__file__).parent / "fixtures" / "btf"
OBJECTS = sorted(FIXTURES.glob("*.bpf.o"))
TYPES_O = FIXTURES / "types.bpf.o"

_LINKAGE = {0: "static", 1: "global", 2: "extern"}


def bpftool_json(path: Path) -> list[dict[str, Any]]:
    if shutil.which("bpftool") is None:
        pytest.skip("bpftool is not installed")
    out = subprocess.run(["bpftool", "btf", "dump", "file", str(path), "-j"],
                         capture_output=True, text=True, check=True).stdout
    types: list[dict[str, Any]] = json.loads(out)["types"]
    for t in types:
        # bpftool 7.1 prints a 32-bit unsigned enumerator sign-extended to 64 bits
        if t["kind"] == "ENUM" and t["encoding"] == "UNSIGNED":
            for v in t["values"]:
                v["val"] &= 0xFFFFFFFF
    return types


def _encoding(t: Int) -> str:
    for flag, name in ((IntEncoding.SIGNED, "SIGNED"), (IntEncoding.CHAR, "CHAR"),
                       (IntEncoding.BOOL, "BOOL")):
        if t.encoding & flag:
            return name
    return "(none)"


def as_bpftool(t: BtfType) -> dict[str, Any]:
    """One of our types in the shape bpftool's JSON gives it."""
    d: dict[str, Any] = {"id": t.id, "kind": t.kind.name, "name": t.name or "(anon)"}
    if isinstance(t, Int):
        d.update(size=t.size, bits_offset=t.bit_offset, nr_bits=t.bits, encoding=_encoding(t))
    elif isinstance(t, Ref):
        d.update(type_id=t.type)
    elif isinstance(t, Array):
        d.update(type_id=t.type, index_type_id=t.index_type, nr_elems=t.nelems)
    elif isinstance(t, Composite):
        members = []
        for m in t.members:
            md: dict[str, Any] = {"name": m.name or "(anon)", "type_id": m.type,
                                  "bits_offset": m.bit_offset}
            if m.bitfield_size:
                md["bitfield_size"] = m.bitfield_size
            members.append(md)
        d.update(size=t.size, vlen=len(t.members), members=members)
    elif isinstance(t, Enum):
        d.update(encoding="SIGNED" if t.signed else "UNSIGNED", size=t.size,
                 vlen=len(t.values), values=[{"name": v.name, "val": v.value} for v in t.values])
    elif isinstance(t, Fwd):
        d.update(fwd_kind="union" if t.is_union else "struct")
    elif isinstance(t, Func | Var):
        d.update(type_id=t.type, linkage=_LINKAGE[t.linkage])
    elif isinstance(t, FuncProto):
        d.update(ret_type_id=t.type, vlen=len(t.params),
                 params=[{"name": p.name or "(anon)", "type_id": p.type} for p in t.params])
    elif isinstance(t, Datasec):
        d.update(size=t.size, vlen=len(t.vars),
                 vars=[{"type_id": v.type, "offset": v.offset, "size": v.size} for v in t.vars])
    elif isinstance(t, Float):
        d.update(size=t.size)
    elif isinstance(t, DeclTag):
        d.update(type_id=t.type, component_idx=t.component_idx)
    return d


@pytest.mark.parametrize("path", OBJECTS, ids=lambda p: p.stem)
def test_types_equal_bpftool(path: Path) -> None:
    btf = Btf.from_file(path)
    assert [as_bpftool(t) for t in btf.types[1:]] == bpftool_json(path)


def test_fixture_has_every_kind_clang_emits() -> None:
    kinds = {t.kind for t in Btf.from_file(TYPES_O).types}
    assert kinds >= set(BtfKind) - {BtfKind.ENUM64}


def test_queries() -> None:
    btf = Btf.from_file(TYPES_O)
    assert btf.endianness == "little"
    assert btf.types[0].kind == BtfKind.UNKN
    (event,) = btf.find("event")
    assert btf.find("event", BtfKind.UNION) == []
    assert btf.find("no_such_type") == []
    assert btf.type_by_id(event).name == btf.name_of(event) == "event"
    assert btf.size_of(event) == 144
    names = [m.name for m in btf.members(event)]
    assert names[:4] == ["ts", "pid", "comm", "fl"] and "" in names
    (u32,) = btf.find("__u32", BtfKind.TYPEDEF)
    resolved = btf.types[btf.resolve(u32)]
    assert isinstance(resolved, Int) and resolved.name == "unsigned int"
    # const volatile __u32 * -> the pointer's target resolves through both qualifiers
    counter = next(m for m in btf.members(event) if m.name == "counter")
    ptr = btf.types[counter.type]
    assert isinstance(ptr, Ref) and ptr.kind == BtfKind.PTR
    assert btf.resolve(ptr.type) == btf.resolve(u32)
    assert btf.size_of(counter.type) == 8
    grid = next(m for m in btf.members(event) if m.name == "grid")
    assert btf.size_of(grid.type) == 6
    (mode_t,) = btf.find("mode_t")
    assert btf.size_of(mode_t) == 4
    (packed,) = btf.find("packed_rec")
    assert btf.size_of(packed) == 5 and btf.align_of(packed) == 1
    assert btf.align_of(event) == 8


@pytest.mark.parametrize("bad", [77, -1, 10_000])
def test_type_by_id_out_of_range(bad: int) -> None:
    btf = Btf.from_file(TYPES_O)
    assert len(btf.types) == 77
    with pytest.raises(LibbpfError, match=rf"\[{bad}\]") as info:
        btf.type_by_id(bad)
    assert info.value.errno == 22


def test_sizeless_types_and_non_composites() -> None:
    btf = Btf.from_file(TYPES_O)
    (func,) = btf.find("helper_fn")
    (fwd,) = btf.find("opaque", BtfKind.FWD)
    for tid in (0, func, fwd):
        with pytest.raises(LibbpfError, match=rf"\[{tid}\]"):
            btf.size_of(tid)
    (u32,) = btf.find("__u32")
    with pytest.raises(LibbpfError, match="not a struct or union"):
        btf.members(u32)


# -- hand-built blobs --------------------------------------------------------
def header(type_len: int, str_len: int, order: str = "<") -> bytes:
    return struct.pack(order + "HBBIIIII", 0xEB9F, 1, 0, 24, 0, type_len, type_len, str_len)


def btf_type(name_off: int, kind: int, vlen: int, size_or_type: int, kflag: int = 0,
             order: str = "<") -> bytes:
    return struct.pack(order + "III", name_off, (kflag << 31) | (kind << 24) | vlen,
                       size_or_type)


def blob(types: bytes, strings: bytes, order: str = "<") -> bytes:
    return header(len(types), len(strings), order) + types + strings


def int_type(name_off: int, size: int = 4, bits: int = 32, signed: bool = True,
             order: str = "<") -> bytes:
    return btf_type(name_off, 1, 0, size, order=order) + \
        struct.pack(order + "I", (int(signed) << 24) | bits)


def test_enum64() -> None:
    strings = b"\0e64\0BIG\0NEG\0"
    types = btf_type(1, 19, 2, 8, kflag=1)
    types += struct.pack("<III", 5, 0, 1 << 8)  # BIG = 1 << 40
    types += struct.pack("<III", 9, 0xFFFFFFFF, 0xFFFFFFFF)  # NEG = -1
    btf = Btf.from_bytes(blob(types, strings))
    t = btf.types[1]
    assert isinstance(t, Enum) and t.kind == BtfKind.ENUM64 and t.signed
    assert [(v.name, v.value) for v in t.values] == [("BIG", 1 << 40), ("NEG", -1)]
    assert btf.size_of(1) == 8
    assert "\tBIG = 1099511627776LL,\n\tNEG = -1LL,\n" in dump_c(btf)
    assert decode(btf, 1, (-1).to_bytes(8, "little", signed=True)) == -1


def test_big_endian_blob_parses_like_little_endian() -> None:
    strings = b"\0int\0p\0"
    for order in "<>":
        types = int_type(1, order=order) + btf_type(0, 2, 0, 1, order=order) + \
            btf_type(5, 8, 0, 2, order=order)
        btf = Btf.from_bytes(blob(types, strings, order))
        assert btf.endianness == ("little" if order == "<" else "big")
        assert [t.kind for t in btf.types[1:]] == [BtfKind.INT, BtfKind.PTR, BtfKind.TYPEDEF]
        assert btf.find("p") == [3] and btf.resolve(3) == 2
        assert decode(btf, 1, (-5).to_bytes(4, btf.endianness, signed=True)) == -5  # type: ignore[arg-type]


def test_split_btf_on_base() -> None:
    base_strings = b"\0int\0"
    base = Btf.from_bytes(blob(int_type(1), base_strings))
    # split: [2] PTR -> [1] (base), [3] TYPEDEF 'intp' -> [2]; its strings start
    # after the base's, so 'intp' is at len(base_strings) + 1.
    split_strings = b"\0intp\0"
    types = btf_type(0, 2, 0, 1) + btf_type(len(base_strings) + 1, 8, 0, 2)
    split = Btf.from_bytes(blob(types, split_strings), base=base)
    assert split.start_id == 2 and len(split.types) == 4
    assert split.find("int") == [1] and split.find("intp") == [3]
    assert split.name_of(1) == "int" and split.string_at(1) == "int"
    assert split.resolve(3) == 2 and split.size_of(3) == 8
    # a split string section need not start with NUL: its first string is at base_end
    bare = Btf.from_bytes(blob(btf_type(len(base_strings), 8, 0, 1), b"myint\0"), base=base)
    assert bare.find("myint") == [2] and bare.resolve(2) == 1
    bad = btf_type(0, 2, 0, 1) + btf_type(len(base_strings) + 1, 8, 0, 9)
    with pytest.raises(LibbpfError, match=r"type \[3\].*\[9\]"):
        Btf.from_bytes(blob(bad, split_strings), base=base)


def test_from_file_reads_raw_btf(tmp_path: Path) -> None:
    raw = tmp_path / "raw.btf"
    raw.write_bytes(blob(int_type(1), b"\0int\0"))
    assert Btf.from_file(raw).find("int") == [1]


@functools.cache
def _vmlinux() -> Btf | None:
    path = Path("/sys/kernel/btf/vmlinux")
    return Btf.from_file(path) if path.exists() else None


def vmlinux_btf() -> Btf:
    """This host's kernel BTF (parsed once per run), or skip."""
    btf = _vmlinux()
    if btf is None:
        pytest.skip("no /sys/kernel/btf/vmlinux on this host")
    return btf


def test_vmlinux_if_present() -> None:
    btf = vmlinux_btf()
    (task,) = btf.find("task_struct", BtfKind.STRUCT)
    assert btf.size_of(task) > 1000
    assert "pid" in [m.name for m in btf.members(task)]


@pytest.mark.parametrize("path", OBJECTS, ids=lambda p: p.stem)
def test_raw_data_round_trip(path: Path, tmp_path: Path) -> None:
    btf = Btf.from_file(path)
    raw = btf.raw_data()
    assert Btf.from_bytes(raw).types == btf.types
    if shutil.which("bpftool") is None:
        pytest.skip("bpftool is not installed")
    out = tmp_path / "raw.btf"
    out.write_bytes(raw)
    dumped = subprocess.run(["bpftool", "btf", "dump", "file", str(out), "-j"],
                            capture_output=True, text=True, check=True).stdout
    assert json.loads(dumped)["types"] == json.loads(
        subprocess.run(["bpftool", "btf", "dump", "file", str(path), "-j"],
                       capture_output=True, text=True, check=True).stdout)["types"]


def test_raw_data_of_split_and_big_endian() -> None:
    base = Btf.from_bytes(blob(int_type(1), b"\0int\0"))
    split = Btf.from_bytes(blob(btf_type(0, 2, 0, 1) + btf_type(5 + 1, 8, 0, 2), b"\0intp\0"),
                           base=base)
    again = Btf.from_bytes(split.raw_data(), base=base)
    assert again.types == split.types and again.find("intp") == [3]
    big = Btf.from_bytes(blob(int_type(1, order=">"), b"\0int\0", ">"))
    assert big.raw_data()[:2] == b"\xeb\x9f"
    assert Btf.from_bytes(big.raw_data()).types == big.types
