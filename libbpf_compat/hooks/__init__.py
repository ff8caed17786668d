"""Program types and hooks: context layouts (and, with the runtime, hook
objects)."""

from __future__ import annotations

from libbpf_compat.hooks.contexts import XDP_LINUX, XDP_NATIVE, XDP_WINDOWS, CtxField, CtxLayout

__all__ = ["XDP_LINUX", "XDP_NATIVE", "XDP_WINDOWS", "CtxField", "CtxLayout"]
