"""The two platform ABIs (Linux, eBPF for Windows) and their translation to
the internal one, which numbers everything as Linux does."""

from __future__ import annotations

from libbpf_compat.abi.translate import (
    ABIS,
    Abi,
    check_abi,
    internal_attach_type,
    internal_helper,
    internal_map_flags,
    internal_map_type,
    internal_prog_type,
)

__all__ = [
    "ABIS",
    "Abi",
    "check_abi",
    "internal_attach_type",
    "internal_helper",
    "internal_map_flags",
    "internal_map_type",
    "internal_prog_type",
]
