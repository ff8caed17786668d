"""The libbpf mirror of the map API: fds, info, ids, batches, errors."""

from __future__ import annotations

import ctypes
import errno
import gc
import struct
import weakref
from collections.abc import Iterator

import pytest

from libbpf_compat import libbpf_maps as bpf
from libbpf_compat.errors import LibbpfError
from libbpf_compat.mapstore import fd_table, num_possible_cpus, split_records
from libbpf_compat.uapi import (
    BPF_ANY,
    BPF_F_NO_PREALLOC,
    BPF_F_NUMA_NODE,
    BPF_MAP_TYPE_ARRAY,
    BPF_MAP_TYPE_HASH,
    BPF_MAP_TYPE_PERCPU_ARRAY,
    BPF_NOEXIST,
)


def k(i: int) -> bytes:
    return struct.pack("<I", i)


def v(i: int) -> bytes:
    return struct.pack("<Q", i)


@pytest.fixture
def hfd() -> Iterator[int]:
    fd = bpf.bpf_map_create(BPF_MAP_TYPE_HASH, "mirror", 4, 8, 32)
    yield fd
    if fd in fd_table:
        bpf.close(fd)


def errno_of(fn: object, *args: object) -> int:
    with pytest.raises(LibbpfError) as info:
        fn(*args)  # type: ignore[operator]
    assert info.value.errno is not None
    return info.value.errno


def test_fds_are_small_and_reused() -> None:
    a = bpf.bpf_map_create(BPF_MAP_TYPE_ARRAY, "a", 4, 4, 1)
    b = bpf.bpf_map_create(BPF_MAP_TYPE_ARRAY, "b", 4, 4, 1)
    assert a >= 3 and b > a
    bpf.close(a)
    c = bpf.bpf_map_create(BPF_MAP_TYPE_ARRAY, "c", 4, 4, 1)
    assert c == a  # the lowest free number, like POSIX
    assert bpf.bpf_map_get_info_by_fd(c).name == "c"
    bpf.close(b)
    bpf.close(c)
    assert errno_of(bpf.close, c) == errno.EBADF
    assert errno_of(bpf.bpf_map_lookup_elem, c, k(0)) == errno.EBADF
    assert errno_of(bpf.bpf_map_lookup_elem, 0, k(0)) == errno.EBADF


def test_elements_through_fds(hfd: int) -> None:
    bpf.bpf_map_update_elem(hfd, k(1), v(10), BPF_ANY)
    assert bpf.bpf_map_lookup_elem(hfd, k(1)) == v(10)
    assert bpf.bpf_map_lookup_elem_flags(hfd, k(1), 0) == v(10)
    assert errno_of(bpf.bpf_map_update_elem, hfd, k(1), v(1), BPF_NOEXIST) == errno.EEXIST
    assert errno_of(bpf.bpf_map_lookup_elem, hfd, k(2)) == errno.ENOENT
    assert bpf.bpf_map_get_next_key(hfd, None) == k(1)
    assert errno_of(bpf.bpf_map_get_next_key, hfd, k(1)) == errno.ENOENT
    assert bpf.bpf_map_lookup_and_delete_elem(hfd, k(1)) == v(10)
    assert errno_of(bpf.bpf_map_delete_elem, hfd, k(1)) == errno.ENOENT
    bpf.bpf_map_update_elem(hfd, ctypes.c_uint32(3), ctypes.c_uint64(30))
    assert bpf.bpf_map_lookup_elem(hfd, ctypes.c_uint32(3)) == v(30)
    with pytest.raises(LibbpfError) as info:
        bpf.bpf_map_update_elem(hfd, k(1), b"123")
    assert info.value.errno == errno.EINVAL and "mirror" in str(info.value)


