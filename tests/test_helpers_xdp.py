"""The XDP packet helpers (bpf_xdp_adjust_head / _tail / _meta) with Linux's
bounds, checked against this machine's kernel through BPF_PROG_TEST_RUN
where it runs the same object; device maps, bpf_redirect_map and
bpf_redirect, and the XDP hook reporting the redirect target."""

from __future__ import annotations

import errno
import os
import re
import shutil
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from libbpf_compat import libbpf_object as lb
from libbpf_compat.errors import LibbpfError
from libbpf_compat.hooks.xdp import XdpHook, XdpVerdict
from libbpf_compat.hooks.xdp_frame import XDP_MAX_PACKET, run_xdp_frame
from libbpf_compat.libbpf_maps import bpf_map_update_elem
from libbpf_compat.links import attach_xdp
from libbpf_compat.mapstore import create_map
from libbpf_compat.object import BpfObject
from libbpf_compat.test_run import bpf_prog_test_run_opts, bpf_test_run_opts
from libbpf_compat.uapi import BpfMapType

#: every test twice: interpreted, then as machine code (conftest.py)
pytestmark = pytest.mark.usefixtures("vm_mode")

FIXTURES = Path(__file__).parent / "fixtures" / "helpers"
ADJUST = FIXTURES / "xdp_adjust.o"
REDIRECT = FIXTURES / "xdp_redirect.o"
HEAD, TAIL, META, META_THEN_HEAD = range(4)
ABORTED, DROP, PASS, TX, REDIRECTED = range(5)


def loaded(path: Path) -> BpfObject:
    obj = lb.bpf_object__open_file(path)
    obj.load()
    return obj


def prog_fd(obj: BpfObject, name: str) -> int:
    prog = obj.find_program_by_name(name)
    assert prog is not None
    return lb.bpf_program__fd(prog)


def adjust_packet(op: int, delta: int, size: int = 64) -> bytes:
    return bytes([op, 0]) + struct.pack("<h", delta) + bytes(i & 0xFF for i in range(4, size))


def ours(fd: int, packet: bytes) -> tuple[int, bytes]:
    opts = bpf_test_run_opts(data_in=packet)
    bpf_prog_test_run_opts(fd, opts)
    assert opts.data_out is not None
    return opts.retval, opts.data_out


@pytest.fixture(scope="module")
def adjust_fd() -> Iterator[int]:
    obj = loaded(ADJUST)
    yield prog_fd(obj, "adjust")
    obj.close()


# (op, delta, packet size) -> (verdict, data_out size); the bounds measured on
# Linux 6.18 (tests below compare with the running kernel as well)
CASES = [
    ((HEAD, -216, 64), (PASS, 280)),       # all the headroom but the xdp_frame's 40 bytes
    ((HEAD, -217, 64), (DROP, 64)),
    ((HEAD, -256, 64), (DROP, 64)),
    ((HEAD, 50, 64), (PASS, 14)),          # down to an Ethernet header
    ((HEAD, 51, 64), (DROP, 64)),
    ((HEAD, -1, 64), (PASS, 65)),
    ((TAIL, -50, 64), (PASS, 14)),
    ((TAIL, -51, 64), (DROP, 64)),
    ((TAIL, 100, 64), (PASS, 164)),
    ((TAIL, XDP_MAX_PACKET - 64, 64), (PASS, XDP_MAX_PACKET)),
    ((TAIL, XDP_MAX_PACKET - 63, 64), (DROP, 64)),
    ((META, -8, 64), (PASS, 72)),
    ((META, -4, 64), (PASS, 68)),
    ((META, -2, 64), (TX, 64)),            # not a multiple of 4: -EACCES
    ((META, -36, 64), (PASS, 100)),
    ((META, -216, 64), (PASS, 280)),
    ((META, -220, 64), (DROP, 64)),        # into the reserved xdp_frame
    ((META, 4, 64), (DROP, 64)),           # past data
    ((META_THEN_HEAD, -208, 64), (PASS, 280)),  # the metadata moves with data
    ((META_THEN_HEAD, -209, 64), (DROP, 72)),
    ((META_THEN_HEAD, 50, 64), (PASS, 22)),
]


