"""The verifier inside bpf_object__load: safe programs load and run without the VM's
bounds checks, unsafe ones are refused with EACCES and a log naming the instruction,
its source line, the register state and the reason; verify_object and the
``verify`` command report the same without loading."""

from __future__ import annotations

import errno
import struct
from pathlib import Path

import pytest

from libbpf_compat import libbpf as lb
from libbpf_compat.__main__ import main as cli
from libbpf_compat.elf.log import libbpf_set_print
from libbpf_compat.errors import LibbpfError
from libbpf_compat.hooks.contexts import XDP_LINUX
from libbpf_compat.isa import assemble
from libbpf_compat.mapstore import fd_table
from libbpf_compat.object import BpfObject, Program, bpf_object_open_opts
from libbpf_compat.test_run import bpf_prog_test_run_opts, bpf_test_run_opts
from libbpf_compat.verifier.program import MAX_PROCESSED, verify_program
from libbpf_compat.verify import verify_object

PROGRAMS = Path(__file__).parent / "fixtures" / "verifier" / "programs.o"
UNSAFE = {
    "past_the_check": (6, "Upper bound must be at most packet_size", "return data[20];"),
    "no_null_check": (7, "Possible null access", "return *n ? 2 : 1;"),
    "ctx_out_of_range": (0, "sizeof(struct xdp_md) = 24", "((char *)ctx + 64)"),
    "ctx_write": (1, "Invalid context access (struct xdp_md", "ctx->ingress_ifindex = 7;"),
    "record_leak": (16, "Unreleased reference (ring buffer record reserved at 5)",
                    "; }"),  # at the exit: the function's closing brace
    "calls_past_frame": ("4/8", "Upper bound must be at most total_stack_size",
                         "buf[16] = 1;"),
}


def only(name: str, verify: bool = True) -> BpfObject:
    """The fixture object with only program ``name`` to load."""
    obj = lb.bpf_object__open_file(PROGRAMS, bpf_object_open_opts(verify=verify))
    for prog in obj.programs:
        prog.set_autoload(prog.name == name)
    return obj


def test_a_safe_program_loads_and_runs_without_bounds_checks() -> None:
    with only("parse_ok") as obj:
        obj.load()
        prog = obj.find_program_by_name("parse_ok")
        assert prog is not None and prog.vm is not None
        assert prog.vm.bounds_check is False
        assert "verified" in prog.verifier_log
        packet = bytes([3]) + bytes(range(1, 40))
        opts = bpf_test_run_opts(data_in=packet)
        assert bpf_prog_test_run_opts(prog.get_fd(), opts) == 0
        assert opts.retval == 2
        counts = obj.find_map_by_name("counts")
        assert counts is not None
        raw = counts.lookup_elem(struct.pack("<I", 0), 4, 8)
        assert struct.unpack("<Q", raw)[0] == packet[3] + packet[4]


def test_a_sub_program_may_fill_its_callers_stack() -> None:
    with only("calls_ok") as obj:
        obj.load()
        prog = obj.find_program_by_name("calls_ok")
        assert prog is not None and prog.vm is not None and prog.vm.bounds_check is False
        opts = bpf_test_run_opts(data_in=bytes(16))
        assert bpf_prog_test_run_opts(prog.get_fd(), opts) == 0
        assert opts.retval == 2


def test_verification_off_keeps_the_bounds_checks() -> None:
    with only("past_the_check", verify=False) as obj:
        obj.load()  # not verified: loads, and the VM checks every access instead
        prog = obj.find_program_by_name("past_the_check")
        assert prog is not None and prog.vm is not None and prog.vm.bounds_check is True
        # byte 20 is past a 16-byte packet but inside the frame's buffer (its tailroom,
        # as in Linux): the bounds-checked VM lets it read there and nowhere else
        opts = bpf_test_run_opts(data_in=bytes(16))
        assert bpf_prog_test_run_opts(prog.get_fd(), opts) == 0


@pytest.mark.parametrize("name", sorted(UNSAFE))
def test_unsafe_programs_are_refused_with_a_log(name: str) -> None:
    index, reason, source = UNSAFE[name]
    printed: list[tuple[int, str]] = []
    previous = libbpf_set_print(lambda level, text: printed.append((level, text)))
    before = len(fd_table)
    try:
        with only(name) as obj:
            prog = obj.find_program_by_name(name)
            assert prog is not None
            buf = bytearray(4096)
            lb.bpf_program__set_log_buf(prog, buf, len(buf))
            with pytest.raises(LibbpfError) as info:
                obj.load()
            assert info.value.errno == errno.EACCES
            assert name in str(info.value) and reason in str(info.value)
            assert not obj.loaded and len(fd_table) == before
            log = bytes(buf).split(b"\0", 1)[0].decode()
    finally:
        libbpf_set_print(previous)
    assert f"error at instruction {index}: " in log and reason in log
    pc = str(index).rsplit("/", 1)[-1]  # "4/8": instruction 8 called from 4
    assert f"\n{pc}: (" in log  # the instruction, disassembled
    assert source in log and "programs.c:" in log  # the C source line from BTF
    assert "state: R1=" in log or "state: R0=" in log  # the registers at that point
    assert "R10=fp" in log
    assert any(name in text and "BEGIN PROG LOAD LOG" in text and reason in text
               for _level, text in printed)


