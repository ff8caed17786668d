"""``bpf_prog_test_run_opts`` for the skb program types, the tracing types
and registered program types (:mod:`libbpf_compat.test_run` dispatches here).

SOCKET_FILTER, SCHED_CLS and CGROUP_SKB, as Linux's
``bpf_prog_test_run_skb``: ``data_in`` is an Ethernet frame (at least
ETH_HLEN bytes, at most :data:`MAX_SKB_DATA`); ``protocol`` and
``pkt_type`` come from its header as ``eth_type_trans`` sets them on the
loopback device, and an IPv4 / IPv6 packet gives the skb's socket its
family and addresses (local = source, remote = destination). tc programs
see the frame from its Ethernet header; socket filters and cgroup_skb
programs from the network header, and their ``data_out`` has the Ethernet
header zeroed, as the kernel's. ``ctx_in`` is a ``struct __sk_buff`` (up to
192 bytes; more only if the rest is zero, else E2BIG) of which only
``mark``, ``priority``, ``ingress_ifindex``, ``ifindex`` (0 or 1: the
loopback device; any other is ENODEV), ``cb``, ``tstamp``, ``wire_len``
(0 or between the packet's length and 64 KiB), ``gso_segs`` (at most
65535), ``gso_size`` and ``hwtstamp`` may be non-zero (EINVAL otherwise).
``ctx_out`` is ``ctx_in`` with those fields as the run left them.

RAW_TRACEPOINT: ``ctx_in`` is the u64 arguments (at most 12, and at least
as many bytes as the program reads); data, ``ctx_out`` and ``repeat`` are
EINVAL, as Linux's. KPROBE, TRACEPOINT and PERF_EVENT have no test_run in
Linux: ENOTSUPP (524), as the kernel returns.

Registered program types (:mod:`libbpf_compat.hooks.registry`, SAMPLE
among them): ``data_in`` fills the data region, ``ctx_in`` is in the
type's layout (zeros when absent; the region's pointers must be 0),
``ctx_out`` the context after the run with the region's start pointer 0
and its end pointer the region's size; ``data_out`` the region after the run.
"""

from __future__ import annotations

import errno
import struct

from libbpf_compat.abi.ctx_rewrite import context_extent
from libbpf_compat.errors import LibbpfError
from libbpf_compat.hooks import registry
from libbpf_compat.hooks.skb import (
    ETH_HLEN,
    SKB_LAYOUTS,
    SKB_NATIVE,
    SKB_SIZE,
    ethernet_fields,
    ip_socket_fields,
    native_skb_ctx,
    run_skb,
)
from libbpf_compat.hooks.tracing import MAX_RAW_TP_ARGS, RAW_TP_NATIVE
from libbpf_compat.object import Program
from libbpf_compat.test_run import _finish, _limit, bpf_test_run_opts
from libbpf_compat.uapi import BpfProgType

#: Linux's ENOTSUPP (a kernel-internal errno that bpf() returns).
ENOTSUPP = 524
#: The largest data_in for an skb test run: a page less the headroom
#: (NET_SKB_PAD) and the tail (skb_shared_info), as Linux.
MAX_SKB_DATA = 4096 - 64 - 320
_GSO_MAX_SIZE = 65536
_GSO_MAX_SEGS = 65535

#: The ctx_in fields Linux copies into the skb (the rest must be zero).
_CTX_IN_FIELDS = ("mark", "priority", "ingress_ifindex", "ifindex", "cb", "tstamp",
                  "wire_len", "gso_segs", "gso_size", "hwtstamp")
_U32 = struct.Struct("<I")

TRACING_NO_TEST_RUN = frozenset({BpfProgType.BPF_PROG_TYPE_KPROBE,
                                 BpfProgType.BPF_PROG_TYPE_TRACEPOINT,
                                 BpfProgType.BPF_PROG_TYPE_PERF_EVENT})


def handles(prog_type: int) -> bool:
    """Whether this module runs test_run for ``prog_type``."""
    return (prog_type in SKB_LAYOUTS or prog_type in TRACING_NO_TEST_RUN
            or prog_type == BpfProgType.BPF_PROG_TYPE_RAW_TRACEPOINT
            or registry.registered_type(prog_type) is not None)


