"""Relational facts the verifier keeps for real programs (verifier.relations).

Lengths computed as ``end - start`` bound what a helper may read from ``start`` and
where ``start + len`` lies; a bound proven on a number holds for its copies (``r7 = r6
+ 1``); a join where each path wrote as many stack bytes as its size register says
keeps that relation. Each safe program has unsafe neighbours (the length of another
region, off by one, a size changed after the join, ...) that must stay rejected.

Programs are XDP programs (``struct xdp_md``: data at 0, data_end at 4) in the
project's assembler, verified as bpf_object__load verifies them.
"""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from libbpf_compat import isa
from libbpf_compat.errors import LibbpfError
from libbpf_compat.hooks.contexts import XDP_LINUX
from libbpf_compat.isa import assemble
from libbpf_compat.verifier import fuzz
from libbpf_compat.verifier.analysis import analyze, initial_state
from libbpf_compat.verifier.cases import parse_pre
from libbpf_compat.verifier.program import verify_program
from libbpf_compat.verifier.transfer import CtxModel
from libbpf_compat.verifier.types import PACKET as PACKET_START
from libbpf_compat.verifier.types import PACKET_END

MUTANTS = 60  # per program

PACKET = "r2 = *(u32 *)(r1 + 0)\nr3 = *(u32 *)(r1 + 4)\n"
#: bpf_csum_diff(r1 = from, r2 = from_size, 0, 0, 0): reads r2 bytes at r1
CSUM = "r3 = 0\nr4 = 0\nr5 = 0\ncall 28\n"
OUT = "<out>:\nr0 = 0\nexit"
#: 24 bytes of stack from fp-48 hold numbers; r1 points at them
STACK24 = ("*(u64 *)(r10 - 48) = 0\n*(u64 *)(r10 - 40) = 0\n*(u64 *)(r10 - 32) = 0\n"
           "r1 = r10\nr1 += -48\n")
RANDOM = "call 7\n"  # bpf_get_prandom_u32: r0 unknown

UPPER = "Upper bound must be at most packet_size"
LOWER = "Lower bound must be at least meta_offset"
NOT_NUMERIC = "Stack content is not numeric"

#: sum the first min(len, 64) bytes: i < len bounds the read at data + i
LOOP = (PACKET + "r3 -= r2\nr4 = 0\nr0 = 0\n<loop>:\n{exit_test}\nif r4 > 63 goto <out>\n"
        "r5 = r2\nr5 += r4\nr6 = *(u8 *)(r5 + 0)\nr0 += r6\nr4 += 1\ngoto <loop>\n"
        "<out>:\nexit")

