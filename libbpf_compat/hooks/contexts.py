"""Hook context layouts: what a program of each ABI sees as its context,
and the native context the runtime builds for the hook. A program's context
loads are rewritten at load from its ABI's layout to the native one (as the
Linux kernel rewrites ``struct xdp_md`` loads into pointer loads)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from libbpf_compat.btf import Btf

#: Raw BTF of the internal ABI's hook context types (context_types.c).
CONTEXT_TYPES_BTF = Path(__file__).with_name("context_types.btf")


@cache
def context_types_btf() -> Btf:
    """The BTF of the hook context types: the default CO-RE target."""
    return Btf.from_file(CONTEXT_TYPES_BTF)


@dataclass(frozen=True)
class CtxField:
    """One field of a context layout. ``pointer`` fields hold addresses
    (the native layout stores them as 64-bit values)."""

    name: str
    offset: int
    size: int
    pointer: bool = False
    writable: bool = False


@dataclass(frozen=True)
class CtxLayout:
    name: str
    size: int
    fields: tuple[CtxField, ...]

    def field(self, name: str) -> CtxField:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    def field_at(self, offset: int, size: int) -> tuple[CtxField, int] | None:
        """The field an access of ``size`` bytes at ``offset`` falls in, and
        the offset within it; None when it straddles fields or hits padding."""
        for f in self.fields:
            if f.offset <= offset and offset + size <= f.offset + f.size:
                return f, offset - f.offset
        return None


#: The native XDP context the runtime builds: the eBPF-for-Windows layout
#: (pointers first), extended with Linux's queue fields.
XDP_NATIVE = CtxLayout("lbc_xdp_ctx", 40, (
    CtxField("data", 0, 8, pointer=True),
    CtxField("data_end", 8, 8, pointer=True),
    CtxField("data_meta", 16, 8, pointer=True),
    CtxField("ingress_ifindex", 24, 4),
    CtxField("rx_queue_index", 28, 4),
    CtxField("egress_ifindex", 32, 4),
))

#: Linux ``struct xdp_md``: 32-bit fields the kernel turns into pointers.
XDP_LINUX = CtxLayout("struct xdp_md", 24, (
    CtxField("data", 0, 4, pointer=True),
    CtxField("data_end", 4, 4, pointer=True),
    CtxField("data_meta", 8, 4, pointer=True),
    CtxField("ingress_ifindex", 12, 4),
    CtxField("rx_queue_index", 16, 4),
    CtxField("egress_ifindex", 20, 4),
))

#: eBPF for Windows ``xdp_md_t`` (ABI.md): already the native layout's prefix.
XDP_WINDOWS = CtxLayout("xdp_md_t", 32, (
    CtxField("data", 0, 8, pointer=True),
    CtxField("data_end", 8, 8, pointer=True),
    CtxField("data_meta", 16, 8, pointer=True),
    CtxField("ingress_ifindex", 24, 4),
))
