"""Soundness: no program the verifier accepts trips the VM's bounds checks.

A CI-sized fuzz campaign (``LBC_FUZZ_ITERATIONS`` programs, 1500 by default; a long run
is ``python3 -m libbpf_compat.verifier.fuzz --iterations N``) plus the minimised
programs of the verifier bugs it found: each one faults in the VM when run without the
verifier, and the verifier now rejects it with the message that names the fault.
"""

from __future__ import annotations

import os
import random

import pytest

from libbpf_compat import isa
from libbpf_compat.errors import LibbpfError
from libbpf_compat.isa import Instruction
from libbpf_compat.verifier import fuzz
from libbpf_compat.verifier.analysis import analyze, initial_state
from libbpf_compat.verifier.cases import parse_pre
from libbpf_compat.verifier.transfer import Options
from tests.shared_data import shared_path

ITERATIONS = int(os.environ.get("LBC_FUZZ_ITERATIONS", "1500"))

try:
    fuzz.arena()
except LibbpfError as exc:  # the fuzzer's memory must lie below 2 GiB (MAP_32BIT, x86-64)
    pytest.skip(f"no memory below 2 GiB for the fuzzer: {exc}", allow_module_level=True)


def program(text: str) -> list[Instruction]:
    return isa.decode(isa.assemble(text, "kernel"))


def messages(insns: list[Instruction], options: Options | None = None,
             pre: list[str] | None = None) -> list[str]:
    state = initial_state(parse_pre(pre if pre is not None else fuzz.pre_state()))
    result = analyze(fuzz.slots(insns), {}, state, options or fuzz.options())
    return [str(m) for m in result.messages if "unreachable" not in m.text]  # by slot


def faults_unverified(insns: list[Instruction]) -> str | None:
    """The bounds violation the program hits when run without the verifier, if any."""
    return fuzz.execute(insns, random.Random(7), 40).violation


# The campaign ------------------------------------------------------------------------------


def test_generated_and_mutated_programs_never_trip_a_bounds_check() -> None:
    stats = fuzz.campaign(ITERATIONS, seed=20261126, runs=6)
    print(f"\nsoundness fuzz: {stats}")
    assert not stats.verifier_crashes, stats.verifier_crashes[0]
    assert not stats.violations, "\n".join(stats.violations[0])
    # The campaign must exercise the VM, not only the verifier's rejections.
    assert stats.accepted >= ITERATIONS // 20
    assert stats.runs >= stats.accepted


