"""Trace partitioning: states that differ in what a live register holds are not joined.

Programs are assembled (kernel syntax) and verified under the fuzzer's pre-state, as in
tests/test_verifier_bad_programs.py; the safe ones also run under the VM with bounds
checks over random inputs (libbpf_compat.verifier.fuzz.execute).
"""

from __future__ import annotations

import random
from dataclasses import replace

from libbpf_compat import isa
from libbpf_compat.isa import Instruction
from libbpf_compat.verifier import fuzz, partition
from libbpf_compat.verifier.analysis import Analyzer, initial_state
from libbpf_compat.verifier.cases import parse_pre
from libbpf_compat.verifier.cfg import build
from libbpf_compat.verifier.liveness import live_registers
from libbpf_compat.verifier.partition import (
    CATCH_ALL,
    MAX_FLAGS,
    MAX_PARTITIONS,
    group,
)

MEMORY_TYPES = "in {ctx, stack, packet, shared, socket, alloc_mem}"


def program(text: str) -> list[Instruction]:
    return isa.decode(isa.assemble(text, "kernel"))


def analyzer(insns: list[Instruction]) -> Analyzer:
    options = replace(fuzz.options(), termination=True)
    return Analyzer(fuzz.slots(insns), {}, options, 100_000, None)


def failures(text: str) -> list[str]:
    """The messages of the failed checks (notes on unreachable branches left out)."""
    insns = program(text)
    result = analyzer(insns).run(initial_state(parse_pre(fuzz.pre_state())))
    return [str(m) for m in result.messages
            if not m.text.startswith("Code becomes unreachable")]


def runs_safely(text: str) -> None:
    outcome = fuzz.execute(program(text), random.Random(7), 64)
    assert outcome.runs == 64
    assert outcome.violation is None


LOOKUP = "*(u32 *)(r10 - 4) = 0\nr1 = map_fd 2\nr2 = r10\nr2 += -4\ncall 1\n"
#: r6: a random flag, 0 or 1
FLAG = "call 7\nr6 = r0\nr6 &= 1\n"


def test_map_value_or_zero_joined_then_null_tested() -> None:
    # r7 is a map value on one path and the number 0 on the other; the join at <j>
    # keeps the two apart, so the test of r7 tells them apart again.
    text = (LOOKUP + "r7 = 0\nif r0 == 0 goto <j>\nr7 = r0\n<j>:\nr6 = 1\n"
            "if r7 == 0 goto <out>\nr6 = *(u32 *)(r7 + 0)\n<out>:\nr0 = r6\nexit")
    assert failures(text) == []
    runs_safely(text)


def test_map_handle_or_zero_joined_then_tested() -> None:
    # As a program choosing its counter map by protocol: a map handle or 0, tested
    # for 0, then given to a lookup.
    text = (FLAG + "r2 = map_fd 2\nif r6 == 0 goto <a>\nr2 = 0\n<a>:\n"
            "r1 = map_fd 3\nif r6 != 0 goto <b>\nr1 = r2\n<b>:\n"
            "if r1 == 0 goto <out>\n*(u64 *)(r10 - 8) = 0\nr2 = r10\nr2 += -8\ncall 1\n"
            "<out>:\nr0 = 0\nexit")
    assert failures(text) == []
    runs_safely(text)


def test_two_region_pointer_keeps_each_offset() -> None:
    # A byte of the stack or of a map value: each path's offset, not their join.
    text = (FLAG + LOOKUP + "if r0 == 0 goto <out>\n*(u8 *)(r10 - 9) = 0\n"
            "r1 = r10\nr1 += -9\nif r6 == 0 goto <use>\nr1 = r0\nr1 += 7\n"
            "<use>:\nr0 = *(u8 *)(r1 + 0)\nexit\n<out>:\nr0 = 0\nexit")
    assert failures(text) == []
    runs_safely(text)


CORRELATED = (FLAG + "r9 = 0\nif r6 == 0 goto <a>\n*(u64 *)(r10 - 8) = 5\n"
              "r9 = r10\nr9 += -8\n<a>:\ncall 7\n"
              "if r6 {cond} 0 goto <out>\nr0 = *(u64 *)(r9 + 0)\n<out>:\nexit")


