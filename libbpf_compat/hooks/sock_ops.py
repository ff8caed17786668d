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

Linux programs also read the connection's TCP fields of ``struct bpf_sock_ops``
(snd_cwnd, srtt_us, rtt_min, the sequence numbers, counters, bytes_received, ...)
from the :class:`TcpStats` the host passes with an event (0 without them, as
Linux reads them on a socket that is not a full one). ``sk_txhash`` is writable,
as in Linux: later programs of the event see the value written and the result
holds it. ``bpf_sock_ops_cb_flags_set`` sets the connection's
``bpf_sock_ops_cb_flags``, which later programs and the connection's later
events (those with the same ``socket_cookie``) read, until it is deleted.

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
from dataclasses import dataclass, fields
from typing import NamedTuple

from libbpf_compat.errors import LibbpfError
from libbpf_compat.hooks.addresses import ip_address_packed
from libbpf_compat.hooks.chain import ProgramChain
from libbpf_compat.hooks.contexts import SOCK_OPS_NATIVE, SOCK_OPS_TCP_U32
from libbpf_compat.hooks.fast_run import FastRunner
from libbpf_compat.hooks.fast_run import new_result as _new
from libbpf_compat.hooks.sock_trailer import (
    CTX_WITH_TRAILER,
    TRAILER_MAGIC,
    checked_cookie,
    next_cookie,
    with_trailer_struct,
)
from libbpf_compat.hooks.xdp import XdpProgram
from libbpf_compat.uapi import BpfAttachType, BpfProgType

#: The native context (SOCK_OPS_NATIVE): op, family, local_ip6 (local_ip4
#: its first word), local_port, remote_ip6, remote_port, protocol,
#: compartment_id, interface_luid, args[4], is_fullsock, state, the u32 TCP
#: fields (SOCK_OPS_TCP_U32), bytes_received, bytes_acked.
NATIVE_SOCK_OPS_CTX = struct.Struct(f"<II16sI16sIIIQ4III{len(SOCK_OPS_TCP_U32)}IQQ")
#: where the fields a program changes for its connection are in the native context
_CB_FLAGS_AT = SOCK_OPS_NATIVE.field("bpf_sock_ops_cb_flags").offset
_TXHASH_AT = SOCK_OPS_NATIVE.field("sk_txhash").offset
_CB_FLAGS_INDEX = SOCK_OPS_TCP_U32.index("bpf_sock_ops_cb_flags")
_TXHASH_INDEX = SOCK_OPS_TCP_U32.index("sk_txhash")
#: (bpf_sock_ops_cb_flags, sk_txhash) after a run
_WRITTEN = struct.Struct(f"<I{_TXHASH_AT - _CB_FLAGS_AT - 4}xI").unpack_from

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


@dataclass(frozen=True)
class TcpStats:
    """A TCP connection's state as Linux's ``struct bpf_sock_ops`` shows it to a
    program (``srtt_us`` is the smoothed RTT << 3 in microseconds, as the kernel
    keeps it; sequence numbers as on the wire). Every field is a u32 but
    ``bytes_received`` and ``bytes_acked`` (u64); the ones not given read 0.
    ``bpf_sock_ops_cb_flags`` is not here: the hook keeps it per connection
    (``bpf_sock_ops_cb_flags_set``)."""

    snd_cwnd: int = 0
    srtt_us: int = 0
    rtt_min: int = 0
    snd_ssthresh: int = 0
    rcv_nxt: int = 0
    snd_nxt: int = 0
    snd_una: int = 0
    mss_cache: int = 0
    ecn_flags: int = 0
    rate_delivered: int = 0
    rate_interval_us: int = 0
    packets_out: int = 0
    retrans_out: int = 0
    total_retrans: int = 0
    segs_in: int = 0
    data_segs_in: int = 0
    segs_out: int = 0
    data_segs_out: int = 0
    lost_out: int = 0
    sacked_out: int = 0
    sk_txhash: int = 0
    bytes_received: int = 0
    bytes_acked: int = 0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            bits = 64 if f.name.startswith("bytes_") else 32
            if type(value) is not int or not 0 <= value < 1 << bits:
                raise LibbpfError(errno.EINVAL, f"sock_ops: invalid TCP stat {f.name} "
                                                f"{value!r} (a u{bits})")

    def context_values(self, cb_flags: int) -> list[int]:
        """The native context's TCP fields, in order, with ``cb_flags``."""
        return [cb_flags if name == "bpf_sock_ops_cb_flags" else getattr(self, name)
                for name in SOCK_OPS_TCP_U32] + [self.bytes_received, self.bytes_acked]


