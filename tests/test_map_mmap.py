"""BPF_F_MMAPABLE arrays: ``NativeMap.mmap()`` is the array's value area as
Linux's mmap of the map lays it out (max_entries values, each rounded up to
8 bytes); writes through it are the map's values for lookups and programs
and the other way round; the view keeps the map alive; internal ``.bss`` and
``.data`` maps of a loaded object expose it."""

from __future__ import annotations

import errno
import gc
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from libbpf_compat import isa
from libbpf_compat import libbpf_object as lb
from libbpf_compat.errors import LibbpfError
from libbpf_compat.helpers import helper_by_name
from libbpf_compat.helpers.native import register_c_helpers
from libbpf_compat.libbpf_maps import (
    bpf_map_create,
    bpf_map_create_opts,
    bpf_map_freeze,
    bpf_map_lookup_elem,
    bpf_map_update_elem,
)
from libbpf_compat.mapstore import create_map, fd_table, map_by_id
from libbpf_compat.object import BpfObject, ObjectMap, bpf_object_open_opts
from libbpf_compat.pinning import PIN_ROOT_ENV, open_pinned, pin_map
from libbpf_compat.uapi import (
    BPF_F_MMAPABLE,
    BPF_F_RDONLY_PROG,
    BPF_MAP_TYPE_ARRAY,
    BPF_MAP_TYPE_HASH,
    BPF_MAP_TYPE_PERCPU_ARRAY,
)
from libbpf_compat.vm import Vm

OBJECTS = Path(__file__).parent / "fixtures" / "objects"
KCONFIG = "CONFIG_HZ=250\nLINUX_KERNEL_VERSION=0x50a00\n"


def key(i: int) -> bytes:
    return struct.pack("<I", i)


def mmapable(name: str, value_size: int, max_entries: int, extra: int = 0) -> int:
    return bpf_map_create(BPF_MAP_TYPE_ARRAY, name, 4, value_size, max_entries,
                          bpf_map_create_opts(map_flags=BPF_F_MMAPABLE | extra))


def hid(name: str) -> int:
    helper = helper_by_name(name)
    assert helper is not None
    return helper.internal


def add_program(map_addr: int) -> Vm:
    """key = mem[0:4], add = mem[8:16]: value[key] (a u64) += add with an
    atomic add through the pointer map_lookup_elem returns; returns the new
    value (-1 when the key is out of range)."""
    vm = Vm(isa.assemble(f"""
        mov %r6, %r1
        lddw %r1, {map_addr:#x}
        mov %r2, %r6
        call {hid('map_lookup_elem')}
        jeq %r0, 0, missing
        ldxdw %r1, [%r6+8]
        lock add [%r0], %r1
        ldxdw %r0, [%r0]
        exit
    missing:
        mov %r0, -1
        exit
    """))
    register_c_helpers(vm)
    return vm


def request(index: int, add: int) -> bytes:
    return struct.pack("<I4xQ", index, add)


def test_view_is_the_value_area_in_linux_layout() -> None:
    fd = mmapable("mm_layout", 12, 5)
    view = fd_table.get_map(fd).mmap()
    assert isinstance(view, memoryview) and not view.readonly
    assert len(view) == 5 * 16  # value_size 12 rounded up to 8 bytes
    bpf_map_update_elem(fd, key(2), b"abcdefghijkl")
    assert bytes(view[32:44]) == b"abcdefghijkl"
    assert bytes(view[44:48]) == bytes(4)  # the padding stays zero
    assert bytes(view[:32]) == bytes(32) and bytes(view[48:]) == bytes(32)
    view[64:76] = b"from the map"
    assert bpf_map_lookup_elem(fd, key(4)) == b"from the map"
    assert bpf_map_lookup_elem(fd, key(0)) == bytes(12)


def test_programs_and_the_view_see_each_other() -> None:
    fd = mmapable("mm_prog", 8, 4)
    m = fd_table.get_map(fd)
    view = m.mmap()
    u64 = view.cast("Q")
    vm = add_program(m.native_address)
    assert vm.run(request(1, 5)) == 5
    assert u64[1] == 5  # the program's atomic add is in the view
    u64[1] = 1000       # a user-space write is what the program reads next
    assert vm.run(request(1, 1)) == 1001
    assert vm.run(request(3, 7)) == 7
    assert list(u64) == [0, 1001, 0, 7]
    assert vm.run(request(4, 1)) == (1 << 64) - 1  # out of range: lookup gave NULL
    u64.release()


def test_view_keeps_the_map_alive() -> None:
    m = create_map(BPF_MAP_TYPE_ARRAY, "mm_alive", 4, 8, 2, BPF_F_MMAPABLE)
    map_id = m.id
    view = m.mmap()
    m.update(key(0), struct.pack("<Q", 77))
    del m
    gc.collect()
    kept = map_by_id(map_id)
    assert kept is not None  # the view still holds the map
    assert struct.unpack_from("<Q", view) == (77,)
    view[8:16] = struct.pack("<Q", 88)
    assert kept.lookup(key(1)) == struct.pack("<Q", 88)
    del kept
    view.release()
    del view
    gc.collect()
    assert map_by_id(map_id) is None  # freed once the view is gone


def test_closing_the_fd_leaves_the_view_usable() -> None:
    fd = mmapable("mm_fd", 4, 3)
    view = fd_table.get_map(fd).mmap()
    fd_table.close(fd)
    gc.collect()
    view[8:12] = b"\x01\x02\x03\x04"
    assert bytes(view) == bytes(8) + b"\x01\x02\x03\x04" + bytes(12)


