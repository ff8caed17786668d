"""The verifier against PREVAIL's YAML test cases, and unit tests of its domains.

The YAML cases live in the shared data (``verifier-tests/``); the agreement test
runs all of them, prints the rate of cases whose message set matches exactly, and
guards a floor so a regression shows.
"""

from __future__ import annotations

import collections
import re
from pathlib import Path

import pytest

from libbpf_compat.isa import assemble, decode, slot_indices
from libbpf_compat.verifier import checks, numeric
from libbpf_compat.verifier.analysis import analyze, initial_state
from libbpf_compat.verifier.cases import Interval, parse_assume, parse_case, parse_pre
from libbpf_compat.verifier.harness import run_case
from libbpf_compat.verifier.numeric import Scalar
from libbpf_compat.verifier.types import RegValue
from tests.shared_data import SHARED, shared_path

AGREEMENT_FLOOR = 0.95


def _kind(message: str) -> str:
    text = re.sub(r"^[\d/:]+(?: \(\w+\))?: ", "", message)
    return re.sub(r"\(.*", "", text).strip()


def test_yaml_agreement() -> None:
    pytest.importorskip("yaml")
    from libbpf_compat.verifier.cases import load_directory

    directory = shared_path("verifier-tests")
    cases = load_directory(directory)
    assert len(cases) >= 800
    agree = 0
    missed: collections.Counter[str] = collections.Counter()
    extra: collections.Counter[str] = collections.Counter()
    other: collections.Counter[str] = collections.Counter()
    for case in cases:
        outcome = run_case(case)
        if outcome.agrees:
            agree += 1
            continue
        if outcome.error is not None:
            other[outcome.error.split(":")[0]] += 1
        for m in outcome.expected - outcome.produced:
            missed[_kind(m)] += 1
        for m in outcome.produced - outcome.expected:
            extra[_kind(m)] += 1
    rate = agree / len(cases)
    print(f"\nverifier YAML agreement: {agree}/{len(cases)} = {rate:.1%} (floor "
          f"{AGREEMENT_FLOOR:.0%}; shared data {SHARED})")
    print("  not run:", dict(other))
    print("  expected but not produced:", dict(missed.most_common()))
    print("  produced but not expected:", dict(extra.most_common()))
    assert rate >= AGREEMENT_FLOOR


# Parsing -----------------------------------------------------------------------------------


def test_parse_pre_state() -> None:
    pre = parse_pre(["r1.type=number", "r1.svalue=[-3, 5]", "r1.uvalue=r1.svalue",
                     "r10.type=stack", "r10.stack_offset=512", "r2.type in {ctx, shared}",
                     "s[504...511].type=number", "packet_size=[0, 64]", "meta_offset=-4",
                     "r1.svalue-r2.svalue<=3"])
    assert pre.registers[1].types == frozenset({"number"})
    assert pre.registers[1].svalue == Interval(-3, 5)
    assert pre.registers[1].uvalue == "r1.svalue"
    assert pre.registers[10].offsets == {"stack_offset": Interval(512, 512)}
    assert pre.registers[2].types == frozenset({"ctx", "shared"})
    assert (pre.stack[0].lo, pre.stack[0].hi, pre.stack[0].field) == (504, 511, "type")
    assert pre.packet_size == Interval(0, 64)
    assert pre.meta_offset == Interval(-4, -4)
    assert pre.relations == ["r1.svalue-r2.svalue<=3"]


def test_parse_case_with_labels_and_assume() -> None:
    case = parse_case({
        "test-case": "t", "pre": [], "post": ["_|_"], "options": ["termination"],
        "code": {"<start>": "r0 = 0\nassume w0 s> 3\nif r0 > 1 goto <out>\nr0 = 1\n",
                 "<out>": "exit\n"},
        "messages": ["1: Code becomes unreachable (assume r0 ws> 3)"],
    })
    assert case.program is not None
    assert case.program.labels == {"<start>": 0, "<out>": 4}
    assert case.program.assumes[1] == parse_assume("assume w0 s> 3")
    assert case.program.assumes[1].text() == "r0 ws> 3"
    assert case.option("termination", False)
    result = run_case(case)
    assert result.produced == result.expected


# The numeric domain ------------------------------------------------------------------------


def test_scalar_reduction_between_signed_and_unsigned() -> None:
    s = Scalar.from_signed(-1, -1)
    assert s.u == Interval(numeric.UMAX64, numeric.UMAX64)
    assert Scalar.from_unsigned(0, 10).s == Interval(0, 10)
    assert Scalar.from_signed(-2, 3).u == numeric.U_TOP


