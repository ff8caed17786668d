"""PROG_ARRAY maps and bpf_tail_call (Documentation/bpf/map_prog_array.rst):
u32 keys, values are program fds from user space (here: any fd-table
object with a ``prog_handle``), lookups from user space give the program's
id; updates take only BPF_ANY; a tail call into an empty slot or past the
end fails and the program goes on. Where bpf() is permitted, the same
operations run against a kernel PROG_ARRAY (with a real loaded program)
and every errno is compared."""

from __future__ import annotations

import ctypes
import errno
import os
import random
import struct
from typing import Any

import pytest
from libbpf_compat._native import ffi

from libbpf_compat import isa
from libbpf_compat import libbpf_maps as bpf
from libbpf_compat.errors import LibbpfError
from libbpf_compat.helpers import helper_by_name
from libbpf_compat.helpers.native import register_c_helpers
from libbpf_compat.mapstore import ENOTSUPP, create_map, fd_table
from libbpf_compat.mapstore_fd import RefMap, prog_array_handle
from libbpf_compat.uapi import (
    BPF_ANY,
    BPF_EXIST,
    BPF_F_LOCK,
    BPF_F_RDONLY_PROG,
    BPF_MAP_TYPE_HASH,
    BPF_MAP_TYPE_PROG_ARRAY,
    BPF_NOEXIST,
)
from libbpf_compat.vm import Vm
from tests import kernel_bpf
from tests.kernel_bpf import KernelMap

#: every test twice: interpreted, then as machine code (conftest.py)
pytestmark = pytest.mark.usefixtures("vm_mode")

WHY = kernel_bpf.unavailable()
PA = BPF_MAP_TYPE_PROG_ARRAY
M64 = (1 << 64) - 1


class StandInProg:
    """What the fd table will hold for a loaded program: for this test, a
    Vm's native program handle (and an id, for lookups)."""

    def __init__(self, vm: Vm, prog_id: int) -> None:
        self.vm = vm
        self._prog = vm._program()  # keeps the linked program alive
        self.prog_handle = int(ffi.cast("uintptr_t", self._prog))
        self.prog_id = prog_id


def u32(i: int) -> bytes:
    return struct.pack("<I", i)


def tail_call_id() -> int:
    h = helper_by_name("tail_call")
    assert h is not None
    return h.internal


def vm_of(text: str) -> Vm:
    vm = Vm(isa.assemble(text))
    register_c_helpers(vm)
    return vm


def caller(map_addr: int, index: int) -> Vm:
    """Tail-calls slot ``index``; when that fails returns the helper's r0."""
    return vm_of(f"""
        lddw %r2, {map_addr:#x}
        mov %r3, {index}
        call {tail_call_id()}
        exit
    """)


def returns(value: int) -> Vm:
    return vm_of(f"""
        ldxw %r0, [%r1]
        add %r0, {value}
        exit
    """)


@pytest.fixture
def prog_fds() -> Any:
    fds: list[int] = []

    def make(vm: Vm, prog_id: int) -> int:
        fd = fd_table.install(StandInProg(vm, prog_id))
        fds.append(fd)
        return fd
    yield make
    for fd in fds:
        if fd in fd_table:
            fd_table.close(fd)


def test_tail_call_runs_the_target(prog_fds: Any) -> None:
    fd = bpf.bpf_map_create(PA, "jmp", 4, 4, 4)
    try:
        m = fd_table.get_map(fd)
        target = returns(1000)
        bpf.bpf_map_update_elem(fd, u32(2), u32(prog_fds(target, 77)), BPF_ANY)
        assert bpf.bpf_map_lookup_elem(fd, u32(2)) == u32(77)  # the program's id
        assert prog_array_handle(m, 2) != 0
        # same r1: the target reads the caller's memory
        assert caller(m.native_address, 2).run(u32(5) + bytes(4)) == 1005
        # empty slot and past the end: the helper fails, the program goes on
        assert caller(m.native_address, 1).run(bytes(8)) == -errno.ENOENT & M64
        assert caller(m.native_address, 4).run(bytes(8)) == -errno.E2BIG & M64
        bpf.bpf_map_delete_elem(fd, u32(2))
        assert caller(m.native_address, 2).run(bytes(8)) == -errno.ENOENT & M64
    finally:
        bpf.close(fd)


def test_tail_call_limit_is_33() -> None:
    m = create_map(PA, "loop", 4, 4, 1)
    # a program that counts in its memory and tail-calls itself
    loop = vm_of(f"""
        mov %r6, %r1
        ldxw %r0, [%r6]
        add %r0, 1
        stxw [%r6], %r0
        mov %r1, %r6
        lddw %r2, {m.native_address:#x}
        mov %r3, 0
        call {tail_call_id()}
        exit
    """)
    fd = fd_table.install(StandInProg(loop, 1))
    try:
        m.update(u32(0), u32(fd))
        mem = bytearray(8)
        assert loop.run(mem) == -errno.E2BIG & M64
        assert struct.unpack_from("<I", mem)[0] == 34  # the first run and 33 tail calls
    finally:
        fd_table.close(fd)
        m.delete(u32(0))


