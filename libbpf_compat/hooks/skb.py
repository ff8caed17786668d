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
from dataclasses import dataclass
from typing import NamedTuple

from libbpf_compat._native import ffi
from libbpf_compat.errors import LibbpfError
from libbpf_compat.hooks.chain import ProgramChain
from libbpf_compat.hooks.contexts import (
    SKB_CGROUP,
    SKB_LAYOUTS,
    SKB_NATIVE,
    SKB_SIZE,
    SKB_SOCKET_FILTER,
    SKB_TC,
)
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

#: The native context with what the skb helpers use after it
#: (``lbc_skb_ctx`` in native/lbc_runtime.h): the packet's buffer, the
#: largest packet, the network header's offset, the redirect target.
SKB_CTX_SIZE = 264
_TRAILER = struct.Struct("<QQIIIIIIQ")
_TRAILER_AT = 216
_REDIRECT_AT = 240
SKB_CTX_MAGIC = 0x4B43424C  # "LBCK"
#: The longest packet the skb helpers may make: SKB_MAX_ALLOC (four pages
#: less the skb_shared_info), the limit this machine's kernel applies in
#: BPF_PROG_TEST_RUN (measured by tests/test_helpers_skb.py).
SKB_MAX_LEN = 16064
#: How much bpf_skb_change_proto grows an IPv4 packet into an IPv6 one.
_IPV6_GROWTH = 20
BPF_F_INGRESS = 1

#: The fields a run may change and the hooks report.
CHANGEABLE = ("mark", "queue_mapping", "priority", "tc_index", "cb", "tc_classid", "tstamp",
              "protocol", "pkt_type")
#: Native context field name -> (offset, size), for the hooks' fast paths.
_AT = {f.name: (f.offset, f.size) for f in SKB_NATIVE.fields}
_CHANGEABLE_AT = tuple((name, *_AT[name]) for name in CHANGEABLE)
_DATA_AT = _AT["data"][0]  # data, data_end, data_meta: three u64 in a row


@dataclass
class SkbRun:
    """One run's outcome: the run, the packet bytes after it and the
    context after it (native layout)."""

    result: RunResult
    packet: bytes
    ctx: bytearray

    @property
    def redirect(self) -> tuple[int, bool] | None:
        """The (ifindex, ingress) bpf_redirect chose, None when it was not called."""
        ifindex, flags, redirected = struct.unpack_from("<III", self.ctx, _REDIRECT_AT)
        return (ifindex, bool(flags & BPF_F_INGRESS)) if redirected else None

    def field(self, name: str) -> int | bytes:
        offset, size = _AT[name]
        raw = bytes(self.ctx[offset:offset + size])
        return raw if size > 8 else int.from_bytes(raw, "little")


def native_skb_ctx(fields: dict[str, int | bytes]) -> bytearray:
    """A native skb context with ``fields`` set (ints little-endian, bytes as given)."""
    ctx = bytearray(SKB_CTX_SIZE)
    for name, value in fields.items():
        offset, size = _AT[name]
        raw = value if isinstance(value, bytes) else (value & ((1 << 8 * size) - 1)).to_bytes(
            size, "little")
        ctx[offset:offset + len(raw)] = raw
    return ctx