_NO_TCP = TcpStats()


def op_code(abi: str, event: SockOpsEvent) -> int:
    """The op a program of ``abi`` sees for ``event``."""
    table = OP_CODES.get(abi)
    if table is None:
        raise LibbpfError(errno.EINVAL, f"unknown ABI {abi!r}")
    return table[event]


class SockOpsResult(NamedTuple):
    """One event through the hook: each program's raw return value and
    ``reply`` (Linux ``args[0]`` after the run; 0 for Windows programs) in
    run order."""

    event: SockOpsEvent
    retvals: tuple[int, ...] = ()
    replies: tuple[int, ...] = ()
    #: the connection's flow id (eBPF for Windows' bpf_sock_ops_get_flow_id)
    flow_id: int = 0
    #: the connection's bpf_sock_ops_cb_flags after the programs ran
    cb_flags: int = 0
    #: sk_txhash after the programs ran (a Linux program may write it)
    sk_txhash: int = 0


def _address(value: Address, what: str) -> tuple[IpAddress, bytes, int]:
    """The address, its bytes as the context holds them and its version."""
    try:
        return ip_address_packed(value)
    except ValueError as exc:
        raise LibbpfError(errno.EINVAL, f"sock_ops: invalid {what} {value!r}") from exc


def _port(value: int, what: str) -> int:
    if type(value) is not int or not 0 <= value <= 0xFFFF:
        raise LibbpfError(errno.EINVAL, f"sock_ops: invalid {what} {value!r}")
    return value


def _nbo16(port: int) -> int:
    """A port as a network-order u16 read as a little-endian u32."""
    return (port & 0xFF) << 8 | port >> 8


_CTX_PACK = with_trailer_struct(NATIVE_SOCK_OPS_CTX).pack_into
#: (abi, event's index in SockOpsEvent, ip version) -> (op, family,
#: windows, args, state)
_EVENT_FIELDS: dict[tuple[str, int, int],
                    tuple[int, int, bool, tuple[int, int, int, int], int]] = {}
#: args[0] (Linux's reply) in the native context
_REPLY_UNPACK = struct.Struct("<I").unpack_from
_REPLY_AT = 64


def _event_fields(abi: str, event: SockOpsEvent,
                  version: int) -> tuple[int, int, bool, tuple[int, int, int, int], int]:
    """What the context holds for ``event`` as a program of ``abi`` sees
    it (an ABI without op codes of its own sees Linux's)."""
    key = (abi, list(SockOpsEvent).index(event), version)
    out = _EVENT_FIELDS.get(key)
    if out is None:
        if abi not in OP_CODES:
            abi = "linux"
        deleted = event == SockOpsEvent.CONNECTION_DELETED
        if abi == "windows":
            out = (op_code(abi, event), AF_NUMBERS[abi][version], True, _NO_ARGS, 0)
        else:
            out = (op_code(abi, event), AF_NUMBERS[abi][version], False,
                   _DELETED_ARGS if deleted else _NO_ARGS,
                   BPF_TCP_CLOSE if deleted else BPF_TCP_ESTABLISHED)
        _EVENT_FIELDS[key] = out
    return out
