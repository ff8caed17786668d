"""Socket buffer program types: SOCKET_FILTER, SCHED_CLS (tc) and
CGROUP_SKB, their Linux ``struct __sk_buff`` context and the hooks a host
drives with packets.

Context: every program sees Linux's ``struct __sk_buff`` (192 bytes,
offsets of /usr/include/linux/bpf.h, checked by tests/test_hooks_skb.py).
Its accesses are rewritten to the native context
(:data:`SKB_NATIVE`): the scalar fields at the same offsets, and
``data`` / ``data_end`` / ``data_meta`` -- u32 in ``__sk_buff`` -- as real
64-bit pointers after them, as the kernel rewrites ``skb->data``. What a
program may read and write depends on its type, as Linux's
``sk_filter_is_valid_access`` / ``tc_cls_act_is_valid_access`` /
``cg_skb_is_valid_access`` decide (``flow_keys`` and ``sk`` are not
offered; other accesses fail at load with EACCES):

- socket filters read neither the packet pointers nor ``tc_classid``,
  the socket fields (family … local_port), ``tstamp``, ``wire_len``,
  ``hwtstamp``; they write ``cb`` only; the packet is read through
  legacy LD_ABS / LD_IND loads;
- tc programs read everything but the socket fields (family …
  local_port) and write ``mark``, ``queue_mapping``,
  ``priority``, ``tc_index``, ``cb``, ``tc_classid`` and ``tstamp``; the
  packet is writable;
- cgroup_skb programs read everything but ``tc_classid``, ``data_meta``
  and ``wire_len``, write ``mark``, ``priority``, ``cb`` and ``tstamp``;
  the packet is read-only.

Hooks (each a :class:`~libbpf_compat.hooks.chain.ProgramChain`):

- :class:`SocketFilterHook`: one socket. As ``SO_ATTACH_BPF`` does, an
  attach replaces the socket's filter. :meth:`SocketFilterHook.receive`
  runs it on a packet (for an inet socket the program sees the packet
  from its network header, for a packet socket from the Ethernet header):
  the return value is the number of bytes to keep, 0 drops the packet, a
  value below the length truncates it.
- :class:`TcHook`: an interface's ingress and egress (tcx): programs run in
  attach order until one returns something else than TC_ACT_UNSPEC (-1,
  TCX_NEXT); TC_ACT_OK 0 passes, TC_ACT_SHOT 2 drops, TC_ACT_REDIRECT 7
  redirects, any other value (or no program deciding) leaves the packet
  to the stack (passes), as tcx does. Programs see the Ethernet frame and
  may change it and the skb's mark, priority, tc_index, tc_classid.
- :class:`CgroupSkbHook`: a cgroup's ingress and egress: every program
  runs; the packet is allowed when each one returned 1 in bit 0 (0
  drops it); on egress, bit 1 asks for congestion notification (NET_XMIT_CN).
"""

from __future__ import annotations

import enum
import errno
import struct
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from libbpf_compat._native import ffi
from libbpf_compat.errors import LibbpfError
from libbpf_compat.hooks.chain import ProgramChain
from libbpf_compat.hooks.contexts import CtxField, CtxLayout
from libbpf_compat.hooks.fast_run import FastRunner, RunSlot
from libbpf_compat.hooks.fast_run import new_result as _new
from libbpf_compat.hooks.xdp import XdpProgram
from libbpf_compat.uapi import BpfAttachType, BpfProgType
from libbpf_compat.vm import RunResult, Vm

ETH_HLEN = 14
ETH_P_IP = 0x0800
ETH_P_IPV6 = 0x86DD
AF_INET = 2
AF_INET6 = 10
#: The largest packet the hooks take (a 64 KiB skb).
MAX_SKB_PACKET = 65535
#: Headroom in front of the packet (NET_SKB_PAD + NET_IP_ALIGN as test_run).
SKB_HEADROOM = 64

# Linux pkt_type values (eth_type_trans).
PACKET_HOST = 0
PACKET_BROADCAST = 1
PACKET_MULTICAST = 2
PACKET_OTHERHOST = 3