def run_skb(vm: Vm, packet: bytes | bytearray, ctx: bytearray, *, writable_packet: bool,
            repeat: int = 1, net_off: int = 0) -> SkbRun:
    """Run ``vm`` ``repeat`` times on the native context ``ctx`` (its
    pointers and helper trailer are set here) over a copy of ``packet``,
    placed after SKB_HEADROOM bytes of headroom. A writable packet sits in
    a buffer it may grow in up to SKB_MAX_LEN bytes (bpf_skb_change_tail /
    _head / _proto); ``net_off`` is where its network header starts. The
    packet is also what legacy LD_ABS / LD_IND loads read."""
    if not packet:
        raise LibbpfError(errno.EINVAL, "skb: an empty packet")
    if len(ctx) < SKB_CTX_SIZE:
        ctx.extend(bytes(SKB_CTX_SIZE - len(ctx)))
    size = len(packet)
    room = max(size, SKB_MAX_LEN) + _IPV6_GROWTH if writable_packet else size
    buf = bytearray(SKB_HEADROOM + room)
    buf[SKB_HEADROOM:SKB_HEADROOM + size] = packet
    whole = memoryview(buf)
    view = whole[SKB_HEADROOM:SKB_HEADROOM + size]
    try:
        with ffi.from_buffer("uint8_t[]", buf) as cbuf:
            base = int(ffi.cast("uintptr_t", cbuf))
            start = base + SKB_HEADROOM
            struct.pack_into("<QQQ", ctx, _DATA_AT, start, start + size, start)
            _TRAILER.pack_into(ctx, _TRAILER_AT, base, base + len(buf), SKB_MAX_LEN, net_off,
                               0, 0, 0, int(writable_packet), SKB_CTX_MAGIC)
            result = vm.run_repeat(ctx, repeat, regions=[(whole, writable_packet),
                                                         (view, False)], packet=1)
            data, end = struct.unpack_from("<QQ", ctx, _DATA_AT)
            out = bytes(buf[data - base:end - base])
    finally:
        view.release()
        whole.release()
    return SkbRun(result, out, ctx)


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
#: ingress_ifindex, ifindex, wire_len (every other scalar byte zero), then
#: data, data_end, data_meta and the helper trailer (buf_start, buf_end,
#: max_len, net_off, redirect_ifindex, redirect_flags, redirected,
#: writable, magic): what run_skb runs on
_CTX = struct.Struct("<III4xI12xIII116xI28xQQQ")
_CTX_PACK = _CTX.pack_into
assert _CTX.size == _TRAILER_AT and (
    _AT["len"][0], _AT["pkt_type"][0], _AT["mark"][0], _AT["protocol"][0],
    _AT["priority"][0], _AT["ingress_ifindex"][0], _AT["ifindex"][0],
    _AT["wire_len"][0]) == (0, 4, 8, 16, 32, 36, 40, 160)
#: the pointers and the trailer alone: the trailer is set when the slot's
#: buffer size changes (it is the same for every packet of a size class),
#: all of it again for a tc program after one that moved the packet
_ARM = struct.Struct(f"<QQQ{_TRAILER.format[1:]}")
_ARM_PACK = _ARM.pack_into
assert _DATA_AT + 24 == _TRAILER_AT and _DATA_AT + _ARM.size == SKB_CTX_SIZE
#: after a run: data, data_end, redirect_ifindex, redirect_flags, redirected
_AFTER = struct.Struct(f"<QQ{_REDIRECT_AT - _DATA_AT - 16}xIII")
_AFTER_UNPACK = _AFTER.unpack_from
_REDIRECT_CLEAR = struct.Struct("<III").pack_into


#: the fields a run may change, in offset order: pkt_type, mark,
#: queue_mapping, protocol, priority, tc_index, cb, tc_classid, tstamp
_CHANGEABLE = struct.Struct("<4xIIII12xI8xI20s4xI76xQ")
_CHANGEABLE_UNPACK = _CHANGEABLE.unpack_from
_BY_OFFSET = sorted(_CHANGEABLE_AT, key=lambda f: f[1])
assert tuple((name, offset) for name, offset, _ in _BY_OFFSET) == (
    ("pkt_type", 4), ("mark", 8), ("queue_mapping", 12), ("protocol", 16), ("priority", 32),
    ("tc_index", 44), ("cb", 48), ("tc_classid", 72), ("tstamp", 152))
#: CHANGEABLE's names with their index in an unpacked _CHANGEABLE
_CHANGEABLE_INDEX = tuple((name, _BY_OFFSET.index(f)) for f in _CHANGEABLE_AT
                          for name in (f[0],))