def test_info_and_ids() -> None:
    opts = bpf.bpf_map_create_opts(map_flags=BPF_F_NO_PREALLOC, btf_key_type_id=3,
                                   btf_value_type_id=4)
    fd = bpf.bpf_map_create(BPF_MAP_TYPE_HASH, "info_map", 8, 16, 100, opts)
    info = bpf.bpf_map_get_info_by_fd(fd)
    assert (info.type, info.key_size, info.value_size, info.max_entries, info.map_flags,
            info.name) == (BPF_MAP_TYPE_HASH, 8, 16, 100, BPF_F_NO_PREALLOC, "info_map")
    assert (info.btf_key_type_id, info.btf_value_type_id) == (3, 4)
    assert bpf.bpf_obj_get_info_by_fd(fd) == info
    # the id finds the map again; a second fd shares the map's data
    assert bpf.bpf_map_get_next_id(info.id - 1) == info.id
    fd2 = bpf.bpf_map_get_fd_by_id(info.id)
    assert fd2 != fd
    bpf.bpf_map_update_elem(fd, bytes(8), bytes(16))
    assert bpf.bpf_map_lookup_elem(fd2, bytes(8)) == bytes(16)
    bpf.close(fd)
    assert bpf.bpf_map_lookup_elem(fd2, bytes(8)) == bytes(16)  # still referenced
    alive = weakref.ref(fd_table.get_map(fd2))
    bpf.close(fd2)
    gc.collect()
    assert alive() is None  # the last fd closed: the map (and its region) is freed
    assert errno_of(bpf.bpf_map_get_fd_by_id, info.id) == errno.ENOENT


def test_get_next_id_walks_live_maps() -> None:
    fds = [bpf.bpf_map_create(BPF_MAP_TYPE_ARRAY, f"m{i}", 4, 4, 1) for i in range(3)]
    ids = [bpf.bpf_map_get_info_by_fd(fd).id for fd in fds]
    walked = []
    cur = ids[0] - 1
    while True:
        try:
            cur = bpf.bpf_map_get_next_id(cur)
        except LibbpfError as e:
            assert e.errno == errno.ENOENT
            break
        walked.append(cur)
    assert set(ids) <= set(walked) and walked == sorted(walked)
    for fd in fds:
        bpf.close(fd)


def test_names_truncated_and_checked() -> None:
    fd = bpf.bpf_map_create(BPF_MAP_TYPE_ARRAY, "a_very_long_map_name_indeed", 4, 4, 1)
    assert bpf.bpf_map_get_info_by_fd(fd).name == "a_very_long_map"
    bpf.close(fd)
    assert errno_of(bpf.bpf_map_create, BPF_MAP_TYPE_ARRAY, "bad name!", 4, 4, 1) == \
        errno.EINVAL
    fd = bpf.bpf_map_create(BPF_MAP_TYPE_ARRAY, None, 4, 4, 1)
    assert bpf.bpf_map_get_info_by_fd(fd).name == ""
    bpf.close(fd)


def test_create_errors_name_the_problem() -> None:
    with pytest.raises(LibbpfError) as info:
        bpf.bpf_map_create(BPF_MAP_TYPE_ARRAY, "arr", 8, 4, 1)
    assert info.value.errno == errno.EINVAL and "arr" in str(info.value)
    with pytest.raises(LibbpfError) as info:
        bpf.bpf_map_create(11, "trie", 8, 4, 1)  # LPM_TRIE: not in this store yet
    assert info.value.errno == errno.EINVAL and "LPM_TRIE" in str(info.value)
    opts = bpf.bpf_map_create_opts(map_flags=BPF_F_NUMA_NODE, numa_node=7)
    assert errno_of(bpf.bpf_map_create, BPF_MAP_TYPE_HASH, "n", 4, 4, 1, opts) == errno.EINVAL
    assert errno_of(bpf.bpf_map_create, BPF_MAP_TYPE_HASH, "n", -1, 4, 1) == errno.EINVAL


