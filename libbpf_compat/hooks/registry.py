"""Program types a host registers from Python, the way an eBPF-for-Windows
extension provides one: a program type number and name, the section
prefixes that select it, the context programs see (fields, pointer fields,
a data region two pointers bound), the helpers its programs may call
(general helpers by name, and its own helpers as Python callables under the
numbers programs call them by), and what a return value means.

    spec = register_program_type(
        "netevent", 77, ("netevent",),
        CtxLayout("netevent_md_t", 24, (CtxField("data_start", 0, 8, pointer=True),
                                        CtxField("data_end", 8, 8, pointer=True),
                                        CtxField("event", 16, 4))),
        data=("data_start", "data_end"), verdict=lambda r: "deny" if r else "permit",
        stops=lambda v: v == "deny")
    ...  # open and load an object with SEC("netevent") programs
    link = bpf_program__attach(prog)          # the type's hook, spec.hook
    result = spec.hook.invoke({"event": 3}, data=b"payload")

The internal program type is WINDOWS_ONLY_BASE + the number (as for the
eBPF-for-Windows program types); the sections are eBPF-for-Windows names
unless ``windows_only=False`` (an object using one is then detected as a
Windows build). Objects of the type open, load (their context accesses
rewritten to the native copy of the layout, their helper calls checked),
attach with ``bpf_program__attach`` and run through
``bpf_prog_test_run_opts`` (``data_in`` fills the data region, ``ctx_in``
and ``ctx_out`` are in the layout, the region's pointers 0 in ``ctx_in``
and the region's size in ``ctx_out``'s end pointer).

eBPF for Windows' SAMPLE program type (999, section ``sample``) is
registered here too: ``sample_program_context_t`` (data_start, data_end,
uint32_data, uint16_data, pid_tgid), its hook returns the programs' return
values (0 … in the sample extension's tests).
"""

from __future__ import annotations

import errno
import struct
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from libbpf_compat._native import ffi
from libbpf_compat.abi import windows as windows_abi
from libbpf_compat.errors import LibbpfError
from libbpf_compat.helpers.ids import helper_by_internal, helper_by_name
from libbpf_compat.hooks.chain import ProgramChain
from libbpf_compat.hooks.contexts import CtxField, CtxLayout
from libbpf_compat.hooks.fast_run import FastRunner
from libbpf_compat.hooks.fast_run import new_result as _new
from libbpf_compat.sections import SectionDef, register_section_defs
from libbpf_compat.vm import HelperFn, Vm

#: The largest data region a registered hook takes.
MAX_DATA = 1 << 16
_POINTER_PACK = struct.Struct("<Q").pack_into


def _identity(retval: int) -> Any:
    return retval


def _never(verdict: Any) -> bool:
    return False


class HookResult(NamedTuple):
    """One invocation: the final verdict (that of the last program run,
    None when none ran), each program's verdict and raw return value in
    run order, the context fields after the last run (by name; pointer
    fields left out) and the data region after it."""

    verdict: Any
    verdicts: tuple[Any, ...]
    retvals: tuple[int, ...]
    fields: dict[str, int | bytes]
    data: bytes


