"""ARRAY_OF_MAPS and HASH_OF_MAPS (Documentation/bpf/map_of_maps.rst): the
outer map is created with an inner map fd whose shape it remembers; values
from user space are fds of compatible maps (EINVAL otherwise); user-space
lookups give the inner map's id; a program's lookup gives the inner map
itself, which it passes to the map helpers. Where bpf() is permitted, the
same operations run against kernel maps of maps and every errno (and
batch result shape) is compared."""

from __future__ import annotations

import ctypes
import errno
import random
import struct
from functools import partial
from typing import Any

import pytest

from libbpf_compat import isa
from libbpf_compat import libbpf_maps as bpf
from libbpf_compat.errors import LibbpfError
from libbpf_compat.helpers import helper_by_name
from libbpf_compat.helpers.native import register_c_helpers
from libbpf_compat.mapstore import ENOTSUPP, NativeMap, create_map, fd_table
from libbpf_compat.mapstore_fd import inner_map_address
from libbpf_compat.uapi import (
    BPF_EXIST,
    BPF_F_INNER_MAP,
    BPF_MAP_TYPE_ARRAY,
    BPF_MAP_TYPE_ARRAY_OF_MAPS,
    BPF_MAP_TYPE_HASH,
    BPF_MAP_TYPE_HASH_OF_MAPS,
    BPF_NOEXIST,
)
from libbpf_compat.vm import Vm
from tests import kernel_bpf
from tests.kernel_bpf import KernelMap

WHY = kernel_bpf.unavailable()
AOM, HOM = BPF_MAP_TYPE_ARRAY_OF_MAPS, BPF_MAP_TYPE_HASH_OF_MAPS
OUTERS = (AOM, HOM)


def u32(i: int) -> bytes:
    return struct.pack("<I", i)


def hid(name: str) -> int:
    h = helper_by_name(name)
    assert h is not None
    return h.internal


def errno_of(fn: Any) -> int:
    try:
        fn()
    except LibbpfError as e:
        return e.errno or 0
    return 0


@pytest.mark.parametrize("outer_type", OUTERS)
def test_program_reaches_the_inner_map(outer_type: int) -> None:
    inner_fd = bpf.bpf_map_create(BPF_MAP_TYPE_ARRAY, "inner", 4, 8, 4)
    outer_fd = bpf.bpf_map_create(outer_type, "outer", 4, 4, 4,
                                  bpf.bpf_map_create_opts(inner_map_fd=inner_fd))
    try:
        bpf.bpf_map_update_elem(inner_fd, u32(1), (41).to_bytes(8, "little"))
        bpf.bpf_map_update_elem(outer_fd, u32(3), u32(inner_fd))
        inner = fd_table.get_map(inner_fd)
        outer = fd_table.get_map(outer_fd)
        assert bpf.bpf_map_lookup_elem(outer_fd, u32(3)) == u32(inner.id)
        assert inner_map_address(outer, u32(3)) == inner.native_address
        assert inner_map_address(outer, u32(2)) == 0
        # outer[key in mem[0:4]] -> inner map; inner[1] += 1; return it
        vm = Vm(isa.assemble(f"""
            mov %r2, %r1
            lddw %r1, {outer.native_address:#x}
            call {hid('map_lookup_elem')}
            jeq %r0, 0, none
            mov %r1, %r0
            stw [%r10-4], 1
            mov %r2, %r10
            add %r2, -4
            call {hid('map_lookup_elem')}
            jeq %r0, 0, none
            mov %r1, 1
            lock add [%r0], %r1
            ldxdw %r0, [%r0]
            exit
        none:
            mov %r0, 0
            exit
        """))
        register_c_helpers(vm)
        assert vm.run(u32(3)) == 42
        assert vm.run(u32(2)) == 0
        assert bpf.bpf_map_lookup_elem(inner_fd, u32(1)) == (42).to_bytes(8, "little")
        # the outer map keeps the inner one alive after its fd is closed
        bpf.close(inner_fd)
        inner_fd = -1
        del inner
        assert vm.run(u32(3)) == 43
    finally:
        bpf.close(outer_fd)
        if inner_fd >= 0:
            bpf.close(inner_fd)


