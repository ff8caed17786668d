"""libbpf-compat: run unmodified eBPF objects without a kernel."""

from __future__ import annotations

from libbpf_compat.errors import LibbpfError
from libbpf_compat.helpers.host import register_helper, unregister_helper

__version__ = "0.1.0"

__all__ = ["LibbpfError", "__version__", "register_helper", "unregister_helper"]