def test_pointer_set_and_used_under_the_same_flag() -> None:
    text = CORRELATED.replace("{cond}", "==")
    assert failures(text) == []
    runs_safely(text)


def test_pointer_used_under_the_opposite_flag_is_rejected() -> None:
    # The same program with the test inverted reads through r9 exactly when it is 0.
    text = CORRELATED.replace("{cond}", "!=")
    assert failures(text) == [f"10: Invalid type (r9.type {MEMORY_TYPES})"]


def test_pointer_used_under_another_flag_is_rejected() -> None:
    # Set under r6, used under an independent r8: some runs read through 0.
    text = (FLAG + "call 7\nr8 = r0\nr8 &= 1\nr9 = 0\nif r6 == 0 goto <a>\n"
            "*(u64 *)(r10 - 8) = 5\nr9 = r10\nr9 += -8\n<a>:\n"
            "if r8 == 0 goto <out>\nr0 = *(u64 *)(r9 + 0)\n<out>:\nr0 = 0\nexit")
    assert failures(text) == [f"12: Invalid type (r9.type {MEMORY_TYPES})"]


def test_partitions_per_node_are_bounded() -> None:
    # Twelve independent choices, each of a pointer or 0 in a register that stays live
    # to the end: 2**12 combinations of kinds, never more than MAX_PARTITIONS states
    # at a node (then one, all joined), and the work stays a small multiple of the size.
    lines = ["*(u64 *)(r10 - 8) = 0"]
    regs = [2, 3, 4, 5, 6, 7, 8, 9]
    for i in range(12):
        reg = regs[i % len(regs)]
        lines += ["call 7", f"r{reg} = 0", f"if r0 == {i} goto <s{i}>",
                  f"r{reg} = r10", f"r{reg} += -8", f"<s{i}>:"]
    lines += ["r0 = 0", *(f"r0 += r{r}" for r in (6, 7, 8, 9)), "exit"]
    insns = program("\n".join(lines))
    a = analyzer(insns)
    result = a.run(initial_state(parse_pre(fuzz.pre_state())))
    assert result.complete
    assert max(len(parts) for parts in a.parts.values()) <= MAX_PARTITIONS
    assert any(CATCH_ALL in parts for parts in a.parts.values())
    assert result.processed <= (MAX_PARTITIONS + 1) * len(insns)
    # what it returns may be a stack pointer
    assert [str(m) for m in result.messages] == ["66: Invalid type (r0.type == number)"]


def test_liveness() -> None:
    insns = program("r6 = 1\nr7 = 2\nif r6 == 0 goto <a>\nr7 = 3\n<a>:\nr0 = r7\nexit")
    live = live_registers(build(fuzz.slots(insns)))
    assert [live[pc] for pc in range(6)] == [0, 1 << 6, 1 << 6 | 1 << 7, 0, 1 << 7, 1]
    # a helper call reads r1-r5 and writes r0-r5
    live = live_registers(build(fuzz.slots(program("call 7\nr0 += r3\nexit"))))
    assert [live[pc] for pc in range(3)] == [0b111110, 0b1001, 1]


# Flags: a bounds check's outcome kept in a register, tested afterwards -----------------

#: r2 the packet's start, r3 its end; r7 = 0 when 8 bytes are there, else -22 (as
#: Cilium's ctx_load_bytes wrappers), then {between} and a test of the flag
FLAG_CHECK = ("r2 = *(u32 *)(r1 + 0)\nr3 = *(u32 *)(r1 + 4)\nr4 = r2\nr4 += 8\n"
              "if r4 > r3 goto <bad>\nr7 = 0\ngoto <j>\n<bad>:\nr7 = -22\n<j>:\n"
              "{between}if w{reg} {cond} 0 goto <out>\nr0 = *(u64 *)(r2 + 0)\nexit\n"
              "<out>:\nr0 = 0\nexit")


def flag_check(cond: str, between: str = "", reg: int = 7) -> str:
    return FLAG_CHECK.format(between=between, reg=reg, cond=cond)


def test_flag_of_a_bounds_check_keeps_the_paths_apart() -> None:
    text = flag_check("!=")
    assert failures(text) == []
    runs_safely(text)


def test_flag_tested_the_wrong_way_is_rejected() -> None:
    # the read happens exactly when the check failed
    assert failures(flag_check("==")) == [
        "9: Upper bound must be at most packet_size (valid_access(r2.offset, width=8) "
        "for read)"]


