"""Pinning from the object layer, with libbpf's semantics: maps whose BTF
definition says ``pinning = LIBBPF_PIN_BY_NAME`` are pinned at load at
``<pin_root_path>/<map name>`` and a later object (in this process or
another) reuses the pinned map instead of creating one; an incompatible
pinned map fails the load with EINVAL naming the map and nothing is
created; ``bpf_map__set_pin_path``, ``bpf_map__pin`` / ``__unpin`` /
``__is_pinned`` and ``bpf_object__pin_maps`` / ``__unpin_maps``. Every test
has its own pin root (LIBBPF_COMPAT_PIN_ROOT), passed on to child processes."""

from __future__ import annotations

import errno
import os
import struct
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import libbpf_compat
from libbpf_compat import libbpf as lb
from libbpf_compat import pinning
from libbpf_compat.errors import LibbpfError
from libbpf_compat.libbpf_maps import close
from libbpf_compat.mapstore import fd_table
from libbpf_compat.object import BpfObject, ObjectMap, bpf_object_open_opts
from libbpf_compat.uapi import BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_HASH

PINNED_O = Path(__file__).parent / "fixtures" / "pin" / "pinned.o"
PACKAGE_PARENT = Path(libbpf_compat.__file__).resolve().parent.parent


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    r = tmp_path / "bpffs"
    monkeypatch.setenv(pinning.PIN_ROOT_ENV, str(r))
    previous = lb.libbpf_set_print(lambda level, text: None)
    yield r
    lb.libbpf_set_print(previous)


def key(i: int) -> bytes:
    return struct.pack("<I", i)


def u64(v: int) -> bytes:
    return struct.pack("<Q", v)


def request(k: int, add: int) -> bytearray:
    return bytearray(struct.pack("<IIQ", k, 0, add))


def open_pinned_obj(pin_root_path: str | None = None) -> BpfObject:
    # 'count' is run on a struct request, not a tc context: verification off, the VM's
    # bounds checks on
    return lb.bpf_object__open_file(PINNED_O, bpf_object_open_opts(pin_root_path=pin_root_path,
                                                                   verify=False))


def find(obj: BpfObject, name: str) -> ObjectMap:
    m = lb.bpf_object__find_map_by_name(obj, name)
    assert m is not None
    return m


def run(obj: BpfObject, k: int, add: int) -> int:
    prog = lb.bpf_object__find_program_by_name(obj, "count")
    assert prog is not None and prog.vm is not None
    return prog.vm.run(request(k, add))


def files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_pin_by_name_pins_at_load_and_a_second_object_reuses(root: Path) -> None:
    first = open_pinned_obj()
    assert find(first, "pin_counts").pin_path == "/sys/fs/bpf/pin_counts"
    assert not lb.bpf_map__is_pinned(find(first, "pin_counts"))
    lb.bpf_object__load(first)
    assert files(root) == {"pin_counts", "pin_seen"}  # scratch has no pinning
    assert lb.bpf_map__is_pinned(find(first, "pin_counts"))
    assert lb.bpf_map__is_pinned(find(first, "pin_seen"))
    assert not lb.bpf_map__is_pinned(find(first, "scratch"))
    assert run(first, 1, 5) == 5

    second = open_pinned_obj()
    lb.bpf_object__load(second)
    assert lb.bpf_map__is_pinned(find(second, "pin_counts"))
    assert files(root) == {"pin_counts", "pin_seen"}
    # the second object's map is the first's: data goes both ways
    assert lb.bpf_map__lookup_elem(find(second, "pin_counts"), key(1), 4, 8) == u64(5)
    lb.bpf_map__update_elem(find(second, "pin_counts"), key(2), 4, u64(40), 8)
    assert lb.bpf_map_lookup_elem(lb.bpf_map__fd(find(first, "pin_counts")), key(2)) == u64(40)
    assert run(second, 1, 2) == 7
    assert run(first, 2, 2) == 42
    assert lb.bpf_map__lookup_elem(find(first, "pin_seen"), key(1), 4, 8) == u64(2)
    # the map without pinning is each object's own
    assert lb.bpf_map__lookup_elem(find(first, "scratch"), key(0), 4, 8) == u64(2)
    assert lb.bpf_map__lookup_elem(find(second, "scratch"), key(0), 4, 8) == u64(1)
    lb.bpf_object__close(first)
    lb.bpf_object__close(second)
    # closing leaves the pins (as libbpf): a third object still sees the data
    with open_pinned_obj() as third:
        third.load()
        assert lb.bpf_map__lookup_elem(find(third, "pin_counts"), key(1), 4, 8) == u64(7)


