"""Pinning within one process: the pin root and libbpf's path rules,
bpf_obj_pin / bpf_obj_get (same map, same data, updates seen through every
fd), unpinning, LIBBPF_PIN_BY_NAME reuse checks, and the bad input the issue
lists (paths outside the root or with '..', foreign files, newer format
versions, EEXIST, ENOENT). Every test has its own pin root."""

from __future__ import annotations

import errno
import os
import shutil
import stat
import struct
import tempfile
from pathlib import Path

import pytest

from libbpf_compat import pinning
from libbpf_compat.errors import LibbpfError
from libbpf_compat.libbpf_maps import (
    bpf_map_create,
    bpf_map_create_opts,
    bpf_map_freeze,
    bpf_map_get_info_by_fd,
    bpf_map_lookup_elem,
    bpf_map_unpin,
    bpf_map_update_elem,
    bpf_obj_get,
    bpf_obj_pin,
    close,
)
from libbpf_compat.mapstore import create_map, fd_table, num_possible_cpus
from libbpf_compat.uapi import (
    BPF_F_NO_COMMON_LRU,
    BPF_MAP_TYPE_ARRAY,
    BPF_MAP_TYPE_BLOOM_FILTER,
    BPF_MAP_TYPE_HASH,
    BPF_MAP_TYPE_LRU_HASH,
    BPF_MAP_TYPE_PERCPU_ARRAY,
    BPF_MAP_TYPE_PERCPU_HASH,
    BPF_MAP_TYPE_QUEUE,
    BPF_MAP_TYPE_RINGBUF,
    BPF_MAP_TYPE_STACK,
)


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    r = tmp_path / "pins"
    monkeypatch.setenv(pinning.PIN_ROOT_ENV, str(r))
    return r


def u32(i: int) -> bytes:
    return struct.pack("<I", i)


def u64(i: int) -> bytes:
    return struct.pack("<Q", i)


def fresh_copy(root: Path, name: str, new: str) -> Path:
    """A copy of a pinned file under another name: a different inode, so
    bpf_obj_get maps it anew instead of finding the map this process holds."""
    dst = root / new
    shutil.copyfile(root / name, dst)
    return dst


# ---- the pin root ----

def test_root_from_the_environment_is_created_owner_only(root: Path) -> None:
    assert not root.exists()
    assert pinning.pin_root() == str(root)
    assert stat.S_IMODE(root.stat().st_mode) == 0o700


