"""The verifier's messages, in PREVAIL's wording.

A message is a label (``"3"`` for an instruction, ``"2:3"`` for the edge from a
jump at 2 to 3, with a ``"0/"`` prefix per inlined call frame) and a text such as
``Invalid type (r1.type == number)``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Message:
    label: str
    text: str

    def __str__(self) -> str:
        return f"{self.label}: {self.text}" if self.label else self.text


def access_text(base: int, offset: int, width: int, write: bool) -> str:
    """``valid_access(r2.offset+4, width=4) for write``."""
    off = f"{offset:+d}" if offset else ""
    return f"valid_access(r{base}.offset{off}, width={width}) for {'write' if write else 'read'}"


def invalid_type(reg: int, expected: str) -> str:
    return f"Invalid type (r{reg}.type {expected})"


def must_be_number(reg: int) -> str:
    return invalid_type(reg, "== number")


def unreachable(condition: str) -> str:
    return f"Code becomes unreachable (assume {condition})"


def division_by_zero(reg: int, is64: bool) -> str:
    return f"Possible division by zero ({'r' if is64 else 'w'}{reg} != 0)"


def divisor_not_number(reg: int) -> str:
    return f"Only numbers can be used as divisors (r{reg} != 0)"


def upper_bound(limit: str, access: str) -> str:
    return f"Upper bound must be at most {limit} ({access})"


def lower_bound(limit: str, access: str) -> str:
    return f"Lower bound must be at least {limit} ({access})"


def store_not_number(base: int, src: int) -> str:
    return ("Only numbers can be stored to externally-visible regions "
            f"(r{base}.type != stack -> r{src}.type == number)")


def ctx_pointer_write(access: str) -> str:
    return f"Cannot write to context pointer field ({access})"


def subtract_pointers(what: str, src: int, dst: int) -> str:
    """``what`` is ``different`` or ``non-singleton``."""
    return (f"Cannot subtract pointers to {what} regions (r{src}.type == number or "
            f"r{dst}.type == r{src}.type in {{ctx, stack, packet}})")


def possible_null(where: str) -> str:
    return f"Possible null access ({where})"


def within(reg: int, size: str) -> str:
    """``within(r2:key_size(r1))``: the bytes of a map key or value a helper reads."""
    return f"within(r{reg}:{size}(r1))"


def stack_not_numeric(access: str) -> str:
    return f"Stack content is not numeric ({access})"


def map_update_not_numeric(lo: str, hi: str, where: str) -> str:
    return f"Illegal map update with a non-numerical value [{lo}-{hi}) ({where})"


def invalid_size(reg: int, zero_ok: bool) -> str:
    return f"Invalid size (r{reg}.value {'>=' if zero_ok else '>'} 0)"


def invalid_helper(helper_id: int, reg: int | None = None) -> str:
    where = f" (r{reg}.type is helper)" if reg is not None else ""
    return f"invalid helper function id {helper_id}{where}"


def callx_not_singleton(reg: int) -> str:
    return f"callx helper function id is not a valid singleton (r{reg}.type is helper)"


def invalid_socket_access(access: str) -> str:
    return f"Invalid socket access ({access})"


def ctx_variable_offset(ctx: str, access: str) -> str:
    return f"Context access at a variable offset ({ctx}: {access})"


def ctx_bad_field(ctx: str, access: str) -> str:
    return f"Invalid context access ({ctx}: {access})"


def helper_without_prototype(name: str) -> str:
    return f"helper {name} has no prototype: its arguments cannot be checked"


def nullable_arithmetic(reg: int) -> str:
    return f"Pointer arithmetic on a pointer that may be null (r{reg}: check it first)"


def crosses_frame(access: str) -> str:
    return f"Stack access outside one call frame ({access})"


def record_leaked(slot: int) -> str:
    return (f"Ring buffer record reserved at {slot} is neither submitted nor discarded "
            "on some path")


def record_unknown() -> str:
    return ("Ring buffer record to release is not one this path reserved (already "
            "released, or one of several)")


def map_pointer_arithmetic(reg: int) -> str:
    return f"Pointer arithmetic on a map pointer (r{reg})"


def pointer_plus_pointer(reg: int) -> str:
    return f"Pointer arithmetic adding two pointers (r{reg})"


def ctx_modified(ctx: str, access: str) -> str:
    return f"Context read through a moved context pointer ({ctx}: {access})"


def add_pointers(src: int, dst: int) -> str:
    return (f"Only numbers can be added to pointers (r{src}.type in {{ctx, stack, packet, "
            f"shared}} -> r{dst}.type == number)")


# Callbacks (bpf_loop, bpf_for_each_map_elem) and spin locks ------------------------------


def read_only_key(access: str) -> str:
    return f"A callback's map key is read-only ({access})"


def callback_not_function(reg: int) -> str:
    return f"Invalid type (r{reg}.type == a static function's address)"


def callback_unknown(reg: int) -> str:
    return f"The callback in r{reg} must be one known function"


def callback_return(text: str) -> str:
    return f"At callback return r0 must be in [0, 1] (r0 is {text})"


def callback_released(where: str) -> str:
    return f"A callback may not release a reference its caller holds (reserved at {where})"


def lock_missing() -> str:
    return "bpf_spin_unlock is missing (a bpf_spin_lock may still be held at exit)"


def lock_calls() -> str:
    return "function calls are not allowed while holding a lock"


def lock_twice() -> str:
    return "Locking two bpf_spin_locks is not allowed (a lock may already be held)"


def unlock_without_lock() -> str:
    return "bpf_spin_unlock without taking a lock (on some path no lock is held)"


def lock_wrong_map() -> str:
    return "bpf_spin_unlock of a lock in another map than the one taken"


def lock_no_field(reg: int, where: str) -> str:
    return f"r{reg} must point at the struct bpf_spin_lock of a map value ({where})"


def lock_legacy_load() -> str:
    return "BPF_LD_[ABS|IND] cannot be used inside a bpf_spin_lock-ed region"


def lock_direct_access(reg: int) -> str:
    return (f"bpf_spin_lock cannot be accessed directly by load/store (r{reg} may point "
            "at one)")