#: ``struct __sk_buff`` fields this project offers: (name, offset, size).
_SKB_FIELDS: tuple[tuple[str, int, int], ...] = (
    ("len", 0, 4), ("pkt_type", 4, 4), ("mark", 8, 4), ("queue_mapping", 12, 4),
    ("protocol", 16, 4), ("vlan_present", 20, 4), ("vlan_tci", 24, 4), ("vlan_proto", 28, 4),
    ("priority", 32, 4), ("ingress_ifindex", 36, 4), ("ifindex", 40, 4), ("tc_index", 44, 4),
    ("cb", 48, 20), ("hash", 68, 4), ("tc_classid", 72, 4), ("data", 76, 4),
    ("data_end", 80, 4), ("napi_id", 84, 4), ("family", 88, 4), ("remote_ip4", 92, 4),
    ("local_ip4", 96, 4), ("remote_ip6", 100, 16), ("local_ip6", 116, 16),
    ("remote_port", 132, 4), ("local_port", 136, 4), ("data_meta", 140, 4),
    ("tstamp", 152, 8), ("wire_len", 160, 4), ("gso_segs", 164, 4), ("gso_size", 176, 4),
    ("tstamp_type", 180, 1), ("hwtstamp", 184, 8),
)
_POINTERS = ("data", "data_end", "data_meta")
SKB_SIZE = 192
_NATIVE_POINTER_AT = {"data": 192, "data_end": 200, "data_meta": 208}

#: The native skb context: ``__sk_buff``'s scalar fields at their offsets,
#: the packet pointers as 64-bit values after them.
SKB_NATIVE = CtxLayout("lbc_skb_ctx", 216, tuple(
    CtxField(name, _NATIVE_POINTER_AT[name], 8, pointer=True) if name in _POINTERS
    else CtxField(name, offset, size)
    for name, offset, size in _SKB_FIELDS))


def _skb_layout(hidden: Iterable[str], writable: Iterable[str]) -> CtxLayout:
    hide, write = frozenset(hidden), frozenset(writable)
    return CtxLayout("struct __sk_buff", SKB_SIZE, tuple(
        CtxField(name, offset, size, pointer=name in _POINTERS, writable=name in write)
        for name, offset, size in _SKB_FIELDS if name not in hide))


_SOCKET_FIELDS = ("family", "remote_ip4", "local_ip4", "remote_ip6", "local_ip6",
                  "remote_port", "local_port")
#: ``struct __sk_buff`` as a socket filter may touch it.
SKB_SOCKET_FILTER = _skb_layout(
    ("tc_classid", *_POINTERS, *_SOCKET_FIELDS, "tstamp", "wire_len", "hwtstamp",
     "tstamp_type"), ("cb",))
#: ``struct __sk_buff`` as a tc (SCHED_CLS) program may touch it.
SKB_TC = _skb_layout(_SOCKET_FIELDS, ("mark", "queue_mapping", "priority", "tc_index", "cb",
                          "tc_classid", "tstamp"))
#: ``struct __sk_buff`` as a cgroup_skb program may touch it.
SKB_CGROUP = _skb_layout(("tc_classid", "data_meta", "wire_len"),
                         ("mark", "priority", "cb", "tstamp"))

#: Program type -> the layout its programs see.
SKB_LAYOUTS: dict[int, CtxLayout] = {
    BpfProgType.BPF_PROG_TYPE_SOCKET_FILTER: SKB_SOCKET_FILTER,
    BpfProgType.BPF_PROG_TYPE_SCHED_CLS: SKB_TC,
    BpfProgType.BPF_PROG_TYPE_CGROUP_SKB: SKB_CGROUP,
}

#: The fields a run may change and the hooks report.
CHANGEABLE = ("mark", "queue_mapping", "priority", "tc_index", "cb", "tc_classid", "tstamp")
#: Native context field name -> (offset, size), for the hooks' fast paths.
_AT = {f.name: (f.offset, f.size) for f in SKB_NATIVE.fields}
_CHANGEABLE_AT = tuple((name, *_AT[name]) for name in CHANGEABLE)
_DATA_AT, _END_AT, _META_AT = _AT["data"][0], _AT["data_end"][0], _AT["data_meta"][0]


