"""``bpf_prog_test_run_opts``: run a loaded program once or ``repeat``
times on input the caller gives, as Linux's BPF_PROG_TEST_RUN does.

XDP programs get ``data_in`` as the packet (at least 14 bytes, placed in a
frame with Linux's 256 bytes of headroom and its tailroom:
:mod:`libbpf_compat.hooks.xdp_frame`) and a native XDP context; ``ctx_in`` /
``ctx_out`` are in the program's own layout (Linux ``struct xdp_md`` or
eBPF-for-Windows ``xdp_md_t``), with ``data`` / ``data_end`` given as
offsets from ``data_meta`` as Linux reports them; ``data_out`` is the
metadata, then the packet, then the fragments. A Linux program's ctx_in
splits data_in as Linux 6.18 does (checked against it): ``data`` bytes of
metadata, the linear packet up to ``data_end`` (at most a page less the
head- and tailroom), the rest in fragments the program does not see
(``bpf_xdp_adjust_tail`` here grows or shrinks the linear part, Linux's
the fragments). Unlike the kernel, any ``ingress_ifindex`` and
``rx_queue_index`` are taken (the simulated host has every interface, as
the XDP hook does). SYSCALL programs get
``ctx_in`` itself as their context and ``ctx_out`` is the context after
the run. ``retval`` is the program's own
return value (its ABI's numbering), ``duration`` the mean ns per run. Other
program types run on their hooks, which come with the runtime issue.

BIND programs (eBPF for Windows) get ``data_in`` as the application id the
context's ``app_id_start`` / ``app_id_end`` bound (read-only, possibly empty)
and ``ctx_in`` as a ``bind_md_t`` whose two pointers must be 0;
CGROUP_SOCK_ADDR programs get ``ctx_in`` in their layout (Linux ``struct
bpf_sock_addr`` or ``bpf_sock_addr_t``; zeros when absent) and no data.
SOCK_OPS programs get ``ctx_in`` in their layout (Linux ``struct
bpf_sock_ops``, whose fields beyond the ones the hook offers must be 0, or
``bpf_sock_ops_t``; zeros when absent) and no data; ``op``, ports and
family are taken as given, in the program's own numbering. PROCESS programs
(eBPF for Windows) get ``data_in`` as the command line ``command_start`` /
``command_end`` bound and ``ctx_in`` as a ``process_md_t`` whose two
pointers must be 0. ``ctx_out`` is the context after the run in the same
layout (the bind and process pointers as 0 and the region's size, as Linux
reports XDP's).

The skb program types (SOCKET_FILTER, SCHED_CLS, CGROUP_SKB), the tracing
types and registered program types (SAMPLE among them) run in
:mod:`libbpf_compat.test_run_hooks`.
"""

from __future__ import annotations

import errno
import struct
from dataclasses import dataclass

from libbpf_compat._native import ffi, lib
from libbpf_compat.abi import windows as windows_abi
from libbpf_compat.errors import LibbpfError
from libbpf_compat.hooks.contexts import (
    BIND_NATIVE,
    BIND_WINDOWS,
    PROCESS_NATIVE,
    PROCESS_WINDOWS,
    SOCK_ADDR_LINUX,
    SOCK_ADDR_NATIVE,
    SOCK_ADDR_WINDOWS,
    SOCK_OPS_LINUX,
    SOCK_OPS_NATIVE,
    SOCK_OPS_WINDOWS,
    CtxLayout,
)
from libbpf_compat.hooks.xdp_frame import ETH_HLEN, XDP_TAILROOM, run_xdp_frame
from libbpf_compat.hooks.xdp_frame import XDP_PACKET_HEADROOM as XDP_PACKET_HEADROOM
from libbpf_compat.mapstore import fd_table
from libbpf_compat.object import Program
from libbpf_compat.uapi import BpfProgType
from libbpf_compat.vm import RunResult

