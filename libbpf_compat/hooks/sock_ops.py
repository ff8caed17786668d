"""The sock_ops hook (SOCK_OPS): connection events a host reports, a
connection established (actively by a connect, or passively by an accept)
and a connection deleted.

Programs attach for a cgroup (Linux: ``SEC("sockops")`` through
``bpf_program__attach_cgroup``; any int names a cgroup) or, as eBPF for
Windows attaches, for every connection (``bpf_program__attach``). They run
in attach order, each on the native context
(:data:`~libbpf_compat.hooks.contexts.SOCK_OPS_NATIVE`) that both ABIs'
accesses are rewritten to, filled for the program's own ABI:

- ``op`` in the program's numbering (:data:`OP_CODES`): Windows
  ACTIVE_ESTABLISHED 0 / PASSIVE_ESTABLISHED 1 / CONNECTION_DELETED 2,
  Linux ACTIVE_ESTABLISHED_CB 4 / PASSIVE_ESTABLISHED_CB 5. Linux has no
  deletion op: a deleted connection reaches Linux programs as
  BPF_SOCK_OPS_STATE_CB 10 with ``args[0]`` the old state (ESTABLISHED 1),
  ``args[1]`` the new one (CLOSE 7) and ``state`` CLOSE (the kernel sends
  it only to programs that set BPF_SOCK_OPS_STATE_CB_FLAG; this hook sends
  it to every Linux program).
- ``family`` AF_INET 2, or AF_INET6 10 (Linux) / 23 (Windows).
- ports as the ABI holds them: Linux ``remote_port`` is the network-order
  u16 in the upper half of the u32 and ``local_port`` is in host order;
  Windows holds both as the network-order u16 zero-extended.

Every program runs whatever the previous ones returned (a sock_ops return
value is no verdict); the result holds each one's return value and, for
Linux programs, the ``reply`` they wrote.
"""

from __future__ import annotations

import enum
import errno
import ipaddress
import struct
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from libbpf_compat.errors import LibbpfError
from libbpf_compat.hooks.chain import ProgramChain
from libbpf_compat.hooks.sock_trailer import checked_cookie, with_trailer
from libbpf_compat.hooks.xdp import XdpProgram
from libbpf_compat.uapi import BpfAttachType, BpfProgType

#: The native context (SOCK_OPS_NATIVE): op, family, local_ip6 (local_ip4
#: its first word), local_port, remote_ip6, remote_port, protocol,
#: compartment_id, interface_luid, args[4], is_fullsock, state.
NATIVE_SOCK_OPS_CTX = struct.Struct("<II16sI16sIIIQ4III")

IPPROTO_TCP = 6
IPPROTO_UDP = 17
#: Linux TCP states (BPF_TCP_*) the hook reports.
BPF_TCP_ESTABLISHED = 1
BPF_TCP_CLOSE = 7
#: Linux BPF_SOCK_OPS_STATE_CB.
LINUX_STATE_CB = 10


class SockOpsEvent(enum.Enum):
    ACTIVE_ESTABLISHED = "active_established"
    PASSIVE_ESTABLISHED = "passive_established"
    CONNECTION_DELETED = "connection_deleted"


#: The op code each ABI's programs see for an event (ABI.md).
OP_CODES: Mapping[str, Mapping[SockOpsEvent, int]] = {
    "linux": {SockOpsEvent.ACTIVE_ESTABLISHED: 4, SockOpsEvent.PASSIVE_ESTABLISHED: 5,
              SockOpsEvent.CONNECTION_DELETED: LINUX_STATE_CB},
    "windows": {SockOpsEvent.ACTIVE_ESTABLISHED: 0, SockOpsEvent.PASSIVE_ESTABLISHED: 1,
                SockOpsEvent.CONNECTION_DELETED: 2},
}

#: Address family numbers per ABI (Windows AF_INET6 is 23).
AF_NUMBERS: Mapping[str, Mapping[int, int]] = {
    "linux": {4: 2, 6: 10},
    "windows": {4: 2, 6: 23},
}

Address = str | ipaddress.IPv4Address | ipaddress.IPv6Address
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def op_code(abi: str, event: SockOpsEvent) -> int:
    """The op a program of ``abi`` sees for ``event``."""
    table = OP_CODES.get(abi)
    if table is None:
        raise LibbpfError(errno.EINVAL, f"unknown ABI {abi!r}")
    return table[event]


@dataclass(frozen=True)
class SockOpsResult:
    """One event through the hook: each program's raw return value and
    ``reply`` (Linux ``args[0]`` after the run; 0 for Windows programs) in
    run order."""

    event: SockOpsEvent
    retvals: tuple[int, ...] = ()
    replies: tuple[int, ...] = ()


def _address(value: Address, what: str) -> IpAddress:
    try:
        return ipaddress.ip_address(value)
    except ValueError as exc:
        raise LibbpfError(errno.EINVAL, f"sock_ops: invalid {what} {value!r}") from exc


def _port(value: int, what: str) -> int:
    if type(value) is not int or not 0 <= value <= 0xFFFF:
        raise LibbpfError(errno.EINVAL, f"sock_ops: invalid {what} {value!r}")
    return value


def _nbo16(port: int) -> int:
    """A port as a network-order u16 read as a little-endian u32."""
    return int.from_bytes(port.to_bytes(2, "big"), "little")


