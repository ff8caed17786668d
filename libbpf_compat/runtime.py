"""What C helpers see of the host: the task of the current event, the
trace pipe printk output goes to and the memory probe_read may read. A Vm
runs with one Runtime (``vm.runtime = Runtime(...)``). The CPU a run reports
(bpf_get_smp_processor_id) is the slot it holds in the map store."""

from __future__ import annotations

import errno
from dataclasses import dataclass
from typing import Any

from libbpf_compat._native import ffi, lib
from libbpf_compat.errors import LibbpfError
from libbpf_compat.vm import pin_buffer


@dataclass(frozen=True)
class Task:
    """The task an event belongs to (what bpf_get_current_* report)."""

    pid: int = 0
    tgid: int = 0
    uid: int = 0
    gid: int = 0
    comm: str = ""
    logon_id: int = 0              # eBPF for Windows
    is_admin: bool = False         # eBPF for Windows
    process_start_key: int = 0     # eBPF for Windows
    thread_create_time: int = 0    # eBPF for Windows


class TracePipe:
    """Lines programs print with bpf_trace_printk (or the Windows forms),
    like /sys/kernel/tracing/trace_pipe; the oldest lines make room when
    the pipe is full."""

    def __init__(self, capacity: int = 64 * 1024) -> None:
        if capacity <= 0:
            raise LibbpfError(errno.EINVAL, f"trace pipe capacity must be positive: {capacity}")
        pipe = lib.lbc_trace_pipe_new(capacity)
        if pipe == ffi.NULL:
            raise LibbpfError(errno.ENOMEM, "cannot allocate the trace pipe")
        self._pipe = ffi.gc(pipe, lib.lbc_trace_pipe_free)
        self._buf = ffi.new("char[]", capacity)
        self.capacity = capacity

    @property
    def c_ptr(self) -> Any:
        return self._pipe

    def read_lines(self) -> list[str]:
        """Take every line printed so far (without newlines)."""
        n = lib.lbc_trace_pipe_read(self._pipe, self._buf, self.capacity)
        text: str = ffi.unpack(self._buf, n).decode("utf-8", errors="replace")
        return text.splitlines()

    @property
    def dropped(self) -> int:
        """Lines lost because the pipe was full."""
        return int(lib.lbc_trace_pipe_dropped(self._pipe))


#: The process-wide trace pipe: where printk output of runs whose Runtime
#: has no pipe of its own (or that have no Runtime: programs an object
#: loads) goes; read it with :mod:`libbpf_compat.trace`.
DEFAULT_TRACE_PIPE = TracePipe(256 * 1024)
lib.lbc_trace_pipe_set_default(DEFAULT_TRACE_PIPE.c_ptr)


class Runtime:
    """The host side of C helpers for the runs of one or more Vms."""

    def __init__(self, task: Task | None = None, trace_pipe: TracePipe | None = None) -> None:
        self._rt = ffi.new("lbc_runtime *")
        self._regions: list[tuple[Any, int, int]] = []
        self._region_array: Any = ffi.new("lbc_region[]", 1)
        self.trace_pipe = trace_pipe
        self._rt.trace = trace_pipe.c_ptr if trace_pipe else ffi.NULL
        self.task = task or Task()

    @property
    def task(self) -> Task:
        return self._task

    @task.setter
    def task(self, task: Task) -> None:
        t = self._rt.task
        t.pid_tgid = ((task.tgid & 0xFFFFFFFF) << 32) | (task.pid & 0xFFFFFFFF)
        t.uid_gid = ((task.gid & 0xFFFFFFFF) << 32) | (task.uid & 0xFFFFFFFF)
        comm = task.comm.encode()[:15]
        ffi.memmove(t.comm, comm + b"\0" * (16 - len(comm)), 16)
        t.logon_id = task.logon_id
        t.is_admin = int(task.is_admin)
        t.process_start_key = task.process_start_key
        t.thread_create_time = task.thread_create_time
        self._task = task

    def add_probe_region(self, buf: bytearray | memoryview | bytes) -> int:
        """Let probe_read (and printk's %s) read ``buf``; returns its address."""
        keep, addr, size = pin_buffer(buf if not isinstance(buf, bytes) else bytearray(buf),
                                      writable=False)
        self._regions.append((keep, addr, size))
        array = ffi.new("lbc_region[]", len(self._regions))
        for slot, (_, start, length) in zip(array, self._regions, strict=True):
            slot.start, slot.size, slot.writable = start, length, 0
        self._region_array = array
        self._rt.probe_regions = array
        self._rt.nprobe_regions = len(self._regions)
        return addr

    @property
    def c_ptr(self) -> Any:
        return self._rt
