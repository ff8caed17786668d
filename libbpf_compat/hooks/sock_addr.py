"""The sock_addr hooks (CGROUP_SOCK_ADDR): connect, recv_accept, bind,
listen, connect_authorization, sendmsg and recvmsg requests a host makes.

Each attach type is one attach point holding any number of programs, run in
attach order as Linux runs a cgroup's effective programs: a program sees the
address the previous one left, a reject stops the run. A program attached
for a cgroup (``bpf_program__attach_cgroup``; any int names a cgroup) runs
for requests of that cgroup; one attached Windows style (no cgroup) runs for
every request. Requests with ``cgroup=None`` run every program.

The context is :data:`~libbpf_compat.hooks.contexts.SOCK_ADDR_NATIVE`, which
both ABIs' accesses are rewritten to; the family fields hold the address
family in the program's ABI numbering (AF_INET 2 on both, AF_INET6 10 on
Linux and 23 on Windows). Verdicts are normalised (:class:`SockAddrVerdict`):
Linux 1 and Windows PROCEED_SOFT 1 / PROCEED_HARD 2 allow, 0 rejects on
both; any other value rejects. Windows PROCEED_HARD is final: the programs
after it do not run. The result carries the address and port as the
programs left them (Linux connect4 programs rewrite user_ip4/user_port).
"""

from __future__ import annotations

import enum
import errno
import ipaddress
import struct
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from libbpf_compat.abi import windows as windows_abi
from libbpf_compat.errors import LibbpfError
from libbpf_compat.hooks.addresses import ip_address_packed
from libbpf_compat.hooks.chain import Attachment, ProgramChain
from libbpf_compat.hooks.fast_run import FastRunner
from libbpf_compat.hooks.fast_run import new_result as _new
from libbpf_compat.hooks.sock_trailer import (
    CTX_WITH_TRAILER,
    NOT_AVAILABLE_32,
    NOT_AVAILABLE_64,
    REDIRECT_CONTEXT_MAX,
    TRAILER_MAGIC,
    TRAILER_OFFSET,
    NetworkContext,
    checked_cookie,
    next_cookie,
    redirect_context,
    with_trailer_struct,
)
from libbpf_compat.hooks.xdp import XdpProgram
from libbpf_compat.uapi import BpfAttachType, BpfProgType

A = BpfAttachType
_W = windows_abi.WINDOWS_ONLY_BASE

#: The native context (SOCK_ADDR_NATIVE): user_family, family, user_ip6
#: (user_ip4 its first word), user_port, type, protocol, msg_src_ip6,
#: msg_src_port, compartment_id, interface_luid.
NATIVE_SOCK_ADDR_CTX = struct.Struct("<II16sIII16sII4xQ")

IPPROTO_TCP = 6
IPPROTO_UDP = 17
SOCK_STREAM = 1
SOCK_DGRAM = 2

#: Address family numbers per ABI (Windows AF_INET6 is 23).
AF_NUMBERS: Mapping[str, Mapping[int, int]] = {
    "linux": {4: 2, 6: 10},
    "windows": {4: 2, 6: 23},
}


class SockAddrVerdict(enum.IntEnum):
    """The request's fate whatever the programs' ABI (Linux numbering)."""

    REJECT = 0
    ALLOW = 1


#: A program's return value -> verdict, per ABI (ABI.md).
ABI_VERDICTS: Mapping[str, Mapping[int, SockAddrVerdict]] = {
    "linux": {0: SockAddrVerdict.REJECT, 1: SockAddrVerdict.ALLOW},
    "windows": {0: SockAddrVerdict.REJECT, 1: SockAddrVerdict.ALLOW, 2: SockAddrVerdict.ALLOW},
}
_WINDOWS_PROCEED_HARD = 2


def normalise_verdict(abi: str, retval: int) -> SockAddrVerdict:
    """What a ``abi`` program means by ``retval``; unknown values reject."""
    table = ABI_VERDICTS.get(abi)
    if table is None:
        raise LibbpfError(errno.EINVAL, f"unknown ABI {abi!r}")
    return table.get(retval & 0xFFFFFFFF, SockAddrVerdict.REJECT)


@dataclass(frozen=True)
class _Point:
    name: str
    version: int  # 4 or 6
    sock_type: int | None  # None: the caller's protocol decides
    #: the redirect context room (Windows redirects connections at connect)
    redirect_room: int = 0


