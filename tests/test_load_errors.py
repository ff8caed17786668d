"""bpf_object__load refusing bad input: each error a LibbpfError with libbpf's
errno, and the object left unloaded with nothing created."""

from __future__ import annotations

import errno
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from libbpf_compat import libbpf_object as lb
from libbpf_compat.errors import LibbpfError
from libbpf_compat.libbpf_maps import bpf_map_lookup_elem
from libbpf_compat.mapstore import fd_table
from libbpf_compat.object import BpfObject, bpf_object_open_opts
from libbpf_compat.test_run import bpf_prog_test_run_opts, bpf_test_run_opts

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(autouse=True)
def quiet() -> Iterator[None]:
    previous = lb.libbpf_set_print(lambda level, text: None)
    yield
    lb.libbpf_set_print(previous)


def refused(obj: BpfObject, err: int, *words: str) -> LibbpfError:
    """Load must fail with ``err`` naming ``words``, creating nothing."""
    before = len(fd_table)
    with pytest.raises(LibbpfError) as exc:
        lb.bpf_object__load(obj)
    assert exc.value.errno == err, exc.value
    for word in words:
        assert word in str(exc.value), (word, str(exc.value))
    assert not obj.loaded
    assert len(fd_table) == before
    assert all(m.fd == -1 and m.native is None for m in obj.maps)
    assert all(p.fd == -1 and p.vm is None for p in obj.programs)
    return exc.value


def test_unknown_helper() -> None:
    obj = lb.bpf_object__open_file(FIXTURES / "load" / "bad_helper.o")
    refused(obj, errno.EINVAL, "calls_unknown", "instruction 1", "9999")
    # the object can still be loaded without the bad program
    bad = obj.find_program_by_name("calls_unknown")
    assert bad is not None
    lb.bpf_program__set_autoload(bad, False)
    obj.load()
    good = obj.find_program_by_name("good")
    assert good is not None and good.vm is not None and good.vm.run(None) == 1
    obj.close()


def test_unknown_windows_helper() -> None:
    obj = lb.bpf_object__open_file(FIXTURES / "load" / "bad_helper.o",
                                   bpf_object_open_opts(abi="windows"))
    refused(obj, errno.EINVAL, "calls_unknown", "windows helper 9999")


def test_missing_kconfig_value() -> None:
    obj = lb.bpf_object__open_file(FIXTURES / "objects" / "globals.o")
    refused(obj, errno.ESRCH, "CONFIG_HZ")


def test_unprovided_ksym() -> None:
    obj = lb.bpf_object__open_file(FIXTURES / "objects" / "ksyms.o")
    refused(obj, errno.ESRCH, "extern")


def test_map_the_store_refuses_then_fixed() -> None:
    obj = lb.bpf_object__open_file(FIXTURES / "load" / "counter.linux.o")
    totals = obj.find_map_by_name("totals")
    assert totals is not None
    lb.bpf_map__set_max_entries(totals, 0)
    refused(obj, errno.EINVAL, "totals", "max_entries")
    lb.bpf_map__set_max_entries(totals, 64)  # still settable: the object is not loaded
    obj.load()
    assert obj.loaded and totals.native is not None
    obj.close()


def test_prog_array_and_maps_of_maps_are_filled_from_values() -> None:
    """btf_maps.o: outer_array's .values put inner_a in slot 0 and inner_b in
    slot 2; jumps holds tail_one in slot 1, which entry tail-calls."""
    obj = lb.bpf_object__open_file(FIXTURES / "objects" / "btf_maps.o")
    obj.load()
    outer = lb.bpf_object__find_map_fd_by_name(obj, "outer_array")
    ids = {name: fd_table.get_map(lb.bpf_object__find_map_fd_by_name(obj, name)).id
           for name in ("inner_a", "inner_b")}
    def key(i: int) -> bytes:
        return struct.pack("<I", i)

    assert bpf_map_lookup_elem(outer, key(0)) == struct.pack("<I", ids["inner_a"])
    assert bpf_map_lookup_elem(outer, key(2)) == struct.pack("<I", ids["inner_b"])
    with pytest.raises(LibbpfError):
        bpf_map_lookup_elem(outer, key(1))
    entry = obj.find_program_by_name("entry")
    assert entry is not None
    opts = bpf_test_run_opts(data_in=bytes(64))
    bpf_prog_test_run_opts(lb.bpf_program__fd(entry), opts)
    assert opts.retval == 1                     # tail_one ran
    obj.close()


def test_missing_custom_btf() -> None:
    obj = lb.bpf_object__open_file(
        FIXTURES / "btf" / "core_local.bpf.o",
        bpf_object_open_opts(btf_custom_path=str(FIXTURES / "btf" / "no_such_file.btf")))
    refused(obj, errno.ENOENT, "btf_custom_path")


def test_ambiguous_core_relocation() -> None:
    obj = lb.bpf_object__open_file(
        FIXTURES / "btf" / "core_local.bpf.o",
        bpf_object_open_opts(btf_custom_path=str(FIXTURES / "btf" / "core_ambiguous.bpf.o")))
    refused(obj, errno.EINVAL, "CO-RE relocation", "ambiguity")


def test_closed_object() -> None:
    obj = lb.bpf_object__open_file(FIXTURES / "load" / "counter.linux.o")
    lb.bpf_object__close(obj)
    refused(obj, errno.EINVAL, "closed")


def test_the_error_is_printed_as_a_warning() -> None:
    messages: list[tuple[int, str]] = []
    previous = lb.libbpf_set_print(lambda level, text: messages.append((level, text)))
    try:
        obj = lb.bpf_object__open_file(FIXTURES / "objects" / "globals.o")
        refused(obj, errno.ESRCH, "CONFIG_HZ")
    finally:
        lb.libbpf_set_print(previous)
    assert any(level == lb.LIBBPF_WARN and "globals" in text and "CONFIG_HZ" in text
               for level, text in messages)


def test_loaded_programs_run_bounds_checked() -> None:
    """Until the verifier exists, a loaded program's wild access ends its run
    with EFAULT instead of touching the host's memory."""
    from libbpf_compat import isa
    from libbpf_compat.loader import ProgramVm
    from libbpf_compat.vm import VmError

    vm = ProgramVm(isa.assemble("lddw %r1, 0x1000\nldxdw %r0, [%r1]\nexit"), ())
    assert vm.bounds_check
    with pytest.raises(VmError) as info:
        vm.run()
    assert info.value.errno == errno.EFAULT and info.value.pc == 2
