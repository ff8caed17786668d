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
from typing import NamedTuple

from libbpf_compat.abi import windows as windows_abi
from libbpf_compat.errors import LibbpfError
from libbpf_compat.hooks.addresses import ip_address_packed
from libbpf_compat.hooks.chain import ProgramChain
from libbpf_compat.hooks.fast_run import FastRunner
from libbpf_compat.hooks.fast_run import new_result as _new

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


class BindResult(NamedTuple):
    """One request through the hook: the normalised verdict, the address
    and port after the programs (the redirect target for REDIRECT), and each
    program's raw return value in run order."""

    verdict: BindVerdict
    address: ipaddress.IPv4Address
    port: int
    retvals: tuple[int, ...] = ()


_OPERATIONS = frozenset(BindOperation)
_BIND = BindOperation.BIND
_PERMIT, _DENY, _REDIRECT = BindVerdict.PERMIT, BindVerdict.DENY, BindVerdict.REDIRECT
#: NATIVE_BIND_CTX with the sockaddr_in's fields apart: family, port (in
#: network order, as a little-endian u16), address
_CTX = struct.Struct("<QQQHH4s8xB3xIB7x")
assert _CTX.size == NATIVE_BIND_CTX.size
_CTX_PACK = _CTX.pack_into
_RAW_PACK = NATIVE_BIND_CTX.pack_into
_RAW_UNPACK = NATIVE_BIND_CTX.unpack_from
_CTX_SIZE = NATIVE_BIND_CTX.size
_SOCKADDR_LEN = 16
_ACTIONS_GET = BIND_ACTIONS.get


class BindHook(ProgramChain):
    """The bind hook; the host calls :meth:`bind` (or :meth:`request`)."""

    hook_name = "bind"
    prog_type = windows_abi.INTERNAL_PROG_BIND

    def __init__(self) -> None:
        super().__init__()
        self._runner = FastRunner(_CTX_SIZE, MAX_APP_ID)

    def request(self, process_id: int, address: str | ipaddress.IPv4Address, port: int, *,
                protocol: int = IPPROTO_TCP, operation: int = BindOperation.BIND,
                app_id: bytes | bytearray | memoryview = b"") -> BindResult:
        """Run the programs on a request of process ``process_id`` to bind
        ``address:port`` (IPv4, held as a sockaddr_in)."""
        return self._request(process_id, address, port, protocol, operation, app_id)

    def _request(self, process_id: int, address: str | ipaddress.IPv4Address, port: int,
                 protocol: int, operation: int,
                 app_id: bytes | bytearray | memoryview) -> BindResult:
        try:
            parsed, packed, version = ip_address_packed(address)
        except ValueError as exc:
            raise LibbpfError(errno.EINVAL, f"bind: invalid address {address!r}") from exc
        addr: ipaddress.IPv4Address = parsed  # type: ignore[assignment]  # (version 4)
        if version != 4:
            raise LibbpfError(errno.EAFNOSUPPORT, f"bind: {addr}: the bind context holds a "
                                                  "16-byte sockaddr_in, IPv4 only")
        if type(port) is not int or not 0 <= port <= 0xFFFF:
            raise LibbpfError(errno.EINVAL, f"bind: invalid port {port!r}")
        if type(process_id) is not int or not 0 <= process_id < 1 << 64:
            raise LibbpfError(errno.EINVAL, f"bind: invalid process id {process_id!r}")
        if protocol != IPPROTO_TCP and protocol != IPPROTO_UDP:
            raise LibbpfError(errno.EPROTONOSUPPORT, f"bind: protocol {protocol!r} "
                                                     "(TCP 6 or UDP 17)")
        if operation not in _OPERATIONS:
            raise LibbpfError(errno.EINVAL, f"bind: invalid operation {operation!r}")
        if len(app_id) > MAX_APP_ID:
            raise LibbpfError(errno.E2BIG, f"bind: an app id of {len(app_id)} bytes (the hook "
                                           f"takes {MAX_APP_ID} at most)")
        chain = self._chain[:]
        if not chain:
            return BindResult(_PERMIT, addr, port)
        size = len(app_id)
        nbo_port = (port & 0xFF) << 8 | port >> 8
        address4 = packed[:4]
        retvals: list[int] = []
        verdict = _PERMIT
        redirected: bytes | None = None  # the sockaddr_in a redirect left
        slot = self._runner.slot()
        try:
            buf = slot.ctx_buf
            start = slot.data_addr
            if size:
                slot.data_buf[0:size] = app_id
            if size != slot.data_len:
                slot.set_data_len(size)
            for att in chain:
                if redirected is None:
                    _CTX_PACK(buf, 0, start, start + size, process_id, AF_INET, nbo_port,
                              address4, _SOCKADDR_LEN, operation, protocol)
                else:
                    _RAW_PACK(buf, 0, start, start + size, process_id, redirected,
                              _SOCKADDR_LEN, operation, protocol)
                retval = slot.run(att.vm, _CTX_SIZE) & 0xFFFFFFFF
                retvals.append(retval)
                verdict = _ACTIONS_GET(retval, _DENY)
                if verdict is _DENY:
                    break
                if verdict is _REDIRECT:
                    redirected = _RAW_UNPACK(buf)[3]
                if retval == _PERMIT_HARD:
                    break
        finally:
            slot.busy = False
        if redirected is None:
            return _new(BindResult, (verdict, addr, port, tuple(retvals)))
        if verdict is not _DENY:
            verdict = _REDIRECT
        return BindResult(verdict, ipaddress.IPv4Address(redirected[4:8]),
                          int.from_bytes(redirected[2:4], "big"), tuple(retvals))

    def bind(self, process_id: int, address: str | ipaddress.IPv4Address, port: int, *,
             protocol: int = IPPROTO_TCP,
             app_id: bytes | bytearray | memoryview = b"") -> BindResult:
        """Process ``process_id`` binds ``address:port``."""
        return self._request(process_id, address, port, protocol, _BIND, app_id)

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