#: The program types bpf_prog_test_run_opts runs today.
TEST_RUN_PROG_TYPES = frozenset({BpfProgType.BPF_PROG_TYPE_XDP, BpfProgType.BPF_PROG_TYPE_SYSCALL,
                                 BpfProgType.BPF_PROG_TYPE_CGROUP_SOCK_ADDR,
                                 windows_abi.INTERNAL_PROG_BIND,
                                 BpfProgType.BPF_PROG_TYPE_SOCK_OPS,
                                 windows_abi.INTERNAL_PROG_PROCESS})

_LINUX_XDP_MD = struct.Struct("<IIIIII")
_WINDOWS_XDP_MD = struct.Struct("<QQQI4x")


@dataclass
class bpf_test_run_opts:
    """libbpf's struct bpf_test_run_opts; retval, duration, data_out and
    ctx_out are filled in by the call."""

    data_in: bytes | None = None
    data_size_out: int = 0
    ctx_in: bytes | None = None
    ctx_size_out: int = 0
    repeat: int = 0
    flags: int = 0
    cpu: int = 0
    batch_size: int = 0
    retval: int = 0
    duration: int = 0
    data_out: bytes | None = None
    ctx_out: bytes | None = None


def _program(prog_fd: int) -> Program:
    obj = fd_table.get(prog_fd)
    if not isinstance(obj, Program) or obj.vm is None:
        raise LibbpfError(errno.EINVAL, f"fd {prog_fd} is not a loaded program")
    return obj


def _limit(data: bytes, size_out: int, what: str, opts: bpf_test_run_opts) -> bytes:
    """Linux fills at most size_out bytes and reports ENOSPC when it cut."""
    if size_out and len(data) > size_out:
        setattr(opts, what, data[:size_out])
        raise LibbpfError(errno.ENOSPC, f"{what} needs {len(data)} bytes, "
                                        f"{what.replace('_out', '_size_out')} is {size_out}")
    return data


def bpf_prog_test_run_opts(prog_fd: int, opts: bpf_test_run_opts) -> int:
    prog = _program(prog_fd)
    if opts.flags or opts.cpu or opts.batch_size:
        raise LibbpfError(errno.EINVAL, "test_run: flags, cpu and batch_size are not supported "
                                        "for this program type")
    repeat = max(1, opts.repeat)
    if prog.prog_type == BpfProgType.BPF_PROG_TYPE_XDP:
        _run_xdp(prog, opts, repeat)
    elif prog.prog_type == BpfProgType.BPF_PROG_TYPE_SYSCALL:
        _run_syscall(prog, opts, repeat)
    elif prog.prog_type == BpfProgType.BPF_PROG_TYPE_CGROUP_SOCK_ADDR:
        _run_sock_addr(prog, opts, repeat)
    elif prog.prog_type == windows_abi.INTERNAL_PROG_BIND:
        _run_region(prog, opts, repeat, BIND_WINDOWS, BIND_NATIVE)
    elif prog.prog_type == BpfProgType.BPF_PROG_TYPE_SOCK_OPS:
        _run_sock_ops(prog, opts, repeat)
    elif prog.prog_type == windows_abi.INTERNAL_PROG_PROCESS:
        _run_region(prog, opts, repeat, PROCESS_WINDOWS, PROCESS_NATIVE)
    else:
        from libbpf_compat import test_run_hooks  # skb, tracing and registered types

        if test_run_hooks.handles(prog.prog_type):
            test_run_hooks.test_run(prog, opts, repeat)
            return 0
        raise LibbpfError(errno.ENOTSUP, f"test_run of program {prog.name!r} (type "
                                         f"{prog.prog_type}) needs its hook, which is not "
                                         "available yet")
    return 0


def _finish(opts: bpf_test_run_opts, result: RunResult) -> None:
    opts.retval = result.retval & 0xFFFFFFFF
    opts.duration = int(result.duration_ns)