@dataclass
class SkbRun:
    """One run's outcome: the run, the packet bytes after it and the
    context after it (native layout)."""

    result: RunResult
    packet: bytes
    ctx: bytearray

    def field(self, name: str) -> int | bytes:
        offset, size = _AT[name]
        raw = bytes(self.ctx[offset:offset + size])
        return raw if size > 8 else int.from_bytes(raw, "little")


def native_skb_ctx(fields: dict[str, int | bytes]) -> bytearray:
    """A native skb context with ``fields`` set (ints little-endian, bytes as given)."""
    ctx = bytearray(SKB_NATIVE.size)
    for name, value in fields.items():
        offset, size = _AT[name]
        raw = value if isinstance(value, bytes) else (value & ((1 << 8 * size) - 1)).to_bytes(
            size, "little")
        ctx[offset:offset + len(raw)] = raw
    return ctx


def run_skb(vm: Vm, packet: bytes | bytearray, ctx: bytearray, *, writable_packet: bool,
            repeat: int = 1) -> SkbRun:
    """Run ``vm`` ``repeat`` times on the native context ``ctx`` (its
    pointers are set here) over a copy of ``packet``, placed after
    SKB_HEADROOM bytes of headroom. The packet is the region legacy
    LD_ABS / LD_IND loads read."""
    if not packet:
        raise LibbpfError(errno.EINVAL, "skb: an empty packet")
    buf = bytearray(SKB_HEADROOM) + bytearray(packet)
    view = memoryview(buf)[SKB_HEADROOM:]
    try:
        with ffi.from_buffer("uint8_t[]", buf) as cbuf:
            start = int(ffi.cast("uintptr_t", cbuf)) + SKB_HEADROOM
            struct.pack_into("<Q", ctx, _DATA_AT, start)
            struct.pack_into("<Q", ctx, _END_AT, start + len(packet))
            struct.pack_into("<Q", ctx, _META_AT, start)
            result = vm.run_repeat(ctx, repeat, regions=[(view, writable_packet)], packet=0)
    finally:
        view.release()
    return SkbRun(result, bytes(buf[SKB_HEADROOM:]), ctx)


def ethernet_fields(frame: bytes | bytearray) -> dict[str, int | bytes]:
    """``protocol`` and ``pkt_type`` as eth_type_trans sets them for a
    frame received on a device whose address and broadcast address are all
    zeros (loopback)."""
    protocol, pkt_type = _ethernet(frame)
    return {"protocol": protocol, "pkt_type": pkt_type}


def _ethernet(frame: bytes | bytearray) -> tuple[int, int]:
    """(protocol field, pkt_type) of :func:`ethernet_fields`."""
    if len(frame) < ETH_HLEN:
        raise LibbpfError(errno.EINVAL, f"skb: an Ethernet frame needs {ETH_HLEN} bytes, "
                                        f"not {len(frame)}")
    if frame[0] & 1:  # loopback's broadcast address is all zeros: ff:..:ff is multicast
        pkt_type = PACKET_MULTICAST
    else:
        pkt_type = PACKET_HOST if frame[0:6] == _NO_MAC else PACKET_OTHERHOST
    proto = frame[12] << 8 | frame[13]
    if proto < 0x600:  # 802.3 length field: ETH_P_802_3 (or 802.2)
        proto = 0x0001 if frame[14:16] == b"\xff\xff" else 0x0004
    # protocol holds the __be16 in its low bytes (little-endian u32 read)
    return (proto & 0xFF) << 8 | proto >> 8, pkt_type


def _nbo16(value: int) -> int:
    """A u16 in network order read as a little-endian number."""
    return (value & 0xFF) << 8 | value >> 8