@pytest.mark.parametrize(("map_type", "flags", "name"), [
    (BPF_MAP_TYPE_ARRAY, 0, "plain_array"),
    (BPF_MAP_TYPE_HASH, 0, "some_hash"),
    (BPF_MAP_TYPE_PERCPU_ARRAY, 0, "pcpu_array"),
])
def test_other_maps_are_einval_naming_the_map(map_type: int, flags: int, name: str) -> None:
    m = create_map(map_type, name, 4, 8, 4, flags)
    for writable in (True, False):
        with pytest.raises(LibbpfError) as exc:
            m.mmap(writable)
        assert exc.value.errno == errno.EINVAL
        assert name in str(exc.value) and "BPF_F_MMAPABLE" in str(exc.value)


def test_mmapable_is_array_only_at_creation() -> None:
    for map_type in (BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_PERCPU_ARRAY):
        with pytest.raises(LibbpfError) as exc:
            create_map(map_type, "not_mm", 4, 8, 4, BPF_F_MMAPABLE)
        assert exc.value.errno == errno.EINVAL


def test_frozen_and_read_only_for_programs_give_read_only_views() -> None:
    fd = mmapable("mm_frozen", 8, 2)
    m = fd_table.get_map(fd)
    bpf_map_update_elem(fd, key(1), struct.pack("<Q", 9))
    bpf_map_freeze(fd)
    with pytest.raises(LibbpfError) as exc:
        m.mmap()
    assert exc.value.errno == errno.EPERM and "mm_frozen" in str(exc.value)
    ro = m.mmap(writable=False)
    assert ro.readonly and struct.unpack_from("<Q", ro, 8) == (9,)
    with pytest.raises(TypeError):
        ro[0] = 1

    busy = fd_table.get_map(mmapable("mm_busy", 8, 2))
    view = busy.mmap().cast("Q")  # a writable view blocks freezing, as in Linux
    with pytest.raises(LibbpfError) as exc:
        busy.freeze()
    assert exc.value.errno == errno.EBUSY and "mm_busy" in str(exc.value)
    view[0] = 1
    view.release()
    gc.collect()
    busy.freeze()  # the view is gone
    assert busy.lookup(key(0)) == struct.pack("<Q", 1)

    rd = fd_table.get_map(mmapable("mm_rdonly", 8, 2, BPF_F_RDONLY_PROG))
    with pytest.raises(LibbpfError) as exc:
        rd.mmap()
    assert exc.value.errno == errno.EACCES and "mm_rdonly" in str(exc.value)
    assert rd.mmap(writable=False).readonly


def test_view_survives_pinning_and_is_shared_with_the_pinned_map(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PIN_ROOT_ENV, str(tmp_path / "bpffs"))
    m = create_map(BPF_MAP_TYPE_ARRAY, "mm_pinned", 4, 8, 4, BPF_F_MMAPABLE)
    view = m.mmap().cast("Q")
    view[0] = 11
    pin_map(m, "/sys/fs/bpf/mm_pinned")  # the region moves into the pin file
    assert view[0] == 11
    view[2] = 22
    other = open_pinned(str(tmp_path / "bpffs" / "mm_pinned"))
    assert other.lookup(key(2)) == struct.pack("<Q", 22)
    assert (tmp_path / "bpffs" / "mm_pinned").read_bytes().count(struct.pack("<Q", 22)) == 1
    view.release()


# -- the object layer: .bss / .data / .rodata ----------------------------------
@pytest.fixture()
def globals_obj() -> Iterator[BpfObject]:
    previous = lb.libbpf_set_print(lambda level, text: None)
    obj = lb.bpf_object__open_file(OBJECTS / "globals.o", bpf_object_open_opts(kconfig=KCONFIG))
    yield obj
    obj.close()
    lb.libbpf_set_print(previous)


def internal(obj: BpfObject, section: str) -> ObjectMap:
    found = [m for m in obj.maps if m.definition.section_name == section]
    assert len(found) == 1, section
    return found[0]


def test_internal_maps_expose_their_memory(globals_obj: BpfObject) -> None:
    obj = globals_obj
    bss = internal(obj, ".bss")
    with pytest.raises(LibbpfError) as exc:
        bss.mmap()  # not created yet
    assert exc.value.errno == errno.ENOENT
    obj.load()
    prog = obj.find_program_by_name("read_globals")
    assert prog is not None and prog.vm is not None
    bss_view = bss.mmap()
    data_view = internal(obj, ".data").mmap()
    assert bss.map_flags & BPF_F_MMAPABLE and not bss_view.readonly
    assert len(bss_view) == 8 and len(data_view) == 8  # value_size 4 rounded up to 8
    assert prog.vm.run(None) == 0x50A00 + 250  # counter = 7 + table[2] = 10 <= limit
    assert struct.unpack_from("<Q", bss_view) == (1,)  # hits++
    assert struct.unpack_from("<i", data_view) == (10,)
    # writes through the views are what the program reads
    struct.pack_into("<i", data_view, 0, 500)  # counter 500 + 3 > limit 100
    assert prog.vm.run(None) == 0xBEEF
    assert struct.unpack_from("<Q", bss_view) == (2,)
    assert struct.unpack_from("<i", data_view) == (503,)
    rodata = internal(obj, ".rodata").mmap()  # frozen, read-only for programs
    assert rodata.readonly and struct.unpack_from("<I", rodata) == (100,)