def _run_syscall(prog: Program, opts: bpf_test_run_opts, repeat: int) -> None:
    if opts.data_in:
        raise LibbpfError(errno.EINVAL, "test_run: syscall programs take ctx_in, not data_in")
    if repeat != 1:
        raise LibbpfError(errno.EINVAL, "test_run: syscall programs run once (repeat 0 or 1)")
    ctx = bytearray(opts.ctx_in or b"")
    assert prog.vm is not None
    _finish(opts, prog.vm.run_repeat(ctx if ctx else None, 1))
    opts.ctx_out = _limit(bytes(ctx), opts.ctx_size_out, "ctx_out", opts) if ctx else None


_PAGE_SIZE = 4096
#: Linux's MAX_SKB_FRAGS: the page-sized fragments past the linear part
#: a test run's packet may fill.
_MAX_XDP_FRAGS = 17
#: The most metadata an XDP packet carries (skb_shared_info's u8 meta_len).
_MAX_XDP_METALEN = 255


@dataclass(frozen=True)
class _XdpInput:
    """How a Linux XDP test run splits data_in: the first ``meta`` bytes
    are metadata, the packet runs to ``linear`` (the rest lies in
    fragments the program does not see), on interface ``ingress`` queue
    ``queue``."""

    meta: int
    linear: int
    ingress: int
    queue: int


def _linux_xdp_input(ctx_in: bytes | None, ctx_size_out: int, size: int) -> _XdpInput:
    """data_in's split from ctx_in (struct xdp_md), as Linux 6.18's
    bpf_prog_test_run_xdp makes it: ``data`` is the metadata's length (a
    multiple of 4, from the headroom), ``data_end`` the linear part's end
    (metadata included; at most a page less the headroom and tailroom, the
    rest in fragments). The kernel builds a zeroed context when only
    ctx_out is asked for (here: ctx_size_out without ctx_in), so such a
    run's packet is all fragments."""
    if not ctx_in and not ctx_size_out:
        raw = None
    else:
        ctx = ctx_in or b""
        # as Linux's bpf_ctx_init: a shorter ctx_in reads as zeros, a longer
        # one (a page at most) must be zero past struct xdp_md
        if len(ctx) > _PAGE_SIZE or any(ctx[_LINUX_XDP_MD.size:]):
            raise LibbpfError(errno.E2BIG, f"ctx_in: {len(ctx)} bytes, and the bytes past "
                                           f"the {_LINUX_XDP_MD.size}-byte xdp_md must be "
                                           f"zero (a page at most)")
        raw = bytes(ctx[:_LINUX_XDP_MD.size]).ljust(_LINUX_XDP_MD.size, b"\0")
    ingress = queue = meta = 0
    data_end = size
    if raw is not None:
        meta, data_end, data_meta, ingress, queue, egress = _LINUX_XDP_MD.unpack(raw)
        if data_meta or data_end > size or meta > data_end or meta % 4 \
                or meta > _MAX_XDP_METALEN:
            raise LibbpfError(errno.EINVAL, "ctx_in: data_meta must be 0, data (the metadata "
                                            "length) a multiple of 4 and at most data_end, "
                                            f"data_end at most the {size} bytes of data_in")
    headroom = XDP_PACKET_HEADROOM - meta
    if headroom < lib.LBC_XDP_FRAME_OVERHEAD:
        raise LibbpfError(errno.EINVAL, f"ctx_in: {meta} bytes of metadata leave less than "
                                        f"{lib.LBC_XDP_FRAME_OVERHEAD} bytes of headroom")
    if size - meta < ETH_HLEN:
        raise LibbpfError(errno.EINVAL, f"test_run: an XDP packet needs at least {ETH_HLEN} "
                                        f"bytes past its metadata, data_in has {size - meta}")
    if raw is not None:
        if egress:
            raise LibbpfError(errno.EINVAL, "ctx_in: egress_ifindex must be 0")
        if queue and not ingress:
            raise LibbpfError(errno.EINVAL, "ctx_in: an rx_queue_index needs an "
                                            "ingress_ifindex")
    linear = min(data_end, _PAGE_SIZE - headroom - XDP_TAILROOM)
    if size - linear > _MAX_XDP_FRAGS * _PAGE_SIZE:
        raise LibbpfError(errno.ENOMEM, f"test_run: {size - linear} bytes past the linear "
                                        f"part need more than {_MAX_XDP_FRAGS} fragments")
    return _XdpInput(meta, linear, ingress, queue)


