"""A numeric domain over 64-bit values: intervals, 32-bit subregister ranges, known bits.

A :class:`Scalar` describes the values a register may hold by five facts that must all
hold at once: a signed and an unsigned 64-bit interval, a signed and an unsigned interval
of the low 32 bits (the ``w`` subregister), and known bits (a tristate number: ``tv``
holds the bits known to be 1, ``tm`` the bits not known; a bit in neither is known 0).
:meth:`Scalar.reduce` makes each fact as tight as the others allow (bounds from known
bits and known bits from bounds, the low half from the whole and back). The ALU transfer
functions (:func:`binary`, :func:`neg`, :func:`movsx`, :func:`byteswap`,
:func:`truncate32`) and branch refinement (:func:`refine`) live here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from libbpf_compat.verifier import knownbits

MASK64 = (1 << 64) - 1
MASK32 = (1 << 32) - 1
SMIN64, SMAX64 = -(1 << 63), (1 << 63) - 1
UMAX64 = MASK64


def to_signed(value: int, bits: int = 64) -> int:
    """The bit pattern ``value`` (any int) read as a ``bits``-wide two's complement."""
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


@dataclass(frozen=True)
class Interval:
    """A closed integer interval ``[lo, hi]``; ``lo > hi`` is empty."""

    lo: int
    hi: int

    @property
    def empty(self) -> bool:
        return self.lo > self.hi

    @property
    def singleton(self) -> int | None:
        return self.lo if self.lo == self.hi else None

    def meet(self, other: Interval) -> Interval:
        return Interval(max(self.lo, other.lo), min(self.hi, other.hi))

    def join(self, other: Interval) -> Interval:
        if self.empty:
            return other
        if other.empty:
            return self
        return Interval(min(self.lo, other.lo), max(self.hi, other.hi))

    def widen(self, other: Interval, lo: int, hi: int,
              thresholds: tuple[int, ...] = ()) -> Interval:
        """Widen ``self`` by ``other``: a bound that moved jumps to the next of the
        ``thresholds`` (sorted) past it, else to the limit."""
        if self.empty:
            return other
        if other.empty:
            return self
        new_lo, new_hi = self.lo, self.hi
        if other.lo < self.lo:
            new_lo = max((t for t in thresholds if lo <= t <= other.lo), default=lo)
        if other.hi > self.hi:
            new_hi = min((t for t in thresholds if other.hi <= t <= hi), default=hi)
        return Interval(new_lo, new_hi)

    def contains(self, value: int) -> bool:
        return self.lo <= value <= self.hi

    def __str__(self) -> str:
        return str(self.lo) if self.lo == self.hi else f"[{self.lo}, {self.hi}]"


S_TOP = Interval(SMIN64, SMAX64)
U_TOP = Interval(0, UMAX64)
SMIN32, SMAX32 = -(1 << 31), (1 << 31) - 1
S32_TOP = Interval(SMIN32, SMAX32)
U32_TOP = Interval(0, MASK32)
_EMPTY = Interval(1, 0)
_TWO64 = 1 << 64
_TWO32 = 1 << 32
_HIGH32 = MASK64 ^ MASK32