@dataclass(eq=False)
class ProgramTypeSpec:
    """A registered program type (see :func:`register_program_type`)."""

    name: str
    number: int
    prog_type: int
    attach_type: int
    sections: tuple[str, ...]
    context: CtxLayout
    native: CtxLayout
    data: tuple[str, str] | None
    data_writable: bool
    helpers: Mapping[int, HelperFn]
    allowed_helpers: frozenset[str] | None
    verdict: Callable[[int], Any]
    stops: Callable[[Any], bool]
    hook: RegisteredHook = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.hook = RegisteredHook(self)

    # -- running ---------------------------------------------------------
    def native_ctx(self, fields: Mapping[str, int | bytes]) -> bytearray:
        ctx = bytearray(self.native.size)
        for name, value in fields.items():
            try:
                f = self.native.field(name)
            except KeyError:
                raise LibbpfError(errno.EINVAL, f"{self.name}: the context has no field "
                                                f"{name!r}") from None
            if f.pointer:
                raise LibbpfError(errno.EINVAL, f"{self.name}: {name} is a pointer the hook "
                                                "sets (pass data=)")
            if isinstance(value, (bytes, bytearray)):
                if len(value) > f.size:
                    raise LibbpfError(errno.EINVAL, f"{self.name}: {name} holds {f.size} "
                                                    f"bytes, not {len(value)}")
                raw = bytes(value)
            elif type(value) is int:
                raw = (value & ((1 << 8 * f.size) - 1)).to_bytes(f.size, "little")
            else:
                raise LibbpfError(errno.EINVAL, f"{self.name}: invalid {name} {value!r}")
            ctx[f.offset:f.offset + len(raw)] = raw
        return ctx

    def read_fields(self, ctx: bytes | bytearray) -> dict[str, int | bytes]:
        out: dict[str, int | bytes] = {}
        for f in self.native.fields:
            if not f.pointer:
                raw = bytes(ctx[f.offset:f.offset + f.size])
                out[f.name] = raw if f.size > 8 else int.from_bytes(raw, "little")
        return out

    def run(self, vm: Vm, ctx: bytearray, data: bytearray, repeat: int = 1) -> tuple[int, int]:
        """Run ``vm`` on the native context ``ctx`` over the data region
        ``data`` (changed in place when writable); (retval, mean ns)."""
        region = data or bytearray(1)  # an empty region still needs an address
        view = memoryview(region)
        try:
            with ffi.from_buffer("uint8_t[]", region) as cbuf:
                if self.data is not None:
                    start = int(ffi.cast("uintptr_t", cbuf))
                    struct.pack_into("<Q", ctx, self.native.field(self.data[0]).offset, start)
                    struct.pack_into("<Q", ctx, self.native.field(self.data[1]).offset,
                                     start + len(data))
                result = vm.run_repeat(ctx, repeat, regions=[(view, self.data_writable)])
        finally:
            view.release()
        return result.retval, int(result.duration_ns)


class RegisteredHook(ProgramChain):
    """The hook of a registered program type: the host calls :meth:`invoke`."""

    def __init__(self, spec: ProgramTypeSpec) -> None:
        super().__init__()
        self.spec = spec
        self.hook_name = spec.name
        self.prog_type = spec.prog_type
        self._runner = FastRunner(spec.native.size, MAX_DATA, data_writable=spec.data_writable)
        #: the data pointers' offsets in the native context
        self._data_at = (0, 0) if spec.data is None else (
            spec.native.field(spec.data[0]).offset, spec.native.field(spec.data[1]).offset)

    def invoke(self, fields: Mapping[str, int | bytes] | None = None,
               data: bytes | bytearray | memoryview = b"") -> HookResult:
        """Run every attached program in attach order on a context with
        ``fields`` set (and the data region holding ``data``), until one's
        verdict stops the run."""
        spec = self.spec
        if data and spec.data is None:
            raise LibbpfError(errno.EINVAL, f"{spec.name}: the context has no data region")
        if len(data) > MAX_DATA:
            raise LibbpfError(errno.E2BIG, f"{spec.name}: {len(data)} bytes of data (the hook "
                                           f"takes {MAX_DATA} at most)")
        base = spec.native_ctx(fields or {})
        chain = self.attached_chain()
        if not chain:
            return _new(HookResult, (None, (), (), spec.read_fields(base), bytes(data)))
        size = len(data)
        n = len(base)
        verdicts: list[Any] = []
        retvals: list[int] = []
        slot = self._runner.slot()
        try:
            if spec.data is not None:  # the data pointers, into the slot's data region
                start = slot.data_addr
                _POINTER_PACK(base, self._data_at[0], start)
                _POINTER_PACK(base, self._data_at[1], start + size)
            if size:
                slot.data_buf[0:size] = data
            if size != slot.data_len:
                slot.set_data_len(size)
            buf = slot.ctx_buf
            for att in chain:
                buf[0:n] = base  # each program gets the context afresh
                retval = slot.run(att.vm, n) & 0xFFFFFFFF
                retvals.append(retval)
                verdicts.append(spec.verdict(retval))
                if spec.stops(verdicts[-1]):
                    break
            ctx = buf[0:n]
            region = slot.data_buf[0:size]
        finally:
            slot.busy = False
        return _new(HookResult, (verdicts[-1], tuple(verdicts), tuple(retvals),
                                 spec.read_fields(ctx), region))