_NO_MAC = bytes(6)
_NBO_ETH_P_IP = _nbo16(ETH_P_IP)
#: the whole native context: len, pkt_type, mark, protocol, priority,
#: ingress_ifindex, ifindex, wire_len, data, data_end, data_meta (every
#: other byte zero)
_CTX = struct.Struct("<III4xI12xIII116xI28xQQQ")
_CTX_PACK = _CTX.pack_into
_CTX_SIZE = SKB_NATIVE.size
_SCALARS = _NATIVE_POINTER_AT["data"]  # the scalar fields lie before the pointers
assert _CTX.size == _CTX_SIZE and (
    _AT["len"][0], _AT["pkt_type"][0], _AT["mark"][0], _AT["protocol"][0],
    _AT["priority"][0], _AT["ingress_ifindex"][0], _AT["ifindex"][0], _AT["wire_len"][0],
    _DATA_AT, _END_AT, _META_AT) == (0, 4, 8, 16, 32, 36, 40, 160, 192, 200, 208)


#: the fields a run may change (CHANGEABLE, in order)
_CHANGEABLE = struct.Struct("<8xII16xI8xI20s4xI76xQ")
_CHANGEABLE_UNPACK = _CHANGEABLE.unpack_from
assert tuple((name, offset) for name, offset, _ in _CHANGEABLE_AT) == (
    ("mark", 8), ("queue_mapping", 12), ("priority", 32), ("tc_index", 44), ("cb", 48),
    ("tc_classid", 72), ("tstamp", 152))
_NO_CB = bytes(20)


def _changed(after: tuple[int | bytes, ...], mark: int, priority: int) -> dict[str, int | bytes]:
    """The changeable fields whose value ``after`` the run (unpacked with
    _CHANGEABLE) differs from what skb_slot set."""
    before = (mark, 0, priority, 0, _NO_CB, 0, 0)
    return {name: new for (name, _, _), old, new in zip(_CHANGEABLE_AT, before, after,
                                                          strict=True) if new != old}


def skb_runner(writable_packet: bool) -> FastRunner:
    """A hook's runner for skb programs (see :func:`skb_slot`)."""
    return FastRunner(_CTX_SIZE, MAX_SKB_PACKET, data_offset=SKB_HEADROOM,
                      data_writable=writable_packet, packet=True)


def skb_slot(runner: FastRunner, data: bytes, pkt_type: int, mark: int, protocol: int,
             priority: int, ingress_ifindex: int, ifindex: int, wire_len: int) -> RunSlot:
    """The thread's slot with the packet in its data region (after
    SKB_HEADROOM bytes) and the native context set as :func:`run_skb`
    runs on it (``native_skb_ctx`` of these fields, pointers set); give it
    back with ``release()``."""
    slot = runner.slot()
    size = len(data)
    start = slot.data_addr
    _CTX_PACK(slot.ctx_buf, 0, size, pkt_type, mark, protocol, priority, ingress_ifindex,
              ifindex, wire_len, start, start + size, start)
    slot.data_buf[SKB_HEADROOM:SKB_HEADROOM + size] = data
    if size != slot.data_len:
        slot.set_data_len(size)
    return slot


def ip_socket_fields(l3: bytes | bytearray, proto: int) -> dict[str, int | bytes]:
    """The socket fields test_run's socket gets from an IP packet:
    ``family``, and ``local`` (source) / ``remote`` (destination) addresses."""
    if proto == ETH_P_IP:
        out: dict[str, int | bytes] = {"family": AF_INET}
        if len(l3) >= 20:
            out["local_ip4"] = int.from_bytes(l3[12:16], "little")
            out["remote_ip4"] = int.from_bytes(l3[16:20], "little")
        return out
    if proto == ETH_P_IPV6:
        out = {"family": AF_INET6}
        if len(l3) >= 40:
            out["local_ip6"] = bytes(l3[8:24])
            out["remote_ip6"] = bytes(l3[24:40])
        return out
    return {}


def _check_packet(packet: bytes | bytearray | memoryview, what: str) -> bytes:
    if not isinstance(packet, (bytes, bytearray, memoryview)):
        raise LibbpfError(errno.EINVAL, f"{what}: the packet must be bytes, not "
                                        f"{type(packet).__name__}")
    data = bytes(packet)
    if not data:
        raise LibbpfError(errno.EINVAL, f"{what}: an empty packet")
    if len(data) > MAX_SKB_PACKET:
        raise LibbpfError(errno.EMSGSIZE, f"{what}: a packet of {len(data)} bytes (the hook "
                                          f"takes {MAX_SKB_PACKET} at most)")
    return data