#: The attach points: internal attach type -> what it is.
ATTACH_POINTS: Mapping[int, _Point] = {
    A.BPF_CGROUP_INET4_CONNECT: _Point("connect4", 4, None, REDIRECT_CONTEXT_MAX),
    A.BPF_CGROUP_INET6_CONNECT: _Point("connect6", 6, None, REDIRECT_CONTEXT_MAX),
    A.BPF_CGROUP_INET4_BIND: _Point("bind4", 4, None),
    A.BPF_CGROUP_INET6_BIND: _Point("bind6", 6, None),
    A.BPF_CGROUP_UDP4_SENDMSG: _Point("sendmsg4", 4, SOCK_DGRAM),
    A.BPF_CGROUP_UDP6_SENDMSG: _Point("sendmsg6", 6, SOCK_DGRAM),
    A.BPF_CGROUP_UDP4_RECVMSG: _Point("recvmsg4", 4, SOCK_DGRAM),
    A.BPF_CGROUP_UDP6_RECVMSG: _Point("recvmsg6", 6, SOCK_DGRAM),
    _W + 5: _Point("recv_accept4", 4, None),
    _W + 6: _Point("recv_accept6", 6, None),
    _W + 12: _Point("connect_authorization4", 4, None),
    _W + 13: _Point("connect_authorization6", 6, None),
    _W + 16: _Point("listen4", 4, None),
    _W + 17: _Point("listen6", 6, None),
}
_BY_NAME = {p.name: t for t, p in ATTACH_POINTS.items()}
#: (base name: connect, bind, …; IP version) -> the attach type
_KINDS = {(name[:-1], int(name[-1])): int(t) for name, t in _BY_NAME.items()}

#: The network-context fields each attach point knows, as eBPF for Windows
#: fills them (interface type, tunnel type, sub-interface index, next hop);
#: a point not listed offers none (bpf_sock_addr_get_network_context fails).
_NETWORK_FIELDS: Mapping[str, tuple[bool, bool, bool, bool]] = {
    "connect_authorization4": (True, True, True, True),
    "connect_authorization6": (True, True, True, True),
    "recv_accept4": (True, True, True, False),
    "recv_accept6": (True, True, True, False),
    "bind4": (True, True, False, False),
    "bind6": (True, True, False, False),
}


def _network_fields(known: tuple[bool, bool, bool, bool], net: NetworkContext,
                    interface_luid: int) -> tuple[int, int, int, int, int]:
    """What the trailer holds for a request at a point that knows the
    ``known`` fields: net_ctx_valid 1, then the known fields, all ones for
    the others (interface type, tunnel type, sub-interface index, next hop)."""
    next_hop = (interface_luid if net.next_hop_interface_luid is None
                else net.next_hop_interface_luid)
    return (1, net.interface_type if known[0] else NOT_AVAILABLE_32,
            net.tunnel_type if known[1] else NOT_AVAILABLE_32,
            net.sub_interface_index if known[2] else NOT_AVAILABLE_32,
            next_hop & NOT_AVAILABLE_64 if known[3] else NOT_AVAILABLE_64)


#: the trailer's network fields where a point offers no network context
_NO_NETWORK = (0, 0, 0, 0, 0)
_DEFAULT_NETWORK = NetworkContext()

Address = str | ipaddress.IPv4Address | ipaddress.IPv6Address


class SockAddrResult(NamedTuple):
    """One request through an attach point: the normalised verdict, the
    destination (user) address and port as the programs left them, whether
    they changed, and each program's raw return value in run order."""

    verdict: SockAddrVerdict
    address: ipaddress.IPv4Address | ipaddress.IPv6Address
    port: int
    rewritten: bool
    retvals: tuple[int, ...] = ()
    #: the socket's cookie (bpf_get_socket_cookie)
    socket_cookie: int = 0
    #: what a Windows connect program set with bpf_sock_addr_set_redirect_context
    redirect_context: bytes | None = None

    @property
    def allowed(self) -> bool:
        return self.verdict == SockAddrVerdict.ALLOW


IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _point_name(attach_type: int) -> str:
    point = ATTACH_POINTS.get(attach_type)
    return point.name if point is not None else f"attach type {attach_type}"