_NO_ARGS = (0, 0, 0, 0)
_ACTIVE = SockOpsEvent.ACTIVE_ESTABLISHED
_PASSIVE = SockOpsEvent.PASSIVE_ESTABLISHED
_DELETED = SockOpsEvent.CONNECTION_DELETED
_DELETED_ARGS = (BPF_TCP_ESTABLISHED, BPF_TCP_CLOSE, 0, 0)


class SockOpsHook(ProgramChain):
    """The sock_ops hook; the host calls :meth:`established` and
    :meth:`deleted` (or :meth:`event`)."""

    hook_name = "sock_ops"
    prog_type = BpfProgType.BPF_PROG_TYPE_SOCK_OPS

    def __init__(self) -> None:
        super().__init__()
        self._runner = FastRunner(CTX_WITH_TRAILER)
        #: socket cookie -> bpf_sock_ops_cb_flags a program set, for connections
        #: whose host names their socket; dropped when the connection is deleted
        self._cb_flags: dict[int, int] = {}

    def cb_flags(self, socket_cookie: int) -> int:
        """The bpf_sock_ops_cb_flags a program set for the connection of
        ``socket_cookie`` (0: none set, or the connection was deleted)."""
        return self._cb_flags.get(socket_cookie, 0)

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
              socket_cookie: int | None = None, flow_id: int | None = None,
              tcp: TcpStats | None = None) -> SockOpsResult:
        """Run the programs on ``event`` for the connection
        ``local:local_port`` - ``remote:remote_port`` of the socket
        ``socket_cookie`` (bpf_get_socket_cookie; a new socket when None)
        and the flow ``flow_id`` (bpf_sock_ops_get_flow_id; 0 for a
        connection without one; None: the socket's cookie, which is as
        unique and as stable as a Windows flow id), whose TCP state is
        ``tcp`` (Linux programs' TCP fields; all 0 when None)."""
        return self._event(event, local, local_port, remote, remote_port, protocol, cgroup,
                           compartment_id, interface_luid, socket_cookie, flow_id, tcp)

    def _event(self, event: SockOpsEvent, local: Address, local_port: int, remote: Address,
               remote_port: int, protocol: int, cgroup: int | None, compartment_id: int,
               interface_luid: int, socket_cookie: int | None,
               flow_id: int | None, tcp: TcpStats | None = None) -> SockOpsResult:
        if type(event) is not SockOpsEvent:
            raise LibbpfError(errno.EINVAL, f"sock_ops: invalid event {event!r}")
        laddr, lbytes, version = _address(local, "local address")
        raddr, rbytes, rversion = _address(remote, "remote address")
        if version != rversion:
            raise LibbpfError(errno.EAFNOSUPPORT, f"sock_ops: {laddr} and {raddr} are not of "
                                                  "one address family")
        if type(local_port) is not int or not 0 <= local_port <= 0xFFFF:
            _port(local_port, "local port")
        if type(remote_port) is not int or not 0 <= remote_port <= 0xFFFF:
            _port(remote_port, "remote port")
        if protocol != IPPROTO_TCP and protocol != IPPROTO_UDP:
            raise LibbpfError(errno.EPROTONOSUPPORT, f"sock_ops: protocol {protocol!r} "
                                                     "(TCP 6 or UDP 17)")
        if socket_cookie is None:
            cookie = next_cookie()
        elif type(socket_cookie) is int and 0 < socket_cookie < 1 << 64:
            cookie = socket_cookie
        else:
            cookie = checked_cookie(socket_cookie, "sock_ops")  # raises
        if flow_id is None:
            flow_id = cookie
        elif type(flow_id) is not int or not 0 <= flow_id < 1 << 64:
            raise LibbpfError(errno.EINVAL, f"sock_ops: invalid flow id {flow_id!r}")
        if tcp is None:
            tcp = _NO_TCP
        elif type(tcp) is not TcpStats:
            raise LibbpfError(errno.EINVAL, f"sock_ops: tcp must be a TcpStats, not {tcp!r}")
        known = socket_cookie is not None
        flags = self._cb_flags.get(cookie, 0) if known else 0
        chain = self.attached_chain(cgroup)
        if not chain:
            if known and event is _DELETED:
                self._cb_flags.pop(cookie, None)
            return _new(SockOpsResult, (event, (), (), flow_id, flags, tcp.sk_txhash))
        tcp_values = tcp.context_values(flags)
        retvals: list[int] = []
        replies: list[int] = []
        compartment = compartment_id & 0xFFFFFFFF
        luid = interface_luid & 0xFFFFFFFFFFFFFFFF
        event_index = 0 if event is _ACTIVE else 1 if event is _PASSIVE else 2
        lport_nbo = (local_port & 0xFF) << 8 | local_port >> 8
        rport_nbo = (remote_port & 0xFF) << 8 | remote_port >> 8
        slot = self._runner.slot()
        try:
            buf = slot.ctx_buf
            for att in chain:
                abi = att.prog.abi
                fields = _EVENT_FIELDS.get((abi, event_index, version))
                if fields is None:
                    fields = _event_fields(abi, event, version)
                op, family, windows, args, state = fields
                if windows:
                    lport, rport = lport_nbo, rport_nbo
                else:
                    lport, rport = local_port, rport_nbo << 16
                _CTX_PACK(buf, 0, op, family, lbytes, lport, rbytes, rport, protocol,
                          compartment, luid, *args, 1, state, *tcp_values, cookie,
                          TRAILER_MAGIC, 0, 0, flow_id, 0, 0, 0, 0, 0)
                retvals.append(slot.run(att.vm, CTX_WITH_TRAILER) & 0xFFFFFFFF)
                if not windows:
                    replies.append(_REPLY_UNPACK(buf, _REPLY_AT)[0])
                    # what the program changed of its connection: later programs see it
                    tcp_values[_CB_FLAGS_INDEX], tcp_values[_TXHASH_INDEX] = _WRITTEN(
                        buf, _CB_FLAGS_AT)
                else:
                    replies.append(0)
        finally:
            slot.busy = False
        flags = tcp_values[_CB_FLAGS_INDEX]
        if known:
            if event is _DELETED:
                self._cb_flags.pop(cookie, None)
            elif flags:
                self._cb_flags[cookie] = flags
            else:
                self._cb_flags.pop(cookie, None)
        return _new(SockOpsResult, (event, tuple(retvals), tuple(replies), flow_id, flags,
                                    tcp_values[_TXHASH_INDEX]))

    def established(self, local: Address, local_port: int, remote: Address, remote_port: int,
                    *, passive: bool = False, protocol: int = IPPROTO_TCP,
                    cgroup: int | None = None, compartment_id: int = 1,
                    interface_luid: int = 0, socket_cookie: int | None = None,
                    flow_id: int | None = None, tcp: TcpStats | None = None) -> SockOpsResult:
        """A connection established: actively (a connect) or, with
        ``passive``, by an accept."""
        return self._event(_PASSIVE if passive else _ACTIVE, local, local_port, remote,
                           remote_port, protocol, cgroup, compartment_id, interface_luid,
                           socket_cookie, flow_id, tcp)

    def deleted(self, local: Address, local_port: int, remote: Address, remote_port: int, *,
                protocol: int = IPPROTO_TCP, cgroup: int | None = None,
                compartment_id: int = 1, interface_luid: int = 0,
                socket_cookie: int | None = None, flow_id: int | None = None,
                tcp: TcpStats | None = None) -> SockOpsResult:
        """A connection deleted (closed)."""
        return self._event(_DELETED, local, local_port, remote, remote_port, protocol, cgroup,
                           compartment_id, interface_luid, socket_cookie, flow_id, tcp)


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
    "TcpStats",
    "default_hook",
    "op_code",
]
