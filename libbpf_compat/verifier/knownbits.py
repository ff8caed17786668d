"""Known bits of a ``bits``-wide value: a tristate number ``(v, m)``.

A bit set in ``m`` is unknown; every other bit is known and equals that bit of ``v``
(``v & m == 0``). The set it stands for is ``{v | k : k a subset of m}``. Functions here
work on plain ints so the :class:`~libbpf_compat.verifier.numeric.Scalar` hot path stays
cheap; each operation's result contains every result of the operation on members.
"""

from __future__ import annotations

KnownBits = tuple[int, int]


def from_range(lo: int, hi: int) -> KnownBits:
    """The bits every value of the unsigned range ``[lo, hi]`` shares (its common prefix)."""
    diff = lo ^ hi
    if not diff:
        return lo, 0
    m = (1 << diff.bit_length()) - 1
    return lo & ~m, m


def ceil(lo: int, v: int, m: int) -> int | None:
    """The smallest member ``>= lo``, or None when there is none."""
    if lo <= v:
        return v
    x = (lo & m) | v  # lo's free bits, the known bits
    diff = x ^ lo
    if not diff:
        return x
    p = diff.bit_length() - 1  # the highest known bit where x and lo differ
    if x >> p & 1:  # x is already above lo: clear the free bits below p
        return x & ~(m & ((1 << p) - 1))
    # x is below lo: raise the lowest free bit above p that is 0, clear the free bits below.
    free = m & ~x & ~((1 << (p + 1)) - 1)
    if not free:
        return None
    q = free & -free
    return (x | q) & ~(m & (q - 1))


def floor(hi: int, v: int, m: int, mask: int) -> int | None:
    """The largest member ``<= hi`` (``mask`` the width), or None when there is none."""
    # Complement everything: the largest x <= hi is the complement of the smallest
    # member of the complemented set that is >= the complement of hi.
    c = ceil(mask ^ hi, ~v & ~m & mask, m)
    return None if c is None else mask ^ c


def join(av: int, am: int, bv: int, bm: int) -> KnownBits:
    m = am | bm | (av ^ bv)
    return av & ~m, m


def add(av: int, am: int, bv: int, bm: int, mask: int) -> KnownBits:
    sv = av + bv
    # Bits the carries may change: those where the sums with all-free-0 and all-free-1
    # differ, and the free bits themselves.
    m = (((sv + am + bm) ^ sv) | am | bm) & mask
    return sv & ~m & mask, m


def sub(av: int, am: int, bv: int, bm: int, mask: int) -> KnownBits:
    dv = av - bv
    m = (((dv + am) ^ (dv - bm)) | am | bm) & mask
    return dv & ~m & mask, m


def mul(av: int, am: int, bv: int, bm: int, mask: int) -> KnownBits:
    """Shift and add: each bit of a adds b shifted (when known 1) or 0 or b (unknown)."""
    if (av | am).bit_count() > (bv | bm).bit_count():
        av, am, bv, bm = bv, bm, av, am
    rv, rm = 0, 0
    bits = av | am
    shift = 0
    while bits:
        if bits & 1:
            if am >> shift & 1:
                tv, tm = 0, ((bv | bm) << shift) & mask
            else:
                tv, tm = (bv << shift) & mask, (bm << shift) & mask
            rv, rm = add(rv, rm, tv, tm, mask)
            if rm == mask:
                return 0, mask
        bits >>= 1
        shift += 1
    return rv, rm


def shift(op: str, v: int, m: int, k: int, bits: int) -> KnownBits:
    """``lsh``, ``rsh`` or ``arsh`` by the known amount ``k`` (``< bits``)."""
    mask = (1 << bits) - 1
    if op == "lsh":
        return (v << k) & mask, (m << k) & mask
    if op == "rsh":
        return v >> k, m >> k
    sign = 1 << (bits - 1)  # arsh: the sign bit (known or not) fills the top
    sv = v - (v & sign) * 2
    sm = m - (m & sign) * 2
    return (sv >> k) & mask, (sm >> k) & mask


def swap_bytes(v: int, width: int) -> int:
    return int.from_bytes(v.to_bytes(width // 8, "little"), "big")


def sign_extend(v: int, m: int, width: int, mask: int) -> KnownBits:
    """Sign-extend the low ``width`` bits to ``mask``'s width."""
    low = (1 << width) - 1
    sign = 1 << (width - 1)
    v &= low
    m &= low
    if m & sign:
        return v, m | (mask & ~low)
    if v & sign:
        return v | (mask & ~low), m
    return v, m


def contains(v: int, m: int, x: int) -> bool:
    return (x & ~m) == v
