"""The bind hook (eBPF for Windows' BIND program type): bind, post-bind
and unbind requests a host makes for a process.

Any number of programs attach (in attach order) and each sees the request
in the native bind context (:data:`~libbpf_compat.hooks.contexts.BIND_NATIVE`,
the layout of Windows' ``bind_md_t``): ``app_id_start`` / ``app_id_end``
bound the application id the host gives (a read-only region, like a
packet), ``socket_address`` holds a ``sockaddr_in`` (family 2, network-order
port and address, 16 bytes). Verdicts are normalised (:class:`BindVerdict`):
PERMIT_SOFT 0 and PERMIT_HARD 3 permit, DENY 1 denies, REDIRECT 2 redirects
to the socket address the program wrote; any other value denies. A deny
stops the run, as does PERMIT_HARD (final); after a REDIRECT the next
programs see the redirected address, and the request ends REDIRECT unless
a later program denies it.
"""

from __future__ import annotations

import enum
import errno
import ipaddress
import struct
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from libbpf_compat._native import ffi
from libbpf_compat.abi import windows as windows_abi
from libbpf_compat.errors import LibbpfError
from libbpf_compat.hooks.chain import ProgramChain

#: The native context (BIND_NATIVE): app_id_start, app_id_end, process_id,
#: socket_address, socket_address_length, operation, protocol.
NATIVE_BIND_CTX = struct.Struct("<QQQ16sB3xIB7x")
#: The largest application id the hook takes.
MAX_APP_ID = 4096
AF_INET = 2
IPPROTO_TCP = 6
IPPROTO_UDP = 17


class BindOperation(enum.IntEnum):
    BIND = 0
    POST_BIND = 1
    UNBIND = 2


class BindVerdict(enum.IntEnum):
    """What happens to the bind, whatever the program said."""

    PERMIT = 0
    DENY = 1
    REDIRECT = 2


#: Windows bind_action_t (ABI.md) -> verdict.
BIND_ACTIONS: Mapping[int, BindVerdict] = {
    0: BindVerdict.PERMIT,   # BIND_PERMIT_SOFT
    1: BindVerdict.DENY,     # BIND_DENY
    2: BindVerdict.REDIRECT,  # BIND_REDIRECT
    3: BindVerdict.PERMIT,   # BIND_PERMIT_HARD
}
_PERMIT_HARD = 3


def normalise_verdict(retval: int) -> BindVerdict:
    """What a bind program means by ``retval``; unknown values deny."""
    return BIND_ACTIONS.get(retval & 0xFFFFFFFF, BindVerdict.DENY)


@dataclass(frozen=True)
class BindResult:
    """One request through the hook: the normalised verdict, the address
    and port after the programs (the redirect target for REDIRECT), and each
    program's raw return value in run order."""

    verdict: BindVerdict
    address: ipaddress.IPv4Address
    port: int
    retvals: tuple[int, ...] = ()


def _sockaddr_in(address: ipaddress.IPv4Address, port: int) -> bytes:
    return struct.pack("<H", AF_INET) + port.to_bytes(2, "big") + address.packed + bytes(8)


