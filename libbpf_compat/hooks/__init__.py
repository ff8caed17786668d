"""Program types and hooks: context layouts and the hook objects a host
drives (:mod:`~libbpf_compat.hooks.xdp`, :mod:`~libbpf_compat.hooks.bind`,
:mod:`~libbpf_compat.hooks.sock_addr`, :mod:`~libbpf_compat.hooks.sock_ops`,
:mod:`~libbpf_compat.hooks.process`)."""

from __future__ import annotations

from libbpf_compat.hooks.contexts import XDP_LINUX, XDP_NATIVE, XDP_WINDOWS, CtxField, CtxLayout

__all__ = ["XDP_LINUX", "XDP_NATIVE", "XDP_WINDOWS", "CtxField", "CtxLayout"]
