"""The verifier's numeric domain: intervals, 32-bit subregister ranges and known bits.

Property tests draw concrete 64-bit values and abstract Scalars around them (random
interval, subregister and known-bit facts, reduced) and check that every transfer
function's result contains the concrete result, and that branch refinement never drops
a pair of values that satisfies the branch. The oracle below is written from the ISA,
independently of the domain's code.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from libbpf_compat import isa
from libbpf_compat.errors import LibbpfError
from libbpf_compat.isa import Instruction
from libbpf_compat.verifier import fuzz, knownbits, numeric
from libbpf_compat.verifier.analysis import analyze, initial_state
from libbpf_compat.verifier.cases import parse_pre
from libbpf_compat.verifier.numeric import MASK32, MASK64, Interval, Scalar

ALU_OPS = ["add", "sub", "mul", "div", "mod", "sdiv", "smod", "or", "and", "xor", "lsh",
           "rsh", "arsh"]
CONDITIONS = ["==", "!=", "<", "<=", ">", ">=", "s<", "s<=", "s>", "s>=", "&==", "&!="]


def signed(x: int, bits: int) -> int:
    x &= (1 << bits) - 1
    return x - (1 << bits) if x >> (bits - 1) else x


def alu(op: str, a: int, b: int, bits: int) -> int:
    """``a op b`` on ``bits``-wide registers, as the ISA defines it."""
    mask = (1 << bits) - 1
    a, b = a & mask, b & mask
    sa, sb = signed(a, bits), signed(b, bits)
    if op == "div":
        r = 0 if b == 0 else a // b
    elif op == "mod":
        r = a if b == 0 else a % b
    elif op == "sdiv":
        r = 0 if sb == 0 else int(abs(sa) // abs(sb)) * (1 if (sa < 0) == (sb < 0) else -1)
    elif op == "smod":
        r = sa if sb == 0 else sa - sb * (abs(sa) // abs(sb)) * (
            1 if (sa < 0) == (sb < 0) else -1)
    elif op in ("lsh", "rsh", "arsh"):
        k = b % bits
        r = a << k if op == "lsh" else a >> k if op == "rsh" else sa >> k
    else:
        r = {"add": a + b, "sub": a - b, "mul": a * b, "or": a | b, "and": a & b,
             "xor": a ^ b}[op]
    return r & mask


def holds(cond: str, a: int, b: int, bits: int) -> bool:
    mask = (1 << bits) - 1
    a, b = a & mask, b & mask
    if cond.startswith("s"):
        a, b, cond = signed(a, bits), signed(b, bits), cond[1:]
    return {"==": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b,
            "&==": a & b != 0, "&!=": a & b == 0}[cond]


EDGES = [0, 1, 2, 3, 4, 7, 8, 0xFC, 0xFF, 0x100, 0xFFFF, (1 << 31) - 1, 1 << 31, MASK32,
         1 << 32, (1 << 32) + 5, (1 << 63) - 1, 1 << 63, MASK64 - 1, MASK64]
values = st.one_of(st.sampled_from(EDGES), st.integers(0, 300), st.integers(0, MASK32),
                   st.integers(0, MASK64), st.integers(-300, -1).map(lambda v: v & MASK64))
spreads = st.one_of(st.just(0), st.integers(0, 16), st.integers(0, 1 << 34),
                    st.integers(0, 1 << 64))
masks = st.one_of(st.just(0), st.just(MASK64), st.integers(0, 0xFF),
                  st.integers(0, MASK64), st.integers(0, 63).map(lambda k: (1 << k) - 1))


@st.composite
def around(draw: st.DrawFn) -> tuple[int, Scalar]:
    """A concrete value and a Scalar that contains it, with random facts."""
    x = draw(values)
    sx, low = signed(x, 64), x & MASK32
    facts = Scalar()
    chosen = draw(st.lists(st.sampled_from(["s", "u", "s32", "u32", "bits"]), max_size=5))
    for fact in chosen:
        lo, hi = draw(spreads), draw(spreads)
        if fact == "u":
            add = Scalar.from_unsigned(max(0, x - lo), min(MASK64, x + hi))
        elif fact == "s":
            add = Scalar.from_signed(max(numeric.SMIN64, sx - lo), min(numeric.SMAX64, sx + hi))
        elif fact == "u32":
            add = numeric._make(numeric.SMIN64, numeric.SMAX64, 0, MASK64, -(1 << 31),
                                (1 << 31) - 1, max(0, low - lo), min(MASK32, low + hi), 0,
                                MASK64)
        elif fact == "s32":
            s32 = signed(low, 32)
            add = numeric._make(numeric.SMIN64, numeric.SMAX64, 0, MASK64,
                                max(-(1 << 31), s32 - lo), min((1 << 31) - 1, s32 + hi),
                                0, MASK32, 0, MASK64)
        else:
            m = draw(masks)
            add = numeric._make(numeric.SMIN64, numeric.SMAX64, 0, MASK64, -(1 << 31),
                                (1 << 31) - 1, 0, MASK32, x & ~m & MASK64, m)
        assert add.contains(x), (fact, x, add)
        facts = facts.meet(add)
        assert facts.contains(x), (fact, x, facts)
    return x, facts


@settings(max_examples=600, deadline=None)
@given(around(), around(), st.sampled_from(ALU_OPS), st.booleans())
def test_binary_contains_the_concrete_result(a: tuple[int, Scalar], b: tuple[int, Scalar],
                                             op: str, is64: bool) -> None:
    (x, sa), (y, sb) = a, b
    result = numeric.binary(op, sa, sb, is64)
    expected = alu(op, x, y, 64 if is64 else 32)
    assert result.contains(expected), (op, is64, x, y, sa, sb, result)


@settings(max_examples=400, deadline=None)
@given(around(), st.sampled_from([8, 16, 32]), st.sampled_from([16, 32, 64]), st.booleans(),
       st.booleans())
def test_unary_operations_contain_the_concrete_result(
        a: tuple[int, Scalar], width: int, swap_width: int, is64: bool, to_big: bool) -> None:
    x, sa = a
    bits = 64 if is64 else 32
    assert numeric.neg(sa, is64).contains((-x) & ((1 << bits) - 1))
    extended = signed(x, width) & ((1 << bits) - 1)
    assert numeric.movsx(sa, width, is64).contains(extended), (x, width, is64, sa)
    assert numeric.truncate32(sa).contains(x & MASK32)
    low = x & ((1 << swap_width) - 1)
    swapped = int.from_bytes(low.to_bytes(swap_width // 8, "little"), "big")
    result = numeric.byteswap(sa, swap_width, to_big)  # a little-endian host
    assert result.contains(swapped if to_big else low), (x, swap_width, to_big, sa)
    assert numeric.byteswap(sa, swap_width, to_big, True).contains(low if to_big else swapped)


@settings(max_examples=600, deadline=None)
@given(around(), around(), st.sampled_from(CONDITIONS), st.booleans())
def test_refine_keeps_every_pair_that_satisfies_the_branch(
        a: tuple[int, Scalar], b: tuple[int, Scalar], cond: str, is64: bool) -> None:
    (x, sa), (y, sb) = a, b
    na, nb = numeric.refine(sa, sb, cond, is64)
    if holds(cond, x, y, 64 if is64 else 32):
        assert na.contains(x) and nb.contains(y), (cond, is64, x, y, sa, sb, na, nb)
    # The branch not taken: the negated condition.
    na, nb = numeric.refine(sa, sb, numeric.NEGATION[cond], is64)
    if not holds(cond, x, y, 64 if is64 else 32):
        assert na.contains(x) and nb.contains(y), (cond, is64, x, y, sa, sb, na, nb)


@settings(max_examples=400, deadline=None)
@given(around(), around())
def test_lattice_operations_are_sound(a: tuple[int, Scalar], b: tuple[int, Scalar]) -> None:
    (x, sa), (y, sb) = a, b
    joined = sa.join(sb)
    assert joined.contains(x) and joined.contains(y)
    widened = sa.widen(sb, (0, 16, 100, 4096))
    assert widened.contains(x) and widened.contains(y)
    assert sa.leq(joined) and sb.leq(joined)
    if sb.contains(x):
        assert sa.meet(sb).contains(x)
    if sa.leq(sb):
        assert sb.contains(x)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, MASK64), st.integers(0, MASK64), st.integers(0, MASK64))
def test_known_bits_bounds_are_the_nearest_members(v: int, m: int, bound: int) -> None:
    free = m & 0xFFF  # few enough free bits to enumerate the members
    v &= ~free
    members = sorted(v | k for k in _subsets(free))
    above = [x for x in members if x >= bound]
    below = [x for x in members if x <= bound]
    assert knownbits.ceil(bound, v, free) == (above[0] if above else None)
    assert knownbits.floor(bound, v, free, MASK64) == (below[-1] if below else None)


def _subsets(m: int) -> list[int]:
    out, sub = [0], m
    while sub:
        out.append(sub)
        sub = (sub - 1) & m
    return out


# Precision: what the facts buy ----------------------------------------------------------


def test_masking_gives_known_bits_and_aligned_bounds() -> None:
    byte = Scalar.from_unsigned(0, 0xFF)
    aligned = numeric.binary("and", byte, Scalar.const(0xFC))
    assert (aligned.tv, aligned.tm) == (0, 0xFC)
    assert aligned.u == Interval(0, 0xFC)
    below, _ = numeric.refine(aligned, Scalar.const(0xFA), "<=")
    assert below.u == Interval(0, 0xF8)  # the largest multiple of 4 up to 0xFA
    above, _ = numeric.refine(aligned, Scalar.const(1), ">=")
    assert above.u.lo == 4
    odd = numeric.binary("or", aligned, Scalar.const(1))
    assert odd.u == Interval(1, 0xFD) and odd.tv & 3 == 1
    never, _ = numeric.refine(numeric.binary("lsh", byte, Scalar.const(1)), Scalar.const(9),
                              "==")
    assert never.bottom  # an even number is never 9


def test_jset_refines_known_bits() -> None:
    x = Scalar.from_unsigned(0, 7)
    taken, _ = numeric.refine(x, Scalar.const(4), "&==")
    assert taken.u == Interval(4, 7) and taken.tv == 4
    not_taken, _ = numeric.refine(x, Scalar.const(4), "&!=")
    assert not_taken.u == Interval(0, 3)
    top = Scalar()
    small, _ = numeric.refine(top, Scalar.const(-256), "&!=")
    assert small.u == Interval(0, 255)
    assert numeric.refine(Scalar.const(8), Scalar.const(7), "&==")[0].bottom
    assert numeric.refine(Scalar.const(8), Scalar.const(8), "&!=")[0].bottom


def test_subregister_ranges_survive_on_unknown_upper_halves() -> None:
    top = Scalar()
    w, _ = numeric.refine(top, Scalar.const(10), "<=", is64=False)
    assert w.u32 == Interval(0, 10)
    assert w.u == Interval(0, (MASK64 ^ MASK32) | 15)  # the known bits of [0, 10]: 0..15
    assert numeric.truncate32(w).u == Interval(0, 10)
    assert numeric.binary("add", w, Scalar.const(1), is64=False).u == Interval(1, 11)
    assert numeric.binary("lsh", w, Scalar.const(2), is64=False).u == Interval(0, 40)
    # 64-bit arithmetic keeps the low half's range when it cannot wrap.
    assert numeric.binary("add", w, Scalar.const(5)).u32 == Interval(5, 15)
    # Signed 32-bit tests on a sign-extended value narrow the whole value.
    sext = numeric.movsx(top, 32)
    neg, _ = numeric.refine(sext, Scalar.const(0), "s<", is64=False)
    assert neg.s == Interval(-(1 << 31), -1)
    # A value whose high half is fixed: the low half's range is the whole's.
    high = Scalar.from_unsigned(5 << 32, (5 << 32) + MASK32)
    low, _ = numeric.refine(high, Scalar.const(3), "<", is64=False)
    assert low.u == Interval(5 << 32, (5 << 32) + 2)


def test_constants_and_strings_are_unchanged() -> None:
    assert numeric.binary("add", Scalar.const(2), Scalar.const(3)).value == 5
    assert str(Scalar.from_unsigned(0, 10)) == "s=[0, 10] u=[0, 10]"
    assert str(Scalar.const(-1)) == f"s=-1 u={MASK64}"
    assert numeric.TOP.join(Scalar.const(1)) is numeric.TOP


# Programs that verify only thanks to known bits or subregister ranges ------------------

# Look up key 0 in map 3 (16-byte values) and leave on null; the bodies index the value.
LOOKUP = ("*(u64 *)(r10 - 8) = 0\nr1 = map_fd 3\nr2 = r10\nr2 += -8\ncall 1\n"
          "if r0 == 0 goto <out>\n")
OUT = "<out>:\nr0 = 0\nexit"
BOUND = "Upper bound must be at most r0.shared_region_size"
#: name: (safe body, its unsafe neighbour, whether random map contents make it fault)
PROGRAMS = {
    # Multiples of 4 up to 13 end at 12: a 4-byte read at 12 fits; with 0xfd, 13 may not.
    "aligned offset": ("r1 = *(u32 *)(r0 + 0)\nr1 &= 0xfc\nif r1 > 13 goto <out>\n"
                       "r0 += r1\nr0 = *(u32 *)(r0 + 0)\n",
                       "r1 = *(u32 *)(r0 + 0)\nr1 &= 0xfd\nif r1 > 13 goto <out>\n"
                       "r0 += r1\nr0 = *(u32 *)(r0 + 0)\n", True),
    # if r1 & ~15: the fall-through has r1 < 16.
    "jset mask": ("r1 = *(u8 *)(r0 + 0)\nif r1 & -16 goto <out>\nr0 += r1\n"
                  "r0 = *(u8 *)(r0 + 0)\n",
                  "r1 = *(u8 *)(r0 + 0)\nif r1 & -32 goto <out>\nr0 += r1\n"
                  "r0 = *(u8 *)(r0 + 0)\n", False),
    # r1 & 15 without bit 3 is at most 7 (8 bytes fit); without bit 2 it may be 11.
    "jset one bit": ("r1 = *(u8 *)(r0 + 0)\nr1 &= 15\nif r1 & 8 goto <out>\nr0 += r1\n"
                     "r0 = *(u64 *)(r0 + 0)\n",
                     "r1 = *(u8 *)(r0 + 0)\nr1 &= 15\nif r1 & 4 goto <out>\nr0 += r1\n"
                     "r0 = *(u64 *)(r0 + 0)\n", True),
    # A 32-bit test on a 64-bit unknown, then w1 = w1: the zero-extended low half.
    "jmp32 then mov32": ("r1 = *(u64 *)(r0 + 0)\nif w1 > 15 goto <out>\nw1 = w1\n"
                         "r0 += r1\nr0 = *(u8 *)(r0 + 0)\n",
                         "r1 = *(u64 *)(r0 + 0)\nif w1 > 16 goto <out>\nw1 = w1\n"
                         "r0 += r1\nr0 = *(u8 *)(r0 + 0)\n", False),
    # Signed 32-bit tests, then the compiler's zero-extension idiom (<< 32, >> 32).
    "jmp32 signed then shifts": (
        "r1 = *(u64 *)(r0 + 0)\nif w1 s> 15 goto <out>\nif w1 s< 0 goto <out>\n"
        "r1 <<= 32\nr1 >>= 32\nr0 += r1\nr0 = *(u8 *)(r0 + 0)\n",
        "r1 = *(u64 *)(r0 + 0)\nif w1 s> 15 goto <out>\n"
        "r1 <<= 32\nr1 >>= 32\nr0 += r1\nr0 = *(u8 *)(r0 + 0)\n", True),
}


def _verify(body: str) -> tuple[list[str], list[Instruction]]:
    insns = isa.decode(isa.assemble(LOOKUP + body + OUT, "kernel"))
    state = initial_state(parse_pre(fuzz.pre_state()))
    result = analyze(fuzz.slots(insns), {}, state, fuzz.options())
    return [str(m) for m in result.messages if "unreachable" not in m.text], insns


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_program_verifies_thanks_to_the_facts_and_its_neighbour_fails(name: str) -> None:
    safe, unsafe, faults = PROGRAMS[name]
    messages, safe_insns = _verify(safe)
    assert messages == []
    messages, unsafe_insns = _verify(unsafe)
    assert len(messages) == 1 and BOUND in messages[0]
    try:
        fuzz.arena()
    except LibbpfError as exc:  # the fuzzer's memory must lie below 2 GiB (MAP_32BIT)
        pytest.skip(f"no memory below 2 GiB to run the programs: {exc}")
    assert fuzz.execute(safe_insns, random.Random(11), 60).violation is None
    if faults:  # and the neighbour truly is unsafe: run unverified, it reads past the value
        assert fuzz.execute(unsafe_insns, random.Random(7), 60).violation is not None


def test_swaps_and_sign_extension_move_known_bits() -> None:
    byte = Scalar.from_unsigned(0, 0xFF)
    swapped = numeric.byteswap(byte, 16, to_big=True)
    assert (swapped.tv, swapped.tm) == (0, 0xFF00) and swapped.u == Interval(0, 0xFF00)
    high_bit = numeric.binary("or", byte, Scalar.const(0x80))
    extended = numeric.movsx(high_bit, 8)
    assert extended.s == Interval(-128, -1) and extended.tv >> 8 == MASK64 >> 8
    assert numeric.movsx(high_bit, 8, is64=False).u == Interval(0xFFFFFF80, MASK32)


# Random numeric programs: whatever the verifier accepts runs within the value -----------

ALU_TEXT = ["+=", "-=", "*=", "&=", "|=", "^=", "<<=", ">>=", "s>>=", "/=", "%="]
UNARY_TEXT = ["r1 = -r1", "w1 = -w1", "w1 = w1", "r1 = (s8)r1", "r1 = (s16)r1",
              "r1 = (s32)r1", "w1 = (s8)w1", "r1 = be16 r1", "r1 = be32 r1", "r1 = le16 r1",
              "r1 = le32 r1", "r1 = bswap16 r1", "r1 = bswap32 r1", "r1 = bswap64 r1"]
JUMP_TEXT = ["==", "!=", "<", "<=", ">", ">=", "s<", "s<=", "s>", "s>=", "&"]
IMMEDIATES = [0, 1, 2, 3, 4, 7, 8, 15, 16, 17, 0xFC, 0xFF, 0x7FFFFFFF, -1, -2, -16, -256,
              -(1 << 31)]


def numeric_program(rng: random.Random) -> str:
    """Two unknown numbers from the map value, random arithmetic and tests on r1, then
    r1 indexes the 16-byte value (a bounding test first, right or slightly wrong)."""
    widths = ["u8", "u16", "u32", "u64"]
    lines = [f"r1 = *({rng.choice(widths)} *)(r0 + 0)",
             f"r2 = *({rng.choice(widths)} *)(r0 + 8)"]
    for _ in range(rng.randint(1, 6)):
        kind = rng.random()
        w = rng.choice("rw")
        if kind < 0.45:
            text = rng.choice(ALU_TEXT)
            if text in ("<<=", ">>=", "s>>=") and rng.random() < 0.7:
                operand = str(rng.randint(0, 31 if w == "w" else 63))
            else:
                operand = rng.choice([str(rng.choice(IMMEDIATES)), f"{w}2"])
            lines.append(f"{w}1 {text} {operand}")
        elif kind < 0.6:
            lines.append(rng.choice(UNARY_TEXT))
        else:
            operand = rng.choice([str(rng.choice(IMMEDIATES)), f"{w}2"])
            lines.append(f"if {w}1 {rng.choice(JUMP_TEXT)} {operand} goto <out>")
    k = 15 + rng.choice([0, 0, 0, 1, 2])
    lines.append(rng.choice([f"if r1 > {k} goto <out>", f"if w1 > {k} goto <out>\nw1 = w1",
                             f"if r1 & {-(k + 1) if k == 15 else -k} goto <out>",
                             f"if r1 s> {k} goto <out>\nif r1 s< 0 goto <out>",
                             f"if w1 s> {k} goto <out>\nif w1 s< 0 goto <out>\n"
                             "r1 <<= 32\nr1 >>= 32"]))
    return "\n".join([*lines, "r0 += r1", "r0 = *(u8 *)(r0 + 0)", ""])


def test_random_numeric_programs_accepted_run_in_bounds() -> None:
    try:
        fuzz.arena()
    except LibbpfError as exc:
        pytest.skip(f"no memory below 2 GiB to run the programs: {exc}")
    rng = random.Random(20261126)
    accepted = rejected = 0
    for _ in range(400):
        body = numeric_program(rng)
        messages, insns = _verify(body)
        if messages:
            rejected += 1
            continue
        accepted += 1
        violation = fuzz.execute(insns, rng, 24).violation
        assert violation is None, body
    assert accepted >= 100 and rejected >= 20, (accepted, rejected)
