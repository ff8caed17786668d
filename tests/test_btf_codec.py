"""decode/encode against bytes clang itself laid out: the initialised global
``ev_data`` of the types fixture, read from the object's .data section."""

from __future__ import annotations

import math
import struct
from pathlib import Path
from typing import Any

import pytest
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from libbpf_compat.btf import Btf, BtfKind, decode, encode, is_char
from libbpf_compat.errors import LibbpfError

FIXTURES = Path(__file__).parent / "fixtures" / "btf"
TYPES_O = FIXTURES / "types.bpf.o"
F15 = struct.unpack("<I", struct.pack("<f", 1.5))[0]

#: The C initialiser of ev_data in types.bpf.c, as decode must read it back.
EV_DATA: dict[str, Any] = {
    "ts": 0x1122334455667788, "pid": -42, "comm": "bpf",
    "fl": {"a": 5, "b": 17, "c": -3, "d": 1, "e": 65535, "ok": True},
    "val": {"u": F15, "s": F15, "f": 1.5, "bytes": list(struct.pack("<f", 1.5))},
    "col": 6, "mode": 2, "pos": {"x": 7, "y": 9},
    "raw": 0xABCD1234, "lo": 0x1234, "hi": 0xABCD,
    "grid": [[1, -2, 3], [-4, 5, -6]], "weight": -2.25,
    "priv": 0, "next": 0, "handler": 0, "notify": 0, "counter": 0, "name": 0,
    "uptr": 0, "rp": 0, "tagged": 99,
}


def symbol_bytes(path: Path, name: str) -> bytes:
    with path.open("rb") as f:
        elf = ELFFile(f)
        symtab = elf.get_section_by_name(".symtab")
        assert isinstance(symtab, SymbolTableSection)
        found = symtab.get_symbol_by_name(name)
        assert found
        sym = found[0]
        data: bytes = elf.get_section(sym["st_shndx"]).data()
        return data[sym["st_value"]:sym["st_value"] + sym["st_size"]]


@pytest.fixture(scope="module")
def btf() -> Btf:
    return Btf.from_file(TYPES_O)


def type_id(btf: Btf, name: str, kind: BtfKind = BtfKind.STRUCT) -> int:
    (tid,) = btf.find(name, kind)
    return tid


def test_decode_matches_the_compiler(btf: Btf) -> None:
    raw = symbol_bytes(TYPES_O, "ev_data")
    assert decode(btf, type_id(btf, "event"), raw) == EV_DATA


def test_encode_matches_the_compiler(btf: Btf) -> None:
    raw = symbol_bytes(TYPES_O, "ev_data")
    given = {k: v for k, v in EV_DATA.items() if k not in ("val", "raw")}
    given["val"] = {"f": 1.5}
    given["col"] = "BLUE"  # enumerators by name
    given["fl"] = {**EV_DATA["fl"], "ok": True}
    assert encode(btf, type_id(btf, "event"), given) == raw


def test_round_trip_and_zero_fill(btf: Btf) -> None:
    ev = type_id(btf, "event")
    data = encode(btf, ev, {"pid": 7, "comm": "x" * 16})
    assert len(data) == btf.size_of(ev)
    back = decode(btf, ev, data)
    assert back["pid"] == 7 and back["comm"] == "x" * 16 and back["ts"] == 0
    assert back["fl"] == {"a": 0, "b": 0, "c": 0, "d": 0, "e": 0, "ok": False}


def test_bitfield_bytes(btf: Btf) -> None:
    fl = type_id(btf, "flags")
    data = encode(btf, fl, {"a": 5, "b": 31, "c": -64, "d": 1, "e": 0xBEEF, "ok": True})
    # a=101b at bits 0-2, b=11111b at 3-7, c=-64 (1000000b) at 8-14, d at 15
    assert data == bytes([0xFD, 0xC0, 0xEF, 0xBE, 0x01, 0, 0, 0])


