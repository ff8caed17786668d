"""BPF_MAP_TYPE_DEVMAP from user space, compared with this machine's
kernel: a slot never set (or emptied) is not there (ENOENT), delete empties
a slot (EINVAL past max_entries), updating with ifindex 0 empties it too;
bpf_redirect_map then falls back to the flags' action."""

from __future__ import annotations

import struct

import pytest

from libbpf_compat.errors import LibbpfError
from libbpf_compat.mapstore import NativeMap, create_map
from libbpf_compat.uapi import BpfMapType
from tests import kernel_bpf
from tests.kernel_bpf import KernelMap

DEVMAP = BpfMapType.BPF_MAP_TYPE_DEVMAP


def k(i: int) -> bytes:
    return struct.pack("<I", i)


def ifindex(i: int, size: int) -> bytes:
    return struct.pack("<I", i).ljust(size, b"\0")


class Ours:
    def __init__(self, m: NativeMap) -> None:
        self.m = m

    def lookup(self, key: bytes) -> tuple[int, bytes | None]:
        try:
            value = self.m.lookup(key)
        except LibbpfError as e:
            return -(e.errno or 0), None
        return (-2, None) if value is None else (0, value)

    def update(self, key: bytes, value: bytes) -> int:
        try:
            self.m.update(key, value, 0)
        except LibbpfError as e:
            return -(e.errno or 0)
        return 0

    def delete(self, key: bytes) -> int:
        try:
            self.m.delete(key)
        except LibbpfError as e:
            return -(e.errno or 0)
        return 0

    def get_next_key(self, key: bytes | None) -> tuple[int, bytes | None]:
        try:
            nxt = self.m.get_next_key(key)
        except LibbpfError as e:
            return -(e.errno or 0), None
        return (-2, None) if nxt is None else (0, nxt)


def script(size: int) -> list[tuple[str, tuple[bytes | None, ...]]]:
    return [
        ("lookup", (k(0),)), ("lookup", (k(9),)),
        ("update", (k(1), ifindex(1, size))), ("lookup", (k(1),)),
        ("delete", (k(1),)), ("lookup", (k(1),)), ("delete", (k(1),)), ("delete", (k(9),)),
        ("update", (k(2), ifindex(1, size))), ("update", (k(2), bytes(size))),
        ("lookup", (k(2),)), ("get_next_key", (None,)), ("get_next_key", (k(3),)),
        ("update", (k(3), ifindex(1, size))), ("lookup", (k(3),)),
    ]


@pytest.mark.parametrize("value_size", [4, 8])
def test_devmap_agrees_with_the_kernel(value_size: int) -> None:
    if kernel_bpf.unavailable():
        pytest.skip(f"bpf() unavailable: {kernel_bpf.unavailable()}")
    ours = Ours(create_map(DEVMAP, "dev", 4, value_size, 4))
    theirs = KernelMap.create(DEVMAP, 4, value_size, 4)
    assert isinstance(theirs, KernelMap), f"the kernel refused the map: {theirs}"
    with theirs:
        for op, args in script(value_size):
            assert getattr(ours, op)(*args) == getattr(theirs, op)(*args), (op, args)


def test_empty_slots_are_not_found() -> None:
    ours = Ours(create_map(DEVMAP, "dev", 4, 4, 4))
    assert ours.lookup(k(0)) == (-2, None)
    assert ours.update(k(0), ifindex(7, 4)) == 0 and ours.lookup(k(0)) == (0, ifindex(7, 4))
    assert ours.delete(k(0)) == 0 and ours.lookup(k(0)) == (-2, None)
    assert ours.delete(k(4)) == -22
