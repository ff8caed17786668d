"""BLOOM_FILTER maps (Documentation/bpf/map_bloom_filter.rst): push values,
test membership (no false negatives), nothing can be removed or iterated.
Errors are compared with the kernel where bpf() is permitted."""

from __future__ import annotations

import errno
import random

import pytest

from libbpf_compat import libbpf_maps as bpf
from libbpf_compat.errors import LibbpfError
from libbpf_compat.mapstore import create_map
from libbpf_compat.uapi import BPF_F_ZERO_SEED, BPF_MAP_TYPE_BLOOM_FILTER
from tests import kernel_bpf
from tests.kernel_bpf import KernelMap

WHY = kernel_bpf.unavailable()
BLOOM = BPF_MAP_TYPE_BLOOM_FILTER


@pytest.mark.parametrize("map_extra", [0, 1, 3, 15])
def test_no_false_negatives_few_false_positives(map_extra: int) -> None:
    m = create_map(BLOOM, "bf", 0, 8, 1000, map_extra=map_extra)
    rng = random.Random(map_extra)
    members = {rng.randbytes(8) for _ in range(1000)}
    for value in members:
        m.update(None, value)
    assert all(m.bloom_contains(value) for value in members)
    others = [rng.randbytes(8) for _ in range(5000)]
    false_pos = sum(m.bloom_contains(v) for v in others if v not in members)
    assert false_pos < (2500 if map_extra == 1 else 600)


def test_empty_filter_has_nothing() -> None:
    m = create_map(BLOOM, "e", 0, 4, 16, BPF_F_ZERO_SEED)
    assert not any(m.bloom_contains(i.to_bytes(4, "little")) for i in range(1000))


def test_mirror_and_errors() -> None:
    opts = bpf.bpf_map_create_opts(map_extra=4)
    fd = bpf.bpf_map_create(BLOOM, "mbf", 0, 4, 64, opts)
    bpf.bpf_map_update_elem(fd, None, b"abcd")
    assert bpf.bpf_map_lookup_elem(fd, None, value=b"abcd") == b"abcd"
    with pytest.raises(LibbpfError) as info:
        bpf.bpf_map_lookup_elem(fd, None, value=b"zzzz")
    assert info.value.errno == errno.ENOENT
    for fn, args, err in [
        (bpf.bpf_map_update_elem, (fd, None, b"abcd", 1), errno.EINVAL),
        (bpf.bpf_map_delete_elem, (fd, None), errno.EOPNOTSUPP),
        (bpf.bpf_map_get_next_key, (fd, None), errno.EOPNOTSUPP),
        (bpf.bpf_map_lookup_and_delete_elem, (fd, None), 524),
        (bpf.bpf_map_lookup_batch, (fd, None, 4), 524),
    ]:
        with pytest.raises(LibbpfError) as info:
            fn(*args)  # type: ignore[operator]
        assert info.value.errno == err, fn
    bpf.bpf_map_freeze(fd)
    with pytest.raises(LibbpfError) as info:
        bpf.bpf_map_update_elem(fd, None, b"abcd")
    assert info.value.errno == errno.EPERM
    bpf.close(fd)


@pytest.mark.parametrize(("key_size", "value_size", "max_entries", "flags", "extra"), [
    (0, 4, 100, 0, 0), (4, 4, 100, 0, 0), (0, 0, 100, 0, 0), (0, 4, 0, 0, 0),
    (0, 4, 100, 1, 0), (0, 4, 100, BPF_F_ZERO_SEED, 0), (0, 4, 100, 0, 15),
    (0, 4, 100, 0, 16), (0, 4, 1 << 20, 0, 15),
])
def test_create_like_the_kernel(key_size: int, value_size: int, max_entries: int,
                                flags: int, extra: int) -> None:
    try:
        create_map(BLOOM, "c", key_size, value_size, max_entries, flags, map_extra=extra)
        ours = 0
    except LibbpfError as e:
        ours = -(e.errno or 0)
    if WHY is not None:
        assert ours in (0, -errno.EINVAL)
        pytest.skip(WHY)
    km = KernelMap.create(BLOOM, key_size, value_size, max_entries, flags, extra)
    theirs = km if isinstance(km, int) else 0
    if isinstance(km, KernelMap):
        km.close()
    assert ours == theirs


@pytest.mark.skipif(WHY is not None, reason=WHY or "")
def test_operations_like_the_kernel() -> None:
    km = KernelMap.create(BLOOM, 0, 4, 100)
    assert isinstance(km, KernelMap)
    m = create_map(BLOOM, "k", 0, 4, 100)

    def ours(fn: object, *args: object) -> int:
        try:
            fn(*args)  # type: ignore[operator]
            return 0
        except LibbpfError as e:
            return -(e.errno or 0)

    try:
        for flags in (0, 1, 2, 4):
            assert ours(m.update, None, b"abcd", flags) == km.update(None, b"abcd", flags)
        assert km.bloom_peek(b"abcd") == 0 and m.bloom_contains(b"abcd")
        assert ours(m.bloom_contains, b"abcd", 4) == km.bloom_peek(b"abcd", 4)
        assert ours(m.delete, None) == km.delete(None)
        assert ours(m.get_next_key, None) == km.get_next_key(None)[0]
        assert ours(m.lookup_and_delete, None) == km.lookup_and_delete(None)[0]
        assert (m.update_batch([], [])[0], m.delete_batch([])[0]) == (
            km.update_batch(b"", b"", 0)[0], km.delete_batch(b"", 0)[0])
        assert ours(m.freeze) == km.freeze()
        assert ours(m.update, None, b"abcd", 0) == km.update(None, b"abcd", 0)
    finally:
        km.close()
