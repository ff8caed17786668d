"""Programs built to confuse a verifier are rejected with the message that names the fault.

Each program is written in the project's assembler (kernel syntax) and verified under
the fuzzer's pre-state (r1 a 64-byte XDP-like context, r10 the top of frame 0 at 4096,
maps 1-3 as :data:`libbpf_compat.verifier.fuzz.MAPS`) with termination checking on.
Labels in messages are slot indices (``lddw`` takes two).
"""

from __future__ import annotations

import random
import resource
import time
from dataclasses import replace

import pytest

from libbpf_compat import isa
from libbpf_compat.isa import Instruction
from libbpf_compat.isa import opcodes as op
from libbpf_compat.verifier import fuzz
from libbpf_compat.verifier.analysis import AnalysisResult, analyze, initial_state
from libbpf_compat.verifier.cases import parse_pre
from libbpf_compat.vm import Vm

MEMORY_TYPES = "in {ctx, stack, packet, shared, socket, alloc_mem}"
ARITH_TYPES = "in {number, ctx, stack, packet, shared}"


def program(text: str) -> list[Instruction]:
    return isa.decode(isa.assemble(text, "kernel"))


def verify(insns: list[Instruction]) -> AnalysisResult:
    options = replace(fuzz.options(), termination=True)
    return analyze(fuzz.slots(insns), {}, initial_state(parse_pre(fuzz.pre_state())),
                   options)


def failures(text: str) -> list[str]:
    """The messages of the failed checks (notes on unreachable branches left out)."""
    return [str(m) for m in verify(program(text)).messages
            if not m.text.startswith("Code becomes unreachable")]


def call_chain(depth: int) -> str:
    """main calls f1, which calls f2 … down to f<depth>: depth + 1 frames."""
    lines = ["call <f1>", "r0 = 0", "exit"]
    for i in range(1, depth + 1):
        lines += [f"<f{i}>:", *([f"call <f{i + 1}>"] if i < depth else []), "r0 = 0", "exit"]
    return "\n".join(lines)


LOOKUP = "*(u32 *)(r10 - 4) = 0\nr1 = map_fd 2\nr2 = r10\nr2 += -4\ncall 1\n"

