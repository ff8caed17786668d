"""The XDP hook and the link API: the same source built for Linux and for
eBPF for Windows gives the same normalised verdicts and counts on one hook;
attach rules, links' lifetime and bad input."""

from __future__ import annotations

import errno
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from libbpf_compat import libbpf as lb
from libbpf_compat.abi import linux as linux_abi
from libbpf_compat.abi import windows as windows_abi
from libbpf_compat.errors import LibbpfError
from libbpf_compat.hooks.xdp import (
    ABI_VERDICTS,
    XDP_MAX_PACKET,
    XdpHook,
    XdpVerdict,
    default_hook,
    normalise_verdict,
)
from libbpf_compat.links import Link, attach_xdp
from libbpf_compat.mapstore import fd_table
from libbpf_compat.object import BpfObject, Program, prog_by_id

#: every test twice: interpreted, then as machine code (conftest.py)
pytestmark = pytest.mark.usefixtures("vm_mode")

ABI_DIR = Path(__file__).parent / "fixtures" / "abi"
ABIS = ("linux", "windows")
DROPPED = bytes([0xFF]) + bytes(range(1, 60))
PASSED = bytes(range(60))


def load(name: str, abi: str) -> BpfObject:
    obj = lb.bpf_object__open_file(ABI_DIR / f"{name}.{abi}.o")
    obj.load()
    return obj


@pytest.fixture
def objects() -> Iterator[dict[str, BpfObject]]:
    objs = {abi: load("xdp_count", abi) for abi in ABIS}
    yield objs
    for obj in objs.values():
        obj.close()


def program(obj: BpfObject) -> Program:
    prog = obj.programs[0]
    assert prog.vm is not None
    return prog


def counts(obj: BpfObject) -> tuple[int, int]:
    """(passed, dropped) summed over the CPUs."""
    fd = obj.find_map_fd_by_name("verdicts")
    out = []
    for key in (0, 1):
        raw = lb.bpf_map_lookup_elem(fd, struct.pack("<I", key))
        out.append(sum(v for (v,) in struct.iter_unpack("<Q", raw)))
    return out[0], out[1]


def test_hook_verdict_tables_match_the_abi_tables() -> None:
    for abi, table in (("linux", linux_abi.XDP_VERDICTS), ("windows", windows_abi.XDP_VERDICTS)):
        assert {k: v.name.lower() for k, v in ABI_VERDICTS[abi].items()} == table


def test_both_abis_on_one_hook_agree(objects: dict[str, BpfObject]) -> None:
    hook = XdpHook(interfaces=[1, 2])
    links = {abi: attach_xdp(program(objects[abi]), ifindex, hook=hook)
             for abi, ifindex in (("linux", 1), ("windows", 2))}
    assert program(objects["linux"]).abi == "linux"
    assert program(objects["windows"]).abi == "windows"
    traffic = [DROPPED, PASSED, PASSED, DROPPED, PASSED]
    for packet in traffic:
        results = [hook.receive(packet, ifindex) for ifindex in (1, 2)]
        expected = XdpVerdict.DROP if packet[0] == 0xFF else XdpVerdict.PASS
        assert [r.verdict for r in results] == [expected, expected]
        assert all(r.packet == packet for r in results)
    # the raw return values differ (each ABI's own numbering); the verdicts do not
    assert hook.receive(PASSED, 1).retval == 2 and hook.receive(PASSED, 2).retval == 1
    assert counts(objects["linux"]) == counts(objects["windows"]) == (4, 2)
    for link in links.values():
        link.destroy()
    assert hook.receive(DROPPED, 1).verdict is XdpVerdict.PASS
    assert counts(objects["linux"]) == (4, 2)


@pytest.mark.parametrize("abi", ABIS)
def test_return_values_are_read_in_the_programs_abi(abi: str) -> None:
    obj = load("xdp_echo", abi)
    hook = XdpHook()
    with attach_xdp(program(obj), 7, hook=hook):
        for value in range(8):
            packet = bytes([0, value, 40]) + bytes(20)
            result = hook.receive(packet, 7, rx_queue=3)
            assert result.retval == value
            expected = ABI_VERDICTS[abi].get(value, XdpVerdict.ABORTED)
            if expected is XdpVerdict.REDIRECT:  # no redirect helper named a target:
                expected = XdpVerdict.ABORTED    # Linux drops the packet
            assert result.verdict is expected
            assert result.packet == bytes([0, value, 41]) + bytes(20)  # the program's write
    assert normalise_verdict(abi, 0x1_0000_0002) is ABI_VERDICTS[abi].get(2)
    assert normalise_verdict("windows", 0) is XdpVerdict.ABORTED
    assert normalise_verdict("linux", 0) is XdpVerdict.ABORTED
    obj.close()


