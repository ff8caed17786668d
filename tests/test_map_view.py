"""The dict-like Map over store maps: plain bytes, BTF-typed keys and
values, arrays, per-CPU maps."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from libbpf_compat.btf import Btf
from libbpf_compat.errors import LibbpfError
from libbpf_compat.map_view import Map
from libbpf_compat.mapstore import create_map, num_possible_cpus
from libbpf_compat.uapi import (
    BPF_MAP_TYPE_ARRAY,
    BPF_MAP_TYPE_HASH,
    BPF_MAP_TYPE_PERCPU_ARRAY,
    BPF_MAP_TYPE_QUEUE,
)

FIXTURE = Path(__file__).parent / "fixtures" / "objects" / "btf_maps.o"


def test_bytes_map_behaves_like_a_dict() -> None:
    m = Map(create_map(BPF_MAP_TYPE_HASH, "plain", 4, 8, 8))
    k1, k2 = struct.pack("<I", 1), struct.pack("<I", 2)
    m[k1] = struct.pack("<Q", 10)
    m[k2] = struct.pack("<Q", 20)
    assert len(m) == 2 and k1 in m and struct.pack("<I", 3) not in m
    assert m[k1] == struct.pack("<Q", 10)
    assert sorted(m.keys()) == [k1, k2]
    assert m.get(struct.pack("<I", 9)) is None
    assert m.pop(k1) == struct.pack("<Q", 10) and k1 not in m
    with pytest.raises(KeyError):
        del m[k1]
    m.clear()
    assert len(m) == 0 and dict(m.items()) == {}


def test_int_keys_on_a_map_without_btf_are_little_endian() -> None:
    m = Map(create_map(BPF_MAP_TYPE_HASH, "ints", 4, 4, 4))
    m[7] = b"\x01\x00\x00\x00"
    assert struct.pack("<I", 7) in m


def test_btf_typed_keys_and_values() -> None:
    btf = Btf.from_file(FIXTURE)
    key_id = btf.find("flow_key")[0]
    value_id = btf.find("flow_stats")[0]
    m = Map(create_map(BPF_MAP_TYPE_HASH, "flows", 12, 16, 16), btf, key_id, value_id)
    key = {"saddr": 0x0A000001, "daddr": 0x0A000002, "sport": 80, "dport": 443}
    m[key] = {"packets": 3, "bytes": 1500}
    assert m[key] == {"packets": 3, "bytes": 1500}
    assert list(m) == [key]
    assert list(m.values()) == [{"packets": 3, "bytes": 1500}]
    raw_key = struct.pack("<IIHH", 0x0A000001, 0x0A000002, 80, 443)
    assert m.native.lookup(raw_key) == struct.pack("<QQ", 3, 1500)   # laid out as the C struct
    with pytest.raises(LibbpfError):
        m[key] = {"packets": -1}                                     # out of range for __u64


def test_array_semantics() -> None:
    m = Map(create_map(BPF_MAP_TYPE_ARRAY, "arr", 4, 8, 3))
    assert len(m) == 3
    m[1] = struct.pack("<Q", 5)
    del m[1]                                                          # zeroes, as bcc does
    assert m[1] == bytes(8)
    m[2] = struct.pack("<Q", 9)
    m.clear()
    assert list(m.values()) == [bytes(8)] * 3


def test_percpu_values_are_lists() -> None:
    m = Map(create_map(BPF_MAP_TYPE_PERCPU_ARRAY, "pc", 4, 8, 2))
    n = num_possible_cpus()
    m[0] = [struct.pack("<Q", i) for i in range(n)]
    assert m[0] == [struct.pack("<Q", i) for i in range(n)]


def test_keyless_maps_are_not_dictionaries() -> None:
    with pytest.raises(LibbpfError):
        Map(create_map(BPF_MAP_TYPE_QUEUE, "q", 0, 8, 4))