@pytest.mark.parametrize(("case", "expected"), CASES)
def test_adjust_bounds(adjust_fd: int, case: tuple[int, int, int],
                       expected: tuple[int, int]) -> None:
    retval, out = ours(adjust_fd, adjust_packet(*case))
    assert (retval, len(out)) == expected


def test_adjust_head_grows_into_zeroed_headroom(adjust_fd: int) -> None:
    packet = adjust_packet(HEAD, -4)
    retval, out = ours(adjust_fd, packet)
    assert retval == PASS
    assert out == b"\xaa" + bytes(3) + packet


def test_adjust_tail_grows_with_zeros_and_shrinks(adjust_fd: int) -> None:
    packet = adjust_packet(TAIL, 6)
    assert ours(adjust_fd, packet) == (PASS, b"\xaa" + packet[1:] + bytes(6))
    packet = adjust_packet(TAIL, -10)
    assert ours(adjust_fd, packet) == (PASS, b"\xaa" + packet[1:-10])


def test_metadata_comes_before_the_packet_in_data_out_and_ctx_out(adjust_fd: int) -> None:
    packet = adjust_packet(META, -8)
    opts = bpf_test_run_opts(data_in=packet, ctx_in=struct.pack("<6I", 0, 64, 0, 0, 0, 0))
    bpf_prog_test_run_opts(adjust_fd, opts)
    assert opts.data_out == b"\xbb" + bytes(7) + b"\xaa" + packet[1:]
    assert opts.ctx_out == struct.pack("<6I", 8, 72, 0, 0, 0, 0)


def test_meta_then_head_moves_the_metadata(adjust_fd: int) -> None:
    packet = adjust_packet(META_THEN_HEAD, 10)
    retval, out = ours(adjust_fd, packet)
    assert retval == PASS
    assert out == b"\xbb" + bytes(7) + b"\xaa" + packet[11:]


def test_xdp_helpers_refuse_another_context() -> None:
    from libbpf_compat.helpers.native import register_c_helpers
    from libbpf_compat.isa import assemble
    from libbpf_compat.vm import Vm

    # r1 = the run's memory, which is no XDP context: -EINVAL, nothing written
    for helper in (44, 65, 54):
        vm = Vm(assemble(f"mov %r2, -4\ncall {helper}\nexit"), bounds_check=True)
        register_c_helpers(vm)
        mem = bytearray(128)
        assert vm.run(mem) == (-errno.EINVAL) & ((1 << 64) - 1)
        assert mem == bytearray(128)


def bpftool() -> str:
    tool = shutil.which("bpftool") or shutil.which("bpftool", path="/usr/sbin:/sbin")
    if tool is None or os.geteuid() != 0 or not Path("/sys/fs/bpf").is_dir():
        pytest.skip("needs root, bpftool and a bpffs to run the program in the kernel")
    return tool


def test_kernel_agrees_on_adjust_results(adjust_fd: int, tmp_path: Path) -> None:
    tool = bpftool()
    pin = Path(f"/sys/fs/bpf/lbc_test_adjust_{os.getpid()}")
    load = subprocess.run([tool, "prog", "load", str(ADJUST), str(pin)],
                          capture_output=True, text=True, timeout=60)
    if load.returncode != 0:
        pytest.skip(f"the kernel refused the program: {load.stderr.strip()[:200]}")
    try:
        for case, _ in CASES:
            packet = adjust_packet(*case)
            (tmp_path / "in").write_bytes(packet)
            (tmp_path / "out").unlink(missing_ok=True)
            run = subprocess.run([tool, "prog", "run", "pinned", str(pin), "data_in",
                                  str(tmp_path / "in"), "data_out", str(tmp_path / "out")],
                                 capture_output=True, text=True, timeout=60, check=True)
            match = re.search(r"Return value: (\d+)", run.stdout + run.stderr)
            assert match is not None
            assert ours(adjust_fd, packet) == (int(match.group(1)),
                                               (tmp_path / "out").read_bytes()), case
    finally:
        pin.unlink(missing_ok=True)