def _u32(value: int, what: str, hook: str) -> int:
    if type(value) is not int or not 0 <= value <= 0xFFFFFFFF:
        raise LibbpfError(errno.EINVAL, f"{hook}: invalid {what} {value!r}")
    return value


# -- socket filter -----------------------------------------------------------
class SocketFilterResult(NamedTuple):
    """A packet through a socket's filter: what the socket receives
    (``packet``, possibly truncated; None when dropped) and the filter's
    return value (None without a filter)."""

    packet: bytes | None
    retval: int | None = None

    @property
    def dropped(self) -> bool:
        return self.packet is None


class SocketFilterHook(ProgramChain):
    """One socket with at most one filter (``SO_ATTACH_BPF``): the host
    hands it received packets. ``packet_socket``: the socket sees the
    Ethernet frame (AF_PACKET); otherwise the packet from its IP header."""

    hook_name = "socket_filter"
    prog_type = BpfProgType.BPF_PROG_TYPE_SOCKET_FILTER

    def __init__(self, *, packet_socket: bool = False, ifindex: int = 1) -> None:
        super().__init__()
        self.packet_socket = packet_socket
        self.ifindex = ifindex
        self._runner = skb_runner(False)

    def attach(self, prog: XdpProgram, *, owner: object | None = None,
               cgroup: int | None = None) -> None:
        """Set the socket's filter, replacing the one it had (SO_ATTACH_BPF)."""
        with self._lock:
            old = list(self._chain)
            self._chain.clear()
        try:
            super().attach(prog, owner=owner, cgroup=cgroup)
        except LibbpfError:
            with self._lock:
                self._chain[:] = old
            raise

    def receive(self, packet: bytes | bytearray | memoryview, *, protocol: int = ETH_P_IP,
                mark: int = 0, priority: int = 0) -> SocketFilterResult:
        """The socket receives ``packet`` (an Ethernet frame for a packet
        socket, else an IP packet of ``protocol``)."""
        if type(packet) is bytes and 0 < len(packet) <= MAX_SKB_PACKET:
            data = packet
        else:
            data = _check_packet(packet, self.hook_name)
        chain = self._chain[:]
        if not chain:
            return SocketFilterResult(data)
        if type(mark) is not int or not 0 <= mark <= 0xFFFFFFFF:
            _u32(mark, "mark", self.hook_name)
        if type(priority) is not int or not 0 <= priority <= 0xFFFFFFFF:
            _u32(priority, "priority", self.hook_name)
        if self.packet_socket:
            proto, pkt_type = _ethernet(data)
        else:
            pkt_type = 0
            if protocol == ETH_P_IP and type(protocol) is int:
                proto = _NBO_ETH_P_IP
            else:  # (an int out of range raises as int.to_bytes does)
                proto = int.from_bytes(protocol.to_bytes(2, "big"), "little")
        slot = skb_slot(self._runner, data, pkt_type, mark, proto, priority, self.ifindex,
                        self.ifindex, 0)
        try:
            keep = slot.run(chain[0].vm, _CTX_SIZE) & 0xFFFFFFFF
        finally:
            slot.busy = False
        if keep == 0:
            return SocketFilterResult(None, keep)
        return _new(SocketFilterResult, (data[:keep], keep))


# -- tc ----------------------------------------------------------------------
class TcVerdict(enum.IntEnum):
    """What tc does with the packet (TC_ACT_* numbers)."""

    OK = 0
    SHOT = 2
    REDIRECT = 7


TC_ACT_UNSPEC = -1
_TC_FINAL = {0: TcVerdict.OK, 2: TcVerdict.SHOT, 7: TcVerdict.REDIRECT}
_TC_OK = TcVerdict.OK


class TcDirection(enum.Enum):
    INGRESS = "ingress"
    EGRESS = "egress"


