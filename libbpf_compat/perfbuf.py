"""libbpf's perf buffer consumer API over the store's PERF_EVENT_ARRAY maps:
``perf_buffer__new``, ``__poll``, ``__consume``, ``__consume_buffer``,
``__buffer_cnt``, ``__buffer_fd``, ``__free``.

``perf_buffer__new(map_fd, page_cnt, sample_cb, lost_cb, ctx)`` makes one
buffer of ``page_cnt`` pages (a power of two, as libbpf requires) per CPU
slot (at most the map's max_entries), puts each in the map under its slot
number, as libbpf does with perf event fds, and consumes them. Callbacks
keep libbpf's C signatures: sample ``(ctx, cpu, data, size)`` with ``data``
a bytes copy of the raw sample (``size`` is Linux's raw size, rounded so
that the record is a multiple of 8 bytes, as libbpf passes it) and lost
``(ctx, cpu, count)``. A program writes with ``bpf_perf_event_output(ctx,
map, BPF_F_CURRENT_CPU, data, size)``; a sample that does not fit is lost
and reported to ``lost_cb`` before the next one. Producers never wake a
consumer here, so ``poll`` checks the buffers every few hundred
microseconds until the timeout. An exception raised by a callback is
raised again by ``poll`` / ``consume``.
"""

from __future__ import annotations

import contextlib
import errno
import mmap
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from libbpf_compat._native import ffi, lib
from libbpf_compat.errors import LibbpfError
from libbpf_compat.mapstore import NativeMap, fd_table, num_possible_cpus
from libbpf_compat.uapi import BPF_MAP_TYPE_PERF_EVENT_ARRAY

SampleFn = Callable[[Any, int, bytes, int], None]
LostFn = Callable[[Any, int, int], None]

PERF_RECORD_LOST = 2
PERF_RECORD_SAMPLE = 9
BPF_F_CURRENT_CPU = 0xFFFFFFFF
BPF_F_INDEX_MASK = 0xFFFFFFFF


@dataclass
class perf_buffer_opts:  # libbpf's name
    """libbpf's ``struct perf_buffer_opts`` (sample_period is not used here)."""
    sample_period: int = 0


class PerfEventBuffer:
    """What a perf event fd stands for: one CPU slot's buffer. The fd table
    holds it; a PERF_EVENT_ARRAY accepts its fd as a value."""

    def __init__(self, size: int, cpu: int) -> None:
        ring = lib.lbc_perf_ring_new(size, cpu)
        if ring == ffi.NULL:
            raise LibbpfError(errno.ENOMEM, f"cannot allocate a {size}-byte perf buffer")
        self.perf_ring: Any = ffi.gc(ring, lib.lbc_perf_ring_free)
        self.size = size
        self.cpu = cpu


