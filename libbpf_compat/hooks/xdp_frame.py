"""The buffer an XDP program runs on, shared by the XDP hook and
``bpf_prog_test_run_opts``: a frame laid out as Linux lays out an XDP
buffer, so that ``bpf_xdp_adjust_head`` / ``_tail`` / ``_meta`` have
Linux's room to move.

The frame is :data:`XDP_FRAME_SIZE` bytes (more for a packet larger than
:data:`XDP_MAX_PACKET`): :data:`XDP_PACKET_HEADROOM` bytes of headroom (the
first ``LBC_XDP_FRAME_OVERHEAD`` reserved, as Linux keeps its ``struct
xdp_frame`` there), the packet, then room to grow the tail up to
:data:`XDP_MAX_PACKET` bytes (Linux keeps the last :data:`XDP_TAILROOM`
bytes for ``skb_shared_info``). Head- and tailroom start zeroed, as the
kernel's test run gives them.

The context is the native ``lbc_xdp_ctx`` (native/lbc_runtime.h): the 40
bytes programs see (:data:`~libbpf_compat.hooks.contexts.XDP_NATIVE`) and,
after them, the frame's bounds and the redirect target
``bpf_redirect`` / ``bpf_redirect_map`` set.
"""

from __future__ import annotations

import errno
import struct
from dataclasses import dataclass

from libbpf_compat._native import ffi, lib
from libbpf_compat.errors import LibbpfError
from libbpf_compat.vm import RunResult, Vm

XDP_PACKET_HEADROOM = 256
XDP_FRAME_SIZE = 4096
XDP_TAILROOM = 320
ETH_HLEN = 14
#: The largest packet one XDP buffer holds without fragments: a 4 KiB page
#: less the headroom and the tailroom Linux keeps for skb_shared_info.
XDP_MAX_PACKET = XDP_FRAME_SIZE - XDP_PACKET_HEADROOM - XDP_TAILROOM
#: lbc_xdp_ctx: data, data_end, data_meta, ingress_ifindex, rx_queue_index,
#: egress_ifindex, (reserved), hard_start, frame_end, redirect_ifindex,
#: redirected, magic.
XDP_FRAME_CTX = struct.Struct("<QQQIII4xQQIIQ")
assert XDP_FRAME_CTX.size == ffi.sizeof("lbc_xdp_ctx")


@dataclass(frozen=True)
class XdpFrameResult:
    """One run over a frame: the run's result, the packet between data and
    data_end, the metadata between data_meta and data, and the interface a
    redirect helper named (None when none was called)."""

    run: RunResult
    packet: bytes
    meta: bytes
    redirect_ifindex: int | None


def run_xdp_frame(vm: Vm, data: bytes | bytearray | memoryview, ingress_ifindex: int = 0,
                  rx_queue_index: int = 0, repeat: int = 1, *, meta: bytes = b"",
                  min_size: int = ETH_HLEN) -> XdpFrameResult:
    """Run ``vm`` ``repeat`` times on a native XDP context over ``data`` (at
    least ``min_size`` bytes) placed in a frame (the frame handed to the run
    as a writable region; the runs share it, as Linux's test runs share one
    buffer), with ``meta`` as the metadata right before the packet (taken
    from the headroom, as test_run's ctx_in places it)."""
    size = len(data)
    if size < min_size:
        raise LibbpfError(errno.EINVAL, f"an XDP packet needs at least {min_size} bytes, "
                                        f"this one has {size}")
    if len(meta) > XDP_PACKET_HEADROOM - lib.LBC_XDP_FRAME_OVERHEAD:
        raise LibbpfError(errno.EINVAL, f"{len(meta)} bytes of XDP metadata do not fit the "
                                        "headroom")
    room = max(size, XDP_MAX_PACKET)
    frame = bytearray(XDP_PACKET_HEADROOM + room + XDP_TAILROOM)
    frame[XDP_PACKET_HEADROOM - len(meta):XDP_PACKET_HEADROOM] = meta
    frame[XDP_PACKET_HEADROOM:XDP_PACKET_HEADROOM + size] = data
    view = memoryview(frame)
    with ffi.from_buffer("uint8_t[]", frame) as cbuf:
        start = int(ffi.cast("uintptr_t", cbuf))
        base = start + XDP_PACKET_HEADROOM
        ctx = bytearray(XDP_FRAME_CTX.pack(base, base + size, base - len(meta), ingress_ifindex,
                                           rx_queue_index, 0, start, base + room, 0, 0,
                                           lib.LBC_XDP_CTX_MAGIC))
        try:
            result = vm.run_repeat(ctx, repeat, regions=[(view, True)])
        finally:
            view.release()
    fields = XDP_FRAME_CTX.unpack(ctx)
    data_ptr, end_ptr, meta_ptr = fields[:3]
    target, redirected = fields[8:10]

    def offset(ptr: int, lo: int) -> int:
        return min(max(ptr - start, lo), len(frame))

    lo = offset(data_ptr, 0)
    hi = offset(end_ptr, lo)
    meta_lo = min(offset(meta_ptr, 0), lo)
    return XdpFrameResult(result, bytes(frame[lo:hi]), bytes(frame[meta_lo:lo]),
                          target if redirected else None)


__all__ = ["ETH_HLEN", "XDP_FRAME_CTX", "XDP_FRAME_SIZE", "XDP_MAX_PACKET",
           "XDP_PACKET_HEADROOM", "XDP_TAILROOM", "XdpFrameResult", "run_xdp_frame"]
