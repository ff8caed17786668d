"""The XDP hook's packet path in C: one native call per packet
(:meth:`XdpRunner.run`) or per batch of packets (:meth:`XdpRunner.run_batch`),
with the per-call state (the run's ``lbc_exec``, the XDP buffer, the region
table) made once per thread and reused, so that a packet costs no Python
allocations beyond its result. The GIL is released while C runs (cffi
releases it around every call); Python helpers take it back as they run.

Semantics are those of :func:`libbpf_compat.hooks.xdp_frame.run_xdp_frame`:
the C side builds the same frame (Linux's head- and tailroom, zeroed) and
the same full native context (so ``bpf_xdp_adjust_head`` / ``_tail`` /
``_meta`` and ``bpf_redirect`` / ``bpf_redirect_map`` work), and the packet
afterwards is what lies between the context's data and data_end.
"""

from __future__ import annotations

import errno
import threading
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from libbpf_compat._native import ffi, lib
from libbpf_compat.errors import LibbpfError
from libbpf_compat.hooks.xdp_frame import XDP_MAX_PACKET, XDP_PACKET_HEADROOM, XDP_TAILROOM
from libbpf_compat.vm import RunSettings, RunState, Vm, error_from

_ABORTED = 0
_xdp_run = lib.lbc_xdp_run
_OFF_SHIFT = lib.LBC_XDP_OFF_SHIFT
_LEN_SHIFT = lib.LBC_XDP_LEN_SHIFT
_FIELD_MASK = lib.LBC_XDP_FIELD_MASK
_SAME_SHIFT = lib.LBC_XDP_SAME_SHIFT
_REDIRECTED_SHIFT = lib.LBC_XDP_REDIRECTED_SHIFT
#: a frame: headroom, the largest packet the hook takes, tailroom
_FRAME_SIZE = XDP_PACKET_HEADROOM + XDP_MAX_PACKET + XDP_TAILROOM


class _ThreadState:
    """One thread's reusable native state for running XDP programs."""

    __slots__ = ("buf", "counting", "ex", "handle", "io", "redirect", "regions", "run_state",
                 "settings", "view")

    def __init__(self) -> None:
        self.ex: Any = ffi.new("lbc_exec *")
        self.run_state = RunState()
        self.handle: Any = ffi.new_handle(self.run_state)
        self.ex.host = self.handle
        self.buf: Any = ffi.new("uint8_t[]", _FRAME_SIZE)
        self.view: Any = ffi.buffer(self.buf)
        self.redirect: Any = ffi.new("uint32_t *")
        self.io: Any = ffi.new("lbc_xdp_io *")
        self.io.ex = self.ex
        self.io.buf = self.buf
        self.io.buf_size = _FRAME_SIZE
        self.io.headroom = XDP_PACKET_HEADROOM
        self.io.room = XDP_MAX_PACKET
        self.io.tailroom = XDP_TAILROOM
        self.regions: Any = None
        self.settings: RunSettings | None = None
        self.counting = False

    def prepare(self, settings: RunSettings) -> None:
        """Point the exec and the region table at ``settings`` (once per change)."""
        regions = ffi.new("lbc_region[]", len(settings.regions) + 1)
        for slot, (addr, size, writable) in zip(regions, settings.regions, strict=False):
            slot.start = addr
            slot.size = size
            slot.writable = int(writable)
        self.regions = regions
        self.io.prog = settings.program
        self.io.regions = regions
        self.io.nregions = len(settings.regions)
        self.ex.flags = settings.flags
        self.ex.budget = settings.budget
        self.ex.runtime = settings.runtime.c_ptr if settings.runtime is not None else ffi.NULL
        self.counting = bool(settings.flags & lib.LBC_RUN_COUNT or settings.budget)
        self.settings = settings


@dataclass(frozen=True)
class XdpBatchResult:
    """A batch of packets through the hook, per packet in order: the
    normalised verdict (an :class:`~libbpf_compat.hooks.xdp.XdpVerdict`
    number), the program's return value (its ABI's number; None when no
    program is attached), the interface a REDIRECT verdict sends the packet
    to (``redirects[i]``, 0 for any other verdict; :meth:`redirect_ifindex`
    gives None then, as ``XdpResult.redirect_ifindex``), and the packet
    after the run -- :meth:`packet`, or all of them as :attr:`packets`;
    ``data`` holds them back to back, ``lengths[i]`` bytes each."""

    verdicts: bytes
    retvals: Sequence[int] | None
    data: bytes | bytearray
    lengths: Sequence[int]
    redirects: Sequence[int]

    def redirect_ifindex(self, index: int) -> int | None:
        """Where packet ``index`` is redirected to (None: not redirected)."""
        return self.redirects[index] or None

    def __len__(self) -> int:
        return len(self.verdicts)

    def packet(self, index: int) -> bytes:
        """Packet ``index`` as the program left it."""
        n = len(self.lengths)
        if not -n <= index < n:
            raise IndexError(f"packet {index} of a batch of {n}")
        index %= n
        start = sum(self.lengths[:index])
        return bytes(self.data[start:start + self.lengths[index]])

    @property
    def packets(self) -> list[bytes]:
        out, pos, view = [], 0, memoryview(self.data)
        for n in self.lengths:
            out.append(bytes(view[pos:pos + n]))
            pos += n
        return out


