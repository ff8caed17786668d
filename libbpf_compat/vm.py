"""The low-level VM API, in the spirit of uBPF: load raw bytecode, register
helpers, run it on a piece of memory.

>>> vm = Vm(isa.assemble("mov %r0, %r2\\nexit"))
>>> vm.run(b"abcd")
4

``run(mem)`` passes r1 = a pointer to ``mem`` and r2 = its length and returns
r0. ``bytearray`` and writable ``memoryview`` inputs are run in place (the
program's stores show up in them); ``bytes`` are copied first. Programs run
in C with the GIL released, so several threads may run one ``Vm`` at once.
"""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from libbpf_compat._native import ffi, lib
from libbpf_compat.errors import LibbpfError

U64_MASK = (1 << 64) - 1

#: What a Python helper looks like: r1..r5 in, the new r0 out.
HelperFn = Callable[[int, int, int, int, int], int]

Buffer = bytes | bytearray | memoryview


class VmError(LibbpfError):
    """A program was refused at load or stopped at run time.

    ``pc`` is the instruction (slot) index the error names, or None;
    ``address`` the faulting address of a memory error, or None.
    """

    def __init__(self, err: int, message: str, pc: int | None = None,
                 address: int | None = None) -> None:
        where = f"instruction {pc}: " if pc is not None else ""
        super().__init__(err, where + message)
        self.pc = pc
        self.address = address


class StopProgram(Exception):
    """Raise from a Python helper to end the run at once with r0 = ``value``."""

    def __init__(self, value: int = 0) -> None:
        super().__init__(value)
        self.value = value


class TailCall(Exception):
    """Raise from a Python helper to continue the run in another program
    (``target``), as bpf_tail_call does: same stack frame, same r1. After
    33 tail calls in one run the call fails instead, the helper returns
    -E2BIG and the current program goes on."""

    def __init__(self, target: Vm) -> None:
        super().__init__(target)
        self.target = target


@dataclass(frozen=True)
class RunResult:
    """One timed run: r0, mean nanoseconds per run, and the instructions the
    last run executed (0 unless ``count_instructions`` is on or a budget set)."""

    retval: int
    duration_ns: float
    insn_count: int


@dataclass(frozen=True)
class RunSettings:
    """A :class:`Vm`'s run settings as :meth:`Vm.run_settings` gives them:
    the native program, the budget (0: none), the runtime, the lbc_exec
    flags and the (address, size, writable) regions a checked run may touch."""

    program: Any
    budget: int
    runtime: Any
    flags: int
    regions: tuple[tuple[int, int, bool], ...]


@dataclass
class RunState:
    """What a Python helper left behind during one run."""

    exception: BaseException | None = None


@dataclass
class _Helper:
    helper_id: int
    kind: int
    fn: HelperFn | None
    handle: Any = field(default=None, repr=False)
    native: Any = field(default=None, repr=False)  # a C lbc_helper_fn instead of fn


