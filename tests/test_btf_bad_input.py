"""Malformed BTF: every defect raises LibbpfError(EINVAL) naming what is at
fault, never another exception or a hang; random truncations and bit flips of
a real .BTF section only ever raise LibbpfError."""

from __future__ import annotations

import contextlib
import errno
import random
import struct
from pathlib import Path

import pytest

from libbpf_compat.btf import Btf, BtfExt, dump_c
from libbpf_compat.btf.elf_section import elf_section
from libbpf_compat.errors import LibbpfError
from tests.test_btf_parse import blob, btf_type, header, int_type

FIXTURES = Path(__file__).parent / "fixtures" / "btf"
TYPES_O = FIXTURES / "types.bpf.o"
INT = int_type(1)  # [1] int, name at offset 1 of b"\0int\0"
STRINGS = b"\0int\0"


def raw_section(name: str = ".BTF") -> bytes:
    data = elf_section(TYPES_O.read_bytes(), name, str(TYPES_O))
    assert data is not None
    return data


def expect_einval(data: bytes, pattern: str) -> None:
    with pytest.raises(LibbpfError, match=pattern) as info:
        Btf.from_bytes(data)
    assert info.value.errno == errno.EINVAL


def test_header_defects() -> None:
    good = blob(INT, STRINGS)
    assert Btf.from_bytes(good).find("int") == [1]
    expect_einval(b"", "too short")
    expect_einval(good[:20], "too short")
    expect_einval(b"\x00\x00" + good[2:], "bad magic")
    expect_einval(good[:2] + b"\x02" + good[3:], "unsupported version")
    expect_einval(good[:4] + struct.pack("<I", 8) + good[8:], "header length")
    expect_einval(good[:-1], "extends past the end")
    bad_types = header(len(INT) + 12, len(STRINGS)) + INT + STRINGS
    expect_einval(bad_types, "extends past the end")
    expect_einval(blob(INT, b"\0int"), "NUL")
    expect_einval(blob(b"", b""), "empty string section")


def test_truncated_type_record_names_the_type() -> None:
    expect_einval(blob(INT + btf_type(0, 2, 0, 1)[:8], STRINGS), r"type \[2\]: truncated")
    expect_einval(blob(btf_type(1, 1, 0, 4), STRINGS), r"type \[1\].*overruns")


def test_out_of_range_reference() -> None:
    expect_einval(blob(INT + btf_type(0, 2, 0, 7), STRINGS),
                  r"type \[2\]: references type \[7\] out of range")


@pytest.mark.parametrize("kind", [8, 9, 10, 11, 18])
def test_self_loop(kind: int) -> None:
    name = 1 if kind in (8, 18) else 0
    expect_einval(blob(INT + btf_type(name, kind, 0, 2), STRINGS), r"type \[2\]: reference loop")


def test_typedef_pointer_loop_and_embedding_loop() -> None:
    # [2] typedef 'int' -> [3] ptr -> [2]
    expect_einval(blob(INT + btf_type(1, 8, 0, 3) + btf_type(0, 2, 0, 2), STRINGS),
                  "reference loop")
    # [2] struct 'int' { [2] m; }: a struct embedding itself
    member = struct.pack("<III", 1, 2, 0)
    expect_einval(blob(INT + btf_type(1, 4, 1, 4) + member, STRINGS), "reference loop")


def test_pointer_cycles_through_structs_are_fine() -> None:
    # [2] struct 'int' { [3] next; } [3] ptr -> [2]
    member = struct.pack("<III", 1, 3, 0)
    btf = Btf.from_bytes(blob(INT + btf_type(1, 4, 1, 8) + member + btf_type(0, 2, 0, 2),
                              STRINGS))
    assert btf.size_of(2) == 8
    assert "struct int {\n\tstruct int *int;\n};" in dump_c(btf)


def test_bad_string_offsets() -> None:
    expect_einval(blob(int_type(99), STRINGS), r"type \[1\]: name offset 99")
    member = struct.pack("<III", 77, 1, 0)
    expect_einval(blob(INT + btf_type(1, 4, 1, 4) + member, STRINGS),
                  r"type \[2\].*string offset 77")


def test_vlen_overrun() -> None:
    expect_einval(blob(INT + btf_type(1, 4, 500, 4) + struct.pack("<III", 1, 1, 0), STRINGS),
                  r"type \[2\]: 500 members .* overruns")