def test_mutated_yaml_cases_never_trip_a_bounds_check() -> None:
    pytest.importorskip("yaml")
    seeds = fuzz.yaml_seeds(shared_path("verifier-tests"))
    assert len(seeds) > 500
    stats = fuzz.campaign(max(ITERATIONS // 3, 100), seed=6, runs=4, seeds=seeds)
    print(f"\nsoundness fuzz (YAML seeds): {stats}")
    assert not stats.verifier_crashes, stats.verifier_crashes[0]
    assert not stats.violations, "\n".join(stats.violations[0])


def test_mutated_corpus_programs_never_trip_a_bounds_check() -> None:
    seeds = fuzz.corpus_seeds(shared_path("corpus", "ebpf-samples"), limit=60)
    assert seeds
    stats = fuzz.campaign(max(ITERATIONS // 10, 50), seed=8, runs=4, seeds=seeds)
    print(f"\nsoundness fuzz (corpus seeds): {stats}")
    assert not stats.verifier_crashes, stats.verifier_crashes[0]
    assert not stats.violations, "\n".join(stats.violations[0])


def test_the_fuzzer_finds_a_planted_fault() -> None:
    """The harness catches what it is for: a program that reads past the packet faults."""
    insns = program("r7 = *(u32 *)(r1 + 0)\nr0 = *(u64 *)(r7 + 0)\nr0 = 0\nexit")
    assert messages(insns) == [
        "1: Upper bound must be at most packet_size (valid_access(r7.offset, width=8) "
        "for read)"]
    assert faults_unverified(insns) is not None


def test_helper_arguments_are_checked_by_the_harness() -> None:
    insns = program("r1 = r10\nr1 += -4\nr2 = 64\nr3 = 0\ncall 113\nr0 = 0\nexit")
    assert faults_unverified(insns) is not None
    assert messages(insns) == [
        "4: Upper bound must be at most total_stack_size "
        "(valid_access(r1.offset, width=r2) for write)"]


# The verifier bugs the fuzzer found, minimised ------------------------------------------------

REGRESSIONS = {
    # A callee wrote a number over the caller's spilled stack pointer through a pointer
    # argument; the caller's stack was restored from before the call.
    "callee writes the caller's frame": (
        "r1 = r10\nr1 += -16\nr2 = r10\n*(u64 *)(r10 - 16) = r2\ncall <f>\n"
        "r2 = *(u64 *)(r10 - 16)\nr0 = *(u64 *)(r2 - 8)\nr0 = 0\nexit\n"
        "<f>:\n*(u64 *)(r1 + 0) = 5\nr0 = 0\nexit",
        "6: Invalid type (r2.type in {ctx, stack, packet, shared, socket, alloc_mem})"),
    # r1-r5 kept the caller's values across a local call.
    "callee clobbers r1": (
        "r1 = r10\ncall <f>\n*(u64 *)(r1 - 8) = 0\nr0 = 0\nexit\n<f>:\nr1 = 5\nr0 = 0\nexit",
        "2: Invalid type (r1.type in {ctx, stack, packet, shared, socket, alloc_mem})"),
    # Pointers were assumed below 2**31: a branch on a stack address was dead code.
    "pointer above 2 GiB": (
        "r2 = r10\nif r2 > 0x7fff0000 goto <l>\nr0 = 0\nexit\n<l>:\n"
        "r0 = *(u64 *)(r2 + 8)\nr0 = 0\nexit",
        "4: Upper bound must be at most total_stack_size (valid_access(r2.offset+8, "
        "width=8) for read)"),
    # A narrow store into the middle of ctx->data went unnoticed.
    "store into part of a context pointer": (
        "*(u16 *)(r1 + 2) = 0\nr7 = *(u32 *)(r1 + 0)\nr8 = *(u32 *)(r1 + 4)\nr2 = r7\n"
        "r2 += 8\nif r2 > r8 goto <l>\nr0 = *(u64 *)(r7 + 0)\n<l>:\nr0 = 0\nexit",
        "0: Cannot write to context pointer field (valid_access(r1.offset+2, width=2) "
        "for write)"),
    # data_end + 100 was still "the end": data + 100 <= it proved 100 bytes.
    "arithmetic on packet_end": (
        "r7 = *(u32 *)(r1 + 0)\nr8 = *(u32 *)(r1 + 4)\nr8 += 100\nr2 = r7\nr2 += 100\n"
        "if r2 > r8 goto <l>\nr0 = *(u64 *)(r7 + 90)\n<l>:\nr0 = 0\nexit",
        "6: Upper bound must be at most packet_size (valid_access(r7.offset+90, width=8) "
        "for read)"),
    # Offsets in one region were compared unsigned: data - 1 <= end was "impossible".
    "negative packet offset compared": (
        "r7 = *(u32 *)(r1 + 0)\nr8 = *(u32 *)(r1 + 4)\nr8 += 64\nr2 = r7\nr2 += -1\n"
        "if r2 > r8 goto +1\n*(u16 *)(r7 + 52) = 179\nr0 = 0\nexit",
        "6: Upper bound must be at most packet_size (valid_access(r7.offset+52, width=2) "
        "for write)"),
    # A helper could write below the current frame (the frame floor was only checked
    # for loads and stores).
    "helper writes below the frame": (
        "r1 = r10\nr1 += -1000\nr2 = 8\nr3 = 0\ncall 113\nr0 = 0\nexit",
        "4: Lower bound must be at least r10.stack_offset - subprogram_stack_size "
        "(valid_access(r1.offset, width=r2) for write)"),
    # A store below the current frame.
    "store below the frame": (
        "*(u64 *)(r10 - 520) = 0\nr0 = 0\nexit",
        "0: Lower bound must be at least r10.stack_offset - subprogram_stack_size "
        "(valid_access(r10.offset-520, width=8) for write)"),
    # A base of several types (packet or stack) was checked against none of them. (The
    # stack path writes in its frame: the packet path is the one refused.)
    "base of two types": (
        "r7 = *(u32 *)(r1 + 0)\nr9 = r10\nr9 += -200\ncall 7\nif r0 > 5 goto <l>\nr9 = r7\n"
        "<l>:\n*(u64 *)(r9 + 100) = 0\nr0 = 0\nexit",
        "6: Upper bound must be at most packet_size (valid_access(r9.offset+100, width=8) "
        "for write)"),
    # Ring buffer records had no size.
    "past a ring buffer record": (
        "r1 = map_fd 1\nr2 = 16\nr3 = 0\ncall 131\nif r0 == 0 goto <l>\n"
        "*(u64 *)(r0 + 16) = 7\nr1 = r0\nr2 = 0\ncall 132\n<l>:\nr0 = 0\nexit",
        "6: Upper bound must be at most r0.alloc_mem_size (valid_access(r0.offset+16, "
        "width=8) for write)"),
    # A map handle plus 32 was still the map (found in a mutated corpus program).
    "arithmetic on a map": (
        "r1 = map_fd 1\nr1 += 32\n*(u32 *)(r10 - 4) = 0\nr2 = r10\nr2 += -4\ncall 1\n"
        "r0 = 0\nexit",
        "2: Invalid type (r1.type in {number, ctx, stack, packet, shared})"),
    # A record that may be null went to bpf_ringbuf_submit.
    "null record submitted": (
        "r1 = map_fd 1\nr2 = 8\nr3 = 0\ncall 131\nr1 = r0\nr2 = 0\ncall 132\nr0 = 0\nexit",
        "7: Possible null record (r1 may be 0)"),
    # A legacy packet load (LD_ABS / LD_IND) ended the path: nothing after it was checked
    # (found by a long run: r2 is the VM's run length there, not a pointer).
    "code after a legacy packet load": (
        "r6 = r1\nr0 = *(u8 *)skb[23]\n*(u32 *)(r2 - 4) = r0\nr0 = 0\nexit",
        "2: Invalid type (r2.type in {ctx, stack, packet, shared, socket, alloc_mem})"),
    # The context had no size.
    "past the context": (
        "r0 = *(u64 *)(r1 + 64)\nr0 = 0\nexit",
        "0: Upper bound must be at most ctx_size (valid_access(r1.offset+64, width=8) "
        "for read)"),
}


@pytest.mark.parametrize("name", sorted(REGRESSIONS))
def test_regression_faults_in_the_vm_and_is_rejected(name: str) -> None:
    text, message = REGRESSIONS[name]
    insns = program(text)
    assert faults_unverified(insns) is not None
    assert messages(insns) == [message]


def test_two_map_values_compare_as_different_objects() -> None:
    """Comparing pointers into two maps says nothing about their offsets: the branch
    where the first is above the second is live (found by review, then fuzzed)."""
    insns = program("""
        *(u64 *)(r10 - 8) = 0
        r1 = map_fd 1
        r2 = r10
        r2 += -8
        call 1
        if r0 == 0 goto <out>
        r6 = r0
        r1 = map_fd 3
        r2 = r10
        r2 += -8
        call 1
        if r0 == 0 goto <out>
        r0 += 12
        if r6 > r0 goto <bad>
        r0 = 0
        exit
    <bad>:
        r0 = *(u64 *)(r6 + 64)
    <out>:
        r0 = 0
        exit
    """)
    assert messages(insns) == [
        "18: Upper bound must be at most r6.shared_region_size "
        "(valid_access(r6.offset+64, width=8) for read)"]


def test_stack_top_option_matches_a_vm_frame_at_512() -> None:
    """With r10 at 512 (the YAML cases' convention), ``stack_size=512`` makes the
    frame's top the limit: a store at r10 + 0 lands above frame 0 in the VM."""
    insns = program("*(u64 *)(r10 + 0) = 0\nr0 = 0\nexit")
    assert faults_unverified(insns) is not None
    pre = ["r1.type=ctx", "r1.ctx_offset=0", "r10.type=stack", "r10.stack_offset=512"]
    assert messages(insns, Options(stack_size=512), pre) == [
        "0: Upper bound must be at most total_stack_size (valid_access(r10.offset, "
        "width=8) for write)"]
