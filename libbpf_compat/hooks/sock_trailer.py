"""What the socket hooks (sock_addr, sock_ops) place after their native
context for the socket helpers: ``lbc_sock_trailer`` (native/lbc_runtime.h)
at ``LBC_SOCK_TRAILER_OFFSET`` -- the socket's cookie
(``bpf_get_socket_cookie``) and room for the redirect context an
eBPF-for-Windows connect program sets
(``bpf_sock_addr_set_redirect_context``), the connection's flow id
(``bpf_sock_ops_get_flow_id``) and the network context of the request
(``bpf_sock_addr_get_network_context``).

A host that tracks sockets passes each socket's cookie with its events (a
cookie is a non-zero 64-bit number, stable for the socket's life, as
Linux's); without one, each request stands for a new socket and gets the
next cookie of a process-wide counter.
"""

from __future__ import annotations

import errno
import itertools
import struct
from dataclasses import dataclass
from typing import Any

from libbpf_compat._native import ffi, lib
from libbpf_compat.errors import LibbpfError

TRAILER_OFFSET: int = lib.LBC_SOCK_TRAILER_OFFSET
REDIRECT_CONTEXT_MAX: int = lib.LBC_REDIRECT_CONTEXT_MAX
#: cookie, magic, redirect_room, redirect_size (the context bytes follow)
_HEAD = struct.Struct("<QQII")
_SIZE = ffi.sizeof("lbc_sock_trailer")
#: flow_id, net_ctx_valid, interface_type, tunnel_type, sub_interface_index,
#: next_hop_interface_luid
_TAIL = struct.Struct("<QIIIIQ")
_TAIL_AT = TRAILER_OFFSET + ffi.offsetof("lbc_sock_trailer", "flow_id")
#: what a network-context field holds where the layer cannot tell it
NOT_AVAILABLE_32 = 0xFFFF_FFFF
NOT_AVAILABLE_64 = 0xFFFF_FFFF_FFFF_FFFF
#: IANA ifType of an Ethernet interface (ethernetCsmacd)
IF_TYPE_ETHERNET_CSMACD = 6


@dataclass(frozen=True)
class NetworkContext:
    """What ``bpf_sock_addr_get_network_context`` tells a program: the
    IANA interface type, the IANA tunnel type (0: no tunnel), the next-hop
    interface's LUID (None: the request's interface) and the sub-interface
    index. eBPF for Windows fills them where the layer knows them:
    connect_authorization all four, recv_accept all but the next hop, bind
    the two types; the others hold all ones."""

    interface_type: int = IF_TYPE_ETHERNET_CSMACD
    tunnel_type: int = 0
    next_hop_interface_luid: int | None = None
    sub_interface_index: int = 0

    def checked(self, what: str) -> NetworkContext:
        for name, bits in (("interface_type", 32), ("tunnel_type", 32),
                           ("next_hop_interface_luid", 64), ("sub_interface_index", 32)):
            value = getattr(self, name)
            if value is None and name == "next_hop_interface_luid":
                continue
            if type(value) is not int or not 0 <= value < 1 << bits:
                raise LibbpfError(errno.EINVAL, f"{what}: invalid network context "
                                                f"{name} {value!r}")
        return self


_cookies = itertools.count(1)


def next_cookie() -> int:
    """A cookie no other socket of this process was given (the counter's
    next() is one atomic step)."""
    return next(_cookies)


def checked_cookie(cookie: int | None, what: str) -> int:
    """The host's cookie checked, or a new one."""
    if cookie is None:
        return next(_cookies)
    if type(cookie) is not int or not 0 < cookie < 1 << 64:
        raise LibbpfError(errno.EINVAL, f"{what}: invalid socket cookie {cookie!r}")
    return cookie


def with_trailer(native_ctx: bytes, cookie: int, redirect_room: int = 0, *,
                 flow_id: int = 0,
                 network: tuple[int, int, int, int] | None = None) -> bytearray:
    """The native context followed (at TRAILER_OFFSET) by the trailer;
    ``network`` is the network context a program may read (interface type,
    tunnel type, sub-interface index, next-hop LUID), None for none."""
    assert len(native_ctx) <= TRAILER_OFFSET
    out = bytearray(TRAILER_OFFSET + _SIZE)
    out[:len(native_ctx)] = native_ctx
    _HEAD.pack_into(out, TRAILER_OFFSET, cookie, lib.LBC_SOCK_CTX_MAGIC,
                    min(redirect_room, REDIRECT_CONTEXT_MAX), 0)
    _TAIL.pack_into(out, _TAIL_AT, flow_id, network is not None, *(network or (0, 0, 0, 0)))
    return out


#: the whole context a socket hook runs on: native context and trailer
CTX_WITH_TRAILER = TRAILER_OFFSET + _SIZE
_MAGIC: int = lib.LBC_SOCK_CTX_MAGIC


def with_trailer_struct(native: struct.Struct) -> struct.Struct:
    """A Struct packing the whole context a socket hook runs on in one
    call: ``native``'s fields, then the trailer's cookie, magic,
    redirect_room and redirect_size, then its flow_id, net_ctx_valid and
    network context (interface type, tunnel type, sub-interface index,
    next-hop LUID); every other byte zero -- what :func:`with_trailer` builds."""
    assert native.format.startswith("<") and native.size <= TRAILER_OFFSET
    out = struct.Struct(f"{native.format}{TRAILER_OFFSET - native.size}x{_HEAD.format[1:]}"
                        f"{_TAIL_AT - TRAILER_OFFSET - _HEAD.size}x{_TAIL.format[1:]}"
                        f"{CTX_WITH_TRAILER - _TAIL_AT - _TAIL.size}x")
    assert out.size == CTX_WITH_TRAILER
    return out


#: the trailer's magic, for packing with a with_trailer_struct()
TRAILER_MAGIC = _MAGIC


def redirect_context(ctx: Any) -> bytes | None:
    """The redirect context a program set in ``ctx``, None when none."""
    size = _HEAD.unpack_from(ctx, TRAILER_OFFSET)[3]
    if not size:
        return None
    start = TRAILER_OFFSET + _HEAD.size
    return bytes(ctx[start:start + min(size, REDIRECT_CONTEXT_MAX)])


__all__ = [
    "CTX_WITH_TRAILER",
    "IF_TYPE_ETHERNET_CSMACD",
    "NOT_AVAILABLE_32",
    "NOT_AVAILABLE_64",
    "REDIRECT_CONTEXT_MAX",
    "TRAILER_MAGIC",
    "TRAILER_OFFSET",
    "NetworkContext",
    "checked_cookie",
    "next_cookie",
    "redirect_context",
    "with_trailer",
    "with_trailer_struct",
]