_TC_INGRESS, _TC_EGRESS = TcDirection.INGRESS, TcDirection.EGRESS


class TcResult(NamedTuple):
    """A packet through a tc attach point: the verdict, the packet after
    the programs, the skb fields they changed (``mark``, ``priority``, …)
    and each program's return value (as a signed int) in run order."""

    verdict: TcVerdict
    packet: bytes
    changed: dict[str, int | bytes]
    retvals: tuple[int, ...] = ()


def _s32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


class _DirectionalChain(ProgramChain):
    """Programs per direction: the attach bookkeeping of one direction is a
    ProgramChain; ``owner`` tells attachments apart."""


class TcHook:
    """tc (tcx) on one interface: an ingress and an egress chain."""

    hook_name = "tc"
    prog_type = BpfProgType.BPF_PROG_TYPE_SCHED_CLS

    def __init__(self, ifindex: int = 1) -> None:
        self.ifindex = ifindex
        self._runner = skb_runner(True)
        self.chains = {d: _DirectionalChain() for d in TcDirection}
        self._ingress = self.chains[TcDirection.INGRESS]
        self._egress = self.chains[TcDirection.EGRESS]
        for chain in self.chains.values():
            chain.hook_name = self.hook_name
            chain.prog_type = self.prog_type

    def __repr__(self) -> str:
        counts = ", ".join(f"{d.value} {len(c.attached())}" for d, c in self.chains.items())
        return f"<TcHook ifindex {self.ifindex}: {counts}>"

    def attach(self, prog: XdpProgram, direction: TcDirection, *,
               owner: object | None = None) -> None:
        expected = prog.expected_attach_type
        wanted = {TcDirection.INGRESS: _TCX_INGRESS, TcDirection.EGRESS: _TCX_EGRESS}
        if expected in (_TCX_INGRESS, _TCX_EGRESS) and expected != wanted[direction]:
            raise LibbpfError(errno.EINVAL, f"tc: program {prog.name!r} expects the other "
                                            f"direction than {direction.value}")
        self.chains[direction].attach(prog, owner=owner)

    def detach(self, prog: XdpProgram, direction: TcDirection, *,
               owner: object | None = None) -> bool:
        return self.chains[direction].detach(prog, owner=owner)

    def attached(self, direction: TcDirection) -> list[XdpProgram]:
        return self.chains[direction].attached()

    def run(self, direction: TcDirection, frame: bytes | bytearray | memoryview, *,
            mark: int = 0, priority: int = 0) -> TcResult:
        """The interface receives (ingress) or sends (egress) ``frame``."""
        return self._run(direction, frame, mark, priority)

    def _run(self, direction: TcDirection, frame: bytes | bytearray | memoryview, mark: int,
             priority: int) -> TcResult:
        if not isinstance(direction, TcDirection):
            raise LibbpfError(errno.EINVAL, f"tc: invalid direction {direction!r}")
        if type(frame) is bytes and 0 < len(frame) <= MAX_SKB_PACKET:
            data = frame
        else:
            data = _check_packet(frame, "tc")
        if type(mark) is not int or not 0 <= mark <= 0xFFFFFFFF:
            _u32(mark, "mark", "tc")
        if type(priority) is not int or not 0 <= priority <= 0xFFFFFFFF:
            _u32(priority, "priority", "tc")
        proto, pkt_type = _ethernet(data)
        ingress = direction is _TC_INGRESS
        chain = (self._ingress if ingress else self._egress).attached_chain()
        if not chain:
            return TcResult(TcVerdict.OK, data, {}, ())
        verdict = _TC_OK
        retvals: list[int] = []
        size = len(data)
        slot = skb_slot(self._runner, data, pkt_type, mark, proto, priority, self.ifindex,
                        self.ifindex if ingress else 0, size)
        try:
            buf = slot.ctx_buf
            for att in chain:
                retval = slot.run(att.vm, _CTX_SIZE) & 0xFFFFFFFF
                if retval & 0x80000000:
                    retval -= 1 << 32
                retvals.append(retval)
                if retval != TC_ACT_UNSPEC:
                    verdict = _TC_FINAL.get(retval, _TC_OK)
                    break
            after = _CHANGEABLE_UNPACK(buf)
            out = slot.data_buf[SKB_HEADROOM:SKB_HEADROOM + size]
        finally:
            slot.busy = False
        if out == data:
            out = data
        changed = {} if after == (mark, 0, priority, 0, _NO_CB, 0, 0) else _changed(
            after, mark, priority)
        return _new(TcResult, (verdict, out, changed, tuple(retvals)))

    def ingress(self, frame: bytes | bytearray | memoryview, *, mark: int = 0,
                priority: int = 0) -> TcResult:
        return self._run(_TC_INGRESS, frame, mark, priority)

    def egress(self, frame: bytes | bytearray | memoryview, *, mark: int = 0,
               priority: int = 0) -> TcResult:
        return self._run(_TC_EGRESS, frame, mark, priority)