def test_scalars_through_typedefs(btf: Btf) -> None:
    s32 = type_id(btf, "__s32", BtfKind.TYPEDEF)
    assert decode(btf, s32, encode(btf, s32, -(1 << 31))) == -(1 << 31)
    u64 = type_id(btf, "__u64", BtfKind.TYPEDEF)
    assert encode(btf, u64, (1 << 64) - 1) == b"\xff" * 8
    with pytest.raises(LibbpfError, match="out of range"):
        encode(btf, u64, -1)
    u8 = type_id(btf, "__u8", BtfKind.TYPEDEF)
    assert encode(btf, u8, 255) == b"\xff"
    b = type_id(btf, "bool", BtfKind.TYPEDEF)
    assert decode(btf, b, b"\x01") is True
    (double,) = btf.find("double", BtfKind.FLOAT)
    assert decode(btf, double, encode(btf, double, math.pi)) == math.pi
    (sgn,) = btf.find("small_signed", BtfKind.ENUM)
    assert encode(btf, sgn, "NEG") == encode(btf, sgn, -2) == b"\xfe\xff\xff\xff"
    (char,) = btf.find("char", BtfKind.INT)
    assert is_char(btf, char) and not is_char(btf, type_id(btf, "__u8", BtfKind.TYPEDEF))


def test_union_views_and_one_member(btf: Btf) -> None:
    num = type_id(btf, "num", BtfKind.UNION)
    view = decode(btf, num, encode(btf, num, {"s": -1}))
    assert view == {"u": 0xFFFFFFFF, "s": -1, "f": view["f"], "bytes": [255] * 4}
    assert math.isnan(view["f"])
    with pytest.raises(LibbpfError, match=r"num is a union: give one member, not u, s"):
        encode(btf, num, {"u": 1, "s": 2})


@pytest.mark.parametrize("value, pattern", [
    ({"fl": {"a": 8}}, r"event\.fl\.a: 8 is out of range \[0, 7\]"),
    ({"fl": {"c": -65}}, r"event\.fl\.c: -65 is out of range \[-64, 63\]"),
    ({"pid": 1 << 31}, r"event\.pid: 2147483648 is out of range"),
    ({"comm": "y" * 17}, r"event\.comm: 17 bytes do not fit char\[16\]"),
    ({"grid": [[1, 2, 3, 4]]}, r"event\.grid\[0\]: 4 items do not fit \[3\]"),
    ({"nope": 1}, r"event has no member 'nope'"),
    ({"col": "PURPLE"}, r"event\.col: 'PURPLE' is not an enumerator of 'color'"),
    ({"weight": "heavy"}, r"event\.weight needs a float"),
    ({"pos": 5}, r"event\.pos needs a dict"),
    ({"pid": 1.5}, r"event\.pid needs an int"),
    ({"raw": 1, "lo": 2}, r"event is a union|event: .*union"),
])
def test_encode_errors_name_the_member(btf: Btf, value: dict[str, Any], pattern: str) -> None:
    with pytest.raises(LibbpfError, match=pattern) as info:
        encode(btf, type_id(btf, "event"), value)
    assert info.value.errno == 22


def test_decode_size_check(btf: Btf) -> None:
    with pytest.raises(LibbpfError, match=r"\[\d+\] 'event' is 144 bytes, got 3"):
        decode(btf, type_id(btf, "event"), b"abc")
    with pytest.raises(LibbpfError, match="no size"):
        decode(btf, type_id(btf, "opaque", BtfKind.FWD), b"")


def test_raw_bytes_for_composites(btf: Btf) -> None:
    fl = type_id(btf, "flags")
    assert encode(btf, fl, b"\x01" * 8) == b"\x01" * 8


def test_datasec_and_vars() -> None:
    from tests.test_btf_parse import blob, btf_type, int_type

    strings = b"\0int\0x\0y\0.data\0"
    types = int_type(1)  # [1] int
    types += btf_type(5, 14, 0, 1) + struct.pack("<I", 1)  # [2] var x
    types += btf_type(7, 14, 0, 1) + struct.pack("<I", 1)  # [3] var y
    types += btf_type(9, 15, 2, 8) + struct.pack("<IIIIII", 2, 0, 4, 3, 4, 4)  # [4] .data
    btf = Btf.from_bytes(blob(types, strings))
    data = struct.pack("<ii", -5, 9)
    assert decode(btf, 4, data) == {"x": -5, "y": 9}
    assert decode(btf, 3, data[4:]) == 9
    assert encode(btf, 4, {"y": 9, "x": -5}) == data
    assert encode(btf, 4, {"y": 1}) == struct.pack("<ii", 0, 1)
    with pytest.raises(LibbpfError, match=r"\.data has no variable 'z'"):
        encode(btf, 4, {"z": 1})