@dataclass(frozen=True, slots=True)
class Scalar:
    """A set of 64-bit values: the values that satisfy all five facts (reduced).

    ``s``/``u``: signed/unsigned 64-bit intervals; ``s32``/``u32``: signed/unsigned
    intervals of the low 32 bits; ``tv``/``tm``: known bits (value, unknown mask)."""

    s: Interval = S_TOP
    u: Interval = U_TOP
    s32: Interval = S32_TOP
    u32: Interval = U32_TOP
    tv: int = 0
    tm: int = MASK64

    @staticmethod
    def const(value: int) -> Scalar:
        return _const(value & MASK64)

    @staticmethod
    def from_signed(lo: int, hi: int) -> Scalar:
        if lo < SMIN64 or hi > SMAX64:
            return TOP
        return _make(lo, hi, 0, MASK64, SMIN32, SMAX32, 0, MASK32, 0, MASK64)

    @staticmethod
    def from_unsigned(lo: int, hi: int) -> Scalar:
        if lo < 0 or hi > UMAX64:
            return TOP
        return _make(SMIN64, SMAX64, lo, hi, SMIN32, SMAX32, 0, MASK32, 0, MASK64)

    @property
    def bottom(self) -> bool:
        return self.s.lo > self.s.hi or self.u.lo > self.u.hi

    @property
    def value(self) -> int | None:
        """The single unsigned value, when known."""
        return self.u.singleton

    def reduce(self) -> Scalar:
        return _make(self.s.lo, self.s.hi, self.u.lo, self.u.hi, self.s32.lo, self.s32.hi,
                     self.u32.lo, self.u32.hi, self.tv, self.tm)

    def join(self, other: Scalar) -> Scalar:
        if self is other or self == other:
            return self
        if self.bottom:
            return other
        if other.bottom:
            return self
        if self is TOP or other is TOP:
            return TOP
        tv, tm = knownbits.join(self.tv, self.tm, other.tv, other.tm)
        s, u, s32, u32 = (self.s.join(other.s), self.u.join(other.u),
                          self.s32.join(other.s32), self.u32.join(other.u32))
        return _make(s.lo, s.hi, u.lo, u.hi, s32.lo, s32.hi, u32.lo, u32.hi, tv, tm)

    def meet(self, other: Scalar) -> Scalar:
        if self.bottom or other.bottom:
            return BOTTOM
        if (self.tv ^ other.tv) & ~(self.tm | other.tm):
            return BOTTOM  # a bit known both ways
        return _make(max(self.s.lo, other.s.lo), min(self.s.hi, other.s.hi),
                     max(self.u.lo, other.u.lo), min(self.u.hi, other.u.hi),
                     max(self.s32.lo, other.s32.lo), min(self.s32.hi, other.s32.hi),
                     max(self.u32.lo, other.u32.lo), min(self.u32.hi, other.u32.hi),
                     self.tv | other.tv, self.tm & other.tm)

    def widen(self, other: Scalar, thresholds: tuple[int, ...] = ()) -> Scalar:
        if self.bottom:
            return other
        if other.bottom:
            return self
        s = self.s.widen(other.s, SMIN64, SMAX64, thresholds)
        u = self.u.widen(other.u, 0, UMAX64, thresholds)
        s32 = self.s32.widen(other.s32, SMIN32, SMAX32, thresholds)
        u32 = self.u32.widen(other.u32, 0, MASK32, thresholds)
        tv, tm = knownbits.join(self.tv, self.tm, other.tv, other.tm)
        if tm != self.tm:
            # Bits were lost: give up every bit from the lowest newly unknown one up, so
            # the known bits cannot pull a widened bound back one bit per iteration.
            fresh = tm & ~self.tm
            tm |= MASK64 & ~((fresh & -fresh) - 1)
            tv &= ~tm
        return _make(s.lo, s.hi, u.lo, u.hi, s32.lo, s32.hi, u32.lo, u32.hi, tv, tm)

    def leq(self, other: Scalar) -> bool:
        if self.bottom:
            return True
        if other.bottom:
            return False
        return (other.s.lo <= self.s.lo and self.s.hi <= other.s.hi
                and other.u.lo <= self.u.lo and self.u.hi <= other.u.hi
                and other.s32.lo <= self.s32.lo and self.s32.hi <= other.s32.hi
                and other.u32.lo <= self.u32.lo and self.u32.hi <= other.u32.hi
                and not self.tm & ~other.tm and not (self.tv ^ other.tv) & ~other.tm)

    def contains(self, value: int) -> bool:
        """Whether the 64-bit pattern ``value`` is one of the values."""
        value &= MASK64
        low = value & MASK32
        return (self.u.lo <= value <= self.u.hi
                and self.s.lo <= to_signed(value) <= self.s.hi
                and self.u32.lo <= low <= self.u32.hi
                and self.s32.lo <= to_signed(low, 32) <= self.s32.hi
                and (value & ~self.tm) == self.tv)

    # 32-bit views.
    @property
    def low32(self) -> Interval:
        """The unsigned range of the low 32 bits."""
        return self.u32

    @property
    def low32_signed(self) -> Interval:
        """The signed range of the low 32 bits."""
        return self.s32

    def __str__(self) -> str:
        return f"s={self.s} u={self.u}"


