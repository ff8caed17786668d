"""Tracing program types (KPROBE, TRACEPOINT, RAW_TRACEPOINT, PERF_EVENT)
and simulated event sources a host fires.

Each event source is a Python object a host defines by name
(:class:`TraceEvents`: :meth:`~TraceEvents.tracepoint`,
:meth:`~TraceEvents.raw_tracepoint`, :meth:`~TraceEvents.kprobe`,
:meth:`~TraceEvents.uprobe`, :meth:`~TraceEvents.perf_event`) and fires
with the context bytes of one event, and the task it happens in (what
``bpf_get_current_pid_tgid`` and friends report, see
:class:`~libbpf_compat.runtime.Task`). Firing runs every attached program
in attach order and returns their return values (a tracing program's
return value is no verdict).

Contexts, read-only for every type (a store fails at load with EACCES
naming the offset, as the kernel's "invalid bpf_context access"):

- kprobe / kretprobe / uprobe / uretprobe: ``struct pt_regs`` of x86-64
  (168 bytes, the Linux UAPI layout); a kprobe source fires on entry
  (:meth:`KprobeSource.fire`) and, for return probes, on return
  (:meth:`KprobeSource.fire_return`);
- perf_event: ``struct bpf_perf_event_data`` (regs, sample_period, addr);
- raw tracepoint: ``u64 args[]``; a program may not read past the
  tracepoint's arguments (attach fails with EINVAL, as the kernel's
  max_ctx_offset check);
- tracepoint: the raw record bytes; a program may not read past the
  record (attach fails with EACCES).
"""

from __future__ import annotations

import errno
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import NamedTuple

from libbpf_compat.abi.ctx_rewrite import context_extent
from libbpf_compat.errors import LibbpfError
from libbpf_compat.hooks.chain import ProgramChain
from libbpf_compat.hooks.contexts import (
    KPROBE_NATIVE,
    MAX_RAW_TP_ARGS,
    MAX_TRACE_SIZE,
    PERF_EVENT_DATA,
    PERF_EVENT_NATIVE,
    PT_REGS,
    PT_REGS_NAMES,
    PT_REGS_SIZE,
    RAW_TP_ARGS,
    RAW_TP_NATIVE,
    TRACEPOINT_NATIVE,
    TRACEPOINT_RECORD,
    TRACING_LAYOUTS,
)
from libbpf_compat.hooks.fast_run import FastRunner
from libbpf_compat.hooks.fast_run import new_result as _new
from libbpf_compat.hooks.xdp import XdpProgram
from libbpf_compat.runtime import Runtime, Task
from libbpf_compat.uapi import BpfProgType
from libbpf_compat.vm import Vm

_task_lock = threading.Lock()


@contextmanager
def running_as(vm: Vm, task: Task | None) -> Iterator[None]:
    """Run ``vm`` with ``task`` as the current task (its runtime's task is
    set for the run and put back after; a Vm without a runtime gets one)."""
    if task is None:
        yield
        return
    with _task_lock:
        runtime = vm.runtime
        if runtime is None:
            vm.runtime = Runtime(task)
            try:
                yield
            finally:
                vm.runtime = None
            return
        assert isinstance(runtime, Runtime)
        old = runtime.task
        runtime.task = task
        try:
            yield
        finally:
            runtime.task = old


def pt_regs(**regs: int) -> bytes:
    """A ``struct pt_regs`` with the named registers set (others 0)."""
    out = bytearray(PT_REGS_SIZE)
    for name, value in regs.items():
        if name not in PT_REGS_NAMES:
            raise LibbpfError(errno.EINVAL, f"pt_regs: no register {name!r}")
        i = PT_REGS_NAMES.index(name)
        out[8 * i:8 * i + 8] = (value & (1 << 64) - 1).to_bytes(8, "little")
    return bytes(out)


class FireResult(NamedTuple):
    """One event: each attached program's return value in run order."""

    retvals: tuple[int, ...] = ()


#: the largest context an event source runs on
_LARGEST_CTX = max(MAX_TRACE_SIZE, RAW_TP_NATIVE.size, PT_REGS_SIZE + 16)