class BindHook(ProgramChain):
    """The bind hook; the host calls :meth:`bind` (or :meth:`request`)."""

    hook_name = "bind"
    prog_type = windows_abi.INTERNAL_PROG_BIND

    def request(self, process_id: int, address: str | ipaddress.IPv4Address, port: int, *,
                protocol: int = IPPROTO_TCP, operation: int = BindOperation.BIND,
                app_id: bytes | bytearray | memoryview = b"") -> BindResult:
        """Run the programs on a request of process ``process_id`` to bind
        ``address:port`` (IPv4, held as a sockaddr_in)."""
        try:
            addr = ipaddress.ip_address(address)
        except ValueError as exc:
            raise LibbpfError(errno.EINVAL, f"bind: invalid address {address!r}") from exc
        if not isinstance(addr, ipaddress.IPv4Address):
            raise LibbpfError(errno.EAFNOSUPPORT, f"bind: {addr}: the bind context holds a "
                                                  "16-byte sockaddr_in, IPv4 only")
        if type(port) is not int or not 0 <= port <= 0xFFFF:
            raise LibbpfError(errno.EINVAL, f"bind: invalid port {port!r}")
        if type(process_id) is not int or not 0 <= process_id < 1 << 64:
            raise LibbpfError(errno.EINVAL, f"bind: invalid process id {process_id!r}")
        if protocol not in (IPPROTO_TCP, IPPROTO_UDP):
            raise LibbpfError(errno.EPROTONOSUPPORT, f"bind: protocol {protocol!r} "
                                                     "(TCP 6 or UDP 17)")
        if operation not in set(BindOperation):
            raise LibbpfError(errno.EINVAL, f"bind: invalid operation {operation!r}")
        if len(app_id) > MAX_APP_ID:
            raise LibbpfError(errno.E2BIG, f"bind: an app id of {len(app_id)} bytes (the hook "
                                           f"takes {MAX_APP_ID} at most)")
        sockaddr = _sockaddr_in(addr, port)
        retvals: list[int] = []
        verdict = BindVerdict.PERMIT
        redirected = False
        region = bytearray(app_id) or bytearray(1)  # an empty id still needs an address
        view = memoryview(region)
        try:
            with ffi.from_buffer("uint8_t[]", region) as cbuf:
                start = int(ffi.cast("uintptr_t", cbuf))
                for att in self.attached_chain():
                    ctx = bytearray(NATIVE_BIND_CTX.pack(start, start + len(app_id), process_id,
                                                         sockaddr, len(sockaddr), int(operation),
                                                         protocol))
                    retval = att.vm.run_repeat(ctx, 1, regions=[(view, False)]).retval
                    retval &= 0xFFFFFFFF
                    retvals.append(retval)
                    verdict = normalise_verdict(retval)
                    if verdict == BindVerdict.DENY:
                        break
                    if verdict == BindVerdict.REDIRECT:
                        sockaddr = bytes(NATIVE_BIND_CTX.unpack(ctx)[3])
                        redirected = True
                    if retval == _PERMIT_HARD:
                        break
        finally:
            view.release()
        if redirected and verdict != BindVerdict.DENY:
            verdict = BindVerdict.REDIRECT
        out_addr = ipaddress.IPv4Address(sockaddr[4:8])
        return BindResult(verdict, out_addr, int.from_bytes(sockaddr[2:4], "big"),
                          tuple(retvals))

    def bind(self, process_id: int, address: str | ipaddress.IPv4Address, port: int, *,
             protocol: int = IPPROTO_TCP,
             app_id: bytes | bytearray | memoryview = b"") -> BindResult:
        """Process ``process_id`` binds ``address:port``."""
        return self.request(process_id, address, port, protocol=protocol,
                            operation=BindOperation.BIND, app_id=app_id)

    def post_bind(self, process_id: int, address: str | ipaddress.IPv4Address, port: int, *,
                  protocol: int = IPPROTO_TCP,
                  app_id: bytes | bytearray | memoryview = b"") -> BindResult:
        return self.request(process_id, address, port, protocol=protocol,
                            operation=BindOperation.POST_BIND, app_id=app_id)

    def unbind(self, process_id: int, address: str | ipaddress.IPv4Address, port: int, *,
               protocol: int = IPPROTO_TCP,
               app_id: bytes | bytearray | memoryview = b"") -> BindResult:
        return self.request(process_id, address, port, protocol=protocol,
                            operation=BindOperation.UNBIND, app_id=app_id)


_default_hook: BindHook | None = None
_default_lock = threading.Lock()


def default_hook() -> BindHook:
    """The process-wide bind hook the libbpf-style calls attach to."""
    global _default_hook
    with _default_lock:
        if _default_hook is None:
            _default_hook = BindHook()
        return _default_hook


__all__ = [
    "BIND_ACTIONS",
    "MAX_APP_ID",
    "NATIVE_BIND_CTX",
    "BindHook",
    "BindOperation",
    "BindResult",
    "BindVerdict",
    "default_hook",
    "normalise_verdict",
]