BAD = {
    # Loops without bounds (termination checking on).
    "infinite loop": ("r0 = 0\n<l>:\nr0 += 1\ngoto <l>",
                      ["1 (counter): Loop counter is too large (pc[1] < 100000)"]),
    "loop whose exit is impossible": (
        "r6 = 0\n<l>:\nr6 |= 1\nif r6 != 0 goto <l>\nr0 = 0\nexit",
        ["1 (counter): Loop counter is too large (pc[1] < 100000)"]),
    # Pointer arithmetic on packet_end: the moved end proves nothing.
    "arithmetic on packet_end": (
        "r7 = *(u32 *)(r1 + 0)\nr8 = *(u32 *)(r1 + 4)\nr8 += 8\nr2 = r7\nr2 += 8\n"
        "if r2 > r8 goto <l>\nr0 = *(u64 *)(r7 + 0)\n<l>:\nr0 = 0\nexit",
        ["6: Upper bound must be at most packet_size (valid_access(r7.offset, width=8) "
         "for read)"]),
    # Spilled pointers read back in part are not numbers.
    "partial fill returned": (
        "*(u64 *)(r10 - 8) = r10\nr0 = *(u32 *)(r10 - 8)\nexit",
        ["2: Invalid type (r0.type == number)"]),
    "partial fill stored to a map": (
        "*(u64 *)(r10 - 16) = r10\nr6 = *(u32 *)(r10 - 12)\n" + LOOKUP
        + "if r0 == 0 goto <l>\n*(u32 *)(r0 + 0) = r6\n<l>:\nr0 = 0\nexit",
        ["9: Invalid type (r6.type == number)"]),
    "partial fill used as a pointer": (
        "*(u64 *)(r10 - 8) = r10\nr2 = *(u32 *)(r10 - 8)\nr0 = *(u8 *)(r2 + 0)\nr0 = 0\nexit",
        [f"2: Invalid type (r2.type {MEMORY_TYPES})"]),
    "pointer overwritten in part then filled": (
        "*(u64 *)(r10 - 8) = r10\n*(u8 *)(r10 - 8) = 1\nr2 = *(u64 *)(r10 - 8)\n"
        "r0 = *(u8 *)(r2 + 0)\nr0 = 0\nexit",
        [f"3: Invalid type (r2.type {MEMORY_TYPES})"]),
    "spilled pointer read at a variable offset": (
        "*(u64 *)(r10 - 8) = r10\ncall 7\nr0 &= 7\nr2 = r10\nr2 += -8\nr2 += r0\n"
        "r0 = *(u8 *)(r2 + 0)\nexit",
        ["6: Stack content is not numeric (valid_access(r2.offset, width=1) for read)"]),
    "pointer added to a pointer": (
        "r2 = r10\nr2 += r1\nr0 = 0\nexit",
        ["1: Only numbers can be added to pointers (r1.type in {ctx, stack, packet, shared} "
         "-> r2.type == number)"]),
    # Uninitialised stack.
    "uninitialised stack returned": ("r0 = *(u64 *)(r10 - 8)\nexit",
                                     ["1: Invalid type (r0.type == number)"]),
    "uninitialised stack in arithmetic": (
        "r0 = *(u64 *)(r10 - 8)\nr0 += 1\nr0 = 0\nexit",
        [f"1: Invalid type (r0.type {ARITH_TYPES})"]),
    "uninitialised stack read at a variable offset": (
        "*(u64 *)(r10 - 8) = 0\ncall 7\nr0 &= 15\nr2 = r10\nr2 += -16\nr2 += r0\n"
        "r0 = *(u8 *)(r2 + 0)\nexit",
        ["6: Stack content is not numeric (valid_access(r2.offset, width=1) for read)"]),
    "uninitialised map key": (
        "r1 = map_fd 1\nr2 = r10\nr2 += -4\ncall 1\nr0 = 0\nexit",
        ["4: Illegal map update with a non-numerical value [4092-4096) "
         "(within(r2:key_size(r1)))"]),
    # A map value without a null check.
    "map value without a null check": (
        LOOKUP + "r0 = *(u32 *)(r0 + 0)\nr0 = 0\nexit",
        ["6: Possible null access (valid_access(r0.offset, width=4) for read)"]),
    "map value past its end": (
        LOOKUP + "if r0 == 0 goto <l>\nr0 = *(u32 *)(r0 + 8)\n<l>:\nr0 = 0\nexit",
        ["7: Upper bound must be at most r0.shared_region_size "
         "(valid_access(r0.offset+8, width=4) for read)"]),
    # Ring buffer records: the size reserved bounds them.
    "ring buffer record without a null check": (
        "r1 = map_fd 1\nr2 = 16\nr3 = 0\ncall 131\n*(u64 *)(r0 + 0) = 1\nr0 = 0\nexit",
        ["5: Possible null access (valid_access(r0.offset, width=8) for write)"]),
    # Ring buffer records are references: released once, never leaked nor used after.
    "ring buffer record leaked": (
        "r1 = map_fd 1\nr2 = 16\nr3 = 0\ncall 131\nr0 = 0\nexit",
        ["6: Unreleased reference (ring buffer record reserved at 4)"]),
    "ring buffer record leaked on one path": (
        "r1 = map_fd 1\nr2 = 16\nr3 = 0\ncall 131\nif r0 == 0 goto <out>\n"
        "r6 = *(u32 *)(r0 + 0)\nif r6 == 7 goto <out>\nr1 = r0\nr2 = 0\ncall 132\n"
        "<out>:\nr0 = 0\nexit",
        ["12: Unreleased reference (ring buffer record reserved at 4)"]),
    "ring buffer record used after submit": (
        "r1 = map_fd 1\nr2 = 16\nr3 = 0\ncall 131\nif r0 == 0 goto <l>\nr6 = r0\n"
        "r1 = r0\nr2 = 0\ncall 132\n*(u64 *)(r6 + 0) = 1\n<l>:\nr0 = 0\nexit",
        [f"10: Invalid type (r6.type {MEMORY_TYPES})"]),
    "spilled record used after discard": (
        "r1 = map_fd 1\nr2 = 16\nr3 = 0\ncall 131\nif r0 == 0 goto <l>\n"
        "*(u64 *)(r10 - 8) = r0\nr1 = r0\nr2 = 0\ncall 133\nr1 = *(u64 *)(r10 - 8)\n"
        "*(u64 *)(r1 + 0) = 1\n<l>:\nr0 = 0\nexit",
        [f"11: Invalid type (r1.type {MEMORY_TYPES})"]),
    "ring buffer record submitted twice": (
        "r1 = map_fd 1\nr2 = 16\nr3 = 0\ncall 131\nif r0 == 0 goto <l>\nr6 = r0\n"
        "r1 = r0\nr2 = 0\ncall 132\nr1 = r6\nr2 = 0\ncall 132\n<l>:\nr0 = 0\nexit",
        ["12: Invalid type (r1.type == alloc_mem)"]),
    "null record submitted": (
        "r1 = map_fd 1\nr2 = 16\nr3 = 0\ncall 131\nr1 = r0\nr2 = 0\ncall 132\nr0 = 0\nexit",
        ["7: Possible null record (r1 may be 0)"]),
    "ring buffer reserve in a loop without release": (
        "r6 = 0\n<l>:\nr1 = map_fd 1\nr2 = 16\nr3 = 0\ncall 131\nr6 += 1\n"
        "if r6 < 4 goto <l>\nr0 = 0\nexit",
        ["5: Ring buffer record reserved at 5 may still be held"]),
    # Context offsets out of range.
    "context read past its end": (
        "r0 = *(u32 *)(r1 + 64)\nr0 = 0\nexit",
        ["0: Upper bound must be at most ctx_size (valid_access(r1.offset+64, width=4) "
         "for read)"]),
    "context read before its start": (
        "r0 = *(u32 *)(r1 - 4)\nr0 = 0\nexit",
        ["0: Lower bound must be at least 0 (valid_access(r1.offset-4, width=4) for read)"]),
    "context pointer field overwritten": (
        "*(u32 *)(r1 + 4) = 0\nr0 = 0\nexit",
        ["0: Cannot write to context pointer field (valid_access(r1.offset+4, width=4) "
         "for write)"]),
    # Call chains deeper than 8 frames.
    "nine frames": (call_chain(8), ["too many call stack frames"]),
    "recursion": ("call <f>\nr0 = 0\nexit\n<f>:\ncall <f>\nr0 = 0\nexit",
                  ["0/3: illegal recursion"]),
    # Pointer leaks.
    "stack pointer stored in a map": (
        LOOKUP + "if r0 == 0 goto <l>\n*(u64 *)(r0 + 0) = r10\n<l>:\nr0 = 0\nexit",
        ["7: Only numbers can be stored to externally-visible regions "
         "(r0.type != stack -> r10.type == number)"]),
    "stack pointer returned": ("r0 = r10\nexit", ["1: Invalid type (r0.type == number)"]),
    "context pointer returned": ("r0 = r1\nexit", ["1: Invalid type (r0.type == number)"]),
    "map value returned": (LOOKUP + "exit", ["6: Invalid type (r0.type == number)"]),
    "pointer compared signed": (
        "if r10 s> 5 goto <l>\n<l>:\nr0 = 0\nexit",
        ["0: Invalid type (r10.type == number)"]),
    "arithmetic on a map handle": (
        "r1 = map_fd 1\nr1 += 8\nr0 = 0\nexit",
        [f"2: Invalid type (r1.type {ARITH_TYPES})"]),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_program_is_rejected_with_its_message(name: str) -> None:
    text, expected = BAD[name]
    started = time.monotonic()
    assert failures(text) == expected
    print(f"{name}: {1000 * (time.monotonic() - started):.1f} ms")


def test_invalid_bytecode_is_refused_not_crashed_on() -> None:
    """Found by the fuzzer: ``mov`` with a non-zero offset field crashed the analysis
    (a negative shift); a jump out of the program ended the path unchecked."""
    mov_with_offset = Instruction(op.CLASS_ALU64 | op.ALU_MOV | op.SRC_K, 0, 0, -8, 0)
    result = verify([mov_with_offset, Instruction(op.OPCODE_EXIT)])
    assert not result.complete
    assert [m.label for m in result.messages] == ["0"]
    assert result.messages[0].text.startswith("Invalid bytecode: ")
    jump_out = [Instruction(op.CLASS_JMP | op.JMP_JA, 0, 0, 5, 0), Instruction(op.OPCODE_EXIT)]
    assert [str(m) for m in verify(jump_out).messages] == [
        "0: Invalid bytecode: jump to slot 6, not an instruction"]
    assert [str(m) for m in verify(program("r0 = 0")).messages] == [
        "0: Invalid bytecode: the program falls off its end"]


def test_eight_frames_are_allowed_and_run() -> None:
    insns = program(call_chain(7))
    assert failures(call_chain(7)) == []
    assert Vm(isa.encode(insns), bounds_check=True).run(bytearray(64)) == 0


def test_division_by_zero_is_defined_and_accepted() -> None:
    text = "r0 = 5\nr1 = 0\nr0 /= r1\nr2 = 7\nr2 %= r1\nr0 += r2\nw3 = 9\nw3 /= w1\nr0 += r3\nexit"
    assert failures(text) == []
    # As the ISA defines: x / 0 = 0 and x % 0 = x.
    assert Vm(isa.assemble(text, "kernel"), bounds_check=True).run(bytearray(64)) == 7


def test_reserve_and_submit_in_a_loop_is_accepted() -> None:
    assert failures("r6 = 0\n<l>:\nr1 = map_fd 1\nr2 = 16\nr3 = 0\ncall 131\n"
                    "if r0 == 0 goto <n>\nr1 = r0\nr2 = 0\ncall 132\n<n>:\nr6 += 1\n"
                    "if r6 < 4 goto <l>\nr0 = 0\nexit") == []


def test_unreachable_code_is_refused_when_asked() -> None:
    """Unreachable instructions never run: PREVAIL ignores them (the default here);
    with ``reject_unreachable`` they are refused, as Linux does."""
    text = "r0 = 0\nexit\nr0 = *(u64 *)(r5 + 0)\nexit\ngoto -1"
    assert failures(text) == []
    options = replace(fuzz.options(), reject_unreachable=True)
    result = analyze(fuzz.slots(program(text)), {},
                     initial_state(parse_pre(fuzz.pre_state())), options)
    assert [str(m) for m in result.messages] == [
        "2: Unreachable instruction", "3: Unreachable instruction", "4: Unreachable instruction"]


def test_a_million_instructions_end_at_the_processing_limit() -> None:
    mov = Instruction(op.CLASS_ALU64 | op.ALU_MOV | op.SRC_K, 0, 0, 0, 0)
    insns = [mov] * 999_999 + [Instruction(op.OPCODE_EXIT)]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    result = verify(insns)
    took = time.monotonic() - started
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    print(f"\n1M instructions: {took:.1f} s, max RSS grew {grown / 1024:.0f} MB, "
          f"{result.processed} processed")
    assert not result.complete
    assert [str(m) for m in result.messages] == ["processed more than 100000 instructions"]


def test_loop_on_an_unchanged_value_is_rejected() -> None:
    assert failures("call 7\n<l>:\nif r0 != 5 goto <l>\nr0 = 0\nexit") == [
        "1 (counter): Loop counter is too large (pc[1] < 100000)"]


# 32-bit subtraction of two pointers ---------------------------------------------------

#: r4: the distance of two packet pointers taken in 32 bits ({sub}), then added to the
#: packet's start and two bytes read there after a bounds check (if {checked})
SUB32 = ("r2 = *(u32 *)(r1 + 0)\nr3 = *(u32 *)(r1 + 4)\nr4 = r2\nr4 += 14\n{sub}\n"
         "r5 = r2\nr5 += r4\nr6 = r5\nr6 += 2\nif r6 > r3 goto <out>\n{read}"
         "r0 = *(u16 *)(r5 + 0)\nexit\n<out>:\nr0 = 0\nexit")


def test_pointer_distance_in_32_bits_is_a_number() -> None:
    # as Cilium's ``w1 -= w4`` (a header's offset from the packet's start)
    text = SUB32.format(sub="w4 -= w2", read="")
    assert failures(text) == []
    outcome = fuzz.execute(program(text), random.Random(3), 64)
    assert outcome.runs == 64 and outcome.violation is None


def test_pointer_distance_in_32_bits_of_two_regions_is_rejected() -> None:
    assert failures(SUB32.format(sub="w4 -= w10", read="")) == [
        "4: Cannot subtract pointers to different regions (r10.type == number or "
        "r4.type == r10.type in {ctx, stack, packet})"]


def test_pointer_distance_in_32_bits_read_past_the_check_is_rejected() -> None:
    # r4 is 14 exactly: four bytes at r5 + 2 are past the two the check proved
    assert failures(SUB32.format(sub="w4 -= w2", read="r0 = *(u32 *)(r5 + 2)\n")) == [
        "10: Upper bound must be at most packet_size (valid_access(r5.offset+2, width=4) "
        "for read)"]


# A ring buffer record as a helper's memory argument ------------------------------------

#: bpf_get_current_comm filling {size} bytes at {off} of a 16-byte record ({check})
RECORD_COMM = ("r1 = map_fd 1\nr2 = 16\nr3 = 0\ncall 131\n{check}r6 = r0\nr1 = r0\n"
               "r1 += {off}\nr2 = {size}\ncall 16\nr1 = r6\nr2 = 0\ncall 132\n<out>:\n"
               "r0 = 0\nexit")
NULL_CHECK = "if r0 == 0 goto <out>\n"


def test_helper_fills_a_ring_buffer_record() -> None:
    # as cilium/ebpf's ringbuffer example: the task's name into the record reserved
    text = RECORD_COMM.format(check=NULL_CHECK, off=4, size=12)
    assert failures(text) == []
    outcome = fuzz.execute(program(text), random.Random(5), 32)
    assert outcome.runs == 32 and outcome.violation is None


def test_helper_filling_past_a_ring_buffer_record_is_rejected() -> None:
    assert failures(RECORD_COMM.format(check=NULL_CHECK, off=4, size=13)) == [
        "10: Upper bound must be at most r1.alloc_mem_size (valid_access(r1.offset, "
        "width=r2) for write)"]


def test_helper_filling_a_record_not_checked_for_null_is_rejected() -> None:
    msgs = failures(RECORD_COMM.format(check="", off=0, size=8).replace("<out>:\n", ""))
    assert msgs and "Possible null" in msgs[0]