def test_batch_walk_and_end(hfd: int) -> None:
    for i in range(20):
        bpf.bpf_map_update_elem(hfd, k(i), v(i))
    seen: dict[bytes, bytes] = {}
    batch = None
    while True:
        batch, keys, values, count = bpf.bpf_map_lookup_batch(hfd, batch, 8)
        assert 4 * count == len(keys) and 8 * count == len(values)
        seen.update(zip(split_records(keys, 4), split_records(values, 8), strict=True))
        if batch is None:
            break
    assert seen == {k(i): v(i) for i in range(20)}
    # asked again from a token at the end: ENOENT, nothing remains
    opts = bpf.bpf_map_batch_opts()
    with pytest.raises(LibbpfError) as info:
        bpf.bpf_map_lookup_batch(hfd, struct.pack("<I", 1 << 20), 8, opts)
    assert info.value.errno == errno.ENOENT
    assert errno_of(bpf.bpf_map_lookup_batch, hfd, None, 8,
                    bpf.bpf_map_batch_opts(flags=1)) == errno.EINVAL
    assert errno_of(bpf.bpf_map_lookup_batch, hfd, None, 8,
                    bpf.bpf_map_batch_opts(elem_flags=2)) == errno.EINVAL


def test_batch_update_delete_and_lookup_and_delete(hfd: int) -> None:
    keys = [k(i) for i in range(10)]
    assert bpf.bpf_map_update_batch(hfd, keys, [v(i) for i in range(10)], 10) == 10
    flat_keys = b"".join(k(i) for i in range(10, 15))
    flat_values = b"".join(v(i) for i in range(10, 15))
    assert bpf.bpf_map_update_batch(hfd, flat_keys, flat_values, 5) == 5
    assert bpf.bpf_map_delete_batch(hfd, keys[:4], 4) == 4
    with pytest.raises(bpf.BatchError) as info:
        bpf.bpf_map_delete_batch(hfd, [k(5), k(0), k(6)], 3)
    assert info.value.errno == errno.ENOENT and info.value.count == 1
    got: dict[bytes, bytes] = {}
    batch = None
    while True:
        batch, ks, vs, _ = bpf.bpf_map_lookup_and_delete_batch(hfd, batch, 4)
        got.update(zip(split_records(ks, 4), split_records(vs, 8), strict=True))
        if batch is None:
            break
    assert got == {k(i): v(i) for i in [4, 6, 7, 8, 9, 10, 11, 12, 13, 14]}
    assert errno_of(bpf.bpf_map_get_next_key, hfd, None) == errno.ENOENT
    with pytest.raises(bpf.BatchError) as binfo:
        bpf.bpf_map_update_batch(hfd, [k(1)], [v(1)], 1, bpf.bpf_map_batch_opts(elem_flags=3))
    assert binfo.value.errno == errno.EINVAL


def test_array_batch_tokens() -> None:
    fd = bpf.bpf_map_create(BPF_MAP_TYPE_ARRAY, "arr", 4, 8, 5)
    batch, keys, _, count = bpf.bpf_map_lookup_batch(fd, None, 2)
    assert keys == k(0) + k(1) and count == 2 and batch == k(1)
    batch, keys, _, _ = bpf.bpf_map_lookup_batch(fd, batch, 2)
    assert keys == k(2) + k(3)
    batch, keys, values, count = bpf.bpf_map_lookup_batch(fd, batch, 2)
    assert batch is None and keys == k(4) and values == bytes(8) and count == 1
    assert bpf.bpf_map_lookup_batch(fd, k(2), 0) == (k(2), b"", b"", 0)
    assert errno_of(bpf.bpf_map_delete_batch, fd, [k(0)], 1) == 524
    bpf.close(fd)


def test_percpu_through_fds() -> None:
    n = num_possible_cpus()
    fd = bpf.bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, "pcpu", 4, 4, 2)
    bpf.bpf_map_update_elem(fd, k(1), [struct.pack("<I", c) for c in range(n)])
    raw = bpf.bpf_map_lookup_elem(fd, k(1))
    assert len(raw) == 8 * n
    assert [struct.unpack_from("<I", raw, 8 * c)[0] for c in range(n)] == list(range(n))
    bpf.close(fd)


def test_freeze_through_fd(hfd: int) -> None:
    bpf.bpf_map_update_elem(hfd, k(1), v(1))
    bpf.bpf_map_freeze(hfd)
    assert errno_of(bpf.bpf_map_update_elem, hfd, k(1), v(2)) == errno.EPERM
    assert errno_of(bpf.bpf_map_update_batch, hfd, [k(1)], [v(2)], 1) == errno.EPERM
    assert bpf.bpf_map_lookup_elem(hfd, k(1)) == v(1)
