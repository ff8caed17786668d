"""Loops must be proven to end: a register or stack slot moves by a known step on every
path around the loop towards a bound (or, by one, towards a value the loop leaves at),
and the loop runs at most 100000 times (nested loops multiply).

Clang-built loops (tests/fixtures/loops: counting up and down, ``<``, ``<=``, ``!=``
exits, nested loops, a counter in a stack slot at -O0) verify and run; loops with no
such argument are refused with a message naming the loop's head. Assembled programs
run under the fuzzer's pre-state with termination checking on (see
tests/test_verifier_bad_programs.py)."""

from __future__ import annotations

import errno
import struct
from pathlib import Path

import pytest

from libbpf_compat import libbpf as lb
from libbpf_compat.errors import LibbpfError
from libbpf_compat.hooks.contexts import XDP_LINUX
from libbpf_compat.isa import assemble
from libbpf_compat.object import BpfObject, bpf_object_open_opts
from libbpf_compat.test_run import bpf_prog_test_run_opts, bpf_test_run_opts
from libbpf_compat.verifier.program import verify_program
from tests.test_verifier_bad_programs import failures

FIXTURES = Path(__file__).parent / "fixtures" / "loops"
LOOPS = FIXTURES / "loops.o"
LOOPS_O0 = FIXTURES / "loops_o0.o"
XDP_DROP, XDP_PASS = 1, 2


def only(path: Path, name: str) -> BpfObject:
    obj = lb.bpf_object__open_file(path, bpf_object_open_opts())
    for prog in obj.programs:
        prog.set_autoload(prog.name == name)
    return obj


def run(obj: BpfObject, name: str, packet: bytes) -> int:
    prog = obj.find_program_by_name(name)
    assert prog is not None and prog.vm is not None
    assert prog.vm.bounds_check is False  # verified: no run-time bounds checks
    opts = bpf_test_run_opts(data_in=packet)
    assert bpf_prog_test_run_opts(prog.get_fd(), opts) == 0
    return opts.retval


@pytest.mark.parametrize("name", ["up_lt", "up_le"])
def test_counting_loops_over_the_packet_verify_and_read_each_byte(name: str) -> None:
    with only(LOOPS, name) as obj:
        obj.load()
        assert run(obj, name, bytes(64)) == XDP_PASS
        assert run(obj, name, bytes(15) + b"\1" + bytes(48)) == XDP_DROP  # the last one read
        assert run(obj, name, bytes(16) + b"\1" + bytes(47)) == XDP_PASS  # past the loop
        assert run(obj, name, bytes(3) + b"\1" + bytes(10)) == XDP_DROP  # 14 bytes


@pytest.mark.parametrize(("path", "name"), [
    (LOOPS, "up_ne"), (LOOPS, "down_gt"), (LOOPS, "nested"),
    (LOOPS_O0, "spilled_counter"), (LOOPS_O0, "spilled_down")])
def test_loops_over_map_entries_verify_and_visit_keys_0_to_15(path: Path, name: str) -> None:
    with only(path, name) as obj:
        obj.load()
        table = obj.find_map_by_name("table")
        assert table is not None
        assert run(obj, name, bytes(64)) == XDP_PASS
        visited = []
        for key in range(16 if path == LOOPS_O0 else 20):  # an odd sum drops
            table.update_elem(struct.pack("<I", key), 4, struct.pack("<Q", 1), 8)
            if run(obj, name, bytes(64)) == XDP_DROP:
                visited.append(key)
            table.update_elem(struct.pack("<I", key), 4, struct.pack("<Q", 0), 8)
        assert visited == list(range(16))


def test_a_loop_with_no_bound_is_refused_naming_its_head() -> None:
    with only(LOOPS, "no_bound") as obj:
        prog = obj.find_program_by_name("no_bound")
        assert prog is not None
        buf = bytearray(4096)
        lb.bpf_program__set_log_buf(prog, buf, len(buf))
        with pytest.raises(LibbpfError) as info:
            obj.load()
        assert info.value.errno == errno.EACCES
        log = bytes(buf).split(b"\0", 1)[0].decode()
    assert "error at instruction 11 (counter): Loop counter is too large (pc[11] < 100000)" in log
    assert "r4 changes by a known step on every path around it, but no bound" in log
    assert "loops.c:" in log  # the loop's source line