def test_default_root_is_in_the_runtime_directory(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(pinning.PIN_ROOT_ENV, raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    root = pinning.pin_root()
    assert root == str(tmp_path / "libbpf-compat" / "bpffs")
    for d in (tmp_path / "libbpf-compat", tmp_path / "libbpf-compat" / "bpffs"):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX user ids")
def test_default_root_without_runtime_directory_is_per_user_in_tmp(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(pinning.PIN_ROOT_ENV, raising=False)
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    root = Path(pinning.pin_root())
    assert root == tmp_path / f"libbpf-compat-{os.getuid()}" / "bpffs"
    assert stat.S_IMODE(root.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(root.stat().st_mode) == 0o700


def test_sys_fs_bpf_names_the_pin_root(root: Path) -> None:
    assert pinning.resolve_pin_path("/sys/fs/bpf/a/b") == str(root / "a" / "b")
    assert pinning.resolve_pin_path("/sys/fs/bpf") == str(root)
    assert pinning.resolve_pin_path(str(root / "x")) == str(root / "x")
    assert pinning.resolve_pin_path(b"/sys/fs/bpf/c") == str(root / "c")


@pytest.mark.parametrize("path, err", [
    ("/etc/passwd", errno.EPERM),
    ("/sys/fs/bpfx/m", errno.EPERM),
    ("/tmp/somewhere/m", errno.EPERM),
    ("/sys/fs/bpf/../m", errno.EINVAL),
    ("/sys/fs/bpf/a/../../m", errno.EINVAL),
    ("relative/m", errno.EINVAL),
    ("", errno.EINVAL),
])
def test_bad_paths(root: Path, path: str, err: int) -> None:
    fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "a", 4, 8, 1)
    with pytest.raises(LibbpfError) as e:
        bpf_obj_pin(fd, path)
    assert e.value.errno == err
    assert repr(path) in str(e.value)
    with pytest.raises(LibbpfError) as e:
        bpf_obj_get(path)
    assert e.value.errno == err


def test_paths_inside_the_root_under_its_own_name(root: Path) -> None:
    m = create_map(BPF_MAP_TYPE_ARRAY, "a", 4, 8, 1)
    pinning.pin_map(m, str(root / "direct"))
    assert pinning.open_pinned("/sys/fs/bpf/direct") is m


def test_symlink_out_of_the_root_is_refused(root: Path, tmp_path: Path) -> None:
    pinning.pin_root()
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "link").symlink_to(outside)
    fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "a", 4, 8, 1)
    with pytest.raises(LibbpfError) as e:
        bpf_obj_pin(fd, "/sys/fs/bpf/link/m")
    assert e.value.errno == errno.EPERM
    assert list(outside.iterdir()) == []


# ---- pin and get ----

def test_pin_and_get_share_one_map(root: Path) -> None:
    fd = bpf_map_create(BPF_MAP_TYPE_HASH, "counts", 4, 8, 64)
    for i in range(10):
        bpf_map_update_elem(fd, u32(i), u64(i * i), 0)
    bpf_obj_pin(fd, "/sys/fs/bpf/tool/counts")
    f = root / "tool" / "counts"
    assert f.is_file()
    assert stat.S_IMODE(f.stat().st_mode) == 0o600
    assert [p.name for p in (root / "tool").iterdir()] == ["counts"]  # no temporary left
    with open(f, "rb") as fh:
        assert struct.unpack("=II", fh.read(8)) == (pinning.REGION_MAGIC,
                                                    pinning.FORMAT_VERSION)
    fd2 = bpf_obj_get("/sys/fs/bpf/tool/counts")
    assert fd2 != fd
    assert bpf_map_get_info_by_fd(fd2).id == bpf_map_get_info_by_fd(fd).id
    for i in range(10):
        assert bpf_map_lookup_elem(fd2, u32(i)) == u64(i * i)
    bpf_map_update_elem(fd2, u32(100), u64(7), 0)
    assert bpf_map_lookup_elem(fd, u32(100)) == u64(7)
    bpf_map_update_elem(fd, u32(1), u64(11), 0)
    assert bpf_map_lookup_elem(fd2, u32(1)) == u64(11)


def test_a_second_mapping_of_the_file_sees_the_same_memory(root: Path) -> None:
    """Two handles on one file in one process (as two processes have)."""
    fd = bpf_map_create(BPF_MAP_TYPE_HASH, "h", 8, 16, 128)
    bpf_map_update_elem(fd, u64(1), bytes(range(16)), 0)
    bpf_obj_pin(fd, "/sys/fs/bpf/h")
    ino = (root / "h").stat().st_ino
    pinning._by_inode.clear()  # forget the map: the next get maps the file again
    fd2 = bpf_obj_get("/sys/fs/bpf/h")
    m1, m2 = fd_table.get_map(fd), fd_table.get_map(fd2)
    assert m1 is not m2 and (root / "h").stat().st_ino == ino
    assert (m2.map_type, m2.key_size, m2.value_size, m2.max_entries) == (BPF_MAP_TYPE_HASH, 8,
                                                                          16, 128)
    assert m2.name == "h"
    assert bpf_map_lookup_elem(fd2, u64(1)) == bytes(range(16))
    for i in range(2, 100):
        bpf_map_update_elem(fd2 if i % 2 else fd, u64(i), u64(i) * 2, 0)
    assert sorted(m1.keys()) == sorted(m2.keys()) == sorted(u64(i) for i in range(1, 100))
    m1.delete(u64(5))
    assert m2.lookup(u64(5)) is None


@pytest.mark.parametrize("map_type, key_size, value_size, max_entries, flags, extra", [
    (BPF_MAP_TYPE_ARRAY, 4, 12, 8, 0, 0),
    (BPF_MAP_TYPE_PERCPU_ARRAY, 4, 8, 4, 0, 0),
    (BPF_MAP_TYPE_HASH, 4, 8, 16, 0, 0),
    (BPF_MAP_TYPE_PERCPU_HASH, 4, 8, 16, 0, 0),
    (BPF_MAP_TYPE_LRU_HASH, 4, 8, 16, 0, 0),
    (BPF_MAP_TYPE_LRU_HASH, 4, 8, 16, BPF_F_NO_COMMON_LRU, 0),
    (BPF_MAP_TYPE_QUEUE, 0, 8, 4, 0, 0),
    (BPF_MAP_TYPE_STACK, 0, 8, 4, 0, 0),
    (BPF_MAP_TYPE_BLOOM_FILTER, 0, 8, 64, 0, 3),
])
def test_every_family_survives_a_fresh_mapping(root: Path, map_type: int, key_size: int,
                                                value_size: int, max_entries: int, flags: int,
                                                extra: int) -> None:
    m = create_map(map_type, "m", key_size, value_size, max_entries, flags, map_extra=extra)
    if key_size:
        for i in range(3):
            m.update(u32(i), [u64(i + c) for c in range(m.ncpus)] if m.percpu
                     else bytes([i + 1]) * value_size)
    else:
        for i in range(3):
            m.update(None, u64(i + 40))
    pinning.pin_map(m, "/sys/fs/bpf/m")
    pinning._by_inode.clear()
    m2 = pinning.open_pinned("/sys/fs/bpf/m")
    assert m2 is not m
    assert (m2.map_type, m2.key_size, m2.value_size, m2.max_entries, m2.map_flags) == (
        map_type, key_size, value_size, m.max_entries, flags)
    if map_type == BPF_MAP_TYPE_BLOOM_FILTER:
        assert all(m2.bloom_contains(u64(i + 40)) for i in range(3))
        m2.update(None, u64(99))
        assert m.bloom_contains(u64(99))
    elif key_size == 0:
        assert m2.lookup_and_delete(None) == (u64(40) if map_type == BPF_MAP_TYPE_QUEUE
                                              else u64(42))
        m2.update(None, u64(50))
        assert m.lookup(None) == (u64(41) if map_type == BPF_MAP_TYPE_QUEUE else u64(50))
    else:
        for i in range(3):
            assert m2.lookup(u32(i)) == m.lookup(u32(i))
        new = [u64(7)] * m.ncpus if m.percpu else b"\x07" * value_size
        m2.update(u32(1), new)
        assert m.lookup_percpu(u32(1)) == m2.lookup_percpu(u32(1))
        assert m.lookup_percpu(u32(1)) == ([u64(7)] * m.ncpus if m.percpu
                                           else [b"\x07" * value_size])


def test_ring_buffer_can_be_pinned(root: Path) -> None:
    m = create_map(BPF_MAP_TYPE_RINGBUF, "rb", 0, 0, 4096)
    pinning.pin_map(m, "/sys/fs/bpf/rb")
    pinning._by_inode.clear()
    m2 = pinning.open_pinned("/sys/fs/bpf/rb")
    assert (m2.map_type, m2.max_entries) == (BPF_MAP_TYPE_RINGBUF, 4096)


def test_pointers_into_the_map_stay_valid_across_the_pin(root: Path) -> None:
    m = create_map(BPF_MAP_TYPE_ARRAY, "a", 4, 8, 4)
    addr = m.value_address(u32(2))
    pinning.pin_map(m, "/sys/fs/bpf/a")
    assert m.value_address(u32(2)) == addr
    from libbpf_compat._native import ffi
    ffi.cast("uint64_t *", addr)[0] = 1234
    pinning._by_inode.clear()
    assert pinning.open_pinned("/sys/fs/bpf/a").lookup(u32(2)) == u64(1234)


def test_freeze_is_shared(root: Path) -> None:
    fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "a", 4, 8, 1)
    bpf_obj_pin(fd, "/sys/fs/bpf/a")
    pinning._by_inode.clear()
    fd2 = bpf_obj_get("/sys/fs/bpf/a")
    bpf_map_freeze(fd)
    with pytest.raises(LibbpfError) as e:
        bpf_map_update_elem(fd2, u32(0), u64(1), 0)
    assert e.value.errno == errno.EPERM


