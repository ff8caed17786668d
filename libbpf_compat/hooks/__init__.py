"""Program types and hooks: context layouts and the hook objects a host
drives (XDP so far: :mod:`libbpf_compat.hooks.xdp`)."""

from __future__ import annotations

from libbpf_compat.hooks.contexts import XDP_LINUX, XDP_NATIVE, XDP_WINDOWS, CtxField, CtxLayout

__all__ = ["XDP_LINUX", "XDP_NATIVE", "XDP_WINDOWS", "CtxField", "CtxLayout"]