def test_no_program_passes() -> None:
    hook = XdpHook()
    result = hook.receive(PASSED, 3)
    assert result == type(result)(XdpVerdict.PASS, PASSED, None)


def test_links_attach_once_and_netlink_rules(objects: dict[str, BpfObject]) -> None:
    hook = XdpHook()
    lin, win = program(objects["linux"]), program(objects["windows"])
    link = attach_xdp(lin, 5, hook=hook)
    with pytest.raises(LibbpfError) as info:
        attach_xdp(win, 5, hook=hook)
    assert info.value.errno == errno.EBUSY
    with pytest.raises(LibbpfError) as info:
        hook.attach(win, 5)  # netlink style cannot replace a link either
    assert info.value.errno == errno.EBUSY
    with pytest.raises(LibbpfError) as info:
        hook.detach(5)
    assert info.value.errno == errno.EBUSY
    assert hook.attached(5) is lin
    link.destroy()
    # netlink style: replaces unless UPDATE_IF_NOEXIST; REPLACE checks the old one
    hook.attach(lin, 5)
    with pytest.raises(LibbpfError) as info:
        hook.attach(win, 5, lb.XDP_FLAGS_UPDATE_IF_NOEXIST)
    assert info.value.errno == errno.EBUSY
    with pytest.raises(LibbpfError) as info:
        hook.attach(win, 5, lb.XDP_FLAGS_REPLACE, old_prog=win)
    assert info.value.errno == errno.EEXIST
    hook.attach(win, 5, lb.XDP_FLAGS_REPLACE, old_prog=lin)
    assert hook.attached(5) is win
    with pytest.raises(LibbpfError) as info:
        hook.attach(lin, 5, lb.XDP_FLAGS_SKB_MODE)
    assert info.value.errno == errno.EEXIST
    with pytest.raises(LibbpfError) as info:
        attach_xdp(lin, 5, hook=hook)  # a link over a netlink program
    assert info.value.errno == errno.EBUSY
    hook.attach(lin, 5)
    assert hook.attached(5) is lin
    assert hook.detach(5) and hook.attached(5) is None and not hook.detach(5)


def test_libbpf_calls_on_the_default_hook(objects: dict[str, BpfObject]) -> None:
    ifindex = 4242
    lin, win = program(objects["linux"]), program(objects["windows"])
    assert lb.bpf_xdp_query_id(ifindex, 0) == 0
    link = lb.bpf_program__attach_xdp(lin, ifindex)
    try:
        assert isinstance(link, lb.bpf_link)
        fd = lb.bpf_link__fd(link)
        assert fd_table.get(fd) is link
        assert lin.id > 0 and prog_by_id(lin.id) is lin and win.id not in (0, lin.id)
        assert lb.bpf_xdp_query_id(ifindex, 0) == lin.id
        assert lb.bpf_xdp_query_id(ifindex, lb.XDP_FLAGS_DRV_MODE) == lin.id
        assert lb.bpf_xdp_query_id(ifindex, lb.XDP_FLAGS_SKB_MODE) == 0
        assert default_hook().receive(DROPPED, ifindex).verdict is XdpVerdict.DROP
        with pytest.raises(LibbpfError) as info:
            lb.bpf_program__attach_xdp(win, ifindex)
        assert info.value.errno == errno.EBUSY
        with pytest.raises(LibbpfError) as info:
            lb.bpf_xdp_attach(ifindex, lb.bpf_program__fd(win), 0)
        assert info.value.errno == errno.EBUSY
        # bpf_link__detach: detached, the fd stays until destroy
        lb.bpf_link__detach(link)
        assert lb.bpf_xdp_query_id(ifindex, 0) == 0 and fd_table.get(fd) is link
    finally:
        lb.bpf_link__destroy(link)
    assert fd not in fd_table
    lb.bpf_link__destroy(None)
    # netlink style through bpf_xdp_attach / _detach
    lb.bpf_xdp_attach(ifindex, lb.bpf_program__fd(win), 0)
    assert lb.bpf_xdp_query_id(ifindex, 0) == win.id
    assert default_hook().receive(DROPPED, ifindex).retval == 2  # Windows' XDP_DROP
    with pytest.raises(LibbpfError) as info:
        lb.bpf_xdp_attach(ifindex, lb.bpf_program__fd(lin), lb.XDP_FLAGS_REPLACE,
                          lb.bpf_xdp_attach_opts(old_prog_fd=lb.bpf_program__fd(lin)))
    assert info.value.errno == errno.EEXIST
    lb.bpf_xdp_attach(ifindex, lb.bpf_program__fd(lin), lb.XDP_FLAGS_REPLACE,
                      lb.bpf_xdp_attach_opts(old_prog_fd=lb.bpf_program__fd(win)))
    assert lb.bpf_xdp_query_id(ifindex, 0) == lin.id
    lb.bpf_xdp_detach(ifindex, 0)
    assert lb.bpf_xdp_query_id(ifindex, 0) == 0
    assert default_hook().receive(DROPPED, ifindex).verdict is XdpVerdict.PASS


