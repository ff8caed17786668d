"""Python-style skeletons: .rodata set before load, .bss / .data live after
load, programs and maps by name."""

from __future__ import annotations

import errno
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from libbpf_compat import libbpf_object as lb
from libbpf_compat.errors import LibbpfError
from libbpf_compat.libbpf_maps import bpf_map_lookup_elem, bpf_map_update_elem
from libbpf_compat.object import bpf_object_open_opts
from libbpf_compat.skeleton import Skeleton, section_ident

FIXTURES = Path(__file__).parent / "fixtures"
KEY0 = bytes(4)


@pytest.fixture(autouse=True)
def quiet() -> Iterator[None]:
    previous = lb.libbpf_set_print(lambda level, text: None)
    yield
    lb.libbpf_set_print(previous)


def globals_skel() -> Skeleton:
    return Skeleton(lb.bpf_object__open_file(FIXTURES / "objects" / "globals.o",
                                             bpf_object_open_opts(kconfig="CONFIG_HZ=250")))


def test_section_identifiers() -> None:
    assert section_ident(".rodata") == "rodata"
    assert section_ident(".data.custom") == "data_custom"
    assert section_ident(".rodata.str1.1") == "rodata_str1_1"


def test_names_and_initial_values_before_load() -> None:
    skel = globals_skel()
    assert {"data", "rodata", "bss", "data_custom", "rodata_consts", "kconfig"} <= set(dir(skel))
    assert sorted(dir(skel.progs)) == ["read_globals", "use_string"]
    assert skel.progs.read_globals is skel.obj.find_program_by_name("read_globals")
    assert skel.maps.bss is skel.bss.map
    assert (skel.rodata.limit, skel.data.counter, skel.bss.hits) == (100, 7, 0)
    assert skel.data_custom.table == [1, 2, 3, 4]
    assert skel.rodata_consts.magic == 0xBEEF
    assert skel.kconfig.CONFIG_HZ == 250 and skel.kconfig.CONFIG_BPF_SYSCALL is False
    # static variables are not part of the skeleton, as bpftool leaves them out
    assert "message" not in dir(skel.rodata)
    with pytest.raises(AttributeError):
        _ = skel.rodata.nope
    with pytest.raises(AttributeError):
        _ = skel.progs.nope
    with pytest.raises(AttributeError):
        _ = skel.nope


def test_rodata_set_before_load_reaches_the_program() -> None:
    skel = globals_skel()
    skel.rodata.limit = 5
    skel.data_custom.table = [0, 0, 1, 0]
    initial = lb.bpf_map__initial_value(skel.rodata.map)
    assert initial is not None and initial[:4] == struct.pack("<I", 5)
    with pytest.raises(LibbpfError):  # encoded through BTF: a u32 takes no str
        skel.rodata.limit = "many"
    skel.load()
    prog = skel.progs.read_globals
    assert prog.vm is not None
    assert prog.vm.run(None) == 0xBEEF  # counter 7 + table[2] = 8 > limit 5: magic
    assert skel.data.counter == 8
    skel.destroy()


def test_bss_and_data_are_live_after_load() -> None:
    with globals_skel() as skel:
        skel.load()
        prog = skel.progs.read_globals
        assert prog.vm is not None
        prog.vm.run(None)
        assert (skel.bss.hits, skel.data.counter) == (1, 10)
        # a program's writes are seen at once, and the map's value is the same memory
        skel.bss.hits = 41
        skel.data.counter = -100
        fd = lb.bpf_map__fd(skel.bss.map)
        assert bpf_map_lookup_elem(fd, KEY0) == struct.pack("<Q", 41)
        prog.vm.run(None)
        assert skel.bss.hits == 42 and skel.data.counter == -97
        bpf_map_update_elem(fd, KEY0, struct.pack("<Q", 7))
        assert skel.bss.as_dict() == {"hits": 7}
        with pytest.raises(LibbpfError) as exc:
            skel.rodata.limit = 1
        assert exc.value.errno == errno.EPERM
        assert skel.rodata.limit == 100
    with pytest.raises(LibbpfError) as exc:  # destroyed with the skeleton
        _ = skel.bss.hits
    assert exc.value.errno == errno.EINVAL


def test_skeleton_of_the_load_fixture() -> None:
    obj = lb.bpf_object__open_file(FIXTURES / "load" / "counter.linux.o")
    with Skeleton(obj) as skel:
        assert sorted(dir(skel.progs)) == ["add_total", "checksum"]
        assert skel.maps.totals.name == "totals"
        assert skel.data.last_key == 0xFFFF_FFFF
        assert skel.data_history.history == [9, 9, 9, 9]
        skel.rodata.scale = 7
        skel.load()
        prog = skel.progs.checksum
        assert prog.vm is not None
        # csum_diff of the two words (1, 2) seeded with scale
        assert prog.vm.run(bytearray(struct.pack("<IIQ", 1, 2, 0))) == 1 + 2 + 7
        assert skel.bss.calls == 1 and skel.bss.last_ns == 0
