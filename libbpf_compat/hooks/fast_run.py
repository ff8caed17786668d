"""The hooks' run path: a program on a context (and optionally a data
region) in one native call, with the per-call native state -- the run's
``lbc_exec``, the context and data buffers, the region table -- made once
per thread and reused, the way :class:`~libbpf_compat.hooks.xdp_native.XdpRunner`
runs XDP packets. A run costs what :meth:`Vm.run_repeat` does minus its
allocations: same checks, same regions (the Vm's own, from its cached
:meth:`Vm.run_settings`, plus the data region), same errors.

A hook owns one :class:`FastRunner`; each invocation takes the thread's
:class:`RunSlot` with :meth:`FastRunner.slot` (a fresh one when the
thread's slot is busy: a Python helper that invokes a hook again), fills
``slot.ctx`` (and ``slot.data``), runs each attached program with
:meth:`RunSlot.run` and gives the slot back with :meth:`RunSlot.release` (or
``slot.busy = False``, the same without a call), in a ``finally``.
"""

from __future__ import annotations

import threading
from typing import Any

from libbpf_compat._native import ffi, lib
from libbpf_compat.vm import RunSettings, RunState, Vm, error_from

_run_hook = lib.lbc_run_hook
_MIN_ERROR = -lib.LBC_HOOK_MAX_ERRNO
U64_MASK = (1 << 64) - 1
_COUNT = lib.LBC_RUN_COUNT
#: ``new_result(ResultType, (field, ...))``: a NamedTuple result made
#: without its generated __new__ (one Python call less per invocation);
#: every field must be given
new_result = tuple.__new__
#: prepared region tables a slot keeps (programs of one hook alternate)
_MAX_TABLES = 32


class RunSlot:
    """One thread's reusable native state for a hook's runs."""

    __slots__ = ("busy", "counting", "ctx", "ctx_addr", "ctx_buf", "data", "data_addr",
                 "data_buf", "data_len", "data_region", "dirty", "ex", "handle", "has_data",
                 "packet", "run_state", "settings", "tables")

    def __init__(self, ctx_size: int, data_size: int, data_offset: int,
                 data_writable: bool, packet: bool) -> None:
        self.ex: Any = ffi.new("lbc_exec *")
        self.run_state = RunState()
        self.handle: Any = ffi.new_handle(self.run_state)
        self.ex.host = self.handle
        #: the context, and a writable buffer over it for struct.pack_into
        self.ctx: Any = ffi.new("uint8_t[]", max(ctx_size, 1))
        self.ctx_buf: Any = ffi.buffer(self.ctx)
        self.ctx_addr = int(ffi.cast("uintptr_t", self.ctx))
        self.has_data = data_size > 0
        self.data: Any = ffi.new("uint8_t[]", max(data_offset + data_size, 1))
        self.data_buf: Any = ffi.buffer(self.data)
        #: where the data region starts (after data_offset bytes of headroom)
        self.data_addr = int(ffi.cast("uintptr_t", self.data)) + data_offset
        #: the data region's slot in the current region table
        self.data_region: Any = ffi.new("lbc_region *")
        self.data_region.start = self.data_addr
        self.data_region.writable = int(data_writable)
        self.data_region.size = 1
        self.data_len = 0
        #: how many bytes of ``data`` a hook's earlier runs may have left
        #: non-zero (a hook that reuses the buffer zeroes what it needs)
        self.dirty = 0
        self.packet = packet
        if packet:  # legacy LD_ABS / LD_IND loads read the data region
            self.ex.pkt = ffi.cast("uint8_t *", self.data_addr)
        self.counting = False
        self.settings: RunSettings | None = None
        self.tables: dict[int, tuple[RunSettings, Any, Any]] = {}
        self.busy = False

    def _use(self, settings: RunSettings) -> None:
        """Point the exec at ``settings`` (its region table made once)."""
        entry = self.tables.get(id(settings))
        if entry is None or entry[0] is not settings:
            n = len(settings.regions)
            table = ffi.new("lbc_region[]", n + 1)
            for slot, (addr, size, writable) in zip(table, settings.regions, strict=False):
                slot.start = addr
                slot.size = size
                slot.writable = int(writable)
            last = table + n
            last.start = self.data_addr
            last.writable = self.data_region.writable
            if len(self.tables) >= _MAX_TABLES:
                self.tables.clear()
            entry = self.tables[id(settings)] = (settings, table, last)
        ex = self.ex
        ex.regions = entry[1]
        ex.nregions = len(settings.regions) + self.has_data
        ex.flags = settings.flags
        ex.budget = settings.budget
        ex.runtime = settings.runtime.c_ptr if settings.runtime is not None else ffi.NULL
        self.data_region = entry[2]
        self.counting = bool(settings.flags & _COUNT or settings.budget)
        self.settings = settings

    def set_data_len(self, size: int) -> None:
        """The data region holds ``size`` bytes this run (at least one
        byte is mapped: an empty region still has an address)."""
        if size != self.data_len:
            self.data_region.size = size or 1
            if self.packet:
                self.ex.pkt_len = size
            self.data_len = size

    def run(self, vm: Vm, ctx_len: int) -> int:
        """Run ``vm`` on the first ``ctx_len`` bytes of ``ctx``; r0.
        Raises as :meth:`Vm.run_repeat` does (a helper's exception chained)."""
        settings = vm._settings or vm.run_settings()
        if settings is not self.settings:
            self._use(settings)
            self.data_region.size = self.data_len or 1
            if not self.counting and vm.last_insn_count:
                vm.last_insn_count = 0  # what run_repeat leaves without counting
        ex = self.ex
        r: int = _run_hook(settings.program, ex, self.ctx, ctx_len)
        if self.counting:
            vm.last_insn_count = int(ex.insn_count)
        if _MIN_ERROR <= r < 0 and ex.err.code:
            exc = self.run_state.exception
            self.run_state.exception = None
            if exc is not None:
                raise error_from(ex.err) from exc
            raise error_from(ex.err)
        return r & U64_MASK

    def release(self) -> None:
        self.busy = False


class FastRunner:
    """A hook's per-thread run slots: contexts of up to ``ctx_size``
    bytes; a data region of up to ``data_size`` bytes (0: none) placed
    after ``data_offset`` bytes of headroom, writable by the programs or
    not; ``packet``: it is the region LD_ABS / LD_IND loads read."""

    def __init__(self, ctx_size: int, data_size: int = 0, *, data_offset: int = 0,
                 data_writable: bool = False, packet: bool = False) -> None:
        self._args = (ctx_size, data_size, data_offset, data_writable, packet)
        self._tls = threading.local()

    def slot(self) -> RunSlot:
        """The calling thread's slot, marked busy (give it back with
        :meth:`RunSlot.release`)."""
        try:
            slot: RunSlot = self._tls.slot
        except AttributeError:
            slot = self._tls.slot = RunSlot(*self._args)
        if slot.busy:  # a nested invocation on this thread: a slot of its own
            slot = RunSlot(*self._args)
        slot.busy = True
        return slot


__all__ = ["FastRunner", "RunSlot", "new_result"]