_TCX_INGRESS = 46
_TCX_EGRESS = 47


# -- cgroup_skb --------------------------------------------------------------
class CgroupSkbVerdict(enum.IntEnum):
    ALLOW = 1
    DROP = 0


_CG_ALLOW, _CG_DROP = CgroupSkbVerdict.ALLOW, CgroupSkbVerdict.DROP


class CgroupSkbResult(NamedTuple):
    """A packet through a cgroup's ingress or egress: the verdict, whether
    congestion notification was asked (egress bit 1), the skb fields the
    programs changed and each program's return value in run order."""

    verdict: CgroupSkbVerdict
    congestion: bool
    changed: dict[str, int | bytes]
    retvals: tuple[int, ...] = ()

    @property
    def allowed(self) -> bool:
        return self.verdict == CgroupSkbVerdict.ALLOW


class CgroupSkbHook:
    """cgroup_skb: a host's sockets sending and receiving IP packets, per
    cgroup (an int; None attaches for every cgroup): an ingress and an
    egress chain."""

    hook_name = "cgroup_skb"
    prog_type = BpfProgType.BPF_PROG_TYPE_CGROUP_SKB

    def __init__(self, ifindex: int = 1) -> None:
        self.ifindex = ifindex
        self._runner = skb_runner(False)
        self.chains = {egress: _DirectionalChain() for egress in (False, True)}
        for chain in self.chains.values():
            chain.hook_name = self.hook_name
            chain.prog_type = self.prog_type

    def __repr__(self) -> str:
        return (f"<CgroupSkbHook ingress {len(self.chains[False].attached())}, egress "
                f"{len(self.chains[True].attached())} programs>")

    def attach(self, prog: XdpProgram, *, egress: bool, cgroup: int | None = None,
               owner: object | None = None) -> None:
        expected = prog.expected_attach_type
        want = (BpfAttachType.BPF_CGROUP_INET_EGRESS if egress
                else BpfAttachType.BPF_CGROUP_INET_INGRESS)
        if prog.prog_type == self.prog_type and expected and expected != want:
            raise LibbpfError(errno.EINVAL, f"cgroup_skb: program {prog.name!r} expects attach "
                                            f"type {expected}, not {int(want)}")
        self.chains[bool(egress)].attach(prog, owner=owner, cgroup=cgroup)

    def detach(self, prog: XdpProgram, *, egress: bool, cgroup: int | None = None,
               owner: object | None = None) -> bool:
        return self.chains[bool(egress)].detach(prog, owner=owner, cgroup=cgroup)

    def attached(self, *, egress: bool, cgroup: int | None = None) -> list[XdpProgram]:
        return self.chains[bool(egress)].attached(cgroup)

    def run(self, packet: bytes | bytearray | memoryview, *, egress: bool,
            cgroup: int | None = None, mark: int = 0, priority: int = 0) -> CgroupSkbResult:
        """A socket of ``cgroup`` receives (or, with ``egress``, sends) the
        IP packet ``packet``."""
        return self._run(packet, egress, cgroup, mark, priority)

    def _run(self, packet: bytes | bytearray | memoryview, egress: bool, cgroup: int | None,
             mark: int, priority: int) -> CgroupSkbResult:
        if type(packet) is bytes and 0 < len(packet) <= MAX_SKB_PACKET:
            data = packet
        else:
            data = _check_packet(packet, self.hook_name)
        version = data[0] >> 4
        if version not in (4, 6):
            raise LibbpfError(errno.EAFNOSUPPORT, f"cgroup_skb: not an IPv4 or IPv6 packet "
                                                  f"(version {version})")
        proto = ETH_P_IP if version == 4 else ETH_P_IPV6
        if type(mark) is not int or not 0 <= mark <= 0xFFFFFFFF:
            _u32(mark, "mark", self.hook_name)
        if type(priority) is not int or not 0 <= priority <= 0xFFFFFFFF:
            _u32(priority, "priority", self.hook_name)
        allow, congestion = True, False
        retvals: list[int] = []
        chain = self.chains[bool(egress)].attached_chain(cgroup)
        if not chain:
            return CgroupSkbResult(CgroupSkbVerdict.ALLOW, False, {}, ())
        slot = skb_slot(self._runner, data, 0, mark, _nbo16(proto), priority, self.ifindex,
                        0 if egress else self.ifindex, 0)
        try:
            buf = slot.ctx_buf
            for att in chain:
                retval = slot.run(att.vm, _CTX_SIZE) & 0xFFFFFFFF
                retvals.append(retval)
                if not retval & 1:
                    allow = False
                if egress and retval & 2:
                    congestion = True
            after = _CHANGEABLE_UNPACK(buf)
        finally:
            slot.busy = False
        verdict = _CG_ALLOW if allow else _CG_DROP
        changed = {} if after == (mark, 0, priority, 0, _NO_CB, 0, 0) else _changed(
            after, mark, priority)
        return _new(CgroupSkbResult, (verdict, congestion, changed, tuple(retvals)))

    def ingress(self, packet: bytes | bytearray | memoryview, *, cgroup: int | None = None,
                mark: int = 0, priority: int = 0) -> CgroupSkbResult:
        return self._run(packet, False, cgroup, mark, priority)

    def egress(self, packet: bytes | bytearray | memoryview, *, cgroup: int | None = None,
               mark: int = 0, priority: int = 0) -> CgroupSkbResult:
        return self._run(packet, True, cgroup, mark, priority)


