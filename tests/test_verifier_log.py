"""The verifier log at each libbpf ``log_level``, as Linux's: level 1 a rejection's
path from the entry to the failing instruction (the state at each branch taken),
level 2 the state before every instruction, level 4 (BPF_LOG_STATS) only the
statistics, and at every level a closing ``processed N insns`` line."""

from __future__ import annotations

import errno

import pytest

from libbpf_compat.errors import LibbpfError
from libbpf_compat.hooks.contexts import XDP_LINUX
from libbpf_compat.isa import assemble
from libbpf_compat.mapstore import fd_table
from libbpf_compat.verifier.program import MAX_PROCESSED, PATH_LIMIT, verify_program

# r2 = data, r3 = data_end; the check covers 8 bytes, the taken branch (6 -> 9) reads
# byte 20 without one
CHECKED = """r2 = *(u32 *)(r1 + 0)
r3 = *(u32 *)(r1 + 4)
r0 = 1
*(u64 *)(r10 - 8) = r0
r4 = r2
r4 += 8
if r4 > r3 goto +2
r0 = *(u8 *)(r2 + 4)
exit
r0 = *(u8 *)(r2 + 20)
exit"""

# main calls a function (at 4) that uses 16 bytes of its frame and reads the packet
# unchecked at 7
CALLED = """r6 = r1
call pc+2
r0 = 0
exit
r2 = 7
*(u64 *)(r10 - 16) = r2
r0 = *(u32 *)(r1 + 0)
r0 = *(u8 *)(r0 + 0)
exit"""


def _log(source: str, level: int) -> tuple[bool, list[str]]:
    verdict = verify_program("p", assemble(source, syntax="kernel"), layout=XDP_LINUX,
                             log_level=level)
    assert verdict.log.endswith("\n")
    return verdict.ok, verdict.log.splitlines()


def _stats(lines: list[str]) -> str:
    last = lines[-1]
    assert last.startswith("processed ") and f"(limit {MAX_PROCESSED})" in last
    assert "max_states_per_insn 1 " in last
    return last


def test_level_1_rejection_shows_the_path_to_the_failing_instruction() -> None:
    ok, lines = _log(CHECKED, 1)
    assert not ok
    assert lines[0] == "0: R1=ctx(off=0) R10=fp+0"  # the entry state
    entry = lines.index("0: (61) r2 = *(u32 *)(r1 + 0)")
    jump = lines.index("6: (2d) if r4 > r3 goto +2")
    branch = next(i for i, line in enumerate(lines) if line.startswith("from 6 to 9: "))
    failing = lines.index("9: (71) r0 = *(u8 *)(r2 + 20)")
    error = next(i for i, line in enumerate(lines) if line.startswith("error at instruction 9:"))
    assert entry < jump < branch < failing < error
    # the path's instructions in order, each once; the branch not taken is not on it
    assert [line.split(":")[0] for line in lines[entry:jump + 1]] == [str(i) for i in range(7)]
    assert not any(line.startswith(("7: (", "8: (")) for line in lines)
    # the registers the branch leaves: r4 = data + 8, the check failed (no packet_size)
    assert "R4=packet(off=8)" in lines[branch] and "packet_size" not in lines[branch]
    assert lines[failing + 1].startswith("state: R0=scalar(1)")
    assert "processed 10 insns" in _stats(lines)
    assert "total_states 10 peak_states 10" in lines[-1]


def test_level_1_path_goes_through_calls() -> None:
    ok, lines = _log(CALLED, 1)
    assert not ok
    pcs = [line.split(":")[0] for line in lines if ": (" in line]
    assert pcs == ["0", "1", "4", "5", "6", "7"]  # into the function, the failing one last
    assert any(line.startswith("error at instruction 1/7: ") for line in lines)
    _stats(lines)