_NO_CB = bytes(20)


def _changed(after: tuple[int | bytes, ...],
             before: tuple[int | bytes, ...]) -> dict[str, int | bytes]:
    """The changeable fields whose value ``after`` the run (unpacked with
    _CHANGEABLE) differs from ``before`` (in CHANGEABLE order)."""
    return {name: after[i] for name, i in _CHANGEABLE_INDEX if after[i] != before[i]}


#: the data buffer a writable packet may grow in: headroom, the largest
#: packet the hooks take, and an IPv6 header's growth
_SKB_BUFFER = SKB_HEADROOM + MAX_SKB_PACKET + _IPV6_GROWTH


def skb_runner(writable_packet: bool) -> FastRunner:
    """A hook's runner for skb programs (see :func:`skb_slot`): its data
    region is the packet's whole buffer, headroom included, as run_skb's."""
    return FastRunner(SKB_CTX_SIZE, _SKB_BUFFER, data_writable=writable_packet)


def _room(size: int, writable: bool) -> int:
    """The buffer after the headroom a packet of ``size`` bytes runs in."""
    return max(size, SKB_MAX_LEN) + _IPV6_GROWTH if writable else size


def skb_slot(runner: FastRunner, data: bytes, pkt_type: int, mark: int, protocol: int,
             priority: int, ingress_ifindex: int, ifindex: int, wire_len: int,
             writable: bool, net_off: int) -> RunSlot:
    """The thread's slot with the packet in its data region (after
    SKB_HEADROOM bytes) and the native context set as run_skb runs on
    ``native_skb_ctx`` of these fields: pointers, helper trailer (no
    redirect target), the packet what LD_ABS / LD_IND read, every buffer
    byte around the packet zero. A hook's slots always get the same
    ``writable`` and ``net_off``. Give it back with ``release()`` (a run
    that raised: with :func:`skb_spoil` first; one that redirected: with
    the redirect target cleared)."""
    slot = runner.slot()
    size = len(data)
    end = SKB_HEADROOM + size
    buf = slot.data_buf
    start = slot.data_addr + SKB_HEADROOM
    _CTX_PACK(slot.ctx_buf, 0, size, pkt_type, mark, protocol, priority, ingress_ifindex,
              ifindex, wire_len, start, start + size, start)
    buf[SKB_HEADROOM:end] = data
    dirty = slot.dirty
    if dirty != end:  # another size than the last packet's, or a fresh / spoilt slot
        if dirty > end:  # an earlier, longer packet's bytes
            buf[end:dirty] = bytes(dirty - end)
        elif dirty < 0:
            buf[0:SKB_HEADROOM] = bytes(SKB_HEADROOM)
            buf[end:] = bytes(len(buf) - end)
        slot.dirty = end
        ex = slot.ex
        ex.pkt = slot.data + SKB_HEADROOM
        ex.pkt_len = size
    room = (size if size > SKB_MAX_LEN else SKB_MAX_LEN) + _IPV6_GROWTH if writable else size
    if slot.data_len != SKB_HEADROOM + room:
        slot.set_data_len(SKB_HEADROOM + room)
        _TRAILER.pack_into(slot.ctx_buf, _TRAILER_AT, slot.data_addr, start + room,
                           SKB_MAX_LEN, net_off, 0, 0, 0, writable, SKB_CTX_MAGIC)
    return slot


def skb_spoil(slot: RunSlot) -> None:
    """A run on the slot raised: its buffer and packet pointer are unknown
    (the next :func:`skb_slot` zeroes and sets them, and the trailer)."""
    slot.dirty = -1
    slot.data_len = -1


