"""Program types and hooks: context layouts and the hook objects a host
drives (:mod:`~libbpf_compat.hooks.xdp`, :mod:`~libbpf_compat.hooks.bind`,
:mod:`~libbpf_compat.hooks.sock_addr`, :mod:`~libbpf_compat.hooks.sock_ops`,
:mod:`~libbpf_compat.hooks.process`, :mod:`~libbpf_compat.hooks.skb` (socket
filter, tc, cgroup_skb), :mod:`~libbpf_compat.hooks.tracing` (kprobe,
tracepoint, raw tracepoint and perf event sources) and
:mod:`~libbpf_compat.hooks.registry` (SAMPLE and the program types a host
registers))."""

from __future__ import annotations

from libbpf_compat.hooks.contexts import XDP_LINUX, XDP_NATIVE, XDP_WINDOWS, CtxField, CtxLayout

__all__ = ["XDP_LINUX", "XDP_NATIVE", "XDP_WINDOWS", "CtxField", "CtxLayout"]