@pytest.mark.parametrize("outer_type", OUTERS)
def test_compatibility(outer_type: int) -> None:
    tmpl = create_map(BPF_MAP_TYPE_ARRAY, "t", 4, 8, 4)
    outer = create_map(outer_type, "o", 4, 4, 4, inner_map=tmpl)
    fds = {name: fd_table.install(m) for name, m in {
        "same": create_map(BPF_MAP_TYPE_ARRAY, "a", 4, 8, 4),
        "other_max": create_map(BPF_MAP_TYPE_ARRAY, "b", 4, 8, 5),
        "other_value": create_map(BPF_MAP_TYPE_ARRAY, "c", 4, 4, 4),
        "other_type": create_map(BPF_MAP_TYPE_HASH, "d", 4, 8, 4),
        "other_flags": create_map(BPF_MAP_TYPE_ARRAY, "e", 4, 8, 4, BPF_F_INNER_MAP),
    }.items()}
    try:
        assert errno_of(lambda: outer.update(u32(0), u32(fds["same"]))) == 0
        for name in ("other_max", "other_value", "other_type", "other_flags"):
            assert errno_of(lambda n=name: outer.update(u32(1), u32(fds[n]))) == errno.EINVAL
        assert errno_of(lambda: outer.update(u32(1), u32(999))) == errno.EBADF
        # BPF_F_INNER_MAP in the template: max_entries may differ
        loose = create_map(outer_type, "l", 4, 4, 4,
                           inner_map=create_map(BPF_MAP_TYPE_ARRAY, "f", 4, 8, 1,
                                                BPF_F_INNER_MAP))
        assert errno_of(lambda: loose.update(u32(0), u32(fds["other_flags"]))) == 0
    finally:
        for fd in fds.values():
            fd_table.close(fd)


def test_create_checks() -> None:
    tmpl = create_map(BPF_MAP_TYPE_HASH, "t", 4, 4, 4)
    for t in OUTERS:
        assert errno_of(lambda t=t: create_map(t, "x", 4, 4, 4)) == errno.EINVAL
        assert errno_of(lambda t=t: create_map(t, "x", 4, 8, 4, inner_map=tmpl)) == errno.EINVAL
        assert errno_of(lambda t=t: create_map(t, "x", 4, 4, 4, inner_map=999)) == errno.EBADF
        nested = create_map(t, "n", 4, 4, 4, inner_map=tmpl)
        assert errno_of(lambda t=t, n=nested: create_map(t, "x", 4, 4, 4,
                                                         inner_map=n)) == errno.EINVAL


def test_user_space_semantics() -> None:
    tmpl = create_map(BPF_MAP_TYPE_HASH, "t", 4, 4, 4)
    inner = fd_table.install(create_map(BPF_MAP_TYPE_HASH, "i", 4, 4, 4))
    a = create_map(AOM, "a", 4, 4, 2, inner_map=tmpl)
    h = create_map(HOM, "h", 4, 4, 1, inner_map=tmpl)
    try:
        assert errno_of(lambda: a.update(u32(0), u32(inner), BPF_NOEXIST)) == errno.EINVAL
        assert errno_of(lambda: a.update(u32(2), u32(inner))) == errno.E2BIG
        assert errno_of(lambda: h.update(u32(9), u32(inner), BPF_EXIST)) == errno.ENOENT
        h.update(u32(9), u32(inner), BPF_NOEXIST)
        assert errno_of(lambda: h.update(u32(9), u32(inner), BPF_NOEXIST)) == errno.EEXIST
        assert errno_of(lambda: h.update(u32(8), u32(inner))) == errno.E2BIG
        for m in (a, h):
            assert errno_of(lambda m=m: m.lookup_and_delete(u32(9))) == ENOTSUPP
        h.delete(u32(9))
        assert h.lookup(u32(9)) is None
        a.update(u32(1), u32(inner))
        assert a.lookup(u32(1)) == u32(fd_table.get_map(inner).id)
        a.delete(u32(1))
        assert errno_of(lambda: a.delete(u32(1))) == errno.ENOENT
    finally:
        fd_table.close(inner)


# ---- against the kernel ----

def _kernel_outer(t: int, max_entries: int, inner_fd: int) -> KernelMap:
    attr = ctypes.create_string_buffer(kernel_bpf.ATTR_SIZE)
    struct.pack_into("IIIIII", attr, 0, t, 4, 4, max_entries, 0, inner_fd)
    fd = kernel_bpf.bpf(0, attr)
    assert fd >= 0
    return KernelMap(fd, 4, 4, False)