class SockOpsHook(ProgramChain):
    """The sock_ops hook; the host calls :meth:`established` and
    :meth:`deleted` (or :meth:`event`)."""

    hook_name = "sock_ops"
    prog_type = BpfProgType.BPF_PROG_TYPE_SOCK_OPS

    def attach(self, prog: XdpProgram, *, owner: object | None = None,
               cgroup: int | None = None) -> None:
        """Attach ``prog`` after the programs already attached, for
        ``cgroup`` (None: every connection)."""
        expected = prog.expected_attach_type
        if (prog.prog_type == self.prog_type and expected
                and expected != BpfAttachType.BPF_CGROUP_SOCK_OPS):
            raise LibbpfError(errno.EINVAL, f"sock_ops: program {prog.name!r} expects attach "
                                            f"type {expected}, not cgroup sock_ops")
        super().attach(prog, owner=owner, cgroup=cgroup)

    def event(self, event: SockOpsEvent, local: Address, local_port: int, remote: Address,
              remote_port: int, *, protocol: int = IPPROTO_TCP, cgroup: int | None = None,
              compartment_id: int = 1, interface_luid: int = 0,
              socket_cookie: int | None = None) -> SockOpsResult:
        """Run the programs on ``event`` for the connection
        ``local:local_port`` - ``remote:remote_port`` of the socket
        ``socket_cookie`` (bpf_get_socket_cookie; a new socket when None)."""
        if not isinstance(event, SockOpsEvent):
            raise LibbpfError(errno.EINVAL, f"sock_ops: invalid event {event!r}")
        laddr = _address(local, "local address")
        raddr = _address(remote, "remote address")
        if laddr.version != raddr.version:
            raise LibbpfError(errno.EAFNOSUPPORT, f"sock_ops: {laddr} and {raddr} are not of "
                                                  "one address family")
        _port(local_port, "local port")
        _port(remote_port, "remote port")
        if protocol not in (IPPROTO_TCP, IPPROTO_UDP):
            raise LibbpfError(errno.EPROTONOSUPPORT, f"sock_ops: protocol {protocol!r} "
                                                     "(TCP 6 or UDP 17)")
        cookie = checked_cookie(socket_cookie, "sock_ops")
        deleted = event == SockOpsEvent.CONNECTION_DELETED
        lbytes = laddr.packed.ljust(16, b"\0")
        rbytes = raddr.packed.ljust(16, b"\0")
        retvals: list[int] = []
        replies: list[int] = []
        for att in self.attached_chain(cgroup):
            abi = att.prog.abi if att.prog.abi in OP_CODES else "linux"
            family = AF_NUMBERS[abi][laddr.version]
            if abi == "windows":
                lport, rport = _nbo16(local_port), _nbo16(remote_port)
                args = (0, 0, 0, 0)
                state = 0
            else:
                lport, rport = local_port, _nbo16(remote_port) << 16
                args = (BPF_TCP_ESTABLISHED, BPF_TCP_CLOSE, 0, 0) if deleted else (0, 0, 0, 0)
                state = BPF_TCP_CLOSE if deleted else BPF_TCP_ESTABLISHED
            ctx = with_trailer(NATIVE_SOCK_OPS_CTX.pack(
                op_code(abi, event), family, lbytes, lport, rbytes, rport, protocol,
                compartment_id & 0xFFFFFFFF, interface_luid & 0xFFFFFFFFFFFFFFFF, *args, 1,
                state), cookie)
            retvals.append(att.vm.run_repeat(ctx, 1).retval & 0xFFFFFFFF)
            replies.append(NATIVE_SOCK_OPS_CTX.unpack_from(ctx)[9] if abi == "linux" else 0)
        return SockOpsResult(event, tuple(retvals), tuple(replies))

    def established(self, local: Address, local_port: int, remote: Address, remote_port: int,
                    *, passive: bool = False, protocol: int = IPPROTO_TCP,
                    cgroup: int | None = None, compartment_id: int = 1,
                    interface_luid: int = 0, socket_cookie: int | None = None) -> SockOpsResult:
        """A connection established: actively (a connect) or, with
        ``passive``, by an accept."""
        event = SockOpsEvent.PASSIVE_ESTABLISHED if passive else SockOpsEvent.ACTIVE_ESTABLISHED
        return self.event(event, local, local_port, remote, remote_port, protocol=protocol,
                          cgroup=cgroup, compartment_id=compartment_id,
                          interface_luid=interface_luid, socket_cookie=socket_cookie)

    def deleted(self, local: Address, local_port: int, remote: Address, remote_port: int, *,
                protocol: int = IPPROTO_TCP, cgroup: int | None = None,
                compartment_id: int = 1, interface_luid: int = 0,
                socket_cookie: int | None = None) -> SockOpsResult:
        """A connection deleted (closed)."""
        return self.event(SockOpsEvent.CONNECTION_DELETED, local, local_port, remote,
                          remote_port, protocol=protocol, cgroup=cgroup,
                          compartment_id=compartment_id, interface_luid=interface_luid,
                          socket_cookie=socket_cookie)


_default_hook: SockOpsHook | None = None
_default_lock = threading.Lock()


def default_hook() -> SockOpsHook:
    """The process-wide sock_ops hook the libbpf-style calls attach to."""
    global _default_hook
    with _default_lock:
        if _default_hook is None:
            _default_hook = SockOpsHook()
        return _default_hook


__all__ = [
    "AF_NUMBERS",
    "NATIVE_SOCK_OPS_CTX",
    "OP_CODES",
    "SockOpsEvent",
    "SockOpsHook",
    "SockOpsResult",
    "default_hook",
    "op_code",
]