def _interval(lo: int, hi: int, top: Interval) -> Interval:
    if lo == top.lo and hi == top.hi:
        return top
    return Interval(lo, hi)


def _make(slo: int, shi: int, ulo: int, uhi: int, s32lo: int, s32hi: int, u32lo: int,
          u32hi: int, tv: int, tm: int) -> Scalar:
    """The reduced Scalar of these facts (BOTTOM when they contradict)."""
    key = (slo, shi, ulo, uhi, s32lo, s32hi, u32lo, u32hi, tv, tm)
    cached = _CACHE.get(key)
    if cached is not None:
        return cached
    result = _reduce(slo, shi, ulo, uhi, s32lo, s32hi, u32lo, u32hi, tv, tm)
    if len(_CACHE) >= _CACHE_SIZE:
        _CACHE.clear()
    _CACHE[key] = result
    return result


#: Reduced Scalars by their facts (also interning them, so equal values are often the
#: same object and the ``is`` fast paths hit); cleared when full, to bound memory.
_CACHE: dict[tuple[int, ...], Scalar] = {}
_CACHE_SIZE = 1 << 14


def _reduce(slo: int, shi: int, ulo: int, uhi: int, s32lo: int, s32hi: int, u32lo: int,
            u32hi: int, tv: int, tm: int) -> Scalar:
    """Tighten each fact by the others, a few rounds or until nothing changes."""
    for _ in range(4):
        before = (slo, shi, ulo, uhi, s32lo, s32hi, u32lo, u32hi, tv, tm)
        # Known bits constant: check it against the ranges.
        if tm == 0:
            low = tv & MASK32
            fits = (ulo <= tv <= uhi and slo <= to_signed(tv) <= shi
                    and u32lo <= low <= u32hi and s32lo <= to_signed(low, 32) <= s32hi)
            return _const(tv) if fits else BOTTOM
        # 64-bit: signed <-> unsigned (a signed range across zero is two unsigned runs).
        ulo, uhi = _narrow_u(slo, shi, ulo, uhi, _TWO64)
        if ulo > uhi:
            return BOTTOM
        # Known bits <-> the unsigned range.
        rv, rm = knownbits.from_range(ulo, uhi)
        if (tv ^ rv) & ~(tm | rm):
            return BOTTOM
        tv, tm = tv | rv, tm & rm
        lo = knownbits.ceil(ulo, tv, tm)
        if lo is None or lo > uhi:
            return BOTTOM
        hi = knownbits.floor(uhi, tv, tm, MASK64)
        if hi is None:
            return BOTTOM
        ulo, uhi = lo, hi
        # Unsigned -> signed.
        slo, shi = _narrow_s(slo, shi, ulo, uhi, _TWO64, SMAX64)
        if slo > shi:
            return BOTTOM
        if tm >> 63:  # the sign unknown: the known bits still bound the signed value
            slo = max(slo, to_signed(tv | (1 << 63)))
            shi = min(shi, tv | (tm & SMAX64))
        # The whole -> the low half.
        if ulo >> 32 == uhi >> 32:
            u32lo, u32hi = max(u32lo, ulo & MASK32), min(u32hi, uhi & MASK32)
        if slo >= SMIN32 and shi <= SMAX32:
            s32lo, s32hi = max(s32lo, slo), min(s32hi, shi)
        # 32-bit: signed <-> unsigned, known bits <-> unsigned.
        u32lo, u32hi = _narrow_u(s32lo, s32hi, u32lo, u32hi, _TWO32)
        if u32lo > u32hi:
            return BOTTOM
        rv, rm = knownbits.from_range(u32lo, u32hi)
        lv, lm = tv & MASK32, tm & MASK32
        if (lv ^ rv) & ~(lm | rm):
            return BOTTOM
        lv, lm = lv | rv, lm & rm
        tv, tm = (tv & _HIGH32) | lv, (tm & _HIGH32) | lm
        lo = knownbits.ceil(u32lo, lv, lm)
        if lo is None or lo > u32hi:
            return BOTTOM
        hi = knownbits.floor(u32hi, lv, lm, MASK32)
        if hi is None:
            return BOTTOM
        u32lo, u32hi = lo, hi
        s32lo, s32hi = _narrow_s(s32lo, s32hi, u32lo, u32hi, _TWO32, SMAX32)
        if s32lo > s32hi:
            return BOTTOM
        if lm >> 31:
            s32lo = max(s32lo, to_signed(lv | (1 << 31), 32))
            s32hi = min(s32hi, lv | (lm & SMAX32))
        # The low half -> the whole: when the high half is fixed, or the value is a
        # sign-extended 32-bit one.
        if ulo >> 32 == uhi >> 32:
            high = ulo & _HIGH32
            ulo, uhi = max(ulo, high | u32lo), min(uhi, high | u32hi)
        if slo >= SMIN32 and shi <= SMAX32:
            slo, shi = max(slo, s32lo), min(shi, s32hi)
        if ulo > uhi or slo > shi:
            return BOTTOM
        if (slo, shi, ulo, uhi, s32lo, s32hi, u32lo, u32hi, tv, tm) == before:
            break
    if (tm == MASK64 and slo == SMIN64 and shi == SMAX64 and ulo == 0 and uhi == MASK64
            and s32lo == SMIN32 and s32hi == SMAX32 and u32lo == 0 and u32hi == MASK32):
        return TOP
    return Scalar(_interval(slo, shi, S_TOP), _interval(ulo, uhi, U_TOP),
                  _interval(s32lo, s32hi, S32_TOP), _interval(u32lo, u32hi, U32_TOP), tv, tm)