_CTX_PACK = with_trailer_struct(NATIVE_SOCK_ADDR_CTX).pack_into
#: user_ip6 (user_ip4 its first word) and user_port, after the family fields
_USER_UNPACK = struct.Struct("<16sI").unpack_from
_USER_AT = 8
#: the trailer's redirect_size (cookie, magic, redirect_room before it)
_REDIRECT_SIZE = struct.Struct("<I").unpack_from
_REDIRECT_SIZE_AT = TRAILER_OFFSET + 20
_LINUX_AF = AF_NUMBERS["linux"]
_NO_ADDRESS = bytes(16)
_REJECT = SockAddrVerdict.REJECT


def _address(value: Address, version: int, what: str) -> tuple[IpAddress, bytes]:
    """The address, and its bytes as the context holds them."""
    try:
        addr, packed, got = ip_address_packed(value)
    except ValueError as exc:
        raise LibbpfError(errno.EINVAL, f"sock_addr: invalid {what} {value!r}") from exc
    if got != version:
        raise LibbpfError(errno.EAFNOSUPPORT, f"sock_addr: {what} {addr} is not an "
                                              f"IPv{version} address")
    return addr, packed


def _port(value: int, what: str) -> int:
    if type(value) is not int or not 0 <= value <= 0xFFFF:
        raise LibbpfError(errno.EINVAL, f"sock_addr: invalid {what} {value!r}")
    return value


def _port_field(port: int) -> int:
    """A port as the context holds it: the network-order u16, zero-extended."""
    return (port & 0xFF) << 8 | port >> 8