def test_closing_the_object_detaches_its_links() -> None:
    obj = load("xdp_count", "linux")
    hook = XdpHook()
    link = attach_xdp(program(obj), 9, hook=hook)
    kept = attach_xdp(program(obj), 10, hook=hook)
    lb.bpf_link__disconnect(kept)
    obj.close()
    assert hook.attached(9) is None and link.detached
    # a disconnected link outlives the object, as in libbpf
    assert hook.receive(DROPPED, 10).verdict is XdpVerdict.DROP
    kept.destroy()
    assert hook.attached(10) is not None and kept.fd in fd_table
    hook.detach(10, owner=kept)
    fd_table.close(kept.fd)
    link.destroy()


def test_bpf_program__attach_is_eopnotsupp_for_xdp(objects: dict[str, BpfObject]) -> None:
    with pytest.raises(LibbpfError) as info:
        lb.bpf_program__attach(program(objects["linux"]))
    assert info.value.errno == errno.EOPNOTSUPP
    assert "bpf_program__attach_xdp" in str(info.value)


def test_bad_input(objects: dict[str, BpfObject]) -> None:
    hook = XdpHook(interfaces=[1])
    lin = program(objects["linux"])
    other = lb.bpf_object__open_file(Path(__file__).parent / "fixtures" / "load"
                                     / "counter.linux.o")
    other.load()
    syscall = other.programs[0]
    for attach in (lambda: attach_xdp(syscall, 1, hook=hook),
                   lambda: lb.bpf_xdp_attach(1, lb.bpf_program__fd(syscall), 0)):
        with pytest.raises(LibbpfError) as info:
            attach()
        assert info.value.errno == errno.EINVAL and repr(syscall.name) in str(info.value)
    other.close()
    unloaded = lb.bpf_object__open_file(ABI_DIR / "xdp_count.linux.o")
    with pytest.raises(LibbpfError) as info:
        attach_xdp(unloaded.programs[0], 1, hook=hook)
    assert info.value.errno == errno.EINVAL
    for ifindex in (0, -1, 2, 1 << 31):  # only interface 1 exists on this hook
        with pytest.raises(LibbpfError) as info:
            attach_xdp(lin, ifindex, hook=hook)
        assert info.value.errno == errno.ENODEV
        with pytest.raises(LibbpfError) as info:
            hook.receive(PASSED, ifindex)
        assert info.value.errno == errno.ENODEV
    for flags in (1 << 5, lb.XDP_FLAGS_SKB_MODE | lb.XDP_FLAGS_DRV_MODE):
        with pytest.raises(LibbpfError) as info:
            hook.attach(lin, 1, flags)
        assert info.value.errno == errno.EINVAL
    with pytest.raises(LibbpfError) as info:
        lb.bpf_xdp_attach(1, 99999, 0)
    assert info.value.errno == errno.EBADF
    link = attach_xdp(lin, 1, hook=hook)
    for packet in (bytes(13), bytes(XDP_MAX_PACKET + 1)):
        with pytest.raises(LibbpfError) as info:
            hook.receive(packet, 1)
        assert info.value.errno == errno.EINVAL
    assert hook.receive(bytes(XDP_MAX_PACKET), 1).verdict is XdpVerdict.PASS
    assert counts(objects["linux"]) == (1, 0)  # bad packets never ran the program
    link.destroy()
    assert isinstance(link, Link)