def test_spin_lock_offset_travels_with_the_map(root: Path) -> None:
    m = create_map(BPF_MAP_TYPE_HASH, "locked", 4, 16, 8, spin_lock_off=8)
    pinning.pin_map(m, "/sys/fs/bpf/locked")
    pinning._by_inode.clear()
    assert pinning.open_pinned("/sys/fs/bpf/locked").spin_lock_off == 8


def test_pin_twice_at_two_paths_and_after_close(root: Path) -> None:
    fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "a", 4, 8, 2)
    bpf_obj_pin(fd, "/sys/fs/bpf/one")
    bpf_obj_pin(fd, "/sys/fs/bpf/dir/two")
    assert (root / "one").stat().st_ino == (root / "dir" / "two").stat().st_ino
    bpf_map_update_elem(fd, u32(1), u64(5), 0)
    close(fd)  # the map lives on in its pins
    import gc
    gc.collect()
    fd2 = bpf_obj_get("/sys/fs/bpf/dir/two")
    assert bpf_map_lookup_elem(fd2, u32(1)) == u64(5)


def test_unpin(root: Path) -> None:
    fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "a", 4, 8, 2)
    bpf_obj_pin(fd, "/sys/fs/bpf/a")
    bpf_map_unpin("/sys/fs/bpf/a")
    assert not (root / "a").exists()
    bpf_map_update_elem(fd, u32(0), u64(3), 0)  # the map itself is untouched
    assert bpf_map_lookup_elem(fd, u32(0)) == u64(3)
    with pytest.raises(LibbpfError) as e:
        bpf_obj_get("/sys/fs/bpf/a")
    assert e.value.errno == errno.ENOENT
    with pytest.raises(LibbpfError) as e:
        bpf_map_unpin("/sys/fs/bpf/a")
    assert e.value.errno == errno.ENOENT
    # pinned again after being unpinned everywhere: still the same map
    bpf_obj_pin(fd, "/sys/fs/bpf/again")
    pinning._by_inode.clear()
    fd2 = bpf_obj_get("/sys/fs/bpf/again")
    assert bpf_map_lookup_elem(fd2, u32(0)) == u64(3)
    bpf_map_update_elem(fd2, u32(1), u64(4), 0)
    assert bpf_map_lookup_elem(fd, u32(1)) == u64(4)


