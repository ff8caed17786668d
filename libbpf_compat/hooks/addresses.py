"""Addresses the hooks take, parsed once: :func:`ip_address` is
``ipaddress.ip_address`` with a cache (the address objects are immutable),
since a host invokes a hook with the same few addresses over and over."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@lru_cache(maxsize=4096)
def _parse(value: str | int | bytes) -> IpAddress:
    return ipaddress.ip_address(value)


def _with_packed(addr: IpAddress) -> tuple[IpAddress, bytes, int]:
    return addr, addr.packed.ljust(16, b"\0"), addr.version


@lru_cache(maxsize=4096)
def _parse_packed(value: str) -> tuple[IpAddress, bytes, int]:
    return _with_packed(ipaddress.ip_address(value))


def ip_address_packed(value: object) -> tuple[IpAddress, bytes, int]:
    """``value`` parsed, its network-order bytes zero-padded to 16 (what
    the socket contexts hold) and its version; ValueError for a bad address."""
    if type(value) is str:
        return _parse_packed(value)
    return _with_packed(ip_address(value))


def ip_address(value: object) -> IpAddress:
    """``ipaddress.ip_address(value)`` (ValueError for a bad address)."""
    if type(value) is ipaddress.IPv4Address or type(value) is ipaddress.IPv6Address:
        return value
    if type(value) is str:
        return _parse(value)
    return ipaddress.ip_address(value)  # type: ignore[arg-type]


__all__ = ["IpAddress", "ip_address", "ip_address_packed"]