class SockAddrHook:
    """The sock_addr attach points; the host calls :meth:`connect`,
    :meth:`bind`, :meth:`recv_accept` … (or :meth:`request`)."""

    def __init__(self) -> None:
        self._points: dict[int, ProgramChain] = {}
        self._lock = threading.Lock()
        self._runner = FastRunner(CTX_WITH_TRAILER)

    def __repr__(self) -> str:
        n = sum(len(c.attached()) for c in self._points.values())
        return f"<SockAddrHook {n} programs attached>"

    @staticmethod
    def attach_type_of(name_or_type: int | str) -> int:
        """The internal attach type for an attach point name ("connect4")
        or number; EINVAL for anything that is not a sock_addr point."""
        if isinstance(name_or_type, str):
            if name_or_type not in _BY_NAME:
                raise LibbpfError(errno.EINVAL, f"sock_addr: no attach point {name_or_type!r}")
            return _BY_NAME[name_or_type]
        if name_or_type not in ATTACH_POINTS:
            raise LibbpfError(errno.EINVAL, f"sock_addr: attach type {name_or_type!r} is not a "
                                            "sock_addr attach point")
        return int(name_or_type)

    def _point(self, kind: int) -> ProgramChain:
        """The attach point's chain (made on first use)."""
        with self._lock:
            chain = self._points.get(kind)
            if chain is None:
                chain = self._points[kind] = ProgramChain()
                chain.hook_name = f"sock_addr {ATTACH_POINTS[kind].name}"
                chain.prog_type = BpfProgType.BPF_PROG_TYPE_CGROUP_SOCK_ADDR
            return chain

    def attach(self, prog: XdpProgram, attach_type: int | str | None = None, *,
               cgroup: int | None = None, owner: object | None = None) -> int:
        """Attach ``prog`` at the end of its attach point's list (the
        program's expected attach type unless ``attach_type`` names one,
        which must then agree with it). Returns the attach type."""
        if prog.prog_type != BpfProgType.BPF_PROG_TYPE_CGROUP_SOCK_ADDR:
            raise LibbpfError(errno.EINVAL, f"sock_addr: program {prog.name!r} is not a "
                                            f"sock_addr program (type {prog.prog_type})")
        expected = prog.expected_attach_type
        kind = self.attach_type_of(expected if attach_type is None else attach_type)
        if expected and expected != kind:
            raise LibbpfError(errno.EINVAL, f"sock_addr: program {prog.name!r} was built for "
                                            f"{_point_name(expected)}, not {_point_name(kind)}")
        self._point(kind).attach(prog, owner=owner, cgroup=cgroup)
        return kind

    def detach(self, prog: XdpProgram, attach_type: int | str, *, cgroup: int | None = None,
               owner: object | None = None) -> bool:
        """Detach ``prog`` (attached by ``owner``, for ``cgroup``) from the
        attach point; False when it is not attached there."""
        return self._point(self.attach_type_of(attach_type)).detach(prog, owner=owner,
                                                                   cgroup=cgroup)

    def detach_program(self, prog: XdpProgram) -> int:
        """Detach ``prog`` from every attach point; how many attachments went."""
        with self._lock:
            chains = list(self._points.values())
        return sum(chain.detach_program(prog) for chain in chains)

    def attached(self, attach_type: int | str, cgroup: int | None = None) -> list[XdpProgram]:
        """The programs a request of ``cgroup`` at the attach point runs, in order."""
        return self._point(self.attach_type_of(attach_type)).attached(cgroup)

    def _chain(self, kind: int, cgroup: int | None) -> list[Attachment]:
        return self._point(kind).attached_chain(cgroup)

    def request(self, attach_type: int | str, address: Address, port: int, *,
                protocol: int = IPPROTO_TCP, process_id: int = 0, cgroup: int | None = None,
                source: Address | None = None, source_port: int = 0,
                compartment_id: int = 1, interface_luid: int = 0,
                socket_cookie: int | None = None,
                network_context: NetworkContext | None = None) -> SockAddrResult:
        """Run the attach point's programs on a request for ``address:port``
        (the destination, or the local address for bind and listen) of the
        socket ``socket_cookie`` (a new socket when None). ``network_context``
        is what ``bpf_sock_addr_get_network_context`` reports where the
        attach point offers one (connect_authorization, recv_accept, bind;
        default: an Ethernet interface, no tunnel, the next hop on
        ``interface_luid``, sub-interface 0)."""
        kind = attach_type if type(attach_type) is int and attach_type in ATTACH_POINTS else (
            self.attach_type_of(attach_type))
        point = ATTACH_POINTS[kind]
        addr, user = _address(address, point.version, "address")
        if type(port) is not int or not 0 <= port <= 0xFFFF:
            _port(port, "port")
        if source is None:
            src_bytes = _NO_ADDRESS
        else:
            src_bytes = _address(source, point.version, "source address")[1]
        if type(source_port) is not int or not 0 <= source_port <= 0xFFFF:
            _port(source_port, "source port")
        if protocol != IPPROTO_TCP and protocol != IPPROTO_UDP:
            raise LibbpfError(errno.EPROTONOSUPPORT, f"sock_addr: protocol {protocol!r} "
                                                     "(TCP 6 or UDP 17)")
        if point.sock_type == SOCK_DGRAM and protocol != IPPROTO_UDP:
            raise LibbpfError(errno.EINVAL, f"sock_addr: {point.name} is for UDP requests")
        if type(process_id) is not int or process_id < 0:
            raise LibbpfError(errno.EINVAL, f"sock_addr: invalid process id {process_id!r}")
        if socket_cookie is None:
            cookie = next_cookie()
        elif type(socket_cookie) is int and 0 < socket_cookie < 1 << 64:
            cookie = socket_cookie
        else:
            cookie = checked_cookie(socket_cookie, "sock_addr")  # raises
        if network_context is not None and not isinstance(network_context, NetworkContext):
            raise LibbpfError(errno.EINVAL, f"sock_addr: network_context {network_context!r} "
                                            "is not a NetworkContext")
        if type(interface_luid) is not int or not 0 <= interface_luid <= NOT_AVAILABLE_64:
            raise LibbpfError(errno.EINVAL, f"sock_addr: invalid interface LUID "
                                            f"{interface_luid!r}")
        net = (_DEFAULT_NETWORK if network_context is None
               else network_context.checked("sock_addr"))
        known = _NETWORK_FIELDS.get(point.name)
        network = _NO_NETWORK if known is None else _network_fields(known, net, interface_luid)
        # Windows redirects connections (and keeps a redirect context) at connect
        room = point.redirect_room
        redirect: bytes | None = None
        sock_type = SOCK_STREAM if protocol == IPPROTO_TCP else SOCK_DGRAM
        orig_user = user
        user_port = orig_port = (port & 0xFF) << 8 | port >> 8
        retvals: list[int] = []
        verdict = SockAddrVerdict.ALLOW
        points = self._points.get(kind)
        chain = points.attached_chain(cgroup) if points is not None else None
        if chain:
            src_port = _port_field(source_port)
            compartment = compartment_id & 0xFFFFFFFF
            slot = self._runner.slot()
            try:
                buf = slot.ctx_buf
                version = point.version
                for att in chain:
                    abi = att.prog.abi
                    family = AF_NUMBERS.get(abi, _LINUX_AF)[version]
                    _CTX_PACK(buf, 0, family, family, user, user_port, sock_type, protocol,
                              src_bytes, src_port, compartment, interface_luid, cookie,
                              TRAILER_MAGIC, room, 0, 0, *network)
                    retval = slot.run(att.vm, CTX_WITH_TRAILER) & 0xFFFFFFFF
                    if room and _REDIRECT_SIZE(buf, _REDIRECT_SIZE_AT)[0]:
                        redirect = redirect_context(buf) or redirect
                    retvals.append(retval)
                    user, user_port = _USER_UNPACK(buf, _USER_AT)
                    verdicts = ABI_VERDICTS.get(abi)
                    if verdicts is None:
                        normalise_verdict(abi, retval)  # raises for the unknown ABI
                    verdict = verdicts.get(retval, _REJECT)  # type: ignore[union-attr]
                    if verdict is _REJECT:
                        break
                    if retval == _WINDOWS_PROCEED_HARD and abi == "windows":
                        break
            finally:
                slot.busy = False
        if user == orig_user and user_port == orig_port:  # the request as given
            return _new(SockAddrResult, (verdict, addr, port, False, tuple(retvals), cookie,
                                         redirect))
        size = 4 if point.version == 4 else 16
        new_addr = ipaddress.ip_address(bytes(user[:size]))
        new_port = int.from_bytes((user_port & 0xFFFF).to_bytes(2, "little"), "big")
        return SockAddrResult(verdict, new_addr, new_port,
                              (new_addr, new_port) != (addr, port), tuple(retvals), cookie,
                              redirect)

    def _v(self, base: str, address: Address) -> int:
        """The attach type of ``base`` (connect, bind, …) for ``address``'s family."""
        try:
            version = ip_address_packed(address)[2]
        except ValueError as exc:
            raise LibbpfError(errno.EINVAL, f"sock_addr: invalid address {address!r}") from exc
        return _KINDS[base, version]

    def connect(self, address: Address, port: int, **kw: Any) -> SockAddrResult:
        """A connect to ``address:port`` (connect4 or connect6 by address)."""
        return self.request(self._v("connect", address), address, port, **kw)

    def connect_authorization(self, address: Address, port: int,
                              **kw: Any) -> SockAddrResult:
        return self.request(self._v("connect_authorization", address), address, port, **kw)

    def recv_accept(self, address: Address, port: int, **kw: Any) -> SockAddrResult:
        """An accepted connection from ``address:port``."""
        return self.request(self._v("recv_accept", address), address, port, **kw)

    def bind(self, address: Address, port: int, **kw: Any) -> SockAddrResult:
        return self.request(self._v("bind", address), address, port, **kw)

    def listen(self, address: Address, port: int, **kw: Any) -> SockAddrResult:
        return self.request(self._v("listen", address), address, port, **kw)

    def sendmsg(self, address: Address, port: int, **kw: Any) -> SockAddrResult:
        kw.setdefault("protocol", IPPROTO_UDP)
        return self.request(self._v("sendmsg", address), address, port, **kw)

    def recvmsg(self, address: Address, port: int, **kw: Any) -> SockAddrResult:
        kw.setdefault("protocol", IPPROTO_UDP)
        return self.request(self._v("recvmsg", address), address, port, **kw)


_default_hook: SockAddrHook | None = None
_default_lock = threading.Lock()


def default_hook() -> SockAddrHook:
    """The process-wide sock_addr hook the libbpf-style calls attach to."""
    global _default_hook
    with _default_lock:
        if _default_hook is None:
            _default_hook = SockAddrHook()
        return _default_hook


__all__ = [
    "ABI_VERDICTS",
    "AF_NUMBERS",
    "ATTACH_POINTS",
    "IPPROTO_TCP",
    "IPPROTO_UDP",
    "NATIVE_SOCK_ADDR_CTX",
    "NetworkContext",
    "SockAddrHook",
    "SockAddrResult",
    "SockAddrVerdict",
    "default_hook",
    "normalise_verdict",
]