def skb_settle(slot: RunSlot, data: int, end: int) -> int:
    """After a tc program moved or resized the packet (now at the
    addresses ``data``..``end``): the packet placed back after the
    headroom, every other byte of the buffer zero (run_skb's fresh buffer
    for the next program), the context's pointers and trailer and LD_ABS's
    packet set again. Its size."""
    base = slot.data_addr
    total = slot.data_len
    lo = min(max(data - base, 0), total)
    hi = min(max(end - base, lo), total)
    buf = slot.data_buf
    packet = buf[lo:hi]
    size: int = hi - lo
    buf[0:total] = bytes(total)
    buf[SKB_HEADROOM:SKB_HEADROOM + size] = packet
    slot.dirty = SKB_HEADROOM + size
    start = base + SKB_HEADROOM
    room = _room(size, True)
    if total != SKB_HEADROOM + room:
        slot.set_data_len(SKB_HEADROOM + room)
    _ARM_PACK(slot.ctx_buf, _DATA_AT, start, start + size, start, base, start + room,
              SKB_MAX_LEN, ETH_HLEN, 0, 0, 0, 1, SKB_CTX_MAGIC)
    ex = slot.ex
    ex.pkt = slot.data + SKB_HEADROOM
    ex.pkt_len = size
    return size


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
                        self.ifindex, 0, False, ETH_HLEN if self.packet_socket else 0)
        try:
            keep = slot.run(chain[0].vm, SKB_CTX_SIZE) & 0xFFFFFFFF
        except BaseException:
            skb_spoil(slot)
            raise
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
    #: for a REDIRECT verdict, the (ifindex, ingress) bpf_redirect chose
    redirect: tuple[int, bool] | None = None


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
        redirect: tuple[int, bool] | None = None
        slot = skb_slot(self._runner, data, pkt_type, mark, proto, priority, self.ifindex,
                        self.ifindex if ingress else 0, size, True, ETH_HLEN)
        try:
            buf = slot.ctx_buf
            start = slot.data_addr + SKB_HEADROOM
            for att in chain:
                retval = slot.run(att.vm, SKB_CTX_SIZE) & 0xFFFFFFFF
                at, end, ifindex, flags, redirected = _AFTER_UNPACK(buf, _DATA_AT)
                if at != start or end != start + size:
                    size = skb_settle(slot, at, end)
                elif redirected:  # the next program (or packet) starts without a target
                    _REDIRECT_CLEAR(buf, _REDIRECT_AT, 0, 0, 0)
                if redirected:
                    redirect = (ifindex, bool(flags & BPF_F_INGRESS))
                if retval & 0x80000000:
                    retval -= 1 << 32
                retvals.append(retval)
                if retval != TC_ACT_UNSPEC:
                    verdict = _TC_FINAL.get(retval, _TC_OK)
                    break
            after = _CHANGEABLE_UNPACK(buf)
            out = slot.data_buf[SKB_HEADROOM:SKB_HEADROOM + size]
        except BaseException:
            skb_spoil(slot)
            raise
        finally:
            slot.busy = False
        if out == data:
            out = data
        before = (pkt_type, mark, 0, proto, priority, 0, _NO_CB, 0, 0)
        changed = {} if after == before else _changed(after, before)
        return _new(TcResult, (verdict, out, changed, tuple(retvals),
                               redirect if verdict is TcVerdict.REDIRECT else None))

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
                        0 if egress else self.ifindex, 0, False, 0)
        try:
            buf = slot.ctx_buf
            for att in chain:
                retval = slot.run(att.vm, SKB_CTX_SIZE) & 0xFFFFFFFF
                retvals.append(retval)
                if not retval & 1:
                    allow = False
                if egress and retval & 2:
                    congestion = True
            after = _CHANGEABLE_UNPACK(buf)
        except BaseException:
            skb_spoil(slot)
            raise
        finally:
            slot.busy = False
        verdict = _CG_ALLOW if allow else _CG_DROP
        before = (0, mark, 0, _nbo16(proto), priority, 0, _NO_CB, 0, 0)
        changed = {} if after == before else _changed(after, before)
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
