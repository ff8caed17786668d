"""Helpers a host adds from Python: an ID programs call, a name, a
prototype the verifier checks calls against, the Python callable that runs,
and the program types allowed to call it.

>>> from libbpf_compat.helpers import Arg, Ret
>>> helper = register_helper(0x1000, "double_it", (Ret.INTEGER, (Arg.SCALAR,)),
...                          lambda r1, *_: 2 * r1)

A program of the helper's ABI (Linux by default) that calls ``0x1000``
then runs the callable with r1..r5 and gets its result in r0 (masked to 64
bits). The helper is wired into every program loaded afterwards whose type
it allows; a program of another type calling it fails to load with EINVAL.
A callable that raises ends the run with a LibbpfError whose ``__cause__``
is the exception (:class:`~libbpf_compat.vm.StopProgram` ends the run with
its value instead).
"""

from __future__ import annotations

import errno
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from libbpf_compat.errors import LibbpfError
from libbpf_compat.helpers.ids import HelperId, add_host_helper_id, remove_host_helper_id
from libbpf_compat.helpers.prototypes import PROG_TYPE_RULES, PROTOTYPES, Arg, Prototype, Ret
from libbpf_compat.vm import HelperFn, Vm


@dataclass(frozen=True)
class HostHelper:
    """A helper a host registered (``ident`` holds its IDs)."""

    ident: HelperId
    abi: str
    prototype: Prototype
    fn: HelperFn
    prog_types: frozenset[int] | None


_lock = threading.Lock()
_helpers: dict[int, HostHelper] = {}  # by internal ID


def _prototype(name: str, prototype: Prototype | tuple[Ret, Iterable[Arg]]) -> Prototype:
    if isinstance(prototype, Prototype):
        ret, args = prototype.ret, prototype.args
    else:
        try:
            ret, arg_seq = prototype
            args = tuple(arg_seq)
        except (TypeError, ValueError) as exc:
            raise LibbpfError(errno.EINVAL, f"helper {name!r}: prototype must be a Prototype "
                                            "or (Ret, (Arg, ...))") from exc
    if not isinstance(ret, Ret) or len(args) > 5 or not all(isinstance(a, Arg) for a in args):
        raise LibbpfError(errno.EINVAL, f"helper {name!r}: a prototype is a Ret and at most "
                                        "five Arg values")
    return Prototype(name, ret, args)


def register_helper(helper_id: int, name: str, prototype: Prototype | tuple[Ret, Iterable[Arg]],
                    fn: HelperFn, prog_types: Iterable[int] | None = None,
                    abi: str = "linux") -> HostHelper:
    """Add helper ``name``, called as ``helper_id`` by programs of ``abi``
    ("linux" or "windows"); ``prog_types`` (internal program type numbers)
    limits the program types that may call it (None: every type). EEXIST
    when the ID or name is taken, EINVAL for a bad argument."""
    if abi not in ("linux", "windows"):
        raise LibbpfError(errno.EINVAL, f"helper {name!r}: unknown ABI {abi!r}")
    if type(helper_id) is not int or not 0 < helper_id < 1 << 31:
        raise LibbpfError(errno.EINVAL, f"helper {name!r}: invalid helper id {helper_id!r}")
    if not isinstance(name, str) or not name.isidentifier():
        raise LibbpfError(errno.EINVAL, f"invalid helper name {name!r}")
    if not callable(fn):
        raise LibbpfError(errno.EINVAL, f"helper {name!r}: {fn!r} is not callable")
    proto = _prototype(name, prototype)
    types = None if prog_types is None else frozenset(int(t) for t in prog_types)
    with _lock:
        ident = add_host_helper_id(abi, helper_id, name)
        helper = HostHelper(ident, abi, proto, fn, types)
        _helpers[ident.internal] = helper
        PROTOTYPES[ident.internal] = proto
        if types is not None:
            PROG_TYPE_RULES[ident.internal] = (types, frozenset())
    return helper


def unregister_helper(helper: HostHelper) -> None:
    """Remove a host helper (programs already loaded keep it)."""
    with _lock:
        internal = helper.ident.internal
        if _helpers.get(internal) is not helper:
            raise LibbpfError(errno.ENOENT, f"helper {helper.ident.name!r} is not registered")
        del _helpers[internal]
        PROTOTYPES.pop(internal, None)
        PROG_TYPE_RULES.pop(internal, None)
        wire_id = helper.ident.linux if helper.abi == "linux" else helper.ident.windows
        assert wire_id is not None
        remove_host_helper_id(helper.abi, wire_id)


def register_host_helpers(vm: Vm) -> None:
    """Register every host helper on ``vm`` under its internal ID."""
    with _lock:
        helpers = list(_helpers.values())
    for helper in helpers:
        vm.register_helper(helper.ident.internal, helper.fn)


__all__ = ["HostHelper", "register_helper", "register_host_helpers", "unregister_helper"]