class EventSource(ProgramChain):
    """One simulated event source; subclasses say which program type it
    runs and how big its context is."""

    #: the context's size; fire() takes exactly this many bytes
    ctx_size = 0

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self._runner = FastRunner(_LARGEST_CTX)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}: {len(self.attached())} programs>"

    def _check_extent(self, prog: XdpProgram) -> None:
        """Refuse a program that reads past this source's context."""

    def attach(self, prog: XdpProgram, *, owner: object | None = None,
               cgroup: int | None = None) -> None:
        self._check_extent(prog)
        super().attach(prog, owner=owner, cgroup=cgroup)

    def _ctx(self, ctx: bytes | bytearray | memoryview) -> bytearray:
        if not isinstance(ctx, (bytes, bytearray, memoryview)):
            raise LibbpfError(errno.EINVAL, f"{self.hook_name} {self.name!r}: the context must "
                                            f"be bytes, not {type(ctx).__name__}")
        if len(ctx) != self.ctx_size:
            raise LibbpfError(errno.EINVAL, f"{self.hook_name} {self.name!r}: the context is "
                                            f"{self.ctx_size} bytes, not {len(ctx)}")
        return bytearray(ctx)

    def _run(self, chain: list[XdpProgram], ctx: bytes | bytearray | memoryview,
             task: Task | None) -> FireResult:
        if type(ctx) is not bytes or len(ctx) != self.ctx_size:
            ctx = self._ctx(ctx)
        return self._run_on(chain, ctx, task)

    def _run_on(self, chain: list[XdpProgram], data: bytes | bytearray,
                task: Task | None) -> FireResult:
        """Run each program of ``chain`` on a fresh copy of ``data`` (the
        context is read-only) as ``task``."""
        if not chain:
            return FireResult(())
        size = len(data)
        slot = self._runner.slot()
        try:
            buf = slot.ctx_buf
            if len(chain) == 1 and task is None and chain[0].vm is not None:
                buf[0:size] = data
                return _new(FireResult, ((slot.run(chain[0].vm, size),),))
            retvals: list[int] = []
            for prog in chain:
                vm = prog.vm
                if vm is None:
                    continue
                buf[0:size] = data
                if task is None:
                    retvals.append(slot.run(vm, size))
                else:
                    with running_as(vm, task):
                        retvals.append(slot.run(vm, size))
        finally:
            slot.busy = False
        return FireResult(tuple(retvals))

    def fire(self, ctx: bytes | bytearray | memoryview, *, task: Task | None = None) -> FireResult:
        """The event happens with context ``ctx`` in ``task``."""
        return self._run([a.prog for a in self._chain[:]], ctx, task)


def _extent(prog: XdpProgram) -> int:
    """How far the loaded program reads into its context (the tracing
    contexts' native offsets are the program's own)."""
    return context_extent(prog.vm.code, prog.name) if prog.vm is not None else 0


class TracepointSource(EventSource):
    """A tracepoint ``category:name`` whose records are ``record_size`` bytes."""

    hook_name = "tracepoint"
    prog_type = BpfProgType.BPF_PROG_TYPE_TRACEPOINT

    def __init__(self, category: str, name: str, record_size: int) -> None:
        super().__init__(f"{category}:{name}")
        if not 0 < record_size <= MAX_TRACE_SIZE:
            raise LibbpfError(errno.EINVAL, f"tracepoint {category}:{name}: record size "
                                            f"{record_size} (1..{MAX_TRACE_SIZE})")
        self.ctx_size = record_size

    def _check_extent(self, prog: XdpProgram) -> None:
        if _extent(prog) > self.ctx_size:
            raise LibbpfError(errno.EACCES, f"tracepoint {self.name}: program {prog.name!r} "
                                            f"reads {_extent(prog)} bytes of the record, which "
                                            f"has {self.ctx_size}")


