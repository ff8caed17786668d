"""bpf_for_each_map_elem: the callback sees every element (key and value)
of an array and a hash map, stops the walk by returning 1, and the helper
returns the number of calls (-EINVAL for flags); compared with this
machine's kernel running the same object over the same map contents."""

from __future__ import annotations

import contextlib
import os
import shutil
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from libbpf_compat import libbpf_object as lb
from libbpf_compat.errors import LibbpfError
from libbpf_compat.libbpf_maps import bpf_map_delete_elem, bpf_map_update_elem
from libbpf_compat.object import BpfObject
from libbpf_compat.test_run import bpf_prog_test_run_opts, bpf_test_run_opts
from tests import kernel_bpf
from tests.kernel_bpf import KernelMap

FIXTURE = Path(__file__).parent / "fixtures" / "helpers" / "for_each.o"
EINVAL = 22


def packed(calls: int, keys: int, values: int) -> int:
    return (calls << 24) | ((keys & 0xFF) << 16) | (values & 0xFFFF)


@pytest.fixture
def obj() -> Iterator[BpfObject]:
    o = lb.bpf_object__open_file(FIXTURE)
    o.load()
    yield o
    o.close()


def run(o: BpfObject, name: str, flags: int = 0) -> int:
    prog = o.find_program_by_name(name)
    assert prog is not None
    opts = bpf_test_run_opts(data_in=bytes([flags]) + bytes(63))
    bpf_prog_test_run_opts(prog.fd, opts)
    return opts.retval


def u32(i: int) -> bytes:
    return struct.pack("<I", i)


def u64(i: int) -> bytes:
    return struct.pack("<Q", i)


#: (array contents by index, hash contents) the programs walk.
STATES: list[tuple[dict[int, int], dict[int, int]]] = [
    ({}, {}),
    ({0: 5, 3: 7, 7: 1}, {10: 1, 20: 2, 30: 3}),
    ({2: 99, 1: 4, 5: 6}, {4: 99, 8: 5}),
]


def fill(o: BpfObject, array: dict[int, int], table: dict[int, int]) -> None:
    numbers = o.find_map_fd_by_name("numbers")
    for i in range(8):
        bpf_map_update_elem(numbers, u32(i), u64(array.get(i, 0)), 0)
    fd = o.find_map_fd_by_name("table")
    for key in range(64):
        if key in table:
            bpf_map_update_elem(fd, u32(key), u64(table[key]), 0)
        else:
            with contextlib.suppress(LibbpfError):  # absent already
                bpf_map_delete_elem(fd, u32(key))


def test_array_walk_visits_every_slot_in_order(obj: BpfObject) -> None:
    fill(obj, {0: 5, 3: 7, 7: 1}, {})
    assert run(obj, "walk_array") == packed(8, sum(range(8)), 13)
    fill(obj, {2: 99, 1: 4}, {})  # stops at index 2: three calls, keys 0 + 1
    assert run(obj, "walk_array") == packed(3, 1, 4)


def test_hash_walk_visits_every_element(obj: BpfObject) -> None:
    fill(obj, {}, {})
    assert run(obj, "walk_hash") == 0
    fill(obj, {}, {10: 1, 20: 2, 30: 3})
    assert run(obj, "walk_hash") == packed(3, 60, 6)


def test_flags_are_refused(obj: BpfObject) -> None:
    assert run(obj, "walk_array", 1) == (-EINVAL) & 0xFFFF
    assert run(obj, "walk_hash", 2) == (-EINVAL) & 0xFFFF


def test_kernel_agrees(obj: BpfObject) -> None:
    tool = shutil.which("bpftool") or shutil.which("bpftool", path="/usr/sbin:/sbin")
    if tool is None or os.geteuid() != 0 or kernel_bpf.unavailable():
        pytest.skip("needs root, bpftool and bpf() to run the programs in the kernel")
    pins = Path(f"/sys/fs/bpf/lbc_test_for_each_{os.getpid()}")
    maps = Path(f"{pins}_maps")
    maps.mkdir()
    try:
        load = subprocess.run([tool, "prog", "loadall", str(FIXTURE), str(pins), "pinmaps",
                               str(maps)], capture_output=True, text=True, timeout=60)
        if load.returncode != 0:
            pytest.skip(f"the kernel refused the programs: {load.stderr.strip()[:200]}")
        knumbers = KernelMap(kernel_bpf.obj_get(str(maps / "numbers")), 4, 8, False)
        ktable = KernelMap(kernel_bpf.obj_get(str(maps / "table")), 4, 8, False)
        progs = {name: kernel_bpf.obj_get(str(pins / name)) for name in ("walk_array",
                                                                         "walk_hash")}
        for array, table in STATES:
            fill(obj, array, table)
            for i in range(8):
                assert knumbers.update(u32(i), u64(array.get(i, 0))) == 0
            for key in range(64):
                if key in table:
                    assert ktable.update(u32(key), u64(table[key])) == 0
                else:
                    ktable.delete(u32(key))
            for name, fd in progs.items():
                # a hash walk that stops early depends on the order: compare full walks
                if name == "walk_hash" and 99 in table.values():
                    continue
                for flags in (0, 1):
                    rc, retval, _, _ = kernel_bpf.prog_test_run(
                        fd, data_in=bytes([flags]) + bytes(63), repeat=1)
                    assert rc == 0 and run(obj, name, flags) == retval, (name, array, table)
        for fd in progs.values():
            os.close(fd)
        knumbers.close()
        ktable.close()
    finally:
        shutil.rmtree(pins, ignore_errors=True)
        shutil.rmtree(maps, ignore_errors=True)
