"""``bpf_prog_test_run_opts``: run a loaded program once or ``repeat``
times on input the caller gives, as Linux's BPF_PROG_TEST_RUN does.

XDP programs get ``data_in`` as the packet (at least 14 bytes, placed in a
frame with Linux's 256 bytes of headroom and its tailroom:
:mod:`libbpf_compat.hooks.xdp_frame`) and a native XDP context; ``ctx_in`` /
``ctx_out`` are in the program's own layout (Linux ``struct xdp_md`` or
eBPF-for-Windows ``xdp_md_t``), with ``data`` / ``data_end`` given as
offsets from ``data_meta`` as Linux reports them; ``data_out`` is the
metadata the program added, then the packet. SYSCALL programs get
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

from libbpf_compat._native import ffi
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
from libbpf_compat.hooks.xdp_frame import ETH_HLEN, run_xdp_frame
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


def _xdp_ctx_in(prog: Program, ctx_in: bytes | None, size: int) -> tuple[int, int]:
    """(ingress_ifindex, rx_queue_index) from ctx_in in the program's layout."""
    if not ctx_in:
        return 0, 0
    if prog.abi == "windows":
        if len(ctx_in) != _WINDOWS_XDP_MD.size:
            raise LibbpfError(errno.EINVAL, f"ctx_in must be a {_WINDOWS_XDP_MD.size}-byte "
                                            "xdp_md_t")
        return _WINDOWS_XDP_MD.unpack(ctx_in)[3], 0
    # as Linux's bpf_ctx_init: a shorter ctx_in reads as zeros, a longer one
    # (a page at most) must be zero past struct xdp_md
    if len(ctx_in) > _PAGE_SIZE or any(ctx_in[_LINUX_XDP_MD.size:]):
        raise LibbpfError(errno.E2BIG, f"ctx_in: {len(ctx_in)} bytes, and the bytes past the "
                                       f"{_LINUX_XDP_MD.size}-byte xdp_md must be zero (a "
                                       f"page at most)")
    raw = bytes(ctx_in[:_LINUX_XDP_MD.size]).ljust(_LINUX_XDP_MD.size, b"\0")
    data, data_end, meta, ingress, queue, egress = _LINUX_XDP_MD.unpack(raw)
    if data or meta or egress or data_end not in (0, size):
        raise LibbpfError(errno.EINVAL, "ctx_in: data and data_meta must be 0, data_end the "
                                        "packet size and egress_ifindex 0, as Linux requires")
    return ingress, queue


def _run_xdp(prog: Program, opts: bpf_test_run_opts, repeat: int) -> None:
    data = opts.data_in or b""
    if len(data) < ETH_HLEN:
        raise LibbpfError(errno.EINVAL, f"test_run: an XDP packet needs at least {ETH_HLEN} "
                                        f"bytes, data_in has {len(data)}")
    ingress, queue = _xdp_ctx_in(prog, opts.ctx_in, len(data))
    assert prog.vm is not None
    out = run_xdp_frame(prog.vm, data, ingress, queue, repeat)
    _finish(opts, out.run)
    # as Linux: data_out starts at data_meta, ctx_out's offsets count from there
    opts.data_out = _limit(out.meta + out.packet, opts.data_size_out, "data_out", opts)
    meta, end = len(out.meta), len(out.meta) + len(out.packet)
    if prog.abi == "windows":
        ctx_out = _WINDOWS_XDP_MD.pack(meta, end, 0, ingress)
    else:
        ctx_out = _LINUX_XDP_MD.pack(meta, end, 0, ingress, queue, 0)
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
                                            "ports, is_fullsock, state)")
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