def test_pin_root_path_option(root: Path) -> None:
    with open_pinned_obj("/sys/fs/bpf/tool") as obj:
        assert find(obj, "pin_seen").pin_path == "/sys/fs/bpf/tool/pin_seen"
        obj.load()
        assert files(root) == {"tool/pin_counts", "tool/pin_seen"}
        assert oct((root / "tool").stat().st_mode & 0o777) == oct(0o700)
    with open_pinned_obj(str(root / "tool")) as again:  # the same place, as a real path
        again.load()
        lb.bpf_map__update_elem(find(again, "pin_counts"), key(3), 4, u64(9), 8)
    fd = lb.bpf_obj_get("/sys/fs/bpf/tool/pin_counts")
    assert lb.bpf_map_lookup_elem(fd, key(3)) == u64(9)
    close(fd)


CHILD = textwrap.dedent("""\
    import struct, sys
    from libbpf_compat import libbpf as lb
    from libbpf_compat.object import bpf_object_open_opts
    lb.libbpf_set_print(lambda level, text: None)
    obj = lb.bpf_object__open_file(sys.argv[1], bpf_object_open_opts(verify=False))
    lb.bpf_object__load(obj)
    counts = lb.bpf_object__find_map_by_name(obj, "pin_counts")
    seen = lb.bpf_map__lookup_elem(counts, struct.pack("<I", 0), 4, 8)
    prog = lb.bpf_object__find_program_by_name(obj, "count")
    total = prog.vm.run(bytearray(struct.pack("<IIQ", 0, 0, 100)))
    print(struct.unpack("<Q", seen)[0], total, lb.bpf_map__is_pinned(counts))
""")


def test_a_second_process_loading_the_object_shares_the_maps(root: Path) -> None:
    with open_pinned_obj() as obj:
        obj.load()
        assert run(obj, 0, 11) == 11
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            [str(PACKAGE_PARENT), os.environ.get("PYTHONPATH", "")]))
        out = subprocess.run([sys.executable, "-c", CHILD, str(PINNED_O)], env=env,
                             capture_output=True, text=True, timeout=120, check=True)
        assert out.stdout.split() == ["11", "111", "True"]
        # the child's program run is in this process's map
        assert lb.bpf_map__lookup_elem(find(obj, "pin_counts"), key(0), 4, 8) == u64(111)
        assert lb.bpf_map__lookup_elem(find(obj, "pin_seen"), key(0), 4, 8) == u64(100)
        assert run(obj, 0, 1) == 112


@pytest.mark.parametrize(("map_type", "value_size", "max_entries", "what"), [
    (BPF_MAP_TYPE_HASH, 4, 16, "value_size"),
    (BPF_MAP_TYPE_HASH, 8, 32, "max_entries"),
    (BPF_MAP_TYPE_ARRAY, 8, 16, "map_type"),
])
def test_incompatible_pinned_map_fails_the_load(root: Path, map_type: int, value_size: int,
                                                max_entries: int, what: str) -> None:
    fd = lb.bpf_map_create(map_type, "other", 4, value_size, max_entries)
    lb.bpf_obj_pin(fd, "/sys/fs/bpf/pin_seen")
    close(fd)
    before = len(fd_table)
    obj = open_pinned_obj()
    with pytest.raises(LibbpfError) as exc:
        lb.bpf_object__load(obj)
    assert exc.value.errno == errno.EINVAL
    assert "pin_seen" in str(exc.value) and what in str(exc.value)
    # nothing created: no pin for pin_counts, no fds, the object not loaded
    assert files(root) == {"pin_seen"}
    assert len(fd_table) == before
    assert not obj.loaded
    with pytest.raises(LibbpfError) as exc:
        lb.bpf_map__fd(find(obj, "pin_counts"))
    assert exc.value.errno == errno.ENOENT
    assert not lb.bpf_map__is_pinned(find(obj, "pin_counts"))
    obj.close()


def test_set_pin_path_before_load(root: Path) -> None:
    first = open_pinned_obj()
    for name in ("pin_counts", "pin_seen"):
        lb.bpf_map__set_pin_path(find(first, name), None)  # turn LIBBPF_PIN_BY_NAME off
    lb.bpf_map__set_pin_path(find(first, "scratch"), "/sys/fs/bpf/app/scratch")
    lb.bpf_object__load(first)
    assert files(root) == {"app/scratch"}
    assert lb.bpf_map__is_pinned(find(first, "scratch"))
    assert not lb.bpf_map__is_pinned(find(first, "pin_counts"))
    run(first, 0, 1)
    second = open_pinned_obj(str(root / "elsewhere"))
    lb.bpf_map__set_pin_path(find(second, "scratch"), "/sys/fs/bpf/app/scratch")
    lb.bpf_object__load(second)
    assert lb.bpf_map__lookup_elem(find(second, "scratch"), key(0), 4, 8) == u64(1)
    assert files(root) == {"app/scratch", "elsewhere/pin_counts", "elsewhere/pin_seen"}
    first.close()
    second.close()