def test_run(prog: Program, opts: bpf_test_run_opts, repeat: int) -> None:
    if prog.prog_type in SKB_LAYOUTS:
        _run_skb(prog, opts, repeat)
    elif prog.prog_type == BpfProgType.BPF_PROG_TYPE_RAW_TRACEPOINT:
        _run_raw_tp(prog, opts)
    elif prog.prog_type in TRACING_NO_TEST_RUN:
        raise LibbpfError(ENOTSUPP, f"test_run: program {prog.name!r}: the kernel has no "
                                    f"test_run for program type {prog.prog_type}")
    else:
        spec = registry.registered_type(prog.prog_type)
        assert spec is not None
        _run_registered(spec, prog, opts, repeat)


# -- skb ---------------------------------------------------------------------
#: The network header an IPv4 / IPv6 frame must hold whole (Linux pulls it).
_L3_HEADER = {0x0800: 20, 0x86DD: 40}


def _field(name: str) -> tuple[int, int]:
    f = SKB_NATIVE.field(name)
    return f.offset, f.size


def _skb_ctx_in(ctx_in: bytes | None) -> bytearray:
    """ctx_in as a 192-byte __sk_buff, checked as Linux's convert___skb_to_skb."""
    raw = bytes(ctx_in or b"")
    if len(raw) > SKB_SIZE:
        if any(raw[SKB_SIZE:]):
            raise LibbpfError(errno.E2BIG, f"ctx_in: {len(raw)} bytes, and the bytes past "
                                           f"the {SKB_SIZE}-byte __sk_buff are not zero")
        raw = raw[:SKB_SIZE]
    ctx = bytearray(raw.ljust(SKB_SIZE, b"\0"))
    allowed = bytearray(SKB_SIZE)
    for name in _CTX_IN_FIELDS:
        off, size = _field(name)
        allowed[off:off + size] = b"\1" * size
    bad = [i for i in range(SKB_SIZE) if ctx[i] and not allowed[i]]
    if bad:
        offender = next((f.name for f in SKB_NATIVE.fields if not f.pointer
                         and f.offset <= bad[0] < f.offset + f.size), f"offset {bad[0]}")
        raise LibbpfError(errno.EINVAL, f"ctx_in: __sk_buff.{offender} must be 0 (only "
                                        f"{', '.join(_CTX_IN_FIELDS)} may be set)")
    return ctx


def _get(ctx: bytes | bytearray, name: str) -> int:
    off, size = _field(name)
    return int.from_bytes(ctx[off:off + size], "little")


def _run_skb(prog: Program, opts: bpf_test_run_opts, repeat: int) -> None:
    frame = bytes(opts.data_in or b"")
    if not ETH_HLEN <= len(frame) <= MAX_SKB_DATA:
        raise LibbpfError(errno.EINVAL, f"test_run: data_in must be an Ethernet frame of "
                                        f"{ETH_HLEN}..{MAX_SKB_DATA} bytes, not {len(frame)}")
    ctx_in = _skb_ctx_in(opts.ctx_in)
    ifindex = _get(ctx_in, "ifindex")
    if ifindex > 1:
        raise LibbpfError(errno.ENODEV, f"ctx_in: ifindex {ifindex}: no such device (test "
                                        "runs use the loopback device, 1)")
    l2 = prog.prog_type == BpfProgType.BPF_PROG_TYPE_SCHED_CLS
    eth = ethernet_fields(frame)
    proto = int.from_bytes(int(eth["protocol"]).to_bytes(2, "little"), "big")
    packet = frame if l2 else frame[ETH_HLEN:]
    need = _L3_HEADER.get(proto, 0)
    if len(frame) - ETH_HLEN < need:
        raise LibbpfError(errno.EINVAL, f"test_run: an {hex(proto)} packet needs its "
                                        f"{need}-byte header, data_in has "
                                        f"{len(frame) - ETH_HLEN} bytes after Ethernet's")
    wire_len = _get(ctx_in, "wire_len")
    if wire_len and not len(packet) <= wire_len <= _GSO_MAX_SIZE:
        raise LibbpfError(errno.EINVAL, f"ctx_in: wire_len {wire_len} must be 0 or "
                                        f"{len(packet)}..{_GSO_MAX_SIZE}")
    if _get(ctx_in, "gso_segs") > _GSO_MAX_SEGS:
        raise LibbpfError(errno.EINVAL, f"ctx_in: gso_segs above {_GSO_MAX_SEGS}")
    if not packet:  # a bare Ethernet header: the skb's data is empty
        raise LibbpfError(errno.EINVAL, "test_run: socket filter and cgroup_skb runs need a "
                                        "packet after the Ethernet header")
    fields: dict[str, int | bytes] = {
        name: bytes(ctx_in[_field(name)[0]:sum(_field(name))]) for name in _CTX_IN_FIELDS}
    fields.update(eth)
    fields.update(ip_socket_fields(frame[ETH_HLEN:], proto))
    fields["len"] = len(packet)
    fields["ifindex"] = 1
    fields["wire_len"] = wire_len or len(packet)
    ctx = native_skb_ctx(fields)
    assert prog.vm is not None
    run = run_skb(prog.vm, packet, ctx, writable_packet=l2, repeat=repeat,
                  net_off=ETH_HLEN if l2 else 0)
    _finish(opts, run.result)
    data_out = run.packet if l2 else bytes(ETH_HLEN) + run.packet
    opts.data_out = _limit(data_out, opts.data_size_out, "data_out", opts)
    out = bytearray(ctx_in)
    for name in _CTX_IN_FIELDS:
        off, size = _field(name)
        out[off:off + size] = ctx[off:off + size]
    opts.ctx_out = _limit(bytes(out), opts.ctx_size_out, "ctx_out", opts)


