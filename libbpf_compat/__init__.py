"""libbpf-compat: run unmodified eBPF objects without a kernel."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from libbpf_compat.errors import LibbpfError

if TYPE_CHECKING:
    from libbpf_compat.verify import verify_object

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """``verify_object`` is imported on first use (it needs the whole loader)."""
    if name == "verify_object":
        from libbpf_compat.verify import verify_object

        return verify_object
    raise AttributeError(f"module 'libbpf_compat' has no attribute {name!r}")


__all__ = ["LibbpfError", "__version__", "verify_object"]