_tc_hooks: dict[int, TcHook] = {}
_cgroup_skb_hook: list[CgroupSkbHook] = []
_default_lock = threading.Lock()


def default_tc_hook(ifindex: int = 1) -> TcHook:
    """The process-wide tc hook of interface ``ifindex`` (created on first
    use, like a host's dummy interfaces) libbpf-style calls attach to."""
    if type(ifindex) is not int or not 0 < ifindex < 1 << 31:
        raise LibbpfError(errno.ENODEV, f"tc: no interface {ifindex!r}")
    with _default_lock:
        hook = _tc_hooks.get(ifindex)
        if hook is None:
            hook = _tc_hooks[ifindex] = TcHook(ifindex)
        return hook


def default_cgroup_skb_hook() -> CgroupSkbHook:
    """The process-wide cgroup_skb hook libbpf-style calls attach to."""
    with _default_lock:
        if not _cgroup_skb_hook:
            _cgroup_skb_hook.append(CgroupSkbHook())
        return _cgroup_skb_hook[0]


__all__ = [
    "SKB_CGROUP",
    "SKB_LAYOUTS",
    "SKB_NATIVE",
    "SKB_SIZE",
    "SKB_SOCKET_FILTER",
    "SKB_TC",
    "CgroupSkbHook",
    "CgroupSkbResult",
    "CgroupSkbVerdict",
    "SkbRun",
    "SocketFilterHook",
    "SocketFilterResult",
    "TcDirection",
    "TcHook",
    "TcResult",
    "TcVerdict",
    "default_cgroup_skb_hook",
    "default_tc_hook",
    "ethernet_fields",
    "ip_socket_fields",
    "native_skb_ctx",
    "run_skb",
]