SAFE = {
    # the length of [data, end) bounded above: a helper may read that many bytes
    "helper reads len bytes": (
        PACKET + "r3 -= r2\nif r3 > 64 goto <out>\nr1 = r2\nr2 = r3\n" + CSUM + OUT),
    # min(len, 64) written as a branch and a join (as clang compiles it)
    "helper reads min(len, 64) bytes": (
        PACKET + "r3 -= r2\nr4 = 64\nif r4 > r3 goto <min>\nr3 = 64\n<min>:\n"
        "r1 = r2\nr2 = r3\n" + CSUM + OUT),
    # the length through a spill and a fill, and masked
    "spilled and masked length": (
        PACKET + "r3 -= r2\n*(u64 *)(r10 - 8) = r3\nr6 = r2\ncall 7\n"
        "r2 = *(u64 *)(r10 - 8)\nr2 &= 63\nr1 = r6\n" + CSUM + OUT),
    # the length of [data + 8, end), from data + 8 (checked against the end first)
    "length past a header": (
        PACKET + "r4 = r2\nr4 += 8\nif r4 > r3 goto <out>\nr3 -= r4\n"
        "if r3 > 32 goto <out>\nr1 = r4\nr2 = r3\n" + CSUM + OUT),
    # a length of a shorter region is also fine from its start's predecessor
    "shorter length from an earlier start": (
        PACKET + "r4 = r2\nr4 += 8\nif r4 > r3 goto <out>\nr3 -= r4\n"
        "if r3 > 32 goto <out>\nr1 = r2\nr2 = r3\n" + CSUM + OUT),
    # a lower bound on the length is a lower bound on the packet
    "len >= 2 proves two bytes": (
        PACKET + "r3 -= r2\nif r3 < 2 goto <out>\nr0 = *(u16 *)(r2 + 0)\n" + OUT),
    # data + len is the end: the byte before it is in the packet when len >= 1
    "last byte at data + len - 1": (
        PACKET + "r3 -= r2\nif r3 == 0 goto <out>\nr2 += r3\nr0 = *(u8 *)(r2 - 1)\n" + OUT),
    # a loop over the bytes of [data, end): i < len
    "loop while i < len": LOOP.format(exit_test="if r4 >= r3 goto <out>"),
    "loop while len > i": LOOP.format(exit_test="if r3 <= r4 goto <out>"),
    # a bound on one copy bounds the others: r7 = r6 + 1 <= 11 once r6 <= 10
    "bound through a copy moved by a constant": (
        RANDOM + "r6 = r0\nr6 &= 65535\nr7 = r6\nr7 += 1\nif r6 > 10 goto <out>\n"
        "*(u64 *)(r10 - 16) = 0\n*(u64 *)(r10 - 8) = 0\nr8 = r10\nr8 += -16\nr8 += r7\n"
        "r0 = *(u8 *)(r8 + 0)\n" + OUT),
    # each path wrote as many stack bytes as its size says (Cilium's event sizes)
    "stack run sized by the path": (
        RANDOM + STACK24 + "r2 = 24\nif r0 == 0 goto <send>\n*(u64 *)(r10 - 24) = 0\n"
        "r2 = 32\n<send>:\n" + CSUM + OUT),
}

UNSAFE = {
    # the length of [data, end) read from data + 8
    "length read from a later start": (
        PACKET + "r4 = r2\nr4 += 8\nif r4 > r3 goto <out>\nr3 -= r2\n"
        "if r3 > 32 goto <out>\nr1 = r4\nr2 = r3\n" + CSUM + OUT, UPPER),
    # one byte more than the length
    "length plus one": (
        PACKET + "r3 -= r2\nif r3 > 64 goto <out>\nr3 += 1\nr1 = r2\nr2 = r3\n"
        + CSUM + OUT, UPPER),
    # min(len, 64) where the join's other side was not proven to fit
    "min with the wrong branch": (
        PACKET + "r3 -= r2\nr4 = 64\nif r4 < r3 goto <min>\nr3 = 64\n<min>:\n"
        "r1 = r2\nr2 = r3\n" + CSUM + OUT, UPPER),
    # data - end is no length
    "length with the wrong sign": (
        PACKET + "r2 -= r3\nif r2 > 64 goto <out>\nr1 = *(u32 *)(r1 + 0)\n" + CSUM + OUT,
        UPPER),
    # the length of the packet before the helper that may move it
    "length of a stale packet": (
        PACKET + "r3 -= r2\nr6 = r3\nr7 = r1\nr2 = 4\ncall 44\nif r6 > 64 goto <out>\n"
        "r1 = *(u32 *)(r7 + 0)\nr2 = r6\n" + CSUM + OUT, UPPER),
    # ... or before a called function that may move it
    "length of a packet a callee moved": (
        PACKET + "r3 -= r2\nif r3 > 64 goto <out>\nr6 = r3\nr7 = r1\ncall <grow>\n"
        "r1 = *(u32 *)(r7 + 0)\nr2 = r6\n" + CSUM + OUT
        + "\n<grow>:\nr2 = 4\ncall 44\nr0 = 0\nexit", UPPER),
    "len >= 1 does not prove two bytes": (
        PACKET + "r3 -= r2\nif r3 < 1 goto <out>\nr0 = *(u16 *)(r2 + 0)\n" + OUT, UPPER),
    "the byte at data + len": (
        PACKET + "r3 -= r2\nif r3 == 0 goto <out>\nr2 += r3\nr0 = *(u8 *)(r2 + 0)\n" + OUT,
        UPPER),
    "the byte before data + len when len may be 0": (
        PACKET + "r3 -= r2\nr2 += r3\nr0 = *(u8 *)(r2 - 1)\n" + OUT, LOWER),
    "loop while i <= len": (LOOP.format(exit_test="if r4 > r3 goto <out>"), UPPER),
    "loop bounded by a constant only": (
        LOOP.format(exit_test="r7 = 64\nif r4 s>= r7 goto <out>"), UPPER),
    "bound through a copy, too large": (
        RANDOM + "r6 = r0\nr6 &= 65535\nr7 = r6\nr7 += 1\nif r6 > 15 goto <out>\n"
        "*(u64 *)(r10 - 16) = 0\n*(u64 *)(r10 - 8) = 0\nr8 = r10\nr8 += -16\nr8 += r7\n"
        "r0 = *(u8 *)(r8 + 0)\n" + OUT, "Upper bound must be at most total_stack_size"),
    "stack run one path short": (
        RANDOM + STACK24 + "r2 = 24\nif r0 == 0 goto <send>\n*(u32 *)(r10 - 24) = 0\n"
        "r2 = 32\n<send>:\n" + CSUM + OUT, NOT_NUMERIC),
    "stack run overwritten by a pointer": (
        RANDOM + STACK24 + "r2 = 24\nif r0 == 0 goto <send>\n*(u64 *)(r10 - 24) = 0\n"
        "r2 = 32\n<send>:\n*(u64 *)(r10 - 24) = r10\n" + CSUM + OUT, NOT_NUMERIC),
    "stack run with the size grown after the join": (
        RANDOM + STACK24 + "r2 = 24\nif r0 == 0 goto <send>\n*(u64 *)(r10 - 24) = 0\n"
        "r2 = 32\n<send>:\nr2 += 8\n" + CSUM + OUT, NOT_NUMERIC),
    "stack run from another start": (
        RANDOM + STACK24 + "r2 = 24\nif r0 == 0 goto <send>\n*(u64 *)(r10 - 24) = 0\n"
        "r2 = 32\n<send>:\nr1 += 8\n" + CSUM + OUT, NOT_NUMERIC),
}