@pytest.mark.parametrize("record, pattern", [
    (btf_type(1, 1, 0, 3) + struct.pack("<I", 32), r"type \[1\]: bad int"),
    (btf_type(1, 1, 0, 4) + struct.pack("<I", 200), r"type \[1\]: bad int"),
    (btf_type(1, 1, 0, 4) + struct.pack("<I", (3 << 24) | 32), r"type \[1\]: bad int encoding"),
    (btf_type(1, 16, 0, 3), r"type \[1\]: bad float size"),
    (btf_type(1, 6, 0, 3), r"type \[1\]: bad enum size"),
    (btf_type(1, 25, 0, 0), r"type \[1\]: unknown kind 25"),
    (btf_type(1, 12, 0, 0), r"type \[1\]: func 'int' type \[0\] is not a func_proto"),
    (btf_type(0, 7, 0, 0), r"type \[1\]: anonymous forward"),
    (btf_type(1, 2, 3, 0), r"type \[1\]: vlen 3"),
])
def test_bad_records(record: bytes, pattern: str) -> None:
    expect_einval(blob(record, STRINGS), pattern)


def test_member_outside_struct() -> None:
    member = struct.pack("<III", 1, 1, 64)  # int at bit 64 of a 4-byte struct
    expect_einval(blob(INT + btf_type(1, 4, 1, 4) + member, STRINGS),
                  r"type \[2\]: member 'int' .* outside the 4-byte struct")


def test_absurd_array_size() -> None:
    array = btf_type(0, 3, 0, 0) + struct.pack("<III", 1, 1, 0x7FFFFFFF)
    btf = Btf.from_bytes(blob(INT + array, STRINGS))
    with pytest.raises(LibbpfError, match=r"type \[2\]") as info:
        btf.size_of(2)
    assert info.value.errno == errno.E2BIG


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(LibbpfError) as info:
        Btf.from_file(tmp_path / "missing.o")
    assert info.value.errno == errno.ENOENT
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"hello world")
    with pytest.raises(LibbpfError, match="bad magic"):
        Btf.from_file(garbage)
    truncated = tmp_path / "truncated.o"
    truncated.write_bytes(TYPES_O.read_bytes()[:300])
    with pytest.raises(LibbpfError) as info:
        Btf.from_file(truncated)
    assert info.value.errno == errno.EINVAL


def _exercise(data: bytes) -> None:
    """Parse ``data``; if it parses, every query and the dump must also only
    raise LibbpfError."""
    btf = Btf.from_bytes(data)
    for tid in range(len(btf.types)):
        for query in (btf.size_of, btf.resolve, btf.align_of):
            with contextlib.suppress(LibbpfError):
                query(tid)
    with contextlib.suppress(LibbpfError):
        dump_c(btf)


def test_every_truncation_raises_libbpf_error() -> None:
    data = raw_section()
    for size in range(0, len(data), 3):
        with pytest.raises(LibbpfError):
            Btf.from_bytes(data[:size])


def test_random_bit_flips_raise_only_libbpf_error() -> None:
    data = raw_section()
    rng = random.Random(1234)
    parsed = failed = 0
    for _ in range(400):
        mutated = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            pos = rng.randrange(len(mutated))
            mutated[pos] ^= 1 << rng.randrange(8)
        try:
            _exercise(bytes(mutated))
            parsed += 1
        except LibbpfError:
            failed += 1
    assert parsed and failed  # both outcomes happen: the test can tell them apart


def test_random_ext_mutations_raise_only_libbpf_error() -> None:
    btf = Btf.from_file(TYPES_O)
    data = raw_section(".BTF.ext")
    assert BtfExt.from_bytes(data, btf).func_info
    rng = random.Random(99)
    for size in range(0, len(data), 5):
        with pytest.raises(LibbpfError):
            BtfExt.from_bytes(data[:size], btf)
    for _ in range(300):
        mutated = bytearray(data)
        pos = rng.randrange(len(mutated))
        mutated[pos] ^= 1 << rng.randrange(8)
        with contextlib.suppress(LibbpfError):
            BtfExt.from_bytes(bytes(mutated), btf)


def test_deep_nesting_raises_libbpf_error() -> None:
    from libbpf_compat.btf import decode, encode

    depth = 3000
    types = bytearray(INT)
    for i in range(2, depth + 2):  # [i] struct 'int' { [i + 1] int; }; the last holds [1]
        member = i + 1 if i < depth + 1 else 1
        types += btf_type(1, 4, 1, 4) + struct.pack("<III", 1, member, 0)
    btf = Btf.from_bytes(blob(bytes(types), STRINGS))
    top = 2
    assert btf.size_of(top) == 4
    value: object = 7
    for _ in range(depth):
        value = {"int": value}
    for call in (lambda: dump_c(btf), lambda: encode(btf, top, value),
                 lambda: decode(btf, top, bytes(4)), lambda: btf.align_of(top)):
        with pytest.raises(LibbpfError, match=r"nests? too deeply"):
            call()


def test_huge_values_are_refused() -> None:
    from libbpf_compat.btf import encode

    huge = btf_type(1, 4, 0, 0xFFFFFFF0)  # an empty struct of almost 4 GiB
    btf = Btf.from_bytes(blob(huge, STRINGS))
    with pytest.raises(LibbpfError, match=r"type \[1\] is 4294967280 bytes") as info:
        encode(btf, 1, {})
    assert info.value.errno == errno.E2BIG