_registry: dict[int, ProgramTypeSpec] = {}
_lock = threading.Lock()


def _check_layout(name: str, context: CtxLayout,
                  data: tuple[str, str] | None) -> None:
    names = set()
    for f in context.fields:
        if f.offset < 0 or f.size <= 0 or f.offset + f.size > context.size:
            raise LibbpfError(errno.EINVAL, f"{name}: field {f.name!r} lies outside the "
                                            f"{context.size}-byte context")
        if f.pointer and (f.size != 8 or f.offset % 8):
            raise LibbpfError(errno.EINVAL, f"{name}: pointer field {f.name!r} must be 8 "
                                            "aligned bytes")
        if f.name in names:
            raise LibbpfError(errno.EINVAL, f"{name}: field {f.name!r} appears twice")
        names.add(f.name)
    if data is not None:
        for n in data:
            if n not in names or not context.field(n).pointer:
                raise LibbpfError(errno.EINVAL, f"{name}: data region bound {n!r} is not a "
                                                "pointer field of the context")


def register_program_type(name: str, number: int, sections: tuple[str, ...] | list[str],
                          context: CtxLayout, *, data: tuple[str, str] | None = None,
                          data_writable: bool = False,
                          helpers: Mapping[int, HelperFn] | None = None,
                          allowed_helpers: tuple[str, ...] | list[str] | None = None,
                          verdict: Callable[[int], Any] = _identity,
                          stops: Callable[[Any], bool] = _never,
                          attach_number: int | None = None,
                          windows_only: bool = True) -> ProgramTypeSpec:
    """Register program type ``name`` numbered ``number`` (as the extension
    numbers it; internally WINDOWS_ONLY_BASE + number), selected by the
    section names ``sections`` (``"name"`` exactly, ``"name+"`` the name
    or the name followed by ``/`` and anything). ``context`` is the layout
    programs compile against; ``data`` names the two pointer fields that
    bound its data region; ``helpers`` maps helper numbers (as programs
    call them, e.g. 0x10000 and up) to Python callables; ``allowed_helpers``
    names the general helpers (``"map_lookup_elem"`` …) its programs may
    call (None: any); ``verdict`` turns a return value into its meaning
    and ``stops`` says which verdicts end an invocation. EEXIST when the
    number or a section is taken."""
    if not name or not isinstance(name, str):
        raise LibbpfError(errno.EINVAL, f"register_program_type: invalid name {name!r}")
    if type(number) is not int or not 0 < number < 0x1_0000:
        raise LibbpfError(errno.EINVAL, f"register_program_type {name!r}: invalid number "
                                        f"{number!r}")
    if not sections:
        raise LibbpfError(errno.EINVAL, f"register_program_type {name!r}: no section names")
    _check_layout(name, context, data)
    allowed = None
    if allowed_helpers is not None:
        for helper in allowed_helpers:
            if helper_by_name(helper) is None:
                raise LibbpfError(errno.EINVAL, f"{name}: unknown helper {helper!r}")
        allowed = frozenset(h.removeprefix("bpf_") for h in allowed_helpers)
    for helper_id, fn in (helpers or {}).items():
        if not callable(fn) or type(helper_id) is not int or helper_id <= 0:
            raise LibbpfError(errno.EINVAL, f"{name}: helper {helper_id!r} needs a number and "
                                            "a callable")
    internal = windows_abi.WINDOWS_ONLY_BASE + number
    attach = windows_abi.WINDOWS_ONLY_BASE + (attach_number if attach_number is not None
                                              else number)
    spec = ProgramTypeSpec(name, number, internal, attach, tuple(sections), context,
                           CtxLayout(f"lbc_{name}_ctx", context.size, context.fields), data,
                           data_writable, dict(helpers or {}), allowed, verdict, stops)
    with _lock:
        if internal in _registry or number in windows_abi.PROG_TYPES:
            raise LibbpfError(errno.EEXIST, f"program type number {number} is taken")
        register_section_defs([SectionDef(s, internal, attach, True, windows_only)
                               for s in sections], name)
        _registry[internal] = spec
    return spec


