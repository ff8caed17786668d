"""libbpf-compat: run unmodified eBPF objects without a kernel."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from libbpf_compat.errors import LibbpfError
from libbpf_compat.helpers.host import register_helper, unregister_helper

if TYPE_CHECKING:
    from libbpf_compat.hooks.contexts import CtxField, CtxLayout
    from libbpf_compat.hooks.registry import register_program_type
    from libbpf_compat.verify import verify_object

__version__ = "0.1.0"

#: Names imported on first use (they load the native extension).
_LAZY = {
    "register_program_type": "libbpf_compat.hooks.registry",
    "CtxField": "libbpf_compat.hooks.contexts",
    "CtxLayout": "libbpf_compat.hooks.contexts",
    "verify_object": "libbpf_compat.verify",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'libbpf_compat' has no attribute {name!r}")


__all__ = ["CtxField", "CtxLayout", "LibbpfError", "__version__", "register_helper",
           "register_program_type", "unregister_helper", "verify_object"]