class RawTracepointSource(EventSource):
    """A raw tracepoint with ``nargs`` u64 arguments."""

    hook_name = "raw_tracepoint"
    prog_type = BpfProgType.BPF_PROG_TYPE_RAW_TRACEPOINT

    def __init__(self, name: str, nargs: int) -> None:
        super().__init__(name)
        if not 0 <= nargs <= MAX_RAW_TP_ARGS:
            raise LibbpfError(errno.EINVAL, f"raw tracepoint {name}: {nargs} arguments "
                                            f"(0..{MAX_RAW_TP_ARGS})")
        self.nargs = nargs
        self.ctx_size = 8 * nargs

    def _check_extent(self, prog: XdpProgram) -> None:
        if _extent(prog) > self.ctx_size:
            raise LibbpfError(errno.EINVAL, f"raw tracepoint {self.name}: program "
                                            f"{prog.name!r} reads argument bytes up to "
                                            f"{_extent(prog)}, the tracepoint has "
                                            f"{self.nargs} arguments")

    def fire_args(self, *args: int, task: Task | None = None) -> FireResult:
        """Fire with the arguments as ints."""
        if len(args) != self.nargs:
            raise LibbpfError(errno.EINVAL, f"raw tracepoint {self.name}: {self.nargs} "
                                            f"arguments, not {len(args)}")
        ctx = b"".join((a & (1 << 64) - 1).to_bytes(8, "little") for a in args)
        return self.fire(ctx or bytes(0), task=task)

    def _run(self, chain: list[XdpProgram], ctx: bytes | bytearray | memoryview,
             task: Task | None) -> FireResult:
        data = self._ctx(ctx)
        return self._run_on(chain, data + bytearray(RAW_TP_NATIVE.size - len(data)), task)


class KprobeSource(EventSource):
    """A kernel function (kprobe) or a user function (uprobe, with its
    binary and offset). Entry probes run on :meth:`fire`, return probes
    on :meth:`fire_return`."""

    hook_name = "kprobe"
    prog_type = BpfProgType.BPF_PROG_TYPE_KPROBE
    ctx_size = PT_REGS_SIZE

    def __init__(self, name: str, *, binary_path: str | None = None,
                 offset: int = 0) -> None:
        super().__init__(name)
        self.binary_path = binary_path
        self.offset = offset
        self.returns = ProgramChain()
        self.returns.hook_name = "kretprobe" if binary_path is None else "uretprobe"
        self.returns.prog_type = self.prog_type
        self._pids: dict[int, int] = {}  # id(attachment owner or prog) -> pid filter

    def attach_probe(self, prog: XdpProgram, *, retprobe: bool, pid: int = -1,
                     owner: object | None = None) -> None:
        chain: ProgramChain = self.returns if retprobe else self
        if chain is self:
            EventSource.attach(self, prog, owner=owner)
        else:
            chain.attach(prog, owner=owner)
        self._pids[id(owner if owner is not None else prog)] = pid

    def detach_probe(self, prog: XdpProgram, *, retprobe: bool,
                     owner: object | None = None) -> bool:
        chain: ProgramChain = self.returns if retprobe else self
        self._pids.pop(id(owner if owner is not None else prog), None)
        return chain.detach(prog, owner=owner)

    def _selected(self, chain: ProgramChain, task: Task | None) -> list[XdpProgram]:
        out: list[XdpProgram] = []
        for a in chain.attached_chain():
            pid = self._pids.get(id(a.owner if a.owner is not None else a.prog), -1)
            if pid < 0 or (task is not None and task.tgid == pid):
                out.append(a.prog)
        return out

    def fire(self, ctx: bytes | bytearray | memoryview, *, task: Task | None = None) -> FireResult:
        """The function is entered with registers ``ctx`` (a pt_regs)."""
        return self._run(self._selected(self, task), ctx, task)

    def fire_return(self, ctx: bytes | bytearray | memoryview, *,
                    task: Task | None = None) -> FireResult:
        """The function returns with registers ``ctx`` (rax the return value)."""
        return self._run(self._selected(self.returns, task), ctx, task)


class PerfEventSource(EventSource):
    """A perf event (a software or hardware counter overflowing)."""

    hook_name = "perf_event"
    prog_type = BpfProgType.BPF_PROG_TYPE_PERF_EVENT
    ctx_size = PT_REGS_SIZE + 16

    def sample(self, regs: bytes, sample_period: int, addr: int = 0, *,
               task: Task | None = None) -> FireResult:
        """Fire with ``regs`` (a pt_regs), the sample period and address."""
        ctx = bytes(regs) + (sample_period & (1 << 64) - 1).to_bytes(8, "little") + (
            addr & (1 << 64) - 1).to_bytes(8, "little")
        return self.fire(ctx, task=task)


