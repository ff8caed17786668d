"""eBPF for Windows' sample extension helpers for SAMPLE programs
(helper_function1, find, replace: program-type-specific IDs 0x10000..2),
Windows' bpf_map_lookup_and_delete_elem, and both refused where they do not
belong."""

from __future__ import annotations

import errno
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from libbpf_compat import isa
from libbpf_compat import libbpf_object as lb
from libbpf_compat.errors import LibbpfError
from libbpf_compat.helpers import helper_by_name, prototype
from libbpf_compat.hooks.registry import sample_hook
from libbpf_compat.libbpf_maps import bpf_map_lookup_elem, bpf_map_update_elem
from libbpf_compat.links import bpf_link__destroy, bpf_program__attach
from libbpf_compat.object import BpfObject
from libbpf_compat.prog_load import bpf_prog_load, bpf_prog_load_opts
from libbpf_compat.test_run import bpf_prog_test_run_opts, bpf_test_run_opts

FIXTURE = Path(__file__).parent / "fixtures" / "hooks" / "sample_helpers.o"
RESULT = struct.Struct("<32sqQ")
NOTHING = (1 << 64) - 1


@pytest.fixture
def obj() -> Iterator[BpfObject]:
    o = lb.bpf_object__open_file(FIXTURE)
    o.load()
    yield o
    o.close()


def result(o: BpfObject) -> tuple[bytes, int, int]:
    raw = bpf_map_lookup_elem(o.find_map_fd_by_name("results"), bytes(4))
    text, pos, taken = RESULT.unpack(raw)
    return text.rstrip(b"\0"), pos, taken


def put(o: BpfObject, key: int, value: int) -> None:
    bpf_map_update_elem(o.find_map_fd_by_name("pending"), struct.pack("<I", key),
                        struct.pack("<Q", value), 0)


def test_helper_ids_and_prototypes() -> None:
    for name, wid in (("sample_ebpf_extension_helper_function1", 0x10000),
                      ("sample_ebpf_extension_find", 0x10001),
                      ("sample_ebpf_extension_replace", 0x10002)):
        h = helper_by_name(name)
        assert h is not None and h.windows == wid and h.windows_prog_type == 999
        assert h.linux is None and prototype(h.internal) is not None
    h = helper_by_name("map_lookup_and_delete_elem")
    assert h is not None and h.windows == 4 and h.linux is None


def test_find_replace_and_lookup_and_delete_through_the_hook(obj: BpfObject) -> None:
    p = obj.find_program_by_name("find_replace")
    assert p is not None
    put(obj, 5, 0xABCDEF)
    link = bpf_program__attach(p)
    try:
        out = sample_hook().invoke({"uint32_data": 5}, data=b"hello, world!")
        assert out.retvals == (0,)
        assert result(obj) == (b"hello, WORLD!", 7, 0xABCDEF)
        # the value was taken out of the map: a second run finds nothing
        assert sample_hook().invoke({"uint32_data": 5}, data=b"world").retvals == (0,)
        assert result(obj) == (b"WORLD", 0, NOTHING)
        with pytest.raises(LibbpfError) as info:
            bpf_map_lookup_elem(obj.find_map_fd_by_name("pending"), struct.pack("<I", 5))
        assert info.value.errno == errno.ENOENT
        # not found: find returns -1, the buffer stays as it was
        assert sample_hook().invoke({"uint32_data": 1}, data=b"worl").retvals == (1,)
        assert result(obj) == (b"worl", -1, NOTHING)
    finally:
        bpf_link__destroy(link)


def test_replace_stops_before_the_last_byte(obj: BpfObject) -> None:
    p = obj.find_program_by_name("find_replace")
    assert p is not None
    text = b"x" * 26 + b"world"  # 31 bytes: the match ends at the buffer's last text byte
    opts = bpf_test_run_opts(data_in=text, ctx_in=struct.pack("<QQIH2xQ", 0, 0, 9, 0, 0))
    bpf_prog_test_run_opts(p.fd, opts)
    assert opts.retval == 0
    assert result(obj) == (b"x" * 26 + b"WORLD", 26, NOTHING)


CALL = """
r1 = 0
*(u64 *)(r10 - 8) = r1
r1 = r10
r1 += -8
r2 = 8
r3 = r10
r3 += -8
r4 = 8
call {id}
r0 = 0
exit
"""


def test_sample_helpers_are_refused_for_other_program_types() -> None:
    code = isa.assemble(CALL.format(id=0x10001), syntax="kernel")
    opts = bpf_prog_load_opts(abi="windows")
    with pytest.raises(LibbpfError) as info:  # Windows XDP has no 0x10001 helper
        bpf_prog_load(1, "find", "GPL", code, len(code) // 8, opts)
    assert info.value.errno == errno.EINVAL
    assert bpf_prog_load(999, "find", "GPL", code, len(code) // 8, opts) >= 0