@ffi.def_extern()  # type: ignore[untyped-decorator]
def lbc_py_helper(ex: Any, data: Any, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    helper: _Helper = ffi.from_handle(data)
    try:
        assert helper.fn is not None
        return int(helper.fn(r1, r2, r3, r4, r5)) & U64_MASK
    except StopProgram as stop:
        lib.lbc_exec_stop(ex, stop.value & U64_MASK)
    except TailCall as tail:
        return int(lib.lbc_exec_tail_call(ex, tail.target._program())) & U64_MASK
    except BaseException as exc:  # re-raised by Vm.run in the caller's thread
        state: RunState = ffi.from_handle(ex.host)
        state.exception = exc
        msg = f"helper {helper.helper_id} raised {type(exc).__name__}: {exc}"
        lib.lbc_exec_fail(ex, -errno.EINVAL, msg.encode()[:200])
    return 0


def error_from(err: Any) -> VmError:
    """The VmError for a native lbc_error."""
    pc = int(err.pc)
    return VmError(-int(err.code), ffi.string(err.msg).decode(errors="replace"),
                   pc if pc >= 0 else None, int(err.addr) or None)


#: Environment switch of the JIT: "0" turns it off everywhere, "1" on by
#: default (for Vm objects made without ``jit=``).
JIT_ENV = "LIBBPF_COMPAT_JIT"


def jit_wanted(requested: bool | None) -> bool:
    """Whether a program should be translated to machine code: never when
    LIBBPF_COMPAT_JIT=0, else ``requested``, else LIBBPF_COMPAT_JIT=1."""
    env = os.environ.get(JIT_ENV, "")
    if env == "0":
        return False
    return requested if requested is not None else env == "1"


def load_program(code: bytes, helpers: list[_Helper] | None = None, *,
                 defer_helpers: bool = False, jit: bool = False) -> Any:
    """Validate and decode ``code``; returns the native program (freed by GC)."""
    helpers = helpers or []
    table = ffi.new("lbc_helper[]", max(len(helpers), 1))
    for slot, h in zip(table, helpers, strict=False):
        slot.id = h.helper_id
        slot.kind = h.kind
        slot.fn = h.native if h.native is not None else lib.lbc_py_helper
        slot.data = h.handle if h.native is None else ffi.NULL
    out = ffi.new("lbc_prog **")
    err = ffi.new("lbc_error *")
    flags = (lib.LBC_LOAD_DEFER_HELPERS if defer_helpers else 0) | (
        lib.LBC_LOAD_JIT if jit else 0)
    rc = lib.lbc_prog_load(code, len(code), table, len(helpers), flags, out, err)
    if rc:
        raise error_from(err)
    return ffi.gc(out[0], lib.lbc_prog_free)


class Vm:
    """A loaded eBPF program with its helpers, ready to run.

    The bytecode is validated when the ``Vm`` is made (bad encodings, jumps
    outside the program, writes to r10, … raise :class:`VmError` naming the
    instruction). Calls to helpers are checked when the program first runs
    after a change of helpers, so helpers may be registered after loading.

    ``bounds_check`` makes every memory access check that it stays inside the
    live stack frames, the memory passed to :meth:`run` and the regions added
    with :meth:`add_region`; ``budget`` caps the instructions one run may
    execute.

    ``jit`` translates the program to x86-64 machine code, used by runs
    without bounds checks, budget or instruction counting (the interpreter
    runs the others, and everything on other platforms); None follows the
    LIBBPF_COMPAT_JIT environment variable (off unless it is "1"), and
    LIBBPF_COMPAT_JIT=0 turns it off even when asked for.
    """

    def __init__(self, code: bytes | bytearray | memoryview, *, bounds_check: bool = False,
                 budget: int | None = None, jit: bool | None = None) -> None:
        self.code = bytes(code)
        self.jit = jit_wanted(jit)
        self.bounds_check = bounds_check
        self.budget = budget
        self.count_instructions = False
        self.last_insn_count = 0
        self._helpers: dict[tuple[int, int], _Helper] = {}
        #: what C helpers see of the host (a libbpf_compat.runtime.Runtime), or None
        self.runtime: Any = None
        self._regions: list[tuple[Any, int, int, bool]] = []
        self._lock = threading.Lock()
        self._prog: Any = load_program(self.code, defer_helpers=True)
        self._linked: Any = None
        self._settings: RunSettings | None = None

    @property
    def insn_count(self) -> int:
        """Number of instruction slots in the program (lddw counts two)."""
        return len(self.code) // 8

    def register_helper(self, helper_id: int, fn: HelperFn, *, kfunc: bool = False) -> None:
        """Make ``call helper_id`` (or, with ``kfunc``, a kfunc call to that
        BTF id) run the Python callable ``fn(r1, r2, r3, r4, r5) -> r0``.
        ``fn`` may raise :class:`StopProgram` to end the run."""
        if not callable(fn):
            raise LibbpfError(errno.EINVAL, f"helper {helper_id}: {fn!r} is not callable")
        if not -(1 << 63) <= helper_id < (1 << 63):
            raise LibbpfError(errno.EINVAL, f"helper id {helper_id} does not fit 64 bits")
        helper = _Helper(helper_id, lib.LBC_KFUNC if kfunc else lib.LBC_HELPER, fn)
        helper.handle = ffi.new_handle(helper)
        with self._lock:
            self._helpers[(helper.kind, helper_id)] = helper
            self._linked = None

    def register_native_helper(self, helper_id: int, cfn: Any, *, kfunc: bool = False) -> None:
        """Make ``call helper_id`` run the C function ``cfn`` (an
        ``lbc_helper_fn`` from the native module, e.g. ``lib.lbc_helper_ktime_get_ns``)."""
        if not -(1 << 63) <= helper_id < (1 << 63):
            raise LibbpfError(errno.EINVAL, f"helper id {helper_id} does not fit 64 bits")
        helper = _Helper(helper_id, lib.LBC_KFUNC if kfunc else lib.LBC_HELPER, None, native=cfn)
        with self._lock:
            self._helpers[(helper.kind, helper_id)] = helper
            self._linked = None

    def add_region(self, buf: bytearray | memoryview, *, writable: bool = True) -> int:
        """Allow bounds-checked runs to touch ``buf``; returns its address
        (for handing to the program, e.g. from a helper). The buffer stays
        pinned (it cannot be resized) while the Vm lives."""
        keep, addr, size = pin_buffer(buf, writable)
        self._regions.append((keep, addr, size, writable))
        self._settings = None
        return addr

    def add_raw_region(self, address: int, size: int, *, writable: bool,
                       keepalive: object = None) -> None:
        """Allow bounds-checked runs to touch memory the caller owns at
        ``address`` (e.g. a map's region); ``keepalive`` is held with it."""
        if address <= 0 or size <= 0 or address + size > (1 << 64):
            raise LibbpfError(errno.EINVAL, f"invalid region {address:#x}+{size}")
        self._regions.append((keepalive, address, size, writable))
        self._settings = None

    def _program(self) -> Any:
        with self._lock:
            if self._linked is None:
                self._linked = load_program(self.code, list(self._helpers.values()),
                                            jit=self.jit)
            return self._linked

    @property
    def jitted(self) -> bool:
        """Whether unchecked, uncounted runs execute machine code (links first)."""
        return bool(lib.lbc_prog_jitted(self._program()))

    @property
    def jit_note(self) -> str:
        """Why a program asked to be JIT-compiled was not (empty otherwise)."""
        note: bytes = ffi.string(lib.lbc_prog_jit_note(self._program()))
        return note.decode()

    def link(self) -> None:
        """Resolve the program's helper calls against the registered helpers
        now (a run does it first otherwise); VmError for an unknown helper."""
        self._program()

    #: attributes whose change makes run_settings() build new settings
    _SETTINGS_FIELDS = frozenset({"bounds_check", "budget", "count_instructions", "runtime",
                                  "_linked"})

    def set_jit(self, enabled: bool) -> None:
        """Turn the JIT on or off for the next runs (relinks the program;
        LIBBPF_COMPAT_JIT=0 still wins)."""
        with self._lock:
            self.jit = jit_wanted(enabled)
            self._linked = None

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        if name in Vm._SETTINGS_FIELDS:
            object.__setattr__(self, "_settings", None)

    def run_settings(self) -> RunSettings:
        """What a host that runs this program from C needs (the XDP hook's
        packet path): the native program and what :meth:`run_repeat` would
        put in the run's state; a new object whenever any of it changes."""
        settings = self._settings
        if settings is not None:
            return settings
        prog = self._program()
        if self.budget is not None and self.budget <= 0:
            raise LibbpfError(errno.EINVAL, f"budget must be positive, not {self.budget}")
        flags = (lib.LBC_RUN_CHECKED if self.bounds_check else 0) | (
            lib.LBC_RUN_COUNT if self.count_instructions else 0)
        settings = RunSettings(
            prog, self.budget or 0, self.runtime, flags,
            tuple((addr, size, writable) for _, addr, size, writable in self._regions))
        with self._lock:
            if self._linked is prog:  # not relinked meanwhile
                object.__setattr__(self, "_settings", settings)
        return settings

    def run(self, mem: Buffer | None = None) -> int:
        """Run with r1 = address of ``mem`` and r2 = its length; return r0."""
        return self.run_repeat(mem, 1).retval

    def run_repeat(self, mem: Buffer | None, repeat: int, *,
                   regions: Sequence[tuple[bytearray | memoryview, bool]] = (),
                   packet: int | None = None) -> RunResult:
        """Run ``repeat`` times on the same memory, timed in C (the thread's
        CPU time: like the kernel's test_run timer, which stops while the
        task is rescheduled, time spent preempted does not count); stops at
        the first error. The memory is shared by the runs (stores accumulate).
        ``regions`` are (buffer, writable) pairs checked runs may also touch
        during this call only (a hook's packet, say); ``packet`` is the index
        of the region legacy LD_ABS / LD_IND loads read (an skb's data),
        None: they read ``mem``."""
        if not 1 <= repeat < (1 << 32):
            raise LibbpfError(errno.EINVAL, f"repeat must be in 1..2**32-1, not {repeat}")
        prog = self._program()
        ex = ffi.new("lbc_exec *")
        state = RunState()
        state_handle = ffi.new_handle(state)
        ex.host = state_handle
        ex.runtime = self.runtime.c_ptr if self.runtime is not None else ffi.NULL
        ex.flags = (lib.LBC_RUN_CHECKED if self.bounds_check else 0) | (
            lib.LBC_RUN_COUNT if self.count_instructions else 0)
        if self.budget is not None:
            if self.budget <= 0:
                raise LibbpfError(errno.EINVAL, f"budget must be positive, not {self.budget}")
            ex.budget = self.budget
        views = [ffi.from_buffer("uint8_t[]", buf, require_writable=writable)
                 for buf, writable in regions]
        spans = [(addr, size, writable) for _, addr, size, writable in self._regions]
        spans += [(int(ffi.cast("uintptr_t", v)), len(v), w)
                  for v, (_, w) in zip(views, regions, strict=True)]
        c_regions = ffi.new("lbc_region[]", max(len(spans), 1))
        for slot, (addr, size, writable) in zip(c_regions, spans, strict=False):
            slot.start = addr
            slot.size = size
            slot.writable = int(writable)
        ex.regions = c_regions
        ex.nregions = len(spans)
        if packet is not None:
            ex.pkt = views[packet]
            ex.pkt_len = len(views[packet])
        total = ffi.new("uint64_t *")
        if mem is None:
            rc = lib.lbc_run_repeat(prog, ex, ffi.NULL, 0, repeat, total)
        else:
            buf = mem if _writable(mem) else bytearray(mem)
            cmem = ffi.from_buffer("uint8_t[]", buf, require_writable=True)
            try:
                rc = lib.lbc_run_repeat(prog, ex, cmem, len(cmem), repeat, total)
            finally:  # drop the export now: a view left to the GC can crash CPython
                ffi.release(cmem)
        for v in views:
            ffi.release(v)
        self.last_insn_count = int(ex.insn_count)
        if state.exception is not None:
            raise error_from(ex.err) from state.exception
        if rc:
            raise error_from(ex.err)
        return RunResult(int(ex.retval), int(total[0]) / repeat, int(ex.insn_count))


def pin_buffer(buf: bytearray | memoryview, writable: bool) -> tuple[Any, int, int]:
    """Pin a buffer for as long as the returned keep-alive object lives;
    returns (keep-alive, address, size). A memoryview is pinned through the
    object it views, since a memoryview holding an export inside a garbage
    cycle can crash CPython when the collector clears it."""
    view = ffi.from_buffer("uint8_t[]", buf, require_writable=writable)
    addr, size = int(ffi.cast("uintptr_t", view)), len(view)
    base_obj = buf.obj if isinstance(buf, memoryview) else None
    if base_obj is None or isinstance(base_obj, memoryview):
        return view, addr, size
    try:
        base = ffi.from_buffer("uint8_t[]", base_obj, require_writable=writable)
    except (TypeError, BufferError):
        return view, addr, size
    start = int(ffi.cast("uintptr_t", base))
    if not start <= addr <= addr + size <= start + len(base):
        ffi.release(base)
        return view, addr, size
    ffi.release(view)
    return base, addr, size


def _writable(mem: Buffer) -> bool:
    if isinstance(mem, bytearray):
        return True
    return isinstance(mem, memoryview) and not mem.readonly and mem.contiguous
