"""A reference model of eBPF ALU semantics (RFC 9669 with Linux's choices),
written independently of the C interpreter to check it against."""

from __future__ import annotations

M64 = (1 << 64) - 1
M32 = (1 << 32) - 1


def signed(v: int, bits: int) -> int:
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


def _trunc_div(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


def alu(op: str, dst: int, src: int, bits: int) -> int:
    """dst op src at the given width; the result as an unsigned 64-bit value
    (32-bit results zero-extended)."""
    mask = (1 << bits) - 1
    d, s = dst & mask, src & mask
    if op == "add":
        r = d + s
    elif op == "sub":
        r = d - s
    elif op == "mul":
        r = d * s
    elif op == "div":
        r = d // s if s else 0
    elif op == "mod":
        r = d % s if s else d
    elif op == "sdiv":
        r = _trunc_div(signed(d, bits), signed(s, bits)) if s else 0
    elif op == "smod":
        sd, ss = signed(d, bits), signed(s, bits)
        r = sd - _trunc_div(sd, ss) * ss if s else d
    elif op == "or":
        r = d | s
    elif op == "and":
        r = d & s
    elif op == "xor":
        r = d ^ s
    elif op == "lsh":
        r = d << (s % bits)
    elif op == "rsh":
        r = d >> (s % bits)
    elif op == "arsh":
        r = signed(d, bits) >> (s % bits)
    elif op == "mov":
        r = s
    else:
        raise ValueError(op)
    return r & mask


def jump(op: str, dst: int, src: int, bits: int) -> bool:
    mask = (1 << bits) - 1
    d, s = dst & mask, src & mask
    sd, ss = signed(d, bits), signed(s, bits)
    return {
        "jeq": d == s, "jne": d != s, "jgt": d > s, "jge": d >= s, "jlt": d < s,
        "jle": d <= s, "jset": (d & s) != 0, "jsgt": sd > ss, "jsge": sd >= ss,
        "jslt": sd < ss, "jsle": sd <= ss,
    }[op]