def verdict(text: str) -> tuple[bool, list[str]]:
    found = verify_program("t", assemble(text, "kernel"), layout=XDP_LINUX)
    return found.ok, found.messages


@pytest.mark.parametrize("name", sorted(SAFE))
def test_related_program_is_proven(name: str) -> None:
    ok, messages = verdict(SAFE[name])
    assert ok, messages


@pytest.mark.parametrize("name", sorted(UNSAFE))
def test_unrelated_neighbour_is_rejected(name: str) -> None:
    text, reason = UNSAFE[name]
    ok, messages = verdict(text)
    assert not ok
    assert any(reason in m for m in messages), messages


def test_mutants_the_relations_accept_run_in_bounds() -> None:
    """Mutations of these programs (an immediate, an offset, a register, an opcode),
    verified as real XDP programs: each one accepted runs over random packets with the
    VM's bounds checks on, and never trips them."""
    try:
        fuzz.arena()
    except LibbpfError as exc:  # the fuzzer's memory must lie below 2 GiB (x86-64)
        pytest.skip(f"no memory below 2 GiB for the fuzzer: {exc}")
    # the fuzzer's context: data and data_end (32-bit) lead 64 readable bytes
    ctx = CtxModel("fuzz ctx", fuzz.CTX_SIZE, {0: PACKET_START, 4: PACKET_END}, 4,
                   ((0, fuzz.CTX_SIZE),), ())
    options = replace(fuzz.options(), ctx=ctx, termination=True)
    rng = random.Random(20261126)
    seeds = [*SAFE.values(), *(text for text, _ in UNSAFE.values())]
    accepted = 0
    for text in seeds:
        original = isa.decode(assemble(text, "kernel"))
        for _ in range(MUTANTS):
            insns = fuzz.mutate(rng, original)
            state = initial_state(parse_pre(fuzz.pre_state()))
            result = analyze(fuzz.slots(insns), {}, state, options)
            if not fuzz.accepted(result):
                continue
            accepted += 1
            outcome = fuzz.execute(insns, rng, 12)
            assert outcome.violation is None, (outcome.violation, isa.disassemble(insns))
    assert accepted > len(seeds)  # most programs keep being accepted after one change