LOOP_ACCEPTED = {
    "up <": "r0 = 0\n<l>:\nr0 += 1\nif r0 < 10 goto <l>\nexit",
    "up <=": "r0 = 0\n<l>:\nr0 += 1\nif r0 <= 10 goto <l>\nexit",
    "up !=": "r0 = 0\n<l>:\nr0 += 1\nif r0 != 10 goto <l>\nexit",
    "up s<": "r0 = -5\n<l>:\nr0 += 1\nif r0 s< 10 goto <l>\nexit",
    "down !=": "r0 = 10\n<l>:\nr0 -= 1\nif r0 != 0 goto <l>\nexit",
    "down s>": "r0 = 10\n<l>:\nr0 += -1\nif r0 s> 0 goto <l>\nexit",
    "down s>=": "r0 = 10\n<l>:\nr0 -= 1\nif r0 s>= 0 goto <l>\nexit",
    "down >": "r0 = 100\n<l>:\nr0 -= 3\nif r0 > 10 goto <l>\nexit",
    "while, exit at the head": ("r1 = 0\n<l>:\nif r1 >= 10 goto <out>\nr1 += 1\ngoto <l>\n"
                                "<out>:\nr0 = 0\nexit"),
    "step of 2": "r1 = 0\n<l>:\nr1 += 2\nif r1 < 100 goto <l>\nr0 = 0\nexit",
    "32-bit counter, !=": "w1 = 0\n<l>:\nw1 += 1\nif w1 != 10 goto <l>\nr0 = 0\nexit",
    "32-bit counter, jmp32 <": "w1 = 0\n<l>:\nw1 += 1\nif w1 < 10 goto <l>\nr0 = 0\nexit",
    "clang's zero extension, ==": ("r6 = 0\n<l>:\nr6 += 1\nr1 = r6\nr1 <<= 32\nr1 >>= 32\n"
                                   "if r1 == 1000 goto <out>\ngoto <l>\n<out>:\nr0 = 0\nexit"),
    "clang's sign extension, s<": ("r6 = 0\n<l>:\nr6 += 1\nr1 = r6\nr1 <<= 32\nr1 s>>= 32\n"
                                   "if r1 s< 1000 goto <l>\nr0 = 0\nexit"),
    "different steps on two paths": (
        "call 7\nr6 = 0\n<l>:\ncall 7\nif r0 > 5 goto <two>\nr6 += 1\ngoto <c>\n<two>:\n"
        "r6 += 2\n<c>:\nif r6 < 100 goto <l>\nr0 = 0\nexit"),
    "counter in a stack slot": (
        "r1 = 0\n*(u64 *)(r10 - 8) = r1\n<l>:\nr1 = *(u64 *)(r10 - 8)\nr1 += 1\n"
        "*(u64 *)(r10 - 8) = r1\nr2 = *(u64 *)(r10 - 8)\nif r2 < 10 goto <l>\nr0 = 0\nexit"),
    "32-bit counter in a stack slot, !=": (
        "r1 = 0\n*(u32 *)(r10 - 4) = r1\n<l>:\nr1 = *(u32 *)(r10 - 4)\nr1 += 1\n"
        "*(u32 *)(r10 - 4) = r1\nr2 = *(u32 *)(r10 - 4)\nif r2 != 10 goto <l>\nr0 = 0\nexit"),
    "a helper reading the counter's slot": (
        "r6 = 0\n*(u32 *)(r10 - 4) = r6\n<l>:\nr1 = map_fd 1\nr2 = r10\nr2 += -4\ncall 1\n"
        "r1 = *(u32 *)(r10 - 4)\nr1 += 1\n*(u32 *)(r10 - 4) = r1\nif r1 < 16 goto <l>\n"
        "r0 = 0\nexit"),
    "nested": ("r1 = 0\n<o>:\nr2 = 0\n<i>:\nr2 += 1\nif r2 < 4 goto <i>\nr1 += 1\n"
               "if r1 < 4 goto <o>\nr0 = 0\nexit"),
    "a pointer": "r1 = r10\nr1 += -64\n<l>:\nr1 += 1\nif r1 < r10 goto <l>\nr0 = 0\nexit",
    "callee-saved counter across a call that uses r6 itself": (
        "r6 = 0\n<l>:\ncall <f>\nr6 += 1\nif r6 < 4 goto <l>\nr0 = r6\nexit\n"
        "<f>:\nr6 = 99\nr0 = 42\nexit"),
}


@pytest.mark.parametrize("name", sorted(LOOP_ACCEPTED))
def test_bounded_loops_verify(name: str) -> None:
    assert failures(LOOP_ACCEPTED[name]) == []