def test_level_1_path_is_capped() -> None:
    body = "\n".join(["r0 = 1"] * (PATH_LIMIT + 50))
    ok, lines = _log(body + "\nr2 = *(u32 *)(r1 + 0)\nr0 = *(u8 *)(r2 + 0)\nexit", 1)
    assert not ok
    assert f"... {PATH_LIMIT + 50 + 1 - PATH_LIMIT} earlier instructions of the path" in lines
    shown = [line for line in lines if ": (" in line]
    assert len(shown) == PATH_LIMIT + 1  # the last PATH_LIMIT of the path, the failing one
    assert shown[-2] == f"{PATH_LIMIT + 50}: (61) r2 = *(u32 *)(r1 + 0)"


def test_level_1_success_ends_with_the_statistics() -> None:
    ok, lines = _log("r0 = 2\nexit", 1)
    assert ok
    assert lines[-2].startswith("program 'p': verified; processed 2 insns in ")
    assert "processed 2 insns (limit" in _stats(lines)
    assert not any("from " in line or ": (" in line for line in lines)  # no path


def test_level_2_shows_every_instruction_state_not_the_path() -> None:
    ok, lines = _log(CHECKED, 2)
    assert not ok
    for pc in range(11):
        if pc != 10:  # the exit after the failing read is never reached
            assert any(line.startswith(f"{pc}: R") for line in lines), pc
    assert "7: (71) r0 = *(u8 *)(r2 + 4)" in lines  # both branches, not one path
    assert not any(line.startswith("from ") for line in lines)
    assert any(line.startswith("error at instruction 9:") for line in lines)
    _stats(lines)


@pytest.mark.parametrize(("source", "ok", "depth"), [(CHECKED, False, "8"),
                                                      (CALLED, False, "0+16"),
                                                      ("r0 = 2\nexit", True, "0")])
def test_level_4_gives_only_the_statistics(source: str, ok: bool, depth: str) -> None:
    verified, lines = _log(source, 4)
    assert verified is ok
    assert len(lines) == 3, lines
    time, usec = lines[0].rsplit(" ", 1)
    assert lines[0].startswith("verification time ") and usec == "usec"
    assert int(time.split()[-1]) >= 0
    assert lines[1] == f"stack depth {depth}"
    _stats(lines)


def test_level_5_is_the_path_and_all_statistics() -> None:
    ok, lines = _log(CHECKED, 1 | 4)
    assert not ok
    assert lines[0] == "0: R1=ctx(off=0) R10=fp+0"
    assert lines[-3].startswith("verification time ") and lines[-2] == "stack depth 8"
    _stats(lines)


def test_bpf_prog_load_log_level_4_writes_only_statistics() -> None:
    from libbpf_compat.prog_load import bpf_prog_load, bpf_prog_load_opts
    from libbpf_compat.uapi import BpfProgType

    log = bytearray(4096)
    code = assemble(CHECKED, syntax="kernel")
    with pytest.raises(LibbpfError) as info:
        bpf_prog_load(BpfProgType.BPF_PROG_TYPE_XDP, "checked", "GPL", code, len(code) // 8,
                      bpf_prog_load_opts(log_buf=log, log_size=len(log), log_level=4))
    assert info.value.errno == errno.EACCES
    text = bytes(log).split(b"\0", 1)[0].decode().splitlines()
    assert text[0].startswith("verification time ") and text[1] == "stack depth 8"
    assert text[2].startswith("processed 10 insns (limit ") and len(text) == 3
    safe = assemble("r0 = 2\nexit", syntax="kernel")
    fd = bpf_prog_load(BpfProgType.BPF_PROG_TYPE_XDP, "safe", "GPL", safe, 2,
                       bpf_prog_load_opts(log_buf=log, log_size=len(log), log_level=1))
    try:
        text = bytes(log).split(b"\0", 1)[0].decode().splitlines()
        assert text[-1].startswith("processed 2 insns (limit ")
    finally:
        fd_table.close(fd)