class perf_buffer:  # libbpf's name
    """Per-CPU perf buffers of one PERF_EVENT_ARRAY map, consumed together."""

    def __init__(self, map_fd: int, page_cnt: int, sample_cb: SampleFn | None,
                 lost_cb: LostFn | None, ctx: Any = None) -> None:
        if page_cnt <= 0 or page_cnt & (page_cnt - 1):
            raise LibbpfError(errno.EINVAL, f"perf buffer: page count {page_cnt} should be "
                                            f"a power of two")
        m: NativeMap = fd_table.get_map(map_fd)
        if m.map_type != BPF_MAP_TYPE_PERF_EVENT_ARRAY:
            raise LibbpfError(errno.EINVAL, f"perf buffer: map {m.name!r} (fd {map_fd}) is "
                                            f"not a PERF_EVENT_ARRAY")
        if sample_cb is not None and not callable(sample_cb):
            raise LibbpfError(errno.EINVAL, "perf buffer: the sample callback is not callable")
        if lost_cb is not None and not callable(lost_cb):
            raise LibbpfError(errno.EINVAL, "perf buffer: the lost callback is not callable")
        self.map = m
        self.sample_cb = sample_cb
        self.lost_cb = lost_cb
        self.ctx = ctx
        size = page_cnt * mmap.PAGESIZE
        cpus = min(num_possible_cpus(), m.max_entries)
        self.buffers: list[PerfEventBuffer] = []
        self.fds: list[int] = []
        self._lock = threading.Lock()
        self._out = ffi.new("char[]", size)
        self._type = ffi.new("uint32_t *")
        self._value = ffi.new("uint64_t *")
        try:
            for cpu in range(cpus):
                buf = PerfEventBuffer(size, cpu)
                fd = fd_table.install(buf)
                self.buffers.append(buf)
                self.fds.append(fd)
                m.update(cpu.to_bytes(4, "little"), fd.to_bytes(4, "little"))
        except BaseException:
            self.free()
            raise

    def buffer_cnt(self) -> int:
        return len(self.buffers)

    def buffer_fd(self, buf_idx: int) -> int:
        if not 0 <= buf_idx < len(self.fds):
            raise LibbpfError(errno.EINVAL, f"perf buffer: no buffer {buf_idx}")
        return self.fds[buf_idx]

    def _has_data(self, buf: PerfEventBuffer) -> bool:
        return int(lib.lbc_perf_ring_pending(buf.perf_ring)) != 0

    def consume_buffer(self, buf_idx: int) -> int:
        """Hand every record of buffer ``buf_idx`` to the callbacks; returns
        the number of records."""
        if not 0 <= buf_idx < len(self.buffers):
            raise LibbpfError(errno.EINVAL, f"perf buffer: no buffer {buf_idx}")
        buf = self.buffers[buf_idx]
        count = 0
        with self._lock:
            while True:
                rc = lib.lbc_perf_ring_read(buf.perf_ring, self._out, buf.size, self._type,
                                            self._value)
                if rc == 0:
                    return count
                if rc < 0:
                    raise LibbpfError(-rc, "perf buffer: a record is larger than the buffer")
                count += 1
                value = int(self._value[0])
                if self._type[0] == PERF_RECORD_LOST:
                    if self.lost_cb is not None:
                        self.lost_cb(self.ctx, buf.cpu, value)
                elif self.sample_cb is not None:
                    self.sample_cb(self.ctx, buf.cpu, ffi.unpack(self._out, value), value)

    def consume(self) -> int:
        """Consume every buffer; returns 0, as libbpf."""
        for i in range(len(self.buffers)):
            self.consume_buffer(i)
        return 0

    def poll(self, timeout_ms: int) -> int:
        """Wait up to ``timeout_ms`` (-1: forever) until a buffer has records,
        consume those buffers; returns how many buffers had records."""
        deadline = None if timeout_ms < 0 else time.monotonic() + timeout_ms / 1000
        pause = 0.0002
        while True:
            ready = [i for i, b in enumerate(self.buffers) if self._has_data(b)]
            for i in ready:
                self.consume_buffer(i)
            if ready or (deadline is not None and time.monotonic() >= deadline):
                return len(ready)
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            time.sleep(pause if left is None else min(pause, left))
            pause = min(pause * 2, 0.005)

    def free(self) -> None:
        """Take the buffers out of the map and close their fds."""
        for cpu, fd in enumerate(self.fds):
            with contextlib.suppress(LibbpfError):  # never stored, or replaced
                self.map.delete(cpu.to_bytes(4, "little"))
            if fd in fd_table:
                fd_table.close(fd)
        self.fds.clear()


def perf_buffer__new(map_fd: int, page_cnt: int, sample_cb: SampleFn | None,
                     lost_cb: LostFn | None, ctx: Any = None,
                     opts: perf_buffer_opts | None = None) -> perf_buffer:
    return perf_buffer(map_fd, page_cnt, sample_cb, lost_cb, ctx)


def perf_buffer__poll(pb: perf_buffer, timeout_ms: int) -> int:
    return pb.poll(timeout_ms)


def perf_buffer__consume(pb: perf_buffer) -> int:
    return pb.consume()


def perf_buffer__consume_buffer(pb: perf_buffer, buf_idx: int) -> int:
    pb.consume_buffer(buf_idx)
    return 0


def perf_buffer__buffer_cnt(pb: perf_buffer) -> int:
    return pb.buffer_cnt()


def perf_buffer__buffer_fd(pb: perf_buffer, buf_idx: int) -> int:
    return pb.buffer_fd(buf_idx)


def perf_buffer__free(pb: perf_buffer) -> None:
    pb.free()


__all__ = [
    "BPF_F_CURRENT_CPU", "BPF_F_INDEX_MASK", "PERF_RECORD_LOST", "PERF_RECORD_SAMPLE",
    "PerfEventBuffer", "perf_buffer", "perf_buffer__buffer_cnt", "perf_buffer__buffer_fd",
    "perf_buffer__consume", "perf_buffer__consume_buffer", "perf_buffer__free",
    "perf_buffer__new", "perf_buffer__poll", "perf_buffer_opts",
]
