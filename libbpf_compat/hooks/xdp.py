"""The XDP hook: network interfaces a host drives by handing them packets.

An :class:`XdpHook` holds at most one program per interface, as Linux does
without multi-program dispatchers. :meth:`XdpHook.receive` runs it on the
native XDP context (:data:`~libbpf_compat.hooks.contexts.XDP_NATIVE`) over
the packet, placed after :data:`XDP_PACKET_HEADROOM` bytes of headroom, and
returns the verdict normalised across ABIs (:class:`XdpVerdict`: a Linux
program's ``2`` and an eBPF-for-Windows program's ``1`` are both PASS; a
value the program's ABI does not define is ABORTED, as Linux treats it) and
the packet as the program left it. No program attached: PASS, packet
unchanged. :meth:`XdpHook.receive_batch` does the same for a list of
packets in one native call (:class:`XdpBatchResult`: the verdicts, return
values, redirect targets and packets, in order); both run the program from
C through :mod:`libbpf_compat.hooks.xdp_native`, on the frame
:func:`~libbpf_compat.hooks.xdp_frame.run_xdp_frame` builds, so the XDP
packet helpers (adjust_head / tail / meta, redirect, redirect_map) work.
A REDIRECT to an interface the hook does not have (or with no target) is
ABORTED, as Linux drops a failed redirect.

Attach rules follow Linux's ``dev_xdp_attach``:

- an attachment is owned by a link (``bpf_program__attach_xdp``) or by
  nobody (netlink style, ``bpf_xdp_attach``);
- a link attachment cannot be replaced or detached other than through its
  link: EBUSY;
- a link cannot attach over any program: EBUSY;
- a netlink-style attach replaces the program unless
  :data:`XDP_FLAGS_UPDATE_IF_NOEXIST` is given (EBUSY then);
  with :data:`XDP_FLAGS_REPLACE` the current program must be the expected
  one (EEXIST otherwise);
- one mode flag at most (SKB, DRV, HW); attaching in another mode than the
  current program's is EEXIST.

Interfaces: a hook made with ``interfaces=None`` (the default hook) has an
interface for every ifindex 1..2**31-1, created on first use like a host's
dummy interfaces; a hook given a set of ifindexes has only those. Anything
else is ENODEV.

The hook owns its verdict meaning (:data:`ABI_VERDICTS`, the numbers of
shared/reference/ABI.md; ``tests/test_hooks_xdp.py`` checks them against
``libbpf_compat.abi``).
"""

from __future__ import annotations

import enum
import errno
import struct
import threading
from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from libbpf_compat.errors import LibbpfError
from libbpf_compat.hooks.xdp_frame import (
    ETH_HLEN,
    XDP_MAX_PACKET,
    XDP_PACKET_HEADROOM,
    run_xdp_frame,
)
from libbpf_compat.hooks.xdp_native import XdpBatchResult, XdpRunner
from libbpf_compat.uapi import BpfAttachType, BpfProgType
from libbpf_compat.vm import RunResult, Vm

#: The native context (XDP_NATIVE): data, data_end, data_meta, ingress_ifindex,
#: rx_queue_index, egress_ifindex.
NATIVE_XDP_CTX = struct.Struct("<QQQIII4x")

# <linux/if_link.h> XDP flags.
XDP_FLAGS_UPDATE_IF_NOEXIST = 1 << 0
XDP_FLAGS_SKB_MODE = 1 << 1
XDP_FLAGS_DRV_MODE = 1 << 2
XDP_FLAGS_HW_MODE = 1 << 3
XDP_FLAGS_REPLACE = 1 << 4
XDP_FLAGS_MODES = XDP_FLAGS_SKB_MODE | XDP_FLAGS_DRV_MODE | XDP_FLAGS_HW_MODE
XDP_FLAGS_MASK = XDP_FLAGS_UPDATE_IF_NOEXIST | XDP_FLAGS_MODES | XDP_FLAGS_REPLACE

_MAX_IFINDEX = (1 << 31) - 1
_new_result = tuple.__new__  # XdpResult without its Python-level __new__


class XdpVerdict(enum.IntEnum):
    """What the hook does with a packet, whatever the program's ABI
    (numbered as Linux's ``enum xdp_action``)."""

    ABORTED = 0
    DROP = 1
    PASS = 2
    TX = 3
    REDIRECT = 4


_ABORTED = XdpVerdict.ABORTED  # module constants: faster than the enum attributes
_REDIRECT = XdpVerdict.REDIRECT