class XdpRunner:
    """Runs XDP programs on packets from C, for one hook (thread-safe: each
    thread has its own native state)."""

    def __init__(self, interfaces: frozenset[int] | None = None) -> None:
        """``interfaces``: the hook's interfaces (None: every ifindex), the
        targets a redirect may name."""
        self.headroom = XDP_PACKET_HEADROOM
        self.max_packet = XDP_MAX_PACKET
        self._tls = threading.local()
        self._ifaces = None if interfaces is None else array("I", sorted(
            i for i in interfaces if 0 < i <= lib.LBC_XDP_MAX_IFINDEX))

    def _state(self) -> _ThreadState:
        try:
            state: _ThreadState = self._tls.state
        except AttributeError:
            state = self._tls.state = _ThreadState()
        return state

    @staticmethod
    def _raise(vm: Vm, state: _ThreadState) -> None:
        vm.last_insn_count = int(state.ex.insn_count)
        exc = state.run_state.exception
        if exc is not None:
            state.run_state.exception = None
            raise error_from(state.ex.err) from exc
        raise error_from(state.ex.err)

    def run(self, vm: Vm, packet: bytes | bytearray | memoryview, size: int, ifindex: int,
            rx_queue: int) -> tuple[int, bytes, int | None]:
        """Run ``vm`` on one packet of ``size`` bytes (at most max_packet,
        checked by the caller): (return value's low 32 bits, the packet
        after the run, the interface a redirect helper named or None)."""
        try:
            state: _ThreadState = self._tls.state
        except AttributeError:
            state = self._state()
        settings = vm._settings or vm.run_settings()  # the cached settings, else new ones
        if settings is not state.settings:
            state.prepare(settings)
        if type(packet) is not bytes:
            packet = bytes(packet)
        rc = _xdp_run(state.io, packet, size, ifindex, rx_queue, state.redirect)
        if rc < 0:  # a Python helper that raised failed the run too
            self._raise(vm, state)
        if state.counting:
            vm.last_insn_count = state.ex.insn_count
        target = state.redirect[0] if rc >> _REDIRECTED_SHIFT else None
        if rc >> _SAME_SHIFT & 1:  # the packet as given: share the immutable input
            return rc & 0xFFFFFFFF, packet, target
        start = rc >> _OFF_SHIFT & _FIELD_MASK
        return (rc & 0xFFFFFFFF, state.view[start:start + (rc >> _LEN_SHIFT & _FIELD_MASK)],
                target)

    def run_batch(self, vm: Vm, packets: Sequence[bytes | bytearray | memoryview], ifindex: int,
                  rx_queue: int, verdicts: Mapping[int, int], min_len: int) -> XdpBatchResult:
        """Run ``vm`` on every packet in order, ``verdicts`` mapping return
        values to normalised verdicts (any value missing: ABORTED). A packet
        outside min_len..max_packet bytes fails the batch before any run."""
        state = self._state()
        settings = vm.run_settings()
        if settings is not state.settings:
            state.prepare(settings)
        io = state.io
        for r in range(8):
            io.verdicts[r] = verdicts.get(r, _ABORTED)
        io.unknown_verdict = _ABORTED
        lens = array("I", map(len, packets))
        n = len(lens)
        data = b"".join(packets)
        out = bytearray(len(data) + _FRAME_SIZE)
        out_lens = array("I", bytes(4 * n))
        retvals = array("I", bytes(4 * n))
        redirects = array("I", bytes(4 * n))
        c_verdicts = bytearray(n)
        batch = ffi.new("lbc_xdp_batch *")
        c_lens = ffi.from_buffer("uint32_t[]", lens)
        c_data = ffi.from_buffer(data)
        c_out_lens = ffi.from_buffer("uint32_t[]", out_lens, require_writable=True)
        c_retvals = ffi.from_buffer("uint32_t[]", retvals, require_writable=True)
        c_verdict_buf = ffi.from_buffer("uint8_t[]", c_verdicts, require_writable=True)
        c_redirects = ffi.from_buffer("uint32_t[]", redirects, require_writable=True)
        c_ifaces = ffi.NULL if self._ifaces is None else ffi.from_buffer("uint32_t[]",
                                                                          self._ifaces)
        batch.pkts = c_data
        batch.lens = c_lens
        batch.n = n
        batch.out_lens = c_out_lens
        batch.verdicts = c_verdict_buf
        batch.retvals = c_retvals
        batch.redirects = c_redirects
        batch.ifaces = c_ifaces
        batch.nifaces = 0 if self._ifaces is None else len(self._ifaces)
        batch.ifindex = ifindex
        batch.rx_queue = rx_queue
        batch.min_len = min_len
        batch.max_len = self.max_packet
        try:
            while True:
                c_out = ffi.from_buffer("char[]", out, require_writable=True)
                batch.out = c_out
                batch.out_cap = len(out)
                try:
                    rc = lib.lbc_xdp_run_batch(io, batch)
                finally:
                    ffi.release(c_out)
                if rc != -errno.ENOSPC:
                    break
                out.extend(bytes(len(out)))  # packets grew: twice the room, and go on
        finally:
            for c in (c_lens, c_data, c_out_lens, c_retvals, c_verdict_buf, c_redirects):
                ffi.release(c)
            if self._ifaces is not None:
                ffi.release(c_ifaces)
        if rc == -errno.EMSGSIZE:
            raise LibbpfError(errno.EINVAL, f"xdp: interface {ifindex}: packet {batch.done} has "
                                            f"{lens[batch.done]} bytes (the hook takes "
                                            f"{min_len}..{self.max_packet})")
        if rc or state.run_state.exception is not None:
            self._raise(vm, state)
        if state.counting:
            vm.last_insn_count = state.ex.insn_count
        del out[batch.out_pos:]
        return XdpBatchResult(bytes(c_verdicts), retvals, out, out_lens, redirects)


__all__ = ["XdpBatchResult", "XdpRunner"]