def test_log_level_2_shows_the_state_at_every_instruction() -> None:
    with only("past_the_check") as obj:
        prog = obj.find_program_by_name("past_the_check")
        assert prog is not None
        lb.bpf_program__set_log_level(prog, 2)
        assert lb.bpf_program__log_level(prog) == 2
        with pytest.raises(LibbpfError):
            obj.load()
        lines = prog.verifier_log.splitlines()
    assert lines[0].startswith("; ")  # source line of instruction 0
    assert "0: R1=ctx(off=0) R10=fp+0" in lines
    assert "0: (b7) r0 = 1" in lines and "1: (61) r2 = *(u32 *)(r1 + 4)" in lines
    assert "3: R0=scalar(1) R1=packet(off=0) R2=packet_end(off=?) R10=fp+0" in lines


def test_set_log_level_after_load_is_refused() -> None:
    with only("parse_ok") as obj:
        obj.load()
        prog = obj.find_program_by_name("parse_ok")
        assert prog is not None
        with pytest.raises(LibbpfError) as info:
            lb.bpf_program__set_log_level(prog, 1)
        assert info.value.errno == errno.EBUSY


def test_verify_object_reports_each_program() -> None:
    report = verify_object(PROGRAMS)
    assert not report.ok
    verdicts = {p.name: p.verdict for p in report.programs}
    assert verdicts == {"parse_ok": "verified", "calls_ok": "verified", "record_ok": "verified",
                        **{n: "rejected" for n in UNSAFE}}
    ok = report.by_name("parse_ok")
    assert ok.section == "xdp" and ok.prog_type == "XDP" and ok.processed > 0
    assert ok.seconds > 0 and ok.messages == []
    bad = report.by_name("no_null_check")
    assert bad.messages and "Possible null access" in bad.messages[0]
    one = verify_object(PROGRAMS, program="parse_ok")
    assert one.ok and [p.name for p in one.programs] == ["parse_ok"]
    assert len(verify_object(PROGRAMS, section="xdp").programs) == 9
    with pytest.raises(LibbpfError) as info:
        verify_object(PROGRAMS, program="nothing")
    assert info.value.errno == errno.ENOENT


def test_verify_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["verify", str(PROGRAMS), "--program", "parse_ok"]) == 0
    assert "parse_ok (section 'xdp', XDP): verified" in capsys.readouterr().out
    assert cli(["verify", str(PROGRAMS), "--log-level", "1"]) == 1
    out = capsys.readouterr().out
    assert "NOT ok" in out and "--- log of no_null_check ---" in out
    assert "--- log of parse_ok ---" not in out


def test_processed_instructions_are_capped_and_infinite_loops_refused() -> None:
    loop = assemble("r0 = 0\nr1 = 0\nr1 += 1\nif r1 < 100 goto -2\nexit", "kernel")
    assert verify_program("loop", loop, layout=XDP_LINUX).ok
    capped = verify_program("loop", loop, layout=XDP_LINUX, limit=5)
    assert not capped.ok and capped.messages == ["processed more than 5 instructions"]
    spin = assemble("r0 = 0\ngoto -1\nexit", "kernel")
    verdict = verify_program("spin", spin, layout=XDP_LINUX)
    assert not verdict.ok and "Loop counter is too large" in verdict.messages[0]
    assert MAX_PROCESSED == 1_000_000


def test_a_type_without_a_context_is_reported_unsupported_by_name() -> None:
    code = assemble("r0 = 0\nexit", "kernel")
    verdict = verify_program("p", code, layout=None, unsupported="program type NETFILTER")
    assert not verdict.ok and verdict.unsupported == "program type NETFILTER"
    assert "NETFILTER" in verdict.log


def test_bpf_prog_load_verifies_raw_programs() -> None:
    from libbpf_compat.prog_load import bpf_prog_load, bpf_prog_load_opts
    from libbpf_compat.uapi import BpfProgType

    # r2 = data; r0 = *(u8 *)(r2 + 20) with no check against data_end
    unsafe = assemble("r2 = *(u32 *)(r1 + 0)\nr0 = *(u8 *)(r2 + 20)\nexit", syntax="kernel")
    log = bytearray(4096)
    before = len(fd_table)
    with pytest.raises(LibbpfError, match="packet_size") as info:
        bpf_prog_load(BpfProgType.BPF_PROG_TYPE_XDP, "unsafe", "GPL", unsafe,
                      len(unsafe) // 8, bpf_prog_load_opts(log_buf=log, log_size=len(log)))
    assert info.value.errno == errno.EACCES
    assert b"error at instruction 1" in log
    assert len(fd_table) == before
    safe = assemble("r0 = 2\nexit", syntax="kernel")
    fd = bpf_prog_load(BpfProgType.BPF_PROG_TYPE_XDP, "safe", "GPL", safe, 2)
    try:
        prog = fd_table.get(fd)
        assert isinstance(prog, Program)
        assert prog.vm is not None and prog.vm.bounds_check is False
    finally:
        fd_table.close(fd)


@pytest.mark.parametrize("name", ["loop.o", "for_each.o"])
def test_a_callback_program_loads_verified(name: str) -> None:
    """bpf_loop and bpf_for_each_map_elem callbacks are analysed: the programs run
    without bounds checks, as other verified programs."""
    obj = lb.bpf_object__open_file(Path(__file__).parent / "fixtures" / "helpers" / name)
    try:
        obj.load()
        for prog in obj.programs:
            assert prog.vm is not None and prog.vm.bounds_check is False, prog.name
            assert "verified" in prog.verifier_log and "cannot be verified" not in (
                prog.verifier_log)
    finally:
        obj.close()