# -- device maps and redirects ----------------------------------------------
def test_devmap_creation_checks() -> None:
    for map_type in (BpfMapType.BPF_MAP_TYPE_DEVMAP, BpfMapType.BPF_MAP_TYPE_DEVMAP_HASH):
        create_map(map_type, "ok4", 4, 4, 8)
        create_map(map_type, "ok8", 4, 8, 8)
        for key_size, value_size in ((8, 4), (4, 12), (4, 2)):
            with pytest.raises(LibbpfError) as info:
                create_map(map_type, "bad", key_size, value_size, 8)
            assert info.value.errno == errno.EINVAL


@pytest.fixture
def redirect_obj() -> Iterator[BpfObject]:
    obj = loaded(REDIRECT)
    ports = lb.bpf_object__find_map_fd_by_name(obj, "ports")
    by_id = lb.bpf_object__find_map_fd_by_name(obj, "ports_by_id")
    bpf_map_update_elem(ports, struct.pack("<I", 1), struct.pack("<I", 7), 0)
    bpf_map_update_elem(by_id, struct.pack("<I", 5), struct.pack("<II", 9, 0), 0)
    yield obj
    obj.close()


def redirect_packet(helper: int, key: int, flags: int) -> bytes:
    return bytes([helper, key, flags]) + bytes(61)


def test_redirect_map_returns_redirect_or_the_fallback_action(
        redirect_obj: BpfObject) -> None:
    fd = prog_fd(redirect_obj, "redirect_by_byte")
    assert ours(fd, redirect_packet(0, 1, 0))[0] == REDIRECTED
    assert ours(fd, redirect_packet(0, 2, 0))[0] == ABORTED   # empty slot, flags 0
    assert ours(fd, redirect_packet(0, 2, DROP))[0] == DROP   # the flags' action
    assert ours(fd, redirect_packet(0, 2, PASS))[0] == PASS
    assert ours(fd, redirect_packet(0, 200, TX))[0] == TX     # past the array
    assert ours(fd, redirect_packet(0, 1, 8))[0] == ABORTED   # BPF_F_BROADCAST: not offered
    assert ours(fd, redirect_packet(2, 5, 0))[0] == REDIRECTED
    assert ours(fd, redirect_packet(2, 6, PASS))[0] == PASS   # absent hash key
    assert ours(fd, redirect_packet(1, 3, 0))[0] == REDIRECTED
    assert ours(fd, redirect_packet(1, 3, 1))[0] == ABORTED   # bpf_redirect takes no flags


def test_hook_reports_and_checks_the_redirect_target(redirect_obj: BpfObject) -> None:
    prog = redirect_obj.find_program_by_name("redirect_by_byte")
    assert prog is not None
    hook = XdpHook(interfaces={1, 7, 9})
    with attach_xdp(prog, 1, hook=hook):
        result = hook.receive(redirect_packet(0, 1, 0), 1)
        assert (result.verdict, result.redirect_ifindex) == (XdpVerdict.REDIRECT, 7)
        result = hook.receive(redirect_packet(2, 5, 0), 1)
        assert (result.verdict, result.redirect_ifindex) == (XdpVerdict.REDIRECT, 9)
        result = hook.receive(redirect_packet(1, 3, 0), 1)  # no interface 3 on this hook
        assert (result.verdict, result.redirect_ifindex) == (XdpVerdict.ABORTED, None)
        result = hook.receive(redirect_packet(0, 2, PASS), 1)
        assert (result.verdict, result.redirect_ifindex) == (XdpVerdict.PASS, None)