def _narrow_u(slo: int, shi: int, ulo: int, uhi: int, two: int) -> tuple[int, int]:
    """The unsigned range narrowed by the signed one (``two``: 2 ** width)."""
    if slo >= 0:
        return max(ulo, slo), min(uhi, shi)
    if shi < 0:
        return max(ulo, slo + two), min(uhi, shi + two)
    # Across zero: the values are [0, shi] and [slo + two, max]; a bound in the gap moves.
    if shi < ulo:
        ulo = max(ulo, slo + two)
    if uhi < slo + two:
        uhi = min(uhi, shi)
    return ulo, uhi


def _narrow_s(slo: int, shi: int, ulo: int, uhi: int, two: int, smax: int) -> tuple[int, int]:
    """The signed range narrowed by the unsigned one."""
    if uhi <= smax:
        return max(slo, ulo), min(shi, uhi)
    if ulo > smax:
        return max(slo, ulo - two), min(shi, uhi - two)
    # Across the sign: the values are [ulo, smax] and [min, uhi - two].
    if slo > uhi - two:
        slo = max(slo, ulo)
    if shi < ulo:
        shi = min(shi, uhi - two)
    return slo, shi


_CONSTS: dict[int, Scalar] = {}


def _const(value: int) -> Scalar:
    """The Scalar of the one 64-bit pattern ``value``."""
    known = _CONSTS.get(value)
    if known is not None:
        return known
    s = to_signed(value)
    low = value & MASK32
    s32 = to_signed(low, 32)
    result = Scalar(Interval(s, s), Interval(value, value), Interval(s32, s32),
                    Interval(low, low), value, 0)
    if len(_CONSTS) >= _CACHE_SIZE:
        _CONSTS.clear()
    _CONSTS[value] = result
    return result


BOTTOM = Scalar(_EMPTY, _EMPTY, _EMPTY, _EMPTY, 0, 0)
TOP = Scalar()
TOP32 = Scalar.from_unsigned(0, MASK32)


def zext32(low: Interval) -> Scalar:
    """The 64-bit value of a 32-bit result with unsigned range ``low``."""
    if low.empty:
        return BOTTOM
    if low.lo < 0 or low.hi > MASK32:
        return TOP32
    return Scalar.from_unsigned(low.lo, low.hi)


def truncate32(a: Scalar) -> Scalar:
    """``w = w``: the low 32 bits of ``a``, zero-extended (all facts of the low half kept)."""
    if a.bottom:
        return BOTTOM
    return _make(0, MASK32, 0, MASK32, a.s32.lo, a.s32.hi, a.u32.lo, a.u32.hi,
                 a.tv & MASK32, a.tm & MASK32)