def test_flag_spilled_and_shifted_before_its_test() -> None:
    # The paths meet before the flag is spilled, another value loaded and the flag's
    # low half taken into another register: kept apart from where they meet.
    between = ("*(u64 *)(r10 - 8) = r7\nr5 = *(u32 *)(r1 + 8)\nr7 <<= 32\nr6 = r7\n"
               "r6 >>= 32\n")
    text = flag_check("!=", between, reg=6)
    assert failures(text) == []
    runs_safely(text)
    assert failures(flag_check("==", between, reg=6)) == [
        "14: Upper bound must be at most packet_size (valid_access(r2.offset, width=8) "
        "for read)"]


def test_flag_overwritten_before_its_test_counts_for_nothing() -> None:
    # the register tested is no longer the check's flag: the read is unproven
    assert failures(flag_check("!=", "r7 = *(u32 *)(r1 + 8)\n")) == [
        "10: Upper bound must be at most packet_size (valid_access(r2.offset, width=8) "
        "for read)"]


def test_tested_registers_follow_copies_and_shifts() -> None:
    insns = program("r0 = 1\nr0 <<= 32\nr1 = r0\nr1 >>= 32\nr2 = 5\n"
                    "if r1 == 0 goto <a>\n<a>:\nexit")
    tested = partition.tested_registers(fuzz.slots(insns))
    # before the copy the flag is r0, after it r1; r2's load does not matter
    assert [tested.get(pc) for pc in range(7)] == [None, 0, 0, 1, 1, 1, None]


def test_flags_per_node_are_bounded() -> None:
    # A register set to one of ten constants, then tested at one node: at most
    # MAX_FLAGS flags kept apart there (then flag None), MAX_PARTITIONS states each.
    lines = ["call 7", "r6 = 0"]
    for i in range(10):
        lines += [f"if r0 == {i} goto <s{i}>"]
    lines += ["goto <t>"]
    for i in range(10):
        lines += [f"<s{i}>:", f"r6 = {i}", "goto <t>"]
    lines += ["<t>:", "if r6 == 3 goto <out>", "r0 = 0", "exit", "<out>:", "r0 = 1", "exit"]
    a = analyzer(program("\n".join(lines)))
    result = a.run(initial_state(parse_pre(fuzz.pre_state())))
    assert result.complete and not [m for m in result.messages
                                    if not m.text.startswith("Code becomes")]
    for parts in a.parts.values():
        flags = {k[0] for k in parts}
        assert len(flags - {None}) <= MAX_FLAGS
        for flag in flags:
            assert len(group(parts, flag)) <= MAX_PARTITIONS


# Coarsening: past MAX_PARTITIONS keys, constants go first, pointer kinds stay apart -----

COARSE = ("*(u64 *)(r10 - 16) = 0\nr1 = map_fd 3\nr2 = r10\nr2 += -16\ncall 1\n"
          "if r0 == 0 goto <out>\nr9 = r0\ncall 7\nr6 = r0\ncall 7\nr7 = r0\n"
          "*(u64 *)(r10 - 8) = 0\nr8 = r10\nr8 += -8\nif r6 == 0 goto <c>\n"
          "r8 = r9\nr8 += 8\n<c>:\n"
          "r3 = 0\nif r7 s> 5 goto <a>\nr3 = 1\n<a>:\n"
          "r4 = 0\nif r7 s> 9 goto <b>\nr4 = 1\n<b>:\n"
          "r5 = 0\nif r7 s> 20 goto <d>\nr5 = 1\n<d>:\n"
          "r0 = *(u64 *)(r8 + {off})\nr0 += r3\nr0 += r4\nr0 += r5\nexit\n"
          "<out>:\nr0 = 0\nexit")


def test_many_constants_do_not_join_pointer_kinds() -> None:
    # r8: 8 bytes into a 16-byte map value, or fp-8; r3-r5 constants that split the
    # states eight ways: coarsened, the two kinds of r8 keep their own offsets.
    text = COARSE.format(off=0)
    assert failures(text) == []
    runs_safely(text)


def test_many_constants_pointer_read_past_its_region_is_rejected() -> None:
    msgs = failures(COARSE.format(off=8))
    assert msgs and all("r8.offset+8" in m for m in msgs)