def test_unpin_by_fd_removes_every_pin_of_the_map(root: Path) -> None:
    m = create_map(BPF_MAP_TYPE_ARRAY, "a", 4, 8, 2)
    pinning.pin_map(m, "/sys/fs/bpf/x")
    pinning.pin_map(m, "/sys/fs/bpf/y")
    assert pinning.pinned_paths(m) == [str(root / "x"), str(root / "y")]
    fd = fd_table.install(m)
    bpf_map_unpin(fd)
    assert not (root / "x").exists() and not (root / "y").exists()
    assert pinning.pinned_paths(m) == []
    with pytest.raises(LibbpfError) as e:
        bpf_map_unpin(fd)
    assert e.value.errno == errno.ENOENT


# ---- errors ----

def test_pin_over_an_existing_file_is_eexist(root: Path) -> None:
    fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "a", 4, 8, 1)
    other = bpf_map_create(BPF_MAP_TYPE_ARRAY, "b", 4, 8, 1)
    bpf_obj_pin(fd, "/sys/fs/bpf/a")
    for f in (fd, other):
        with pytest.raises(LibbpfError) as e:
            bpf_obj_pin(f, "/sys/fs/bpf/a")
        assert e.value.errno == errno.EEXIST
        assert "/sys/fs/bpf/a" in str(e.value)
    with pytest.raises(LibbpfError) as e:
        bpf_obj_pin(other, "/sys/fs/bpf")  # the root itself
    assert e.value.errno == errno.EEXIST
    assert sorted(p.name for p in root.iterdir()) == ["a"]


def test_get_of_a_missing_path_is_enoent(root: Path) -> None:
    for path in ("/sys/fs/bpf/none", "/sys/fs/bpf/no/dir/none"):
        with pytest.raises(LibbpfError) as e:
            bpf_obj_get(path)
        assert e.value.errno == errno.ENOENT
        assert path in str(e.value)