def _corners(a: Interval, b: Interval, fn: Callable[[int, int], int]) -> Interval:
    values = [fn(x, y) for x in (a.lo, a.hi) for y in (b.lo, b.hi)]
    return Interval(min(values), max(values))


def _concrete(op: str, a: int, b: int, bits: int) -> int | None:
    """The result of ``a op b`` on ``bits``-wide unsigned patterns; None when undefined."""
    mask = (1 << bits) - 1
    a &= mask
    b &= mask
    sa, sb = to_signed(a, bits), to_signed(b, bits)
    if op == "add":
        return (a + b) & mask
    if op == "sub":
        return (a - b) & mask
    if op == "mul":
        return (a * b) & mask
    if op == "div":
        return a // b if b else 0
    if op == "mod":
        return a % b if b else a
    if op == "sdiv":
        if sb == 0:
            return 0
        q = abs(sa) // abs(sb)
        return (q if (sa < 0) == (sb < 0) else -q) & mask
    if op == "smod":
        if sb == 0:
            return a
        r = abs(sa) % abs(sb)
        return (-r if sa < 0 else r) & mask
    if op == "or":
        return a | b
    if op == "and":
        return a & b
    if op == "xor":
        return a ^ b
    if op == "lsh":
        return (a << (b & (bits - 1))) & mask
    if op == "rsh":
        return a >> (b & (bits - 1))
    if op == "arsh":
        return (sa >> (b & (bits - 1))) & mask
    return None