@pytest.mark.skipif(WHY is not None, reason=WHY or "")
@pytest.mark.parametrize("outer_type,seed", [(AOM, 1), (HOM, 2)])
def test_against_kernel(outer_type: int, seed: int) -> None:
    rng = random.Random(seed)
    shapes = [(BPF_MAP_TYPE_ARRAY, 4), (BPF_MAP_TYPE_ARRAY, 5), (BPF_MAP_TYPE_HASH, 4)]
    kin = [KernelMap.create(t, 4, 8, n) for t, n in shapes]
    kmaps = [m for m in kin if isinstance(m, KernelMap)]
    assert len(kmaps) == 3
    nin = [create_map(t, "in", 4, 8, n) for t, n in shapes]
    nfds = [fd_table.install(m) for m in nin]
    ko = _kernel_outer(outer_type, 5, kmaps[0].fd)
    no = create_map(outer_type, "out", 4, 4, 5, inner_map=nin[0])
    ids: dict[int, int] = {}  # kernel id -> native id (the ids differ)
    compared = 0

    def same(krc: int, kval: bytes | None, nfn: Any, what: str) -> None:
        try:
            nval = nfn()
            nrc = 0
        except LibbpfError as e:
            nrc, nval = -(e.errno or 0), None
        if nval is None and nrc == 0 and what.endswith("lookup"):
            nrc = -errno.ENOENT
        assert krc == nrc, what
        if kval is not None and nval is not None and isinstance(nval, bytes):
            kid = int.from_bytes(kval, "little")
            nid = int.from_bytes(nval, "little")
            assert ids.setdefault(kid, nid) == nid, what

    try:
        for step in range(600):
            k = u32(rng.choice((0, 1, 3, 4, 5, 9)))
            op = rng.random()
            if op < 0.4:
                which = rng.randrange(4)
                flags = rng.choice((0, 0, 0, 1, 2, 4))
                kfd, nfd = (kmaps[which].fd, nfds[which]) if which < 3 else (4000, 4000)
                same(ko.update(k, u32(kfd), flags), None,
                     partial(no.update, k, u32(nfd), flags), f"{step} update")
            elif op < 0.6:
                same(ko.delete(k), None, partial(no.delete, k), f"{step} delete")
            elif op < 0.8:
                same(*ko.lookup(k), partial(no.lookup, k), f"{step} lookup")
            elif op < 0.9:
                if outer_type == AOM:
                    krc, kn = ko.get_next_key(k)
                    nn = no.get_next_key(k)
                    assert (krc, kn) == ((0, nn) if nn is not None
                                         else (-errno.ENOENT, None)), f"{step} next"
                else:  # a hash's order is its own: compare the sets of keys
                    kkeys, cur = [], ko.get_next_key(None)[1]
                    while cur is not None:
                        kkeys.append(cur)
                        cur = ko.get_next_key(cur)[1]
                    assert sorted(kkeys) == sorted(no.keys()), f"{step} keys"
            else:
                tok = None if rng.random() < 0.5 else u32(rng.choice((0, 1, 3)))
                n = rng.choice((1, 2, 10))
                if outer_type == HOM:  # buckets differ: take them all at once
                    tok, n = None, 10
                krc, ktok, kkeys, _ = ko.lookup_batch(tok, n)
                nrc, ntok, nkeys, _ = no.lookup_batch(tok, n)
                assert krc == nrc, f"{step} batch"
                assert sorted(kkeys) == sorted(nkeys), f"{step} batch keys"
                if outer_type == AOM:
                    assert kkeys == nkeys and (ktok == ntok or not kkeys), f"{step} batch"
            compared += 1
    finally:
        ko.close()
        for m in kmaps:
            m.close()
        for fd in nfds:
            fd_table.close(fd)
    assert compared == 600


def test_is_a_native_map() -> None:
    tmpl = create_map(BPF_MAP_TYPE_HASH, "t", 4, 4, 4)
    outer = create_map(HOM, "o", 4, 4, 4, inner_map=tmpl)
    assert isinstance(outer, NativeMap)
    fd = fd_table.install(outer)
    try:
        assert bpf.bpf_map_get_info_by_fd(fd).value_size == 4
        inner = fd_table.install(create_map(BPF_MAP_TYPE_HASH, "i", 4, 4, 4))
        assert bpf.bpf_map_update_batch(fd, [u32(1), u32(2)], [u32(inner)] * 2, 2) == 2
        out, _, _, n = bpf.bpf_map_lookup_batch(fd, None, 10)
        assert n == 2 and out is None
        assert bpf.bpf_map_delete_batch(fd, [u32(1), u32(2)], 2) == 2
        fd_table.close(inner)
    finally:
        fd_table.close(fd)
