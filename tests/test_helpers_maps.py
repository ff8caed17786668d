"""The map helpers called from programs: lookup returns a pointer into the
store (updates through it are seen by user space), update and delete follow
Linux's flags and errors, and atomic adds through the pointer from several
threads count exactly."""

from __future__ import annotations

import errno
import struct
import threading

from libbpf_compat import isa
from libbpf_compat.helpers import helper_by_name
from libbpf_compat.helpers.native import register_c_helpers
from libbpf_compat.libbpf_maps import bpf_map_create, bpf_map_lookup_elem, bpf_map_update_elem
from libbpf_compat.mapstore import fd_table
from libbpf_compat.uapi import BPF_ANY, BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_HASH, BPF_NOEXIST
from libbpf_compat.vm import Vm

M64 = (1 << 64) - 1


def hid(name: str) -> int:
    helper = helper_by_name(name)
    assert helper is not None
    return helper.internal


def program(text: str) -> Vm:
    vm = Vm(isa.assemble(text))
    register_c_helpers(vm)
    return vm


def counter_program(map_addr: int) -> Vm:
    """key = mem[0:4]; if the key is present, atomically add 1 to its u64
    value and return 1; else insert 1 with BPF_NOEXIST and return 2 + its
    result (2 on success)."""
    return program(f"""
        mov %r6, %r1
        lddw %r1, {map_addr:#x}
        mov %r2, %r6
        call {hid('map_lookup_elem')}
        jeq %r0, 0, insert
        mov %r1, 1
        lock add [%r0], %r1
        mov %r0, 1
        exit
    insert:
        stdw [%r10-8], 1
        lddw %r1, {map_addr:#x}
        mov %r2, %r6
        mov %r3, %r10
        add %r3, -8
        mov %r4, {BPF_NOEXIST}
        call {hid('map_update_elem')}
        add %r0, 2
        exit
    """)


def test_lookup_update_through_a_program() -> None:
    fd = bpf_map_create(BPF_MAP_TYPE_HASH, "counts", 4, 8, 16)
    vm = counter_program(fd_table.get_map(fd).native_address)
    key = struct.pack("<I", 7)
    assert vm.run(key) == 2                       # inserted
    assert vm.run(key) == 1                       # found, incremented in place
    assert vm.run(key) == 1
    assert bpf_map_lookup_elem(fd, key) == struct.pack("<Q", 3)


def test_update_errors_come_back_as_negative_errno() -> None:
    fd = bpf_map_create(BPF_MAP_TYPE_HASH, "full", 4, 8, 2)
    vm = counter_program(fd_table.get_map(fd).native_address)
    assert vm.run(struct.pack("<I", 1)) == 2
    assert vm.run(struct.pack("<I", 2)) == 2
    assert vm.run(struct.pack("<I", 3)) == (2 - errno.E2BIG) & M64   # the map is full


def test_delete() -> None:
    fd = bpf_map_create(BPF_MAP_TYPE_HASH, "h", 4, 8, 4)
    addr = fd_table.get_map(fd).native_address
    bpf_map_update_elem(fd, struct.pack("<I", 5), struct.pack("<Q", 1), BPF_ANY)
    delete = program(f"mov %r2, %r1\nlddw %r1, {addr:#x}\ncall {hid('map_delete_elem')}\nexit")
    assert delete.run(struct.pack("<I", 5)) == 0
    assert delete.run(struct.pack("<I", 5)) == (-errno.ENOENT) & M64


def test_array_values_are_shared_with_user_space_and_threads() -> None:
    fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "arr", 4, 8, 4)
    vm = counter_program(fd_table.get_map(fd).native_address)
    key = struct.pack("<I", 3)

    def work() -> None:
        for _ in range(2000):
            assert vm.run(key) == 1

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert bpf_map_lookup_elem(fd, key) == struct.pack("<Q", 8000)