LOOP_REFUSED = {
    # the exit depends on a value the loop never changes
    "unchanged": ("call 7\n<l>:\nif r0 != 5 goto <l>\nr0 = 0\nexit", 1),
    "reset in the body": ("<l>:\nr1 = 0\nr1 += 1\nif r1 < 10 goto <l>\nr0 = 0\nexit", 0),
    "reset by a 64-bit load": (
        "r6 = 0\n<l>:\nr6 += 1\nr6 = 5 ll\nif r6 < 10 goto <l>\nr0 = 0\nexit", 1),
    "changed on one path only": (
        "r6 = 0\n<l>:\ncall 7\nif r0 > 5 goto <skip>\nr6 += 1\n<skip>:\n"
        "if r6 < 10 goto <l>\nr0 = 0\nexit", 1),
    "changed by an unknown amount": (
        "call 7\nr6 = r0\nr1 = 0\n<l>:\nr1 += r6\nif r1 < 10 goto <l>\nr0 = 0\nexit", 3),
    # bounded only on the side it moves away from
    "grows, bounded below": ("r1 = 10\n<l>:\nr1 += 1\nif r1 s> 5 goto <l>\nr0 = 0\nexit", 1),
    "shrinks, bounded above": ("r1 = 0\n<l>:\nr1 -= 1\nif r1 s< 100 goto <l>\nr0 = 0\nexit",
                               1),
    "!= from the wrong side": ("r1 = 20\n<l>:\nr1 += 1\nif r1 != 10 goto <l>\nr0 = 0\nexit",
                               1),
    "!= stepped over": ("r1 = 1\n<l>:\nr1 += 2\nif r1 != 10 goto <l>\nr0 = 0\nexit", 1),
    # terminates, but runs more often than the limit
    "200000 iterations": ("r1 = 0\n<l>:\nr1 += 1\nif r1 < 200000 goto <l>\nr0 = 0\nexit", 1),
    "nested 1000 x 1000": ("r1 = 0\n<o>:\nr2 = 0\n<i>:\nr2 += 1\nif r2 < 1000 goto <i>\n"
                           "r1 += 1\nif r1 < 1000 goto <o>\nr0 = 0\nexit", 2),
    "nested, the inner one endless": (
        "r1 = 0\n<o>:\nr2 = 0\n<i>:\nr2 += 0\nif r2 < 4 goto <i>\nr1 += 1\n"
        "if r1 < 4 goto <o>\nr0 = 0\nexit", 2),
    "a helper overwrites the counter's slot": (
        "r1 = 0\n*(u64 *)(r10 - 8) = r1\n<l>:\nr1 = *(u64 *)(r10 - 8)\nr1 += 1\n"
        "*(u64 *)(r10 - 8) = r1\nr1 = r10\nr1 += -8\nr2 = 8\nr3 = 0\ncall 4\n"
        "r2 = *(u64 *)(r10 - 8)\nif r2 != 10 goto <l>\nr0 = 0\nexit", 2),
    "the counter's copy truncated to 8 bits": (
        "r6 = 0\n<l>:\nr6 += 1\nr1 = r6\nr1 &= 255\nif r1 < 300 goto <l>\nr0 = 0\nexit", 1),
}


@pytest.mark.parametrize("name", sorted(LOOP_REFUSED))
def test_loops_without_a_ranking_argument_are_refused(name: str) -> None:
    text, head = LOOP_REFUSED[name]
    assert failures(text) == [f"{head} (counter): Loop counter is too large "
                              f"(pc[{head}] < 100000)"]


def test_the_message_says_why_for_real_programs() -> None:
    cases = {
        "r0 = 0\n<l>:\nif r0 != 5 goto <l>\nexit": "no path leaves it",
        "call 7\n<l>:\nif r0 != 5 goto <l>\nr0 = 0\nexit":
            "no register or stack slot changes by the same known step on every path",
        "r0 = 0\n<l>:\nr0 += 1\nif r0 < 200000 goto <l>\nexit": "it may run 200000 times",
    }
    for text, why in cases.items():
        verdict = verify_program("loop", assemble(text, "kernel"), layout=XDP_LINUX)
        assert not verdict.ok and len(verdict.messages) == 1
        assert "Loop counter is too large" in verdict.messages[0]
        assert why in verdict.messages[0]


def test_a_return_site_sees_every_caller_state_saved() -> None:
    """The callee's exit state does not change when the caller's saved registers do:
    the return still carries them (r6 reaches 3 here, and the read at 3 is refused)."""
    text = ("r6 = 0\n<l>:\ncall <f>\nr6 += 1\nif r6 == 3 goto <bad>\ncall 7\n"
            "if r0 == 0 goto <out>\nif r6 < 4 goto <l>\n<out>:\nr0 = 0\nexit\n"
            "<bad>:\nr0 = *(u64 *)(r10 + 8)\nexit\n<f>:\nr6 = 99\nr0 = 42\nexit")
    assert failures(text) == ["9: Upper bound must be at most total_stack_size "
                              "(valid_access(r10.offset+8, width=8) for read)"]