#: A program's own return value -> verdict, per ABI (ABI.md: Linux
#: aborted 0 drop 1 pass 2 tx 3 redirect 4; Windows pass 1 drop 2 tx 3).
ABI_VERDICTS: Mapping[str, Mapping[int, XdpVerdict]] = {
    "linux": {int(v): v for v in XdpVerdict},
    "windows": {1: XdpVerdict.PASS, 2: XdpVerdict.DROP, 3: XdpVerdict.TX},
}


def normalise_verdict(abi: str, retval: int) -> XdpVerdict:
    """The verdict a program of ``abi`` means by returning ``retval``
    (its low 32 bits, as the kernel reads it); unknown values are ABORTED."""
    table = ABI_VERDICTS.get(abi)
    if table is None:
        raise LibbpfError(errno.EINVAL, f"unknown ABI {abi!r}")
    return table.get(retval & 0xFFFFFFFF, XdpVerdict.ABORTED)


class XdpProgram(Protocol):
    """What the hook needs of a loaded program (``object.Program`` is one)."""

    name: str
    abi: str
    prog_type: int
    expected_attach_type: int
    vm: Vm | None

    @property
    def id(self) -> int: ...


class XdpResult(NamedTuple):
    """One packet through the hook: the normalised verdict, the packet
    after the run, and the program's raw return value (its ABI's number;
    None when no program is attached). A named tuple: cheap to make, as one
    is made per packet."""

    verdict: XdpVerdict
    packet: bytes
    retval: int | None = None
    #: the interface a REDIRECT verdict sends the packet to
    redirect_ifindex: int | None = None


def run_xdp(vm: Vm, data: bytes | bytearray | memoryview, ingress_ifindex: int = 0,
            rx_queue_index: int = 0, repeat: int = 1) -> tuple[RunResult, bytes]:
    """Run ``vm`` ``repeat`` times on a native XDP context over ``data``
    (at least ETH_HLEN bytes, in a frame with Linux's head- and tailroom:
    :func:`~libbpf_compat.hooks.xdp_frame.run_xdp_frame`). Returns the run's
    result and the packet between the context's data and data_end after the
    run."""
    out = run_xdp_frame(vm, data, ingress_ifindex, rx_queue_index, repeat)
    return out.run, out.packet


@dataclass(frozen=True)
class _Attachment:
    prog: XdpProgram
    vm: Vm
    mode: int
    owner: object | None  # the link that owns it; None when attached netlink style
    verdicts: Mapping[int, XdpVerdict]  # the program's ABI's return values -> verdicts


