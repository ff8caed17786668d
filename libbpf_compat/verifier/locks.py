"""Spin locks: a program holding a ``bpf_spin_lock`` releases it on every path, as Linux.

A state's ``lock`` is the set of what the paths reaching it hold: the id of the map
whose value's lock is held (:data:`UNKNOWN_MAP` when not known), or :data:`NO_LOCK`.
Joins take the union, so a lock is held for certain only when ``NO_LOCK`` is absent.

- ``bpf_spin_lock`` needs no lock held on any path (one lock at a time), and its
  argument must point at the ``struct bpf_spin_lock`` of a map value: a non-null value
  of a map whose BTF value type has one (its offset from the loader), at that offset;
- ``bpf_spin_unlock`` needs a lock held on every path, of the same map when known;
- no other call (a helper, a bpf-to-bpf call, a legacy packet load, whose failure
  ends the program) while a lock may be held, and no exit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from libbpf_compat.verifier import log
from libbpf_compat.verifier.types import SHARED, RegValue

if TYPE_CHECKING:
    from libbpf_compat.verifier.transfer import Options, State

NO_LOCK = -1
UNKNOWN_MAP = -2
UNLOCKED = frozenset({NO_LOCK})
LOCK_HELPERS = frozenset({"spin_lock", "spin_unlock"})


def may_hold(state: State) -> bool:
    return state.lock != UNLOCKED


def call_text(state: State, helper: str | None) -> str | None:
    """Why a call of ``helper`` (None: a bpf-to-bpf call) is refused here, or None."""
    if may_hold(state) and helper != "spin_unlock":
        return log.lock_calls()
    return None


def exit_text(state: State) -> str | None:
    return log.lock_missing() if may_hold(state) else None


def legacy_load_text(state: State) -> str | None:
    return log.lock_legacy_load() if may_hold(state) else None


def _map_of(value: RegValue) -> int:
    fd = value.map_fd.u.singleton
    return UNKNOWN_MAP if fd is None else fd


def pointer_text(reg: int, value: RegValue, options: Options) -> str | None:
    """The lock argument must be the lock field of a (non-null) map value."""
    if value.only != SHARED:
        return log.invalid_type(reg, "== shared")
    where = f"r{reg} as a spin lock"
    if value.value.u.contains(0):
        return log.possible_null(where)
    fd = value.map_fd.u.singleton
    shape = options.maps.get(fd) if fd is not None else None
    if shape is None or shape.spin_lock_off < 0:
        return log.lock_no_field(reg, "its map has no struct bpf_spin_lock in its value "
                                      "type" if shape is not None else "no one known map")
    at = value.offset.s.singleton
    if at != shape.spin_lock_off:
        return log.lock_no_field(reg, f"offset {at if at is not None else 'unknown'}, the "
                                      f"lock is at {shape.spin_lock_off}")
    return None


def acquire(state: State, value: RegValue) -> str | None:
    """``bpf_spin_lock(value)``: the state holds its map's lock, or why it cannot."""
    if may_hold(state):
        return log.lock_twice()
    state.lock = frozenset({_map_of(value)})
    return None


def release(state: State, value: RegValue) -> str | None:
    """``bpf_spin_unlock(value)``: no lock held any more, or why it cannot be released."""
    if NO_LOCK in state.lock:
        return log.unlock_without_lock()
    held = _map_of(value)
    if held != UNKNOWN_MAP and state.lock - {held, UNKNOWN_MAP}:
        return log.lock_wrong_map()
    state.lock = UNLOCKED
    return None


def direct_access_text(reg: int, base: RegValue, off: int, width: int,
                       options: Options) -> str | None:
    """A load or store may not touch a map value's lock (only the helpers do)."""
    if SHARED not in base.types or base.offset.bottom:
        return None
    fds = base.map_fd.u
    locks = {shape.spin_lock_off for fd, shape in options.maps.items()
             if fds.lo <= fd <= fds.hi and shape.spin_lock_off >= 0}
    lo, hi = base.offset.s.lo + off, base.offset.s.hi + off + width
    if any(lo < lock + 4 and lock < hi for lock in locks):
        return log.lock_direct_access(reg)
    return None