def test_binary_operations() -> None:
    a = Scalar.from_unsigned(2, 5)
    assert numeric.binary("add", a, Scalar.const(3)).u == Interval(5, 8)
    assert numeric.binary("sub", Scalar.const(0), Scalar.const(1)).s == Interval(-1, -1)
    assert numeric.binary("mul", a, Scalar.const(4)).u == Interval(8, 20)
    assert numeric.binary("div", Scalar.const(7), Scalar.const(0)).value == 0
    assert numeric.binary("mod", Scalar.const(7), Scalar.const(0)).value == 7
    assert numeric.binary("and", a, Scalar.const(3)).u == Interval(0, 3)
    assert numeric.binary("lsh", Scalar.const(1), Scalar.const(63)).value == 1 << 63
    assert numeric.binary("arsh", Scalar.const(-8), Scalar.const(1)).s == Interval(-4, -4)
    assert numeric.binary("sdiv", Scalar.const(-7), Scalar.const(2)).s == Interval(-3, -3)
    # 32-bit operations zero-extend.
    assert numeric.binary("sub", Scalar.const(0), Scalar.const(1), is64=False).value == (
        numeric.MASK32)
    assert numeric.movsx(Scalar.const(0xFF), 8).s == Interval(-1, -1)
    assert numeric.byteswap(Scalar.const(0x1234), 16, to_big=True).value == 0x3412


def test_join_widen_and_refine() -> None:
    a, b = Scalar.const(1), Scalar.const(5)
    assert a.join(b).u == Interval(1, 5)
    widened = a.widen(a.join(b))
    # Widened far, not quite to the limit: 1 and 5 share their low two bits (01), which
    # known bits keep, and the low half's signed range widens to 2**31 - 1 only.
    assert widened.u.hi > 1 << 62 and widened.tv & 3 == 1
    top = Scalar()
    lt, _ = numeric.refine(top, Scalar.const(10), "<")
    assert lt.u == Interval(0, 9)
    slt, _ = numeric.refine(top, Scalar.const(10), "s<")
    assert slt.s == Interval(numeric.SMIN64, 9)
    empty, _ = numeric.refine(Scalar.const(3), Scalar.const(1), "<")
    assert empty.bottom
    w, _ = numeric.refine(Scalar.from_unsigned(0, 100), Scalar.const(11), "==", is64=False)
    assert w.value == 11


# Checks and the analysis -------------------------------------------------------------------


def test_checks() -> None:
    num = RegValue.number(Scalar.from_unsigned(0, 4))
    assert checks.number(1, num) is None
    stack = RegValue.pointer("stack", Scalar.const(512))
    assert checks.number(10, stack) == "Invalid type (r10.type == number)"
    assert checks.divisor(2, num, True, allow_zero=False) == "Possible division by zero (r2 != 0)"
    assert checks.divisor(2, num, True, allow_zero=True) is None
    shared = RegValue.pointer("shared", Scalar.const(4), region_size=Scalar.const(10))
    assert checks.bounds(2, shared, 4, 4, True, Scalar(), Scalar.const(0)) == (
        "Upper bound must be at most r2.shared_region_size "
        "(valid_access(r2.offset+4, width=4) for write)")
    assert checks.bounds(2, shared, 0, 4, False, Scalar(), Scalar.const(0)) is None


def _run(code: str, pre: list[str]) -> set[str]:
    insns = decode(assemble(code, "kernel"))
    program = dict(zip(slot_indices(insns), insns, strict=True))
    return analyze(program, {}, initial_state(parse_pre(pre))).texts


def test_analysis_messages() -> None:
    assert _run("r0 = *(u64 *)(r1 + 0)\nexit", ["r1.type=number"]) == {
        "0: Invalid type (r1.type in {ctx, stack, packet, shared, socket, alloc_mem})"}
    assert _run("*(u64 *)(r10 - 8) = 0\nr0 = *(u64 *)(r10 - 8)\nexit",
                ["r10.type=stack", "r10.stack_offset=512"]) == set()
    assert _run("r0 = *(u64 *)(r10 + 0)\nexit", ["r10.type=stack", "r10.stack_offset=4096"]) == {
        "0: Upper bound must be at most total_stack_size "
        "(valid_access(r10.offset, width=8) for read)"}
    assert _run("exit", []) == {"0: Invalid type (r0.type == number)"}


def test_loop_terminates_with_widening() -> None:
    code = "r0 = 0\nr1 = 0\nr1 += 1\nif r1 < 1000 goto -2\nexit"
    assert _run(code, []) == set()


def test_shared_data_marker() -> None:
    assert isinstance(SHARED, Path)
