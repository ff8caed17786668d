"""libbpf's ring buffer consumer API over the store's RINGBUF maps:
``ring_buffer__new``, ``__add``, ``__poll``, ``__consume``, ``__consume_n``,
``__free``, and the RingBuffer object under them.

Sample callbacks keep libbpf's C signature ``(ctx, data, size) -> int``;
``data`` is a bytes copy of the record. A negative return stops consuming
and ``ring_buffer__consume``/``__poll`` raise LibbpfError with that errno (C
libbpf returns it). Producers here never wait on a wakeup, so ``poll``
checks the rings every few hundred microseconds until the timeout; the
BPF_RB_NO_WAKEUP / BPF_RB_FORCE_WAKEUP flags therefore change nothing.
"""

from __future__ import annotations

import errno
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from libbpf_compat._native import ffi, lib
from libbpf_compat.errors import LibbpfError
from libbpf_compat.mapstore import NativeMap, fd_table
from libbpf_compat.uapi import BPF_MAP_TYPE_RINGBUF

SampleFn = Callable[[Any, bytes, int], int]

BPF_RB_NO_WAKEUP = 1
BPF_RB_FORCE_WAKEUP = 2
BPF_RB_AVAIL_DATA = 0
BPF_RB_RING_SIZE = 1
BPF_RB_CONS_POS = 2
BPF_RB_PROD_POS = 3

_UNLIMITED = (1 << 64) - 1


@dataclass
class _Ring:
    map: NativeMap
    callback: SampleFn
    ctx: Any
    error: BaseException | None = None
    handle: Any = field(default=None, repr=False)


@ffi.def_extern()  # type: ignore[untyped-decorator]
def lbc_py_ringbuf_sample(ctx: Any, data: Any, size: int) -> int:
    ring: _Ring = ffi.from_handle(ctx)
    try:
        return int(ring.callback(ring.ctx, ffi.unpack(ffi.cast("char *", data), size), size))
    except BaseException as exc:  # re-raised by consume in the caller
        ring.error = exc
        return -errno.EINVAL


class ring_buffer:
    """A set of ring buffer maps consumed together (libbpf's struct ring_buffer)."""

    def __init__(self) -> None:
        self._rings: list[_Ring] = []

    def add(self, map_fd: int, sample_cb: SampleFn, ctx: Any = None) -> None:
        m = fd_table.get_map(map_fd)
        if m.map_type != BPF_MAP_TYPE_RINGBUF:
            raise LibbpfError(errno.EINVAL, f"map {m.name!r} (fd {map_fd}) is not a ring buffer")
        if not callable(sample_cb):
            raise LibbpfError(errno.EINVAL, "the sample callback is not callable")
        ring = _Ring(m, sample_cb, ctx)
        ring.handle = ffi.new_handle(ring)
        self._rings.append(ring)

    def consume_n(self, limit: int) -> int:
        """Consume up to ``limit`` records across the rings; returns how many."""
        total = 0
        for ring in self._rings:
            if total >= limit:
                break
            n = lib.lbc_ringbuf_consume(ring.map.ptr, lib.lbc_py_ringbuf_sample, ring.handle,
                                        limit - total)
            if ring.error is not None:
                err, ring.error = ring.error, None
                raise LibbpfError(errno.EINVAL, f"ring buffer callback raised {err!r}") from err
            if n < 0:
                raise LibbpfError(-int(n), f"ring buffer callback of {ring.map.name!r} "
                                           f"returned {int(n)}")
            total += int(n)
        return total

    def consume(self) -> int:
        return self.consume_n(_UNLIMITED)

    def poll(self, timeout_ms: int) -> int:
        """Consume what is there; if nothing, wait up to ``timeout_ms`` (-1:
        forever) for records. Returns the number consumed."""
        deadline = None if timeout_ms < 0 else time.monotonic() + timeout_ms / 1000
        pause = 0.0002
        while True:
            n = self.consume()
            if n or (deadline is not None and time.monotonic() >= deadline):
                return n
            time.sleep(pause if deadline is None else min(pause, max(0.0, deadline -
                                                                      time.monotonic())))
            pause = min(pause * 2, 0.005)

    def free(self) -> None:
        self._rings.clear()


def ring_buffer__new(map_fd: int, sample_cb: SampleFn, ctx: Any = None,
                     opts: object = None) -> ring_buffer:
    rb = ring_buffer()
    rb.add(map_fd, sample_cb, ctx)
    return rb


def ring_buffer__add(rb: ring_buffer, map_fd: int, sample_cb: SampleFn, ctx: Any = None) -> int:
    rb.add(map_fd, sample_cb, ctx)
    return 0


def ring_buffer__poll(rb: ring_buffer, timeout_ms: int) -> int:
    return rb.poll(timeout_ms)


def ring_buffer__consume(rb: ring_buffer) -> int:
    return rb.consume()


def ring_buffer__consume_n(rb: ring_buffer, n: int) -> int:
    return rb.consume_n(n)


def ring_buffer__free(rb: ring_buffer) -> None:
    rb.free()