def test_bpf_map_pin_unpin_and_is_pinned(root: Path) -> None:
    with open_pinned_obj() as obj:
        scratch = find(obj, "scratch")
        with pytest.raises(LibbpfError) as exc:  # not created yet
            lb.bpf_map__pin(scratch, "/sys/fs/bpf/s")
        assert exc.value.errno == errno.EINVAL
        obj.load()
        with pytest.raises(LibbpfError) as exc:  # no path and no pin path
            lb.bpf_map__pin(scratch, None)
        assert exc.value.errno == errno.EINVAL
        with pytest.raises(LibbpfError) as exc:
            lb.bpf_map__unpin(scratch)
        assert exc.value.errno == errno.EINVAL
        lb.bpf_map__pin(scratch, "/sys/fs/bpf/s")
        assert lb.bpf_map__is_pinned(scratch) and lb.bpf_map__pin_path(scratch) == "/sys/fs/bpf/s"
        assert (root / "s").is_file()
        lb.bpf_map__pin(scratch, "/sys/fs/bpf/s")  # already pinned there: nothing to do
        lb.bpf_map__pin(scratch, None)
        with pytest.raises(LibbpfError) as exc:  # a path other than the pin path
            lb.bpf_map__pin(scratch, "/sys/fs/bpf/t")
        assert exc.value.errno == errno.EINVAL
        fd = lb.bpf_obj_get("/sys/fs/bpf/s")
        lb.bpf_map_update_elem(fd, key(0), u64(77))
        assert lb.bpf_map__lookup_elem(scratch, key(0), 4, 8) == u64(77)
        close(fd)
        with pytest.raises(LibbpfError) as exc:
            lb.bpf_map__unpin(scratch, "/sys/fs/bpf/t")
        assert exc.value.errno == errno.EINVAL
        lb.bpf_map__unpin(scratch)
        assert not lb.bpf_map__is_pinned(scratch) and not (root / "s").exists()
        with pytest.raises(LibbpfError) as exc:
            lb.bpf_map__unpin(scratch)
        assert exc.value.errno == errno.ENOENT
        with pytest.raises(LibbpfError) as exc:  # pin_counts has its own pin path
            lb.bpf_map__pin(find(obj, "pin_counts"), "/sys/fs/bpf/elsewhere")
        assert exc.value.errno == errno.EINVAL


def test_pins_stay_inside_the_pin_root(root: Path) -> None:
    with open_pinned_obj() as obj:
        scratch = find(obj, "scratch")
        obj.load()
        with pytest.raises(LibbpfError) as exc:
            lb.bpf_map__pin(scratch, "/tmp/outside-the-pin-root")
        assert exc.value.errno == errno.EPERM and "scratch" in str(exc.value)
        assert not lb.bpf_map__is_pinned(scratch)
        assert not Path("/tmp/outside-the-pin-root").exists()


def test_object_pin_and_unpin_maps(root: Path) -> None:
    obj = open_pinned_obj()
    with pytest.raises(LibbpfError) as exc:
        lb.bpf_object__pin_maps(obj, "/sys/fs/bpf/all")
    assert exc.value.errno == errno.ENOENT  # not loaded
    for m in obj.maps:
        lb.bpf_map__set_pin_path(m, None)
    obj.load()
    assert files(root) == set()
    lb.bpf_object__pin_maps(obj, "/sys/fs/bpf/all")
    assert files(root) == {"all/pin_counts", "all/pin_seen", "all/scratch"}
    assert all(lb.bpf_map__is_pinned(m) for m in obj.maps)
    assert lb.bpf_map__pin_path(find(obj, "scratch")) == "/sys/fs/bpf/all/scratch"
    lb.bpf_object__unpin_maps(obj, "/sys/fs/bpf/all")
    assert files(root) == set()
    assert not any(lb.bpf_map__is_pinned(m) for m in obj.maps)
    lb.bpf_object__pin_maps(obj, None)  # at the pin paths the maps now have
    assert files(root) == {"all/pin_counts", "all/pin_seen", "all/scratch"}
    lb.bpf_object__unpin_maps(obj, None)
    assert files(root) == set()
    obj.close()


def test_pin_maps_failure_unpins_what_it_pinned(root: Path) -> None:
    with open_pinned_obj() as obj:
        for m in obj.maps:
            lb.bpf_map__set_pin_path(m, None)
        obj.load()
        fd = lb.bpf_map_create(BPF_MAP_TYPE_ARRAY, "squatter", 4, 8, 1)
        lb.bpf_obj_pin(fd, "/sys/fs/bpf/all/pin_seen")  # pin_seen comes last
        close(fd)
        with pytest.raises(LibbpfError) as exc:
            lb.bpf_object__pin_maps(obj, "/sys/fs/bpf/all")
        assert exc.value.errno == errno.EEXIST and "pin_seen" in str(exc.value)
        assert files(root) == {"all/pin_seen"}  # the squatter only
        assert not lb.bpf_map__is_pinned(find(obj, "pin_counts"))