def _windows_xdp_ingress(ctx_in: bytes | None) -> int:
    """ingress_ifindex from ctx_in as an eBPF-for-Windows xdp_md_t."""
    if not ctx_in:
        return 0
    if len(ctx_in) != _WINDOWS_XDP_MD.size:
        raise LibbpfError(errno.EINVAL, f"ctx_in must be a {_WINDOWS_XDP_MD.size}-byte "
                                        "xdp_md_t")
    return int(_WINDOWS_XDP_MD.unpack(ctx_in)[3])


def _run_xdp(prog: Program, opts: bpf_test_run_opts, repeat: int) -> None:
    data = opts.data_in or b""
    if prog.abi == "windows":
        if len(data) < ETH_HLEN:
            raise LibbpfError(errno.EINVAL, f"test_run: an XDP packet needs at least "
                                            f"{ETH_HLEN} bytes, data_in has {len(data)}")
        split = _XdpInput(0, len(data), _windows_xdp_ingress(opts.ctx_in), 0)
    else:
        split = _linux_xdp_input(opts.ctx_in, opts.ctx_size_out, len(data))
    assert prog.vm is not None
    out = run_xdp_frame(prog.vm, data[split.meta:split.linear], split.ingress, split.queue,
                        repeat, meta=bytes(data[:split.meta]), min_size=0)
    _finish(opts, out.run)
    # as Linux: data_out starts at data_meta (the fragments follow the
    # linear part), ctx_out's offsets count from data_meta
    opts.data_out = _limit(out.meta + out.packet + bytes(data[split.linear:]),
                           opts.data_size_out, "data_out", opts)
    meta, end = len(out.meta), len(out.meta) + len(out.packet)
    if prog.abi == "windows":
        ctx_out = _WINDOWS_XDP_MD.pack(meta, end, 0, split.ingress)
    else:
        ctx_out = _LINUX_XDP_MD.pack(meta, end, 0, split.ingress, split.queue, 0)
    opts.ctx_out = _limit(ctx_out, opts.ctx_size_out, "ctx_out", opts)


def _to_native(ctx: bytes, layout: CtxLayout, native: CtxLayout,
               skip: frozenset[str]) -> bytearray:
    out = bytearray(native.size)
    for f in layout.fields:
        if not f.pointer and f.name not in skip:
            nf = native.field(f.name)
            out[nf.offset:nf.offset + f.size] = ctx[f.offset:f.offset + f.size]
    return out


def _from_native(native_ctx: bytes | bytearray, ctx_in: bytes, layout: CtxLayout, native: CtxLayout,
                 skip: frozenset[str]) -> bytearray:
    out = bytearray(ctx_in)
    for f in layout.fields:
        if not f.pointer and f.name not in skip:
            nf = native.field(f.name)
            out[f.offset:f.offset + f.size] = native_ctx[nf.offset:nf.offset + f.size]
    return out


def _ctx_in(prog: Program, opts: bpf_test_run_opts, layout: CtxLayout) -> bytes:
    ctx_in = opts.ctx_in or bytes(layout.size)
    if len(ctx_in) != layout.size:
        raise LibbpfError(errno.EINVAL, f"ctx_in must be a {layout.size}-byte {layout.name}, "
                                        f"not {len(ctx_in)} bytes")
    return ctx_in


_LINUX_AF_INET6 = 10


def _run_on_context(prog: Program, opts: bpf_test_run_opts, repeat: int, ctx_in: bytes,
                    layout: CtxLayout, native: CtxLayout, skip: frozenset[str]) -> None:
    """Run on ``ctx_in`` (in the program's layout) moved into the native
    context; ``ctx_out`` is the context after the run, in the program's layout."""
    ctx = _to_native(ctx_in, layout, native, skip)
    assert prog.vm is not None
    _finish(opts, prog.vm.run_repeat(ctx, repeat))
    out = _from_native(ctx, ctx_in, layout, native, skip)
    opts.ctx_out = _limit(bytes(out), opts.ctx_size_out, "ctx_out", opts)