@pytest.mark.parametrize("abi", ["linux", "windows"])
def test_adjust_head_from_either_abi(abi: str) -> None:
    obj = loaded(FIXTURES / f"xdp_head.{abi}.o")
    prog = obj.find_program_by_name("push_tag")
    assert prog is not None
    hook = XdpHook(interfaces={3})
    packet = bytes(range(20))
    with attach_xdp(prog, 3, hook=hook):
        result = hook.receive(packet, 3)
    assert result.verdict is XdpVerdict.PASS
    assert result.packet == b"TAG!" + packet
    obj.close()


def through_receive(hook: XdpHook, packets: list[bytes], ifindex: int) -> list[
        tuple[XdpVerdict, bytes, int | None, int | None]]:
    return [tuple(hook.receive(p, ifindex)) for p in packets]  # type: ignore[misc]


def through_batch(hook: XdpHook, packets: list[bytes], ifindex: int) -> list[
        tuple[XdpVerdict, bytes, int | None, int | None]]:
    batch = hook.receive_batch(packets, ifindex)
    assert batch.retvals is not None
    return [(XdpVerdict(batch.verdicts[i]), batch.packet(i), batch.retvals[i],
             batch.redirect_ifindex(i)) for i in range(len(batch))]


def test_receive_batch_adjusts_packets_exactly_as_receive() -> None:
    obj = loaded(ADJUST)
    prog = obj.find_program_by_name("adjust")
    assert prog is not None and prog.vm is not None
    # every bound case, then packets that grow to the largest frame (the
    # batch's output buffer grows) and a head move after them (the headroom
    # is zeroed again for each packet)
    packets = [adjust_packet(*case) for case, _ in CASES]
    packets += [adjust_packet(TAIL, XDP_MAX_PACKET - 64)] * 12 + [adjust_packet(HEAD, -216)]
    hook = XdpHook(interfaces={1})
    with attach_xdp(prog, 1, hook=hook):
        single = through_receive(hook, packets, 1)
        batched = through_batch(hook, packets, 1)
    assert batched == single
    for (_, (verdict, _)), (got_verdict, _, _, target) in zip(CASES, single, strict=False):
        assert (got_verdict, target) == (verdict, None)
    for p, (_, packet, _, _) in zip(packets, single, strict=True):  # the frame test_run builds
        frame = run_xdp_frame(prog.vm, p)
        assert packet == frame.packet
    for (_, (_, size)), p in zip(CASES, packets, strict=False):  # data_out: meta + packet
        frame = run_xdp_frame(prog.vm, p)
        assert len(frame.meta) + len(frame.packet) == size
    assert [len(packet) for _, packet, _, _ in single[len(CASES):]] == [XDP_MAX_PACKET] * 12 + [
        280]
    obj.close()


def test_receive_batch_redirects_exactly_as_receive(redirect_obj: BpfObject) -> None:
    prog = redirect_obj.find_program_by_name("redirect_by_byte")
    assert prog is not None
    packets = [redirect_packet(0, 1, 0), redirect_packet(2, 5, 0), redirect_packet(1, 3, 0),
               redirect_packet(0, 2, PASS), redirect_packet(1, 9, 0), redirect_packet(0, 2, 0),
               redirect_packet(1, 3, 1)]
    expected = [(XdpVerdict.REDIRECT, 7), (XdpVerdict.REDIRECT, 9), (XdpVerdict.ABORTED, None),
                (XdpVerdict.PASS, None), (XdpVerdict.REDIRECT, 9), (XdpVerdict.ABORTED, None),
                (XdpVerdict.ABORTED, None)]
    for hook, want in ((XdpHook(interfaces={1, 7, 9}), expected),
                       (XdpHook(), [(XdpVerdict.REDIRECT, 3) if i == 2 else e
                                    for i, e in enumerate(expected)])):
        with attach_xdp(prog, 1, hook=hook):
            single = through_receive(hook, packets, 1)
            batched = through_batch(hook, packets, 1)
        assert batched == single
        assert [(verdict, target) for verdict, _, _, target in single] == want
        assert [retval for _, _, retval, _ in single] == [REDIRECTED, REDIRECTED, REDIRECTED,
                                                          PASS, REDIRECTED, ABORTED, ABORTED]