def test_user_space_errors(prog_fds: Any) -> None:
    m = create_map(PA, "pa", 4, 4, 2)
    assert isinstance(m, RefMap)
    pfd = prog_fds(returns(0), 5)
    other = bpf.bpf_map_create(BPF_MAP_TYPE_HASH, "h", 4, 4, 1)
    try:
        cases = [((u32(0), u32(pfd), BPF_NOEXIST), errno.EINVAL),
                 ((u32(0), u32(pfd), BPF_EXIST), errno.EINVAL),
                 ((u32(2), u32(pfd), BPF_ANY), errno.E2BIG),
                 ((u32(0), u32(999), BPF_ANY), errno.EBADF),
                 ((u32(0), u32(other), BPF_ANY), errno.EINVAL),  # a map is not a program
                 ((u32(2), u32(999), BPF_NOEXIST), errno.EINVAL)]  # flags first, as Linux
        for args, err in cases:
            with pytest.raises(LibbpfError) as info:
                m.update(*args)
            assert info.value.errno == err, args
        assert m.lookup(u32(0)) is None
        m.update(u32(0), u32(pfd))
        assert m.lookup(u32(0)) == u32(5)
        with pytest.raises(LibbpfError) as info:
            m.lookup(u32(0), BPF_F_LOCK)
        assert info.value.errno == errno.EINVAL
        with pytest.raises(LibbpfError) as info:
            m.lookup_and_delete(u32(0))
        assert info.value.errno == ENOTSUPP
        with pytest.raises(LibbpfError) as info:
            m.delete(u32(2))
        assert info.value.errno == errno.E2BIG
        m.delete(u32(0))
        with pytest.raises(LibbpfError) as info:
            m.delete(u32(0))
        assert info.value.errno == errno.ENOENT
        assert list(m.keys()) == [u32(0), u32(1)]
        m.freeze()
        with pytest.raises(LibbpfError) as info:
            m.update(u32(0), u32(pfd))
        assert info.value.errno == errno.EPERM
    finally:
        bpf.close(other)


def test_create_checks() -> None:
    for kw in (dict(key_size=4, value_size=8), dict(key_size=8, value_size=4),
               dict(key_size=4, value_size=4, max_entries=0),
               dict(key_size=4, value_size=4, map_flags=BPF_F_RDONLY_PROG)):
        args: dict[str, Any] = {"max_entries": 4, **kw}
        with pytest.raises(LibbpfError) as info:
            create_map(PA, "bad", **args)
        assert info.value.errno == errno.EINVAL, kw


def test_program_keeps_target_alive(prog_fds: Any) -> None:
    m = create_map(PA, "keep", 4, 4, 1)
    fd = prog_fds(returns(3), 9)
    m.update(u32(0), u32(fd))
    fd_table.close(fd)  # the map still refers to the program
    assert caller(m.native_address, 0).run(bytes(8)) == 3


# ---- against the kernel ----

def _kernel_prog() -> int:
    insns = ctypes.create_string_buffer(struct.pack("<BBhi", 0xB7, 0, 0, 0) +
                                        struct.pack("<BBhi", 0x95, 0, 0, 0))
    lic = ctypes.create_string_buffer(b"GPL")
    attr = ctypes.create_string_buffer(kernel_bpf.ATTR_SIZE)
    struct.pack_into("IIQQ", attr, 0, 1, 2, ctypes.addressof(insns), ctypes.addressof(lic))
    return kernel_bpf.bpf(5, attr)  # BPF_PROG_LOAD, a socket filter "return 0"


@pytest.mark.skipif(WHY is not None, reason=WHY or "")
def test_against_kernel(prog_fds: Any) -> None:
    kprog = _kernel_prog()
    assert kprog >= 0, os.strerror(-kprog)
    km = KernelMap.create(PA, 4, 4, 6)
    assert isinstance(km, KernelMap)
    kother = KernelMap.create(BPF_MAP_TYPE_HASH, 4, 4, 1)
    assert isinstance(kother, KernelMap)
    nm = create_map(PA, "diff", 4, 4, 6)
    nprog = prog_fds(returns(0), 1)
    nother = bpf.bpf_map_create(BPF_MAP_TYPE_HASH, "o", 4, 4, 1)
    rng = random.Random(5)
    kinds = {"prog": (kprog, nprog), "map": (kother.fd, nother), "bad": (4000, 4000)}
    compared = 0
    try:
        for step in range(600):
            k = u32(rng.choice((0, 1, 2, 5, 6, 7, 0xFFFFFFFF)))
            op = rng.random()
            if op < 0.4:
                kind = rng.choice(("prog", "prog", "map", "bad"))
                flags = rng.choice((0, 0, 0, 1, 2, 4))
                kv, nv = kinds[kind]
                try:
                    nm.update(k, u32(nv), flags)
                    nrc = 0
                except LibbpfError as e:
                    nrc = -(e.errno or 0)
                assert nrc == km.update(k, u32(kv), flags), f"step {step}: {kind} {flags}"
            elif op < 0.6:
                try:
                    nm.delete(k)
                    nrc = 0
                except LibbpfError as e:
                    nrc = -(e.errno or 0)
                assert nrc == km.delete(k), f"step {step}: delete"
            elif op < 0.85:
                krc, kval = km.lookup(k)
                nval = nm.lookup(k)
                # ids differ between the two; presence and errno must not
                assert (krc, kval is None) == ((0, False) if nval is not None
                                               else (-errno.ENOENT, True)), f"step {step}"
            else:
                nk = nm.get_next_key(k)
                assert km.get_next_key(k) == ((0, nk) if nk is not None
                                              else (-errno.ENOENT, None)), f"step {step}"
            compared += 1
        for name, krc, nfn in (
                ("lookup_and_delete", km.lookup_and_delete(u32(0))[0],
                 lambda: nm.lookup_and_delete(u32(0))),
                ("lookup_batch", km.lookup_batch(None, 4)[0],
                 lambda: nm.lookup_batch(None, 4))):
            try:
                nfn()
                nrc = 0
            except LibbpfError as e:
                nrc = -(e.errno or 0)
            assert nrc == krc, name
            compared += 1
    finally:
        km.close()
        kother.close()
        os.close(kprog)
        bpf.close(nother)
    assert compared == 602