def registered_type(prog_type: int) -> ProgramTypeSpec | None:
    """The registered program type with internal number ``prog_type``."""
    return _registry.get(prog_type)


def context_layouts(prog_type: int) -> tuple[CtxLayout, CtxLayout] | None:
    """(program layout, native layout) of a registered type."""
    spec = _registry.get(prog_type)
    return (spec.context, spec.native) if spec else None


def own_helper_ids(prog_type: int) -> frozenset[int]:
    """The helper numbers a registered type provides itself."""
    spec = _registry.get(prog_type)
    return frozenset(spec.helpers) if spec else frozenset()


def check_helpers(prog_type: int, prog_name: str, calls: list[tuple[int, int]]) -> None:
    """EINVAL for a call (slot, internal helper id) the type does not allow."""
    spec = _registry.get(prog_type)
    if spec is None or spec.allowed_helpers is None:
        return
    for slot, helper_id in calls:
        if helper_id in spec.helpers:
            continue
        found = helper_by_internal(helper_id)
        if found is None or found.name not in spec.allowed_helpers:
            what = found.c_name if found else f"helper {helper_id}"
            raise LibbpfError(errno.EINVAL, f"program {prog_name!r}: instruction {slot}: "
                                            f"{what} is not allowed for program type "
                                            f"{spec.name}")


def register_own_helpers(prog_type: int, vm: Vm) -> None:
    spec = _registry.get(prog_type)
    if spec is not None:
        for helper_id, fn in spec.helpers.items():
            vm.register_helper(helper_id, fn)


#: eBPF for Windows' ``sample_program_context_t``.
SAMPLE_CONTEXT = CtxLayout("sample_program_context_t", 32, (
    CtxField("data_start", 0, 8, pointer=True),
    CtxField("data_end", 8, 8, pointer=True),
    CtxField("uint32_data", 16, 4),
    CtxField("uint16_data", 20, 2),
    CtxField("pid_tgid", 24, 8),
))

SAMPLE = ProgramTypeSpec("sample", windows_abi.PROG_SAMPLE, windows_abi.INTERNAL_PROG_SAMPLE,
                         windows_abi.WINDOWS_ONLY_BASE + 8, ("sample",), SAMPLE_CONTEXT,
                         CtxLayout("lbc_sample_ctx", 32, SAMPLE_CONTEXT.fields),
                         ("data_start", "data_end"), False, {}, None, _identity, _never)
_registry[SAMPLE.prog_type] = SAMPLE


def sample_hook() -> RegisteredHook:
    """The SAMPLE program type's hook (``bpf_program__attach`` attaches there)."""
    return SAMPLE.hook


__all__ = [
    "SAMPLE",
    "SAMPLE_CONTEXT",
    "HookResult",
    "ProgramTypeSpec",
    "RegisteredHook",
    "check_helpers",
    "context_layouts",
    "own_helper_ids",
    "register_own_helpers",
    "register_program_type",
    "registered_type",
    "sample_hook",
]