def test_get_of_a_directory(root: Path) -> None:
    (root / "d").mkdir(parents=True)
    with pytest.raises(LibbpfError) as e:
        bpf_obj_get("/sys/fs/bpf/d")
    assert e.value.errno == errno.EPERM


def test_bad_fds(root: Path) -> None:
    with pytest.raises(LibbpfError) as e:
        bpf_obj_pin(999, "/sys/fs/bpf/x")
    assert e.value.errno == errno.EBADF
    assert not (root / "x").exists()


@pytest.mark.parametrize("content", [b"", b"not a map", b"\x7fELF" + bytes(200),
                                     bytes(4096)])
def test_foreign_files_are_refused(root: Path, content: bytes) -> None:
    root.mkdir()
    (root / "foreign").write_bytes(content)
    with pytest.raises(LibbpfError) as e:
        bpf_obj_get("/sys/fs/bpf/foreign")
    assert e.value.errno == errno.EINVAL
    assert "not a pinned map" in str(e.value)


def patched(root: Path, offset: int, fmt: str, value: int) -> None:
    m = create_map(BPF_MAP_TYPE_HASH, "h", 4, 8, 16)
    m.update(u32(1), u64(1))
    pinning.pin_map(m, "/sys/fs/bpf/h")
    dst = fresh_copy(root, "h", "patched")
    with open(dst, "r+b") as f:
        f.seek(offset)
        f.write(struct.pack(fmt, value))


def test_newer_format_version_is_refused(root: Path) -> None:
    patched(root, 4, "=I", pinning.FORMAT_VERSION + 1)
    with pytest.raises(LibbpfError) as e:
        bpf_obj_get("/sys/fs/bpf/patched")
    assert e.value.errno == errno.EINVAL
    assert "newer" in str(e.value) and "version 2" in str(e.value)


def test_older_unknown_format_version_is_refused(root: Path) -> None:
    patched(root, 4, "=I", 0)
    with pytest.raises(LibbpfError) as e:
        bpf_obj_get("/sys/fs/bpf/patched")
    assert e.value.errno == errno.EINVAL
    assert "not supported" in str(e.value)


@pytest.mark.parametrize("offset, value", [
    (8, 99),          # map_type unknown
    (20, 1 << 20),    # max_entries: the layout no longer fits the file
    (12, 0),          # key_size 0 for a hash map
    (32, 3),          # ncpus on a map that has one slot
    (56, 7),          # nbuckets (hash layout)
])
def test_inconsistent_headers_are_refused(root: Path, offset: int, value: int) -> None:
    patched(root, offset, "=I", value)
    with pytest.raises(LibbpfError) as e:
        bpf_obj_get("/sys/fs/bpf/patched")
    assert e.value.errno == errno.EINVAL


def test_truncated_file_is_refused(root: Path) -> None:
    m = create_map(BPF_MAP_TYPE_ARRAY, "a", 4, 8, 1000)
    pinning.pin_map(m, "/sys/fs/bpf/a")
    dst = fresh_copy(root, "a", "short")
    os.truncate(dst, dst.stat().st_size - 8)
    with pytest.raises(LibbpfError) as e:
        bpf_obj_get("/sys/fs/bpf/short")
    assert e.value.errno == errno.EINVAL


def test_a_copy_of_a_pinned_file_is_a_separate_map(root: Path) -> None:
    m = create_map(BPF_MAP_TYPE_ARRAY, "a", 4, 8, 4)
    m.update(u32(0), u64(1))
    pinning.pin_map(m, "/sys/fs/bpf/a")
    fresh_copy(root, "a", "copy")
    c = pinning.open_pinned("/sys/fs/bpf/copy")
    assert c is not m and c.lookup(u32(0)) == u64(1)
    c.update(u32(0), u64(2))
    assert m.lookup(u32(0)) == u64(1)


# ---- LIBBPF_PIN_BY_NAME reuse ----