# -- raw tracepoint ------------------------------------------------------------
def _run_raw_tp(prog: Program, opts: bpf_test_run_opts) -> None:
    if opts.data_in or opts.data_size_out or opts.ctx_size_out or opts.repeat > 0:
        raise LibbpfError(errno.EINVAL, "test_run: raw tracepoint programs take ctx_in only "
                                        "(no data_in, data_out, ctx_out or repeat)")
    args = bytes(opts.ctx_in or b"")
    assert prog.vm is not None
    extent = context_extent(prog.vm.code, prog.name)
    if len(args) < extent or len(args) > 8 * MAX_RAW_TP_ARGS:
        raise LibbpfError(errno.EINVAL, f"test_run: ctx_in of {len(args)} bytes: the program "
                                        f"reads {extent} bytes of arguments, at most "
                                        f"{8 * MAX_RAW_TP_ARGS} are allowed")
    ctx = bytearray(args.ljust(RAW_TP_NATIVE.size, b"\0"))
    _finish(opts, prog.vm.run_repeat(ctx, 1))
    opts.duration = 0
    opts.ctx_out = None
    opts.data_out = None


# -- registered program types --------------------------------------------------
def _run_registered(spec: registry.ProgramTypeSpec, prog: Program, opts: bpf_test_run_opts,
                    repeat: int) -> None:
    layout = spec.context
    ctx_in = bytes(opts.ctx_in or bytes(layout.size))
    if len(ctx_in) != layout.size:
        raise LibbpfError(errno.EINVAL, f"ctx_in must be a {layout.size}-byte {layout.name}, "
                                        f"not {len(ctx_in)} bytes")
    if opts.data_in and spec.data is None:
        raise LibbpfError(errno.EINVAL, f"test_run: {spec.name} programs have no data region "
                                        "(data_in)")
    pointers = [f for f in layout.fields if f.pointer]
    for f in pointers:
        if any(ctx_in[f.offset:f.offset + f.size]):
            raise LibbpfError(errno.EINVAL, f"ctx_in: {layout.name}.{f.name} must be 0; the "
                                            "region it bounds is data_in")
    ctx = bytearray(ctx_in)  # the native layout has the program layout's offsets
    data = bytearray(opts.data_in or b"")
    assert prog.vm is not None
    retval, duration = spec.run(prog.vm, ctx, data, repeat)
    opts.retval = retval & 0xFFFFFFFF
    opts.duration = duration
    for f in pointers:
        value = len(data) if spec.data is not None and f.name == spec.data[1] else 0
        ctx[f.offset:f.offset + 8] = value.to_bytes(8, "little")
    opts.ctx_out = _limit(bytes(ctx), opts.ctx_size_out, "ctx_out", opts)
    if spec.data is not None:
        opts.data_out = _limit(bytes(data), opts.data_size_out, "data_out", opts)


__all__ = ["ENOTSUPP", "MAX_SKB_DATA", "handles", "test_run"]