def _binary_unsigned(op: str, a: Interval, b: Interval, bits: int) -> Interval:
    """The unsigned range of ``a op b`` for ``bits``-wide unsigned ranges ``a`` and ``b``."""
    mask = (1 << bits) - 1
    full = Interval(0, mask)
    if op == "add":
        r = Interval(a.lo + b.lo, a.hi + b.hi)
        return r if r.hi <= mask else full
    if op == "sub":
        r = Interval(a.lo - b.hi, a.hi - b.lo)
        return r if r.lo >= 0 else full
    if op == "mul":
        r = Interval(a.lo * b.lo, a.hi * b.hi)
        return r if r.hi <= mask else full
    if op == "div":
        if b.lo == 0:
            return Interval(0, a.hi)
        return Interval(a.lo // b.hi, a.hi // b.lo)
    if op == "mod":
        if b.lo == 0:
            return Interval(0, a.hi)
        return Interval(0, min(a.hi, b.hi - 1))
    if op == "and":
        return Interval(0, min(a.hi, b.hi))
    if op in ("or", "xor"):
        top = (1 << max(a.hi.bit_length(), b.hi.bit_length())) - 1
        return Interval(max(a.lo, b.lo), top) if op == "or" else Interval(0, top)
    if op == "lsh" and b.singleton is not None:
        shift = b.lo & (bits - 1)
        r = Interval(a.lo << shift, a.hi << shift)
        return r if r.hi <= mask else full
    if op == "rsh":
        if b.hi < bits:
            return Interval(a.lo >> b.hi, a.hi >> b.lo)
        return Interval(0, a.hi)
    return full


def _binary_signed(op: str, a: Interval, b: Interval, bits: int) -> Interval | None:
    """The signed range, for the operations where intervals are exact enough; None if not."""
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    r: Interval | None = None
    if op == "add":
        r = Interval(a.lo + b.lo, a.hi + b.hi)
    elif op == "sub":
        r = Interval(a.lo - b.hi, a.hi - b.lo)
    elif op == "mul":
        r = _corners(a, b, lambda x, y: x * y)
    elif op == "arsh" and b.singleton is not None and 0 <= b.lo < bits:
        r = Interval(a.lo >> b.lo, a.hi >> b.lo)
    elif op == "sdiv" and (b.lo > 0 or b.hi < 0):
        r = _corners(a, b, _signed_div)
    elif op == "smod" and b.singleton is not None and b.lo != 0:
        m = abs(b.lo) - 1
        r = Interval(-m if a.lo < 0 else 0, m if a.hi > 0 else 0)
    if r is None or r.lo < lo or r.hi > hi:
        return None
    return r


def _tnum_binary(op: str, a: Scalar, b: Scalar, bits: int) -> tuple[int, int]:
    """The known bits of ``a op b`` on the low ``bits`` bits (zero above)."""
    mask = (1 << bits) - 1
    av, am, bv, bm = a.tv & mask, a.tm & mask, b.tv & mask, b.tm & mask
    if op == "add":
        return knownbits.add(av, am, bv, bm, mask)
    if op == "sub":
        return knownbits.sub(av, am, bv, bm, mask)
    if op == "and":
        v = av & bv
        return v, (av | am) & (bv | bm) & ~v
    if op == "or":
        v = av | bv
        return v, (am | bm) & ~v
    if op == "xor":
        m = am | bm
        return (av ^ bv) & ~m, m
    if op == "mul":
        return knownbits.mul(av, am, bv, bm, mask)
    if op in ("lsh", "rsh", "arsh"):
        # The amount is b's low bits; join over the few amounts it may be.
        low = bits - 1
        sv, sm = bv & low, bm & low
        if sm == 0:
            return knownbits.shift(op, av, am, sv, bits)
        if sm.bit_count() > 3:
            return 0, mask
        rv, rm = knownbits.shift(op, av, am, sv, bits)
        sub_mask = sm
        while sub_mask:  # every nonzero subset of the unknown amount bits
            k = sv | sub_mask
            kv, km = knownbits.shift(op, av, am, k, bits)
            rv, rm = knownbits.join(rv, rm, kv, km)
            sub_mask = (sub_mask - 1) & sm
        return rv, rm
    return 0, mask


def _signed_div(x: int, y: int) -> int:
    """``x / y`` rounded toward zero, exactly (no float)."""
    q = abs(x) // abs(y)
    return q if (x < 0) == (y < 0) else -q


_LOW_HALF_OPS = frozenset({"add", "sub", "mul", "and", "or", "xor"})


def binary(op: str, a: Scalar, b: Scalar, is64: bool = True) -> Scalar:
    """The result of the ALU operation ``op`` (``add``, ``sdiv``, ``lsh``…)."""
    if a.bottom or b.bottom:
        return BOTTOM
    if is64:
        if a.tm == 0 and b.tm == 0:
            result = _concrete(op, a.tv, b.tv, 64)
            if result is not None:
                return _const(result)
        u = _binary_unsigned(op, a.u, b.u, 64)
        s = _binary_signed(op, a.s, b.s, 64) or S_TOP
        tv, tm = _tnum_binary(op, a, b, 64)
        if op in _LOW_HALF_OPS:  # the low half of the result is the op on the low halves
            u32 = _binary_unsigned(op, a.u32, b.u32, 32)
            s32 = _binary_signed(op, a.s32, b.s32, 32) or S32_TOP
        else:
            u32, s32 = U32_TOP, S32_TOP
        return _make(s.lo, s.hi, u.lo, u.hi, s32.lo, s32.hi, u32.lo, u32.hi, tv, tm)
    if not (a.tm | b.tm) & MASK32:
        result = _concrete(op, a.tv, b.tv, 32)
        if result is not None:
            return _const(result)
    u32 = _binary_unsigned(op, a.u32, b.u32, 32)
    s32 = _binary_signed(op, a.s32, b.s32, 32) or S32_TOP
    tv, tm = _tnum_binary(op, a, b, 32)
    return _make(0, MASK32, 0, MASK32, s32.lo, s32.hi, u32.lo, u32.hi, tv, tm)


def neg(a: Scalar, is64: bool = True) -> Scalar:
    return binary("sub", _const(0), a, is64)


def movsx(a: Scalar, width: int, is64: bool = True) -> Scalar:
    """Sign-extend the low ``width`` bits of ``a`` (to 64 bits, or to 32 then zero)."""
    if a.bottom:
        return BOTTOM
    if width == 32:
        s = a.s32
    else:
        mask = (1 << width) - 1
        if a.u.hi - a.u.lo <= mask and (a.u.lo >> width) == (a.u.hi >> width):
            low = Interval(a.u.lo & mask, a.u.hi & mask)
        else:
            low = Interval(0, mask)
        half = 1 << (width - 1)
        if low.hi < half or low.lo >= half:
            s = Interval(to_signed(low.lo, width), to_signed(low.hi, width))
        else:
            s = Interval(-half, half - 1)
    if is64:
        tv, tm = knownbits.sign_extend(a.tv, a.tm, width, MASK64)
        return _make(s.lo, s.hi, 0, MASK64, s.lo, s.hi, 0, MASK32, tv, tm)
    tv, tm = knownbits.sign_extend(a.tv, a.tm, width, MASK32)
    return _make(0, MASK32, 0, MASK32, s.lo, s.hi, 0, MASK32, tv, tm)


def byteswap(a: Scalar, width: int, to_big: bool, big_endian_host: bool = False) -> Scalar:
    """``le16``/``be32``/``bswap64``…: a swap when the order differs, else a truncation."""
    if a.bottom:
        return BOTTOM
    mask = (1 << width) - 1
    swap = to_big != big_endian_host
    v = a.value
    if v is not None:
        v &= mask
        if swap:
            v = knownbits.swap_bytes(v, width)
        return _const(v)
    tv, tm = a.tv & mask, a.tm & mask
    if swap:
        tv, tm = knownbits.swap_bytes(tv, width), knownbits.swap_bytes(tm, width)
        return _make(SMIN64, SMAX64, 0, mask, SMIN32, SMAX32, 0, MASK32, tv, tm)
    if a.u.hi <= mask:
        return a
    if width == 32:
        return truncate32(a)
    return _make(SMIN64, SMAX64, 0, mask, SMIN32, SMAX32, 0, MASK32, tv, tm)


# Branch refinement --------------------------------------------------------------------------

NEGATION = {"==": "!=", "!=": "==", "<": ">=", ">=": "<", ">": "<=", "<=": ">",
            "s<": "s>=", "s>=": "s<", "s>": "s<=", "s<=": "s>", "&==": "&!=", "&!=": "&=="}
SWAP = {"==": "==", "!=": "!=", "<": ">", ">": "<", "<=": ">=", ">=": "<=",
        "s<": "s>", "s>": "s<", "s<=": "s>=", "s>=": "s<="}


def _refine_interval(a: Interval, b: Interval, op: str) -> Interval:
    """The part of ``a`` for which some value of ``b`` satisfies ``x op y``."""
    base = op[1:] if op.startswith("s") else op
    if base == "==":
        return a.meet(b)
    if base == "!=":
        if b.singleton is not None:
            if a.lo == b.lo:
                return Interval(a.lo + 1, a.hi)
            if a.hi == b.lo:
                return Interval(a.lo, a.hi - 1)
        return a
    if base == "<":
        return Interval(a.lo, min(a.hi, b.hi - 1))
    if base == "<=":
        return Interval(a.lo, min(a.hi, b.hi))
    if base == ">":
        return Interval(max(a.lo, b.lo + 1), a.hi)
    if base == ">=":
        return Interval(max(a.lo, b.lo), a.hi)
    return a


def _refined(x: Scalar, s: Interval | None = None, u: Interval | None = None,
             s32: Interval | None = None, u32: Interval | None = None) -> Scalar:
    s, u = s or x.s, u or x.u
    s32, u32 = s32 or x.s32, u32 or x.u32
    return _make(s.lo, s.hi, u.lo, u.hi, s32.lo, s32.hi, u32.lo, u32.hi, x.tv, x.tm)


def _meet_low(x: Scalar, y: Scalar) -> Scalar:
    """``x`` where its low 32 bits may equal some low 32 bits of ``y``."""
    if (x.tv ^ y.tv) & ~(x.tm | y.tm) & MASK32:
        return BOTTOM
    tv = x.tv | (y.tv & MASK32)
    tm = x.tm & (y.tm | _HIGH32)
    return _make(x.s.lo, x.s.hi, x.u.lo, x.u.hi, max(x.s32.lo, y.s32.lo),
                 min(x.s32.hi, y.s32.hi), max(x.u32.lo, y.u32.lo), min(x.u32.hi, y.u32.hi),
                 tv, tm)


def _refine_jset(a: Scalar, b: Scalar, nonzero: bool, is64: bool) -> tuple[Scalar, Scalar]:
    """Narrow ``a`` and ``b`` to where ``a & b`` is nonzero (``nonzero``) or zero."""
    mask = MASK64 if is64 else MASK32
    av, am, bv, bm = a.tv & mask, a.tm & mask, b.tv & mask, b.tm & mask

    def narrow(x: Scalar, xv: int, xm: int, c: int) -> Scalar:
        """``x`` (low bits ``xv``/``xm``) where ``x & c`` is nonzero / zero."""
        if not nonzero:
            return _make(x.s.lo, x.s.hi, x.u.lo, x.u.hi, x.s32.lo, x.s32.hi, x.u32.lo,
                         x.u32.hi, x.tv, x.tm & ~c)
        if xv & c:
            return x
        maybe = xm & c
        if maybe & (maybe - 1) == 0:  # one bit of c may be set: it is
            return _make(x.s.lo, x.s.hi, x.u.lo, x.u.hi, x.s32.lo, x.s32.hi, x.u32.lo,
                         x.u32.hi, x.tv | maybe, x.tm & ~maybe)
        lowest = maybe & -maybe  # some bit of c is set: x is at least its lowest
        if is64:
            return _refined(x, u=Interval(max(x.u.lo, lowest), x.u.hi))
        return _refined(x, u32=Interval(max(x.u32.lo, lowest), x.u32.hi))

    if nonzero:
        if not (av | am) & (bv | bm):
            return BOTTOM, BOTTOM
    elif av & bv:
        return BOTTOM, BOTTOM
    na, nb = a, b
    if bm == 0:
        na = narrow(a, av, am, bv)
    if am == 0:
        nb = narrow(b, bv, bm, av)
    if na.bottom or nb.bottom:
        return BOTTOM, BOTTOM
    return na, nb


def refine(a: Scalar, b: Scalar, op: str, is64: bool = True) -> tuple[Scalar, Scalar]:
    """Narrow ``a`` and ``b`` to the values where ``a op b`` may hold.

    ``&==``: ``a & b`` is nonzero (a JSET jump taken); ``&!=``: it is zero."""
    if a.bottom or b.bottom:
        return BOTTOM, BOTTOM
    if op in ("&==", "&!="):
        return _refine_jset(a, b, op == "&==", is64)
    if op == "==":
        if is64:
            both = a.meet(b)
            return (both, both) if not both.bottom else (BOTTOM, BOTTOM)
        na, nb = _meet_low(a, b), _meet_low(b, a)
    elif is64:
        if op == "!=":
            na = _refined(a, _refine_interval(a.s, b.s, op), _refine_interval(a.u, b.u, op))
            nb = _refined(b, _refine_interval(b.s, a.s, op), _refine_interval(b.u, a.u, op))
        elif op.startswith("s"):
            na = _refined(a, s=_refine_interval(a.s, b.s, op))
            nb = _refined(b, s=_refine_interval(b.s, a.s, SWAP[op]))
        else:
            na = _refined(a, u=_refine_interval(a.u, b.u, op))
            nb = _refined(b, u=_refine_interval(b.u, a.u, SWAP[op]))
    elif op == "!=":
        na = _refined(a, s32=_refine_interval(a.s32, b.s32, op),
                      u32=_refine_interval(a.u32, b.u32, op))
        nb = _refined(b, s32=_refine_interval(b.s32, a.s32, op),
                      u32=_refine_interval(b.u32, a.u32, op))
    elif op.startswith("s"):
        na = _refined(a, s32=_refine_interval(a.s32, b.s32, op))
        nb = _refined(b, s32=_refine_interval(b.s32, a.s32, SWAP[op]))
    else:
        na = _refined(a, u32=_refine_interval(a.u32, b.u32, op))
        nb = _refined(b, u32=_refine_interval(b.u32, a.u32, SWAP[op]))
    if na.bottom or nb.bottom:
        return BOTTOM, BOTTOM
    return na, nb