def test_reuse_when_compatible(root: Path) -> None:
    assert pinning.open_pinned_if_compatible("/sys/fs/bpf/r", BPF_MAP_TYPE_HASH, 4, 8, 16,
                                             0) is None
    m = create_map(BPF_MAP_TYPE_HASH, "r", 4, 8, 16)
    m.update(u32(3), u64(3))
    pinning.pin_map(m, "/sys/fs/bpf/r")
    pinning._by_inode.clear()
    again = pinning.open_pinned_if_compatible("/sys/fs/bpf/r", BPF_MAP_TYPE_HASH, 4, 8, 16, 0)
    assert again is not None and again.lookup(u32(3)) == u64(3)


def test_reuse_with_no_common_lru_rounding(root: Path) -> None:
    n = num_possible_cpus()
    m = create_map(BPF_MAP_TYPE_LRU_HASH, "l", 4, 8, n + 1, BPF_F_NO_COMMON_LRU)
    pinning.pin_map(m, "/sys/fs/bpf/l")
    assert pinning.open_pinned_if_compatible("/sys/fs/bpf/l", BPF_MAP_TYPE_LRU_HASH, 4, 8,
                                             n + 1, BPF_F_NO_COMMON_LRU) is m


@pytest.mark.parametrize("field, args", [
    ("map_type", (BPF_MAP_TYPE_ARRAY, 4, 8, 16, 0)),
    ("key_size", (BPF_MAP_TYPE_HASH, 8, 8, 16, 0)),
    ("value_size", (BPF_MAP_TYPE_HASH, 4, 16, 16, 0)),
    ("max_entries", (BPF_MAP_TYPE_HASH, 4, 8, 32, 0)),
    ("map_flags", (BPF_MAP_TYPE_HASH, 4, 8, 16, 1)),
])
def test_reuse_refuses_a_different_shape(root: Path, field: str,
                                         args: tuple[int, int, int, int, int]) -> None:
    opts = bpf_map_create_opts()
    fd = bpf_map_create(BPF_MAP_TYPE_HASH, "r", 4, 8, 16, opts)
    bpf_obj_pin(fd, "/sys/fs/bpf/r")
    with pytest.raises(LibbpfError) as e:
        pinning.open_pinned_if_compatible("/sys/fs/bpf/r", *args)
    assert e.value.errno == errno.EINVAL
    assert field in str(e.value) and "/sys/fs/bpf/r" in str(e.value)


def test_pin_by_name_paths(root: Path) -> None:
    assert pinning.pin_path_for("counts") == "/sys/fs/bpf/counts"
    assert pinning.pin_path_for("counts", "/sys/fs/bpf/tool/") == "/sys/fs/bpf/tool/counts"
    for bad in ("", "a/b", ".."):
        with pytest.raises(LibbpfError) as e:
            pinning.pin_path_for(bad)
        assert e.value.errno == errno.EINVAL
    with pytest.raises(LibbpfError) as e:
        pinning.pin_path_for("m", "/sys/fs/bpf/" + "d" * 5000)
    assert e.value.errno == errno.ENAMETOOLONG
    # the path found by name reaches the same map from a later "object"
    m = create_map(BPF_MAP_TYPE_HASH, "counts", 4, 8, 16)
    pinning.pin_map(m, pinning.pin_path_for("counts", "/sys/fs/bpf/tool"))
    assert pinning.open_pinned_if_compatible(pinning.pin_path_for("counts", "/sys/fs/bpf/tool"),
                                             BPF_MAP_TYPE_HASH, 4, 8, 16, 0) is m


def test_maps_holding_process_local_references_cannot_be_pinned(root: Path) -> None:
    """A program array's values are this process's programs: sharing the
    region would hand another process meaningless references."""
    try:
        m = create_map(3, "progs", 4, 4, 4)   # BPF_MAP_TYPE_PROG_ARRAY
    except LibbpfError:
        pytest.skip("PROG_ARRAY not in this build")
    with pytest.raises(LibbpfError) as e:
        pinning.pin_map(m, "/sys/fs/bpf/progs")
    assert e.value.errno == errno.EOPNOTSUPP
    assert "PROG_ARRAY" in str(e.value)
    assert list(root.iterdir()) == []   # no file, no temporary left behind
