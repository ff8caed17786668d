"""An interval domain over 64-bit values, kept both as signed and as unsigned ranges.

A :class:`Scalar` is the pair (signed interval, unsigned interval) of the values a
register may hold; both describe the same set of bit patterns, and :meth:`Scalar.reduce`
makes each as tight as the other allows. 32-bit views and the ALU transfer functions
(:func:`binary`, :func:`unary`) and branch refinement (:func:`refine`) live here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Scalar:
    """A set of 64-bit values as a signed and an unsigned interval (reduced)."""

    s: Interval = S_TOP
    u: Interval = U_TOP

    @staticmethod
    def const(value: int) -> Scalar:
        return Scalar(Interval(to_signed(value), to_signed(value)),
                      Interval(value & MASK64, value & MASK64))

    @staticmethod
    def from_signed(lo: int, hi: int) -> Scalar:
        if lo < SMIN64 or hi > SMAX64:
            return Scalar()
        return Scalar(Interval(lo, hi)).reduce()

    @staticmethod
    def from_unsigned(lo: int, hi: int) -> Scalar:
        if lo < 0 or hi > UMAX64:
            return Scalar()
        return Scalar(u=Interval(lo, hi)).reduce()

    @property
    def bottom(self) -> bool:
        return self.s.empty or self.u.empty

    @property
    def value(self) -> int | None:
        """The single unsigned value, when known."""
        return self.u.singleton

    def reduce(self) -> Scalar:
        s, u = self.s, self.u
        if s.empty or u.empty:
            return BOTTOM
        # The signed range seen unsigned, when it does not straddle zero.
        if s.lo >= 0:
            u = u.meet(s)
        elif s.hi < 0:
            u = u.meet(Interval(s.lo + (1 << 64), s.hi + (1 << 64)))
        if u.empty:
            return BOTTOM
        if u.hi <= SMAX64:
            s = s.meet(u)
        elif u.lo > SMAX64:
            s = s.meet(Interval(u.lo - (1 << 64), u.hi - (1 << 64)))
        if s.empty:
            return BOTTOM
        if s.lo >= 0:
            u = u.meet(s)
        elif s.hi < 0:
            u = u.meet(Interval(s.lo + (1 << 64), s.hi + (1 << 64)))
        return BOTTOM if u.empty else Scalar(s, u)

    def join(self, other: Scalar) -> Scalar:
        if self is other or self == other:
            return self
        if self.bottom:
            return other
        if other.bottom:
            return self
        return Scalar(self.s.join(other.s), self.u.join(other.u)).reduce()

    def meet(self, other: Scalar) -> Scalar:
        return Scalar(self.s.meet(other.s), self.u.meet(other.u)).reduce()

    def widen(self, other: Scalar, thresholds: tuple[int, ...] = ()) -> Scalar:
        if self.bottom:
            return other
        if other.bottom:
            return self
        return Scalar(self.s.widen(other.s, SMIN64, SMAX64, thresholds),
                      self.u.widen(other.u, 0, UMAX64, thresholds)).reduce()

    def leq(self, other: Scalar) -> bool:
        if self.bottom:
            return True
        return (other.s.lo <= self.s.lo and self.s.hi <= other.s.hi
                and other.u.lo <= self.u.lo and self.u.hi <= other.u.hi)

    # 32-bit views.
    @property
    def low32(self) -> Interval:
        """The unsigned range of the low 32 bits."""
        if self.u.hi - self.u.lo <= MASK32 and (self.u.lo >> 32) == (self.u.hi >> 32):
            return Interval(self.u.lo & MASK32, self.u.hi & MASK32)
        if self.s.lo >= -(1 << 31) and self.s.hi < 0:
            return Interval(self.s.lo & MASK32, self.s.hi & MASK32)
        return Interval(0, MASK32)

    @property
    def low32_signed(self) -> Interval:
        """The signed range of the low 32 bits."""
        low = self.low32
        if low.hi < (1 << 31) or low.lo >= (1 << 31):
            return Interval(to_signed(low.lo, 32), to_signed(low.hi, 32))
        if self.s.lo >= -(1 << 31) and self.s.hi < (1 << 31):
            return self.s
        return Interval(-(1 << 31), (1 << 31) - 1)

    def __str__(self) -> str:
        return f"s={self.s} u={self.u}"


BOTTOM = Scalar(Interval(1, 0), Interval(1, 0))
TOP = Scalar()
TOP32 = Scalar.from_unsigned(0, MASK32)


def zext32(low: Interval) -> Scalar:
    """The 64-bit value of a 32-bit result with unsigned range ``low``."""
    if low.empty:
        return BOTTOM
    if low.lo < 0 or low.hi > MASK32:
        return TOP32
    return Scalar.from_unsigned(low.lo, low.hi)


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
        r = _corners(a, b, lambda x, y: int(x / y))
    elif op == "smod" and b.singleton is not None and b.lo != 0:
        m = abs(b.lo) - 1
        r = Interval(-m if a.lo < 0 else 0, m if a.hi > 0 else 0)
    if r is None or r.lo < lo or r.hi > hi:
        return None
    return r


def binary(op: str, a: Scalar, b: Scalar, is64: bool = True) -> Scalar:
    """The result of the ALU operation ``op`` (``add``, ``sdiv``, ``lsh``…)."""
    if a.bottom or b.bottom:
        return BOTTOM
    bits = 64 if is64 else 32
    av, bv = (a.u, b.u) if is64 else (a.low32, b.low32)
    if av.singleton is not None and bv.singleton is not None:
        result = _concrete(op, av.lo, bv.lo, bits)
        if result is not None:
            return Scalar.const(result)
    u = _binary_unsigned(op, av, bv, bits)
    sa, sb = (a.s, b.s) if is64 else (a.low32_signed, b.low32_signed)
    s = _binary_signed(op, sa, sb, bits)
    if is64:
        out = Scalar(u=u).reduce()
        if s is not None:
            out = out.meet(Scalar(s).reduce())
            if out.bottom:  # the two views disagree only through wrap-around: keep one
                out = Scalar(s).reduce()
        return out
    out = zext32(u)
    if s is not None and (s.lo >= 0 or s.hi < 0):
        out = out.meet(zext32(Interval(s.lo & MASK32, s.hi & MASK32)))
    return out


def neg(a: Scalar, is64: bool = True) -> Scalar:
    return binary("sub", Scalar.const(0), a, is64)


def movsx(a: Scalar, width: int, is64: bool = True) -> Scalar:
    """Sign-extend the low ``width`` bits of ``a`` (to 64 bits, or to 32 then zero)."""
    low = a.low32 if width == 32 else None
    if low is None:
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
        return Scalar.from_signed(s.lo, s.hi)
    if s.lo >= 0 or s.hi < 0:
        return zext32(Interval(s.lo & MASK32, s.hi & MASK32))
    return TOP32


def byteswap(a: Scalar, width: int, to_big: bool, big_endian_host: bool = False) -> Scalar:
    """``le16``/``be32``/``bswap64``…: a swap when the order differs, else a truncation."""
    mask = (1 << width) - 1
    swap = to_big != big_endian_host
    v = a.value
    if v is not None:
        v &= mask
        if swap:
            v = int.from_bytes(v.to_bytes(width // 8, "little"), "big")
        return Scalar.const(v)
    if not swap and a.u.hi <= mask:
        return a
    return Scalar.from_unsigned(0, mask)


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


def refine(a: Scalar, b: Scalar, op: str, is64: bool = True) -> tuple[Scalar, Scalar]:
    """Narrow ``a`` and ``b`` to the values where ``a op b`` may hold."""
    if a.bottom or b.bottom:
        return BOTTOM, BOTTOM
    if op in ("&==", "&!="):
        if op == "&==" and (a.value == 0 or b.value == 0):
            return BOTTOM, BOTTOM
        return a, b
    signed = op.startswith("s")
    if is64:
        if signed:
            na = Scalar(_refine_interval(a.s, b.s, op), a.u).reduce()
            nb = Scalar(_refine_interval(b.s, a.s, SWAP[op]), b.u).reduce()
        else:
            na = Scalar(a.s, _refine_interval(a.u, b.u, op)).reduce()
            nb = Scalar(b.s, _refine_interval(b.u, a.u, SWAP[op])).reduce()
        if na.bottom or nb.bottom:
            return BOTTOM, BOTTOM
        return na, nb
    # 32-bit: refine only when the 32-bit view is the whole value; else test feasibility.
    va, vb = (a.low32_signed, b.low32_signed) if signed else (a.low32, b.low32)
    ra = _refine_interval(va, vb, op)
    rb = _refine_interval(vb, va, SWAP[op])
    if ra.empty or rb.empty:
        return BOTTOM, BOTTOM

    def narrow(x: Scalar, r: Interval) -> Scalar:
        if x.u.hi <= MASK32 and not signed:
            return x.meet(Scalar.from_unsigned(r.lo, r.hi))
        if x.u.hi <= MASK32 and signed and r.lo >= 0:
            return x.meet(Scalar.from_unsigned(r.lo, r.hi))
        if signed and x.s.lo >= -(1 << 31) and x.s.hi < (1 << 31):
            return x.meet(Scalar.from_signed(r.lo, r.hi))
        return x

    na, nb = narrow(a, ra), narrow(b, rb)
    if na.bottom or nb.bottom:
        return BOTTOM, BOTTOM
    return na, nb