class XdpHook:
    """Network interfaces with one XDP program each; the host calls
    :meth:`receive` with packets."""

    def __init__(self, interfaces: Iterable[int] | None = None) -> None:
        self._interfaces = None if interfaces is None else frozenset(interfaces)
        self._slots: dict[int, _Attachment] = {}
        self._lock = threading.Lock()
        self._runner = XdpRunner(self._interfaces)

    def __repr__(self) -> str:
        return f"<XdpHook {len(self._slots)} programs attached>"

    def _check_ifindex(self, ifindex: int) -> None:
        if type(ifindex) is not int or not 0 < ifindex <= _MAX_IFINDEX or (
                self._interfaces is not None and ifindex not in self._interfaces):
            raise LibbpfError(errno.ENODEV, f"xdp: no interface with ifindex {ifindex!r}")

    def _has_interface(self, ifindex: int) -> bool:
        return 0 < ifindex <= _MAX_IFINDEX and (
            self._interfaces is None or ifindex in self._interfaces)

    @staticmethod
    def _mode(flags: int) -> int:
        if type(flags) is not int or flags & ~XDP_FLAGS_MASK:
            raise LibbpfError(errno.EINVAL, f"xdp: invalid flags {flags!r}")
        mode = flags & XDP_FLAGS_MODES
        if mode & (mode - 1):
            raise LibbpfError(errno.EINVAL, "xdp: only one XDP mode flag can be set")
        return mode or XDP_FLAGS_DRV_MODE

    @staticmethod
    def _check_program(prog: XdpProgram) -> Vm:
        if prog.prog_type != BpfProgType.BPF_PROG_TYPE_XDP:
            raise LibbpfError(errno.EINVAL, f"xdp: program {prog.name!r} is not an XDP program "
                                            f"(type {prog.prog_type})")
        if prog.expected_attach_type in (BpfAttachType.BPF_XDP_DEVMAP,
                                         BpfAttachType.BPF_XDP_CPUMAP):
            raise LibbpfError(errno.EINVAL, f"xdp: program {prog.name!r} is a devmap/cpumap "
                                            "program and cannot be attached to an interface")
        if prog.vm is None:
            raise LibbpfError(errno.EINVAL, f"xdp: program {prog.name!r} is not loaded")
        return prog.vm

    def attach(self, prog: XdpProgram, ifindex: int, flags: int = 0, *,
               owner: object | None = None, old_prog: XdpProgram | None = None) -> None:
        """Attach ``prog`` to interface ``ifindex``: owned by ``owner`` (a
        link) or, with ``owner`` None, netlink style (``flags`` and
        ``old_prog`` as bpf_xdp_attach's). See the module for the rules."""
        self._check_ifindex(ifindex)
        mode = self._mode(flags)
        vm = self._check_program(prog)
        if flags & XDP_FLAGS_REPLACE and (owner is not None or old_prog is None):
            raise LibbpfError(errno.EINVAL, "xdp: XDP_FLAGS_REPLACE needs the expected old "
                                            "program (and no link)")
        with self._lock:
            current = self._slots.get(ifindex)
            if current is not None:
                if current.owner is not None:
                    raise LibbpfError(errno.EBUSY, f"xdp: interface {ifindex}: can't replace "
                                                   "the program of an active XDP link")
                if owner is not None:
                    raise LibbpfError(errno.EBUSY, f"xdp: interface {ifindex}: can't attach a "
                                                   f"link over program {current.prog.name!r}")
                if current.mode != mode:
                    raise LibbpfError(errno.EEXIST, f"xdp: interface {ifindex}: a program is "
                                                    "attached in another XDP mode")
                if flags & XDP_FLAGS_UPDATE_IF_NOEXIST:
                    raise LibbpfError(errno.EBUSY, f"xdp: interface {ifindex}: program "
                                                   f"{current.prog.name!r} already attached")
            if flags & XDP_FLAGS_REPLACE and (current.prog if current else None) is not old_prog:
                raise LibbpfError(errno.EEXIST, f"xdp: interface {ifindex}: the attached "
                                                "program is not the one to replace")
            verdicts = ABI_VERDICTS.get(prog.abi)
            if verdicts is None:
                raise LibbpfError(errno.EINVAL, f"xdp: program {prog.name!r} has an unknown "
                                                f"ABI {prog.abi!r}")
            self._slots[ifindex] = _Attachment(prog, vm, mode, owner, verdicts)

    def detach(self, ifindex: int, flags: int = 0, *, owner: object | None = None,
               old_prog: XdpProgram | None = None) -> bool:
        """Detach what ``owner`` attached to ``ifindex`` (a link's detach:
        False when it is no longer attached), or, with ``owner`` None, the
        netlink-style program (EBUSY when a link owns the interface; with
        XDP_FLAGS_REPLACE only if it is ``old_prog``, else EEXIST)."""
        self._check_ifindex(ifindex)
        self._mode(flags)
        with self._lock:
            current = self._slots.get(ifindex)
            if owner is not None:
                if current is None or current.owner is not owner:
                    return False
                del self._slots[ifindex]
                return True
            if current is not None and current.owner is not None:
                raise LibbpfError(errno.EBUSY, f"xdp: interface {ifindex}: its program belongs "
                                               "to an XDP link; destroy the link instead")
            if flags & XDP_FLAGS_REPLACE and (current.prog if current else None) is not old_prog:
                raise LibbpfError(errno.EEXIST, f"xdp: interface {ifindex}: the attached "
                                                "program is not the one to detach")
            return self._slots.pop(ifindex, None) is not None

    def detach_program(self, prog: XdpProgram) -> list[int]:
        """Detach ``prog`` from every interface, whoever owns the attachment;
        returns the interfaces it left."""
        with self._lock:
            gone = [i for i, a in self._slots.items() if a.prog is prog]
            for ifindex in gone:
                del self._slots[ifindex]
        return gone

    def attached(self, ifindex: int) -> XdpProgram | None:
        """The program on interface ``ifindex``, or None."""
        self._check_ifindex(ifindex)
        current = self._slots.get(ifindex)
        return current.prog if current is not None else None

    def query_id(self, ifindex: int, flags: int = 0) -> int:
        """bpf_xdp_query_id: the id of the program on ``ifindex`` (0 for
        none); with a mode flag, only a program attached in that mode."""
        self._check_ifindex(ifindex)
        if type(flags) is not int or flags & ~XDP_FLAGS_MASK:
            raise LibbpfError(errno.EINVAL, f"xdp: invalid flags {flags!r}")
        current = self._slots.get(ifindex)
        if current is None:
            return 0
        modes = flags & XDP_FLAGS_MODES
        if modes and not modes & current.mode:
            return 0
        return current.prog.id

    def receive(self, packet: bytes | bytearray | memoryview, ifindex: int,
                rx_queue: int = 0) -> XdpResult:
        """Interface ``ifindex`` receives ``packet`` on queue ``rx_queue``:
        run its program and return the normalised verdict and the packet."""
        current = self._slots.get(ifindex)
        if current is None or type(ifindex) is not int:  # attached: a valid interface
            self._check_ifindex(ifindex)
        if type(rx_queue) is not int or not 0 <= rx_queue <= 0xFFFFFFFF:
            raise LibbpfError(errno.EINVAL, f"xdp: invalid rx queue {rx_queue!r}")
        size = len(packet)
        if not ETH_HLEN <= size <= XDP_MAX_PACKET:
            raise LibbpfError(errno.EINVAL, f"xdp: interface {ifindex}: a packet of {size} "
                                            f"bytes (the hook takes {ETH_HLEN}..{XDP_MAX_PACKET})")
        if current is None:
            return XdpResult(XdpVerdict.PASS, bytes(packet))
        retval, out, target = self._runner.run(current.vm, packet, size, ifindex, rx_queue)
        verdict = current.verdicts.get(retval, _ABORTED)
        if verdict is not _REDIRECT:
            return _new_result(XdpResult, (verdict, out, retval, None))
        if target is None or not self._has_interface(target):
            return _new_result(XdpResult, (_ABORTED, out, retval, None))  # Linux drops it
        return _new_result(XdpResult, (verdict, out, retval, target))

    def receive_batch(self, packets: Sequence[bytes | bytearray | memoryview], ifindex: int,
                      rx_queue: int = 0) -> XdpBatchResult:
        """Interface ``ifindex`` receives ``packets`` in order on queue
        ``rx_queue``: the same as :meth:`receive` for each, in one native call
        (the GIL released). A run that fails raises as :meth:`receive` does;
        the packets before it have run."""
        self._check_ifindex(ifindex)
        if type(rx_queue) is not int or not 0 <= rx_queue <= 0xFFFFFFFF:
            raise LibbpfError(errno.EINVAL, f"xdp: invalid rx queue {rx_queue!r}")
        current = self._slots.get(ifindex)
        if current is None:
            sizes = [len(p) for p in packets]
            bad = [i for i, n in enumerate(sizes) if not ETH_HLEN <= n <= XDP_MAX_PACKET]
            if bad:
                raise LibbpfError(errno.EINVAL, f"xdp: interface {ifindex}: packet {bad[0]} has "
                                                f"{sizes[bad[0]]} bytes (the hook takes "
                                                f"{ETH_HLEN}..{XDP_MAX_PACKET})")
            return XdpBatchResult(bytes([XdpVerdict.PASS]) * len(sizes), None,
                                  b"".join(packets), sizes, array("I", bytes(4 * len(sizes))))
        return self._runner.run_batch(current.vm, packets, ifindex, rx_queue, current.verdicts,
                                      ETH_HLEN)


_default_hook: XdpHook | None = None
_default_lock = threading.Lock()


def default_hook() -> XdpHook:
    """The process-wide XDP hook the libbpf-style calls attach to (every
    ifindex 1..2**31-1 is an interface)."""
    global _default_hook
    with _default_lock:
        if _default_hook is None:
            _default_hook = XdpHook()
        return _default_hook


__all__ = [
    "ABI_VERDICTS",
    "ETH_HLEN",
    "NATIVE_XDP_CTX",
    "XDP_FLAGS_DRV_MODE",
    "XDP_FLAGS_HW_MODE",
    "XDP_FLAGS_MASK",
    "XDP_FLAGS_MODES",
    "XDP_FLAGS_REPLACE",
    "XDP_FLAGS_SKB_MODE",
    "XDP_FLAGS_UPDATE_IF_NOEXIST",
    "XDP_MAX_PACKET",
    "XDP_PACKET_HEADROOM",
    "XdpBatchResult",
    "XdpHook",
    "XdpProgram",
    "XdpResult",
    "XdpVerdict",
    "default_hook",
    "normalise_verdict",
    "run_xdp",
]