def _run_sock_addr(prog: Program, opts: bpf_test_run_opts, repeat: int) -> None:
    if opts.data_in:
        raise LibbpfError(errno.EINVAL, "test_run: sock_addr programs take ctx_in, not data_in")
    layout = SOCK_ADDR_WINDOWS if prog.abi == "windows" else SOCK_ADDR_LINUX
    ctx_in = _ctx_in(prog, opts, layout)
    skip: frozenset[str] = frozenset()
    if layout is SOCK_ADDR_LINUX:  # the v4 and v6 fields share the native storage
        v6 = struct.unpack_from("<I", ctx_in, 0)[0] == _LINUX_AF_INET6
        skip = frozenset({"user_ip4", "msg_src_ip4"} if v6 else {"user_ip6", "msg_src_ip6"})
    _run_on_context(prog, opts, repeat, ctx_in, layout, SOCK_ADDR_NATIVE, skip)


def _run_sock_ops(prog: Program, opts: bpf_test_run_opts, repeat: int) -> None:
    if opts.data_in:
        raise LibbpfError(errno.EINVAL, "test_run: sock_ops programs take ctx_in, not data_in")
    layout = SOCK_OPS_WINDOWS if prog.abi == "windows" else SOCK_OPS_LINUX
    ctx_in = _ctx_in(prog, opts, layout)
    skip: frozenset[str] = frozenset()
    if layout is SOCK_OPS_LINUX:
        offered = bytearray(layout.size)
        for f in layout.fields:
            offered[f.offset:f.offset + f.size] = b"\xff" * f.size
        if any(b and not m for b, m in zip(ctx_in, offered, strict=True)):
            raise LibbpfError(errno.EINVAL, "ctx_in: only the bpf_sock_ops fields this hook "
                                            "offers may be set (op, args, family, addresses, "
                                            "ports, is_fullsock, state, the TCP fields up to "
                                            "bytes_acked)")
        v6 = struct.unpack_from("<I", ctx_in, 20)[0] == _LINUX_AF_INET6
        skip = frozenset({"local_ip4", "remote_ip4"} if v6 else {"local_ip6", "remote_ip6"})
    _run_on_context(prog, opts, repeat, ctx_in, layout, SOCK_OPS_NATIVE, skip)


def _run_region(prog: Program, opts: bpf_test_run_opts, repeat: int, layout: CtxLayout,
                native: CtxLayout) -> None:
    """A Windows context whose first two fields bound a read-only region
    (bind's app id, process's command line) that ``data_in`` fills."""
    ctx_in = _ctx_in(prog, opts, layout)
    start_f, end_f = layout.fields[0].name, layout.fields[1].name
    if struct.unpack_from("<QQ", ctx_in, 0) != (0, 0):
        raise LibbpfError(errno.EINVAL, f"ctx_in: {start_f} and {end_f} must be 0; the region "
                                        "they bound is data_in")
    data = bytearray(opts.data_in or b"")
    region = data or bytearray(1)
    ctx = _to_native(ctx_in, layout, native, frozenset())
    view = memoryview(region)
    try:
        with ffi.from_buffer("uint8_t[]", region) as cbuf:
            start = int(ffi.cast("uintptr_t", cbuf))
            struct.pack_into("<QQ", ctx, 0, start, start + len(data))
            assert prog.vm is not None
            _finish(opts, prog.vm.run_repeat(ctx, repeat, regions=[(view, False)]))
    finally:
        view.release()
    out = _from_native(ctx, ctx_in, layout, native, frozenset())
    struct.pack_into("<QQ", out, 0, 0, len(data))
    opts.ctx_out = _limit(bytes(out), opts.ctx_size_out, "ctx_out", opts)