_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass
class TraceEvents:
    """The event sources of one simulated host, by name."""

    tracepoints: dict[str, TracepointSource] = field(default_factory=dict)
    raw_tracepoints: dict[str, RawTracepointSource] = field(default_factory=dict)
    kprobes: dict[str, KprobeSource] = field(default_factory=dict)
    uprobes: dict[tuple[str, int], KprobeSource] = field(default_factory=dict)
    perf_events: dict[str, PerfEventSource] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _define(self, table: dict[str, EventSource] | dict[str, TracepointSource]
                | dict[str, RawTracepointSource] | dict[str, KprobeSource]
                | dict[str, PerfEventSource], key: str,
                make: Callable[[], EventSource]) -> EventSource:
        for part in key.split(":"):
            if not _NAME.match(part):
                raise LibbpfError(errno.EINVAL, f"trace events: invalid name {key!r}")
        with self._lock:
            existing = table.get(key)
            if existing is None:
                existing = make()
                table[key] = existing  # type: ignore[assignment]
            return existing

    def tracepoint(self, category: str, name: str, record_size: int = 64) -> TracepointSource:
        """The tracepoint ``category:name`` (defined on first use)."""
        src = self._define(self.tracepoints, f"{category}:{name}",
                           lambda: TracepointSource(category, name, record_size))
        assert isinstance(src, TracepointSource)
        return src

    def raw_tracepoint(self, name: str, nargs: int = MAX_RAW_TP_ARGS) -> RawTracepointSource:
        src = self._define(self.raw_tracepoints, name, lambda: RawTracepointSource(name, nargs))
        assert isinstance(src, RawTracepointSource)
        return src

    def kprobe(self, func_name: str) -> KprobeSource:
        """The kernel function ``func_name`` (defined on first use)."""
        src = self._define(self.kprobes, func_name, lambda: KprobeSource(func_name))
        assert isinstance(src, KprobeSource)
        return src

    def uprobe(self, binary_path: str, offset: int, func_name: str = "") -> KprobeSource:
        """The user function at ``offset`` of ``binary_path``."""
        if type(offset) is not int or offset < 0:
            raise LibbpfError(errno.EINVAL, f"uprobe: invalid offset {offset!r}")
        key = (binary_path, offset)
        with self._lock:
            src = self.uprobes.get(key)
            if src is None:
                src = KprobeSource(func_name or f"{binary_path}:{offset:#x}",
                                   binary_path=binary_path, offset=offset)
                self.uprobes[key] = src
            return src

    def find_uprobe(self, binary_path: str, func_name: str) -> KprobeSource | None:
        with self._lock:
            for (path, _), src in self.uprobes.items():
                if path == binary_path and src.name == func_name:
                    return src
        return None

    def perf_event(self, name: str) -> PerfEventSource:
        src = self._define(self.perf_events, name, lambda: PerfEventSource(name))
        assert isinstance(src, PerfEventSource)
        return src

    def lookup_tracepoint(self, category: str, name: str) -> TracepointSource:
        with self._lock:
            src = self.tracepoints.get(f"{category}:{name}")
        if src is None:
            raise LibbpfError(errno.ENOENT, f"tracepoint {category}:{name} does not exist")
        return src

    def lookup_raw_tracepoint(self, name: str) -> RawTracepointSource:
        with self._lock:
            src = self.raw_tracepoints.get(name)
        if src is None:
            raise LibbpfError(errno.ENOENT, f"raw tracepoint {name} does not exist")
        return src

    def lookup_kprobe(self, func_name: str) -> KprobeSource:
        with self._lock:
            src = self.kprobes.get(func_name)
        if src is None:
            raise LibbpfError(errno.ENOENT, f"kprobe: kernel function {func_name!r} does not "
                                            "exist")
        return src


_default_events = TraceEvents()


def default_events() -> TraceEvents:
    """The process-wide event sources libbpf-style attach calls look up."""
    return _default_events


__all__ = [
    "KPROBE_NATIVE",
    "MAX_RAW_TP_ARGS",
    "MAX_TRACE_SIZE",
    "PERF_EVENT_DATA",
    "PERF_EVENT_NATIVE",
    "PT_REGS",
    "PT_REGS_NAMES",
    "PT_REGS_SIZE",
    "RAW_TP_ARGS",
    "RAW_TP_NATIVE",
    "TRACEPOINT_NATIVE",
    "TRACEPOINT_RECORD",
    "TRACING_LAYOUTS",
    "EventSource",
    "FireResult",
    "KprobeSource",
    "PerfEventSource",
    "RawTracepointSource",
    "TraceEvents",
    "TracepointSource",
    "default_events",
    "pt_regs",
    "running_as",
]
