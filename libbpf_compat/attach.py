"""libbpf's attach calls for the skb hooks, the tracing event sources and
registered program types, and the bpf.h-level attach calls.

- ``bpf_program__attach_tracepoint(prog, category, name)``,
  ``bpf_program__attach_raw_tracepoint(prog, name)``,
  ``bpf_program__attach_kprobe(prog, retprobe, func_name)``,
  ``bpf_program__attach_uprobe(prog, retprobe, pid, binary_path,
  func_offset)`` and ``bpf_program__attach_perf_event(prog, source)``
  attach to the event sources of
  :func:`libbpf_compat.hooks.tracing.default_events` (a tracepoint, raw
  tracepoint or kernel function the host has not defined is ENOENT, as a
  missing one is on Linux; a uprobe source is made on first use, as any
  offset of a binary can be probed). ``pid`` -1 probes every process,
  otherwise only events whose task's tgid is ``pid``.
- ``bpf_program__attach_tcx(prog, ifindex, opts)``: a tc program on an
  interface's ingress or egress (its section's direction, ``tcx/ingress``
  / ``tcx/egress``; plain ``tc`` programs take ``opts.egress``).
- ``bpf_program__attach`` (through :func:`auto_attach`) attaches by
  section as libbpf does: ``tp/CAT/NAME``, ``tracepoint/CAT/NAME``,
  ``raw_tp/NAME``, ``raw_tracepoint/NAME``, ``kprobe/FUNC``,
  ``kretprobe/FUNC``, ``uprobe/PATH:FUNC`` / ``uretprobe/PATH:FUNC`` (a
  function the host defined with ``default_events().uprobe(path, offset,
  func)``) or ``PATH:OFFSET``; the SAMPLE type and registered types attach
  to their hook.
- ``bpf_prog_attach(prog_fd, target_fd, attach_type, flags)`` /
  ``bpf_prog_detach2(prog_fd, target_fd, attach_type)`` /
  ``bpf_prog_detach(target_fd, attach_type)``: attachments without a link
  (they last until detached): cgroup_skb ingress/egress, sock_addr and
  sock_ops attach types for cgroup ``target_fd``; tcx ingress/egress for
  interface ``target_fd``; the eBPF-for-Windows bind, process and sample
  attach types and registered types' attach types on their hooks. Without
  BPF_F_ALLOW_MULTI a new attachment replaces the one ``bpf_prog_attach``
  made before for the same target and type.
- ``bpf_link_get_next_id``, ``bpf_link__pin`` / ``bpf_link__unpin``: a
  pinned link is held by its pin (destroying it closes its fd and leaves it
  attached until it is unpinned), process-local.
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass

from libbpf_compat.abi import windows as windows_abi
from libbpf_compat.errors import LibbpfError
from libbpf_compat.hooks import registry
from libbpf_compat.hooks.bind import default_hook as default_bind_hook
from libbpf_compat.hooks.process import default_hook as default_process_hook
from libbpf_compat.hooks.skb import (
    CgroupSkbHook,
    TcDirection,
    TcHook,
    default_cgroup_skb_hook,
    default_tc_hook,
)
from libbpf_compat.hooks.sock_addr import ATTACH_POINTS
from libbpf_compat.hooks.sock_addr import default_hook as default_sock_addr_hook
from libbpf_compat.hooks.sock_ops import default_hook as default_sock_ops_hook
from libbpf_compat.hooks.tracing import (
    EventSource,
    KprobeSource,
    PerfEventSource,
    TraceEvents,
    default_events,
)
from libbpf_compat.hooks.xdp import default_hook as default_xdp_hook
from libbpf_compat.links import Link, all_links
from libbpf_compat.mapstore import fd_table
from libbpf_compat.object import Program
from libbpf_compat.pinning import resolve_pin_path
from libbpf_compat.sections import BPF_TCX_EGRESS, BPF_TCX_INGRESS
from libbpf_compat.uapi import BpfAttachType, BpfProgType

P = BpfProgType
A = BpfAttachType
BPF_F_ALLOW_OVERRIDE = 1 << 0
BPF_F_ALLOW_MULTI = 1 << 1


class HookLink(Link):
    """A link to one of this module's hooks: ``undo`` detaches it."""

    def __init__(self, prog: Program, what: str, undo: Callable[[HookLink], object]) -> None:
        super().__init__(prog, default_xdp_hook(), 0)
        self.what = what
        self._undo = undo

    def __repr__(self) -> str:
        state = "detached" if self.detached else self.what
        return f"<Link {self.prog.name!r} fd {self.fd} {state}>"

    def _detach_attachment(self) -> None:
        self._undo(self)


def _check_loaded(prog: Program, what: str, prog_types: tuple[int, ...]) -> None:
    if prog is None:
        raise LibbpfError(errno.EINVAL, f"{what}: prog is NULL")
    if prog.fd < 0 or prog.vm is None:
        raise LibbpfError(errno.EINVAL, f"prog {prog.name!r}: can't attach BPF program "
                                        "without FD (was it loaded?)")
    if prog.prog_type not in prog_types:
        raise LibbpfError(errno.EINVAL, f"{what}: program {prog.name!r} has type "
                                        f"{prog.prog_type}, which does not attach here")


def _finish(prog: Program, link: HookLink, attach: Callable[[HookLink], object]) -> HookLink:
    attach(link)
    link.fd = fd_table.install(link)
    prog.owner.links.append(link)
    return link


def _attach_source(prog: Program, source: EventSource, what: str) -> HookLink:
    link = HookLink(prog, what, lambda lk: source.detach(prog, owner=lk))
    return _finish(prog, link, lambda lk: source.attach(prog, owner=lk))


def _events(events: TraceEvents | None) -> TraceEvents:
    return events if events is not None else default_events()


# -- tracing -----------------------------------------------------------------
def bpf_program__attach_tracepoint(prog: Program, tp_category: str, tp_name: str, *,
                                   events: TraceEvents | None = None) -> Link:
    _check_loaded(prog, "attach_tracepoint", (P.BPF_PROG_TYPE_TRACEPOINT,))
    source = _events(events).lookup_tracepoint(tp_category, tp_name)
    return _attach_source(prog, source, f"tracepoint {tp_category}:{tp_name}")


def bpf_program__attach_raw_tracepoint(prog: Program, tp_name: str, *,
                                       events: TraceEvents | None = None) -> Link:
    _check_loaded(prog, "attach_raw_tracepoint", (P.BPF_PROG_TYPE_RAW_TRACEPOINT,))
    source = _events(events).lookup_raw_tracepoint(tp_name)
    return _attach_source(prog, source, f"raw tracepoint {tp_name}")


def _attach_probe(prog: Program, source: KprobeSource, retprobe: bool, pid: int,
                  what: str) -> HookLink:
    link = HookLink(prog, what, lambda lk: source.detach_probe(prog, retprobe=retprobe,
                                                               owner=lk))
    return _finish(prog, link, lambda lk: source.attach_probe(prog, retprobe=retprobe,
                                                              pid=pid, owner=lk))


def bpf_program__attach_kprobe(prog: Program, retprobe: bool, func_name: str, *,
                               events: TraceEvents | None = None) -> Link:
    _check_loaded(prog, "attach_kprobe", (P.BPF_PROG_TYPE_KPROBE,))
    if not func_name:
        raise LibbpfError(errno.EINVAL, f"prog {prog.name!r}: attach_kprobe needs a function")
    source = _events(events).lookup_kprobe(func_name)
    kind = "kretprobe" if retprobe else "kprobe"
    return _attach_probe(prog, source, bool(retprobe), -1, f"{kind} {func_name}")


def bpf_program__attach_uprobe(prog: Program, retprobe: bool, pid: int, binary_path: str,
                               func_offset: int, *, events: TraceEvents | None = None) -> Link:
    _check_loaded(prog, "attach_uprobe", (P.BPF_PROG_TYPE_KPROBE,))
    if type(pid) is not int or pid < -1:
        raise LibbpfError(errno.EINVAL, f"attach_uprobe: invalid pid {pid!r}")
    if not binary_path:
        raise LibbpfError(errno.EINVAL, f"prog {prog.name!r}: attach_uprobe needs a binary")
    source = _events(events).uprobe(binary_path, func_offset)
    kind = "uretprobe" if retprobe else "uprobe"
    return _attach_probe(prog, source, bool(retprobe), pid,
                         f"{kind} {binary_path}+{func_offset:#x}")


def bpf_program__attach_perf_event(prog: Program, pfd: int | PerfEventSource) -> Link:
    """Attach to a perf event: a :class:`PerfEventSource` or an fd of one."""
    _check_loaded(prog, "attach_perf_event", (P.BPF_PROG_TYPE_PERF_EVENT,))
    source = fd_table.get(pfd) if isinstance(pfd, int) and pfd in fd_table else pfd
    if not isinstance(source, PerfEventSource):
        raise LibbpfError(errno.EBADF, f"attach_perf_event: {pfd!r} is no perf event")
    return _attach_source(prog, source, f"perf event {source.name}")


# -- tc and cgroup_skb -------------------------------------------------------
@dataclass
class bpf_tcx_opts:
    """libbpf's struct bpf_tcx_opts, with this project's ``egress`` for
    plain ``tc`` programs (which carry no direction)."""

    egress: bool = False


def _direction(prog: Program, egress: bool) -> TcDirection:
    if prog.expected_attach_type == BPF_TCX_INGRESS:
        return TcDirection.INGRESS
    if prog.expected_attach_type == BPF_TCX_EGRESS:
        return TcDirection.EGRESS
    return TcDirection.EGRESS if egress else TcDirection.INGRESS


def bpf_program__attach_tcx(prog: Program, ifindex: int, opts: bpf_tcx_opts | None = None, *,
                            hook: TcHook | None = None) -> Link:
    _check_loaded(prog, "attach_tcx", (P.BPF_PROG_TYPE_SCHED_CLS,))
    tc = hook if hook is not None else default_tc_hook(ifindex)
    direction = _direction(prog, (opts or bpf_tcx_opts()).egress)
    link = HookLink(prog, f"tc {direction.value} of ifindex {tc.ifindex}",
                    lambda lk: tc.detach(prog, direction, owner=lk))
    return _finish(prog, link, lambda lk: tc.attach(prog, direction, owner=lk))


def attach_cgroup_skb(prog: Program, cgroup: int | None = None, *,
                      hook: CgroupSkbHook | None = None, egress: bool | None = None) -> Link:
    """Attach a cgroup_skb program for ``cgroup`` (its expected attach
    type's direction unless ``egress`` says)."""
    _check_loaded(prog, "attach_cgroup", (P.BPF_PROG_TYPE_CGROUP_SKB,))
    cg = hook if hook is not None else default_cgroup_skb_hook()
    if egress is None:  # BPF_CGROUP_INET_INGRESS is 0: cgroup/skb attaches on ingress
        egress = prog.expected_attach_type == A.BPF_CGROUP_INET_EGRESS
    out = bool(egress)
    link = HookLink(prog, f"cgroup_skb {'egress' if out else 'ingress'}",
                    lambda lk: cg.detach(prog, egress=out, cgroup=cgroup, owner=lk))
    return _finish(prog, link, lambda lk: cg.attach(prog, egress=out, cgroup=cgroup, owner=lk))


# -- registered types --------------------------------------------------------
def attach_registered(prog: Program) -> Link:
    spec = registry.registered_type(prog.prog_type)
    if spec is None:
        raise LibbpfError(errno.EINVAL, f"prog {prog.name!r}: no registered program type "
                                        f"{prog.prog_type}")
    _check_loaded(prog, "attach", (spec.prog_type,))
    link = HookLink(prog, f"{spec.name} hook", lambda lk: spec.hook.detach(prog, owner=lk))
    return _finish(prog, link, lambda lk: spec.hook.attach(prog, owner=lk))


# -- auto-attach by section --------------------------------------------------
def _after_prefix(section: str) -> str:
    return section.split("/", 1)[1] if "/" in section else ""


def auto_attach(prog: Program) -> Link | None:
    """bpf_program__attach for this module's program types; None when the
    section is none of them."""
    section = prog.section_name
    prefix = section.split("/", 1)[0]
    rest = _after_prefix(section)
    if registry.registered_type(prog.prog_type) is not None:
        return attach_registered(prog)
    if prog.prog_type == P.BPF_PROG_TYPE_TRACEPOINT and prefix in ("tp", "tracepoint"):
        category, _, name = rest.partition("/")
        if not category or not name:
            raise LibbpfError(errno.EINVAL, f"prog {prog.name!r}: invalid section "
                                            f"{section!r} (tp/<category>/<name>)")
        return bpf_program__attach_tracepoint(prog, category, name)
    if prog.prog_type == P.BPF_PROG_TYPE_RAW_TRACEPOINT and prefix in ("raw_tp",
                                                                      "raw_tracepoint"):
        if not rest:
            raise LibbpfError(errno.EOPNOTSUPP, f"prog {prog.name!r}: section {section!r} "
                                                "names no tracepoint")
        return bpf_program__attach_raw_tracepoint(prog, rest)
    if prog.prog_type == P.BPF_PROG_TYPE_KPROBE and prefix in ("kprobe", "kretprobe"):
        if not rest:
            raise LibbpfError(errno.EOPNOTSUPP, f"prog {prog.name!r}: section {section!r} "
                                                "names no function")
        return bpf_program__attach_kprobe(prog, prefix == "kretprobe", rest)
    if prog.prog_type == P.BPF_PROG_TYPE_KPROBE and prefix in ("uprobe", "uretprobe"):
        return _auto_uprobe(prog, prefix == "uretprobe", rest)
    return None


def _auto_uprobe(prog: Program, retprobe: bool, spec: str) -> Link:
    path, sep, func = spec.rpartition(":")
    if not sep or not path or not func:
        raise LibbpfError(errno.EOPNOTSUPP, f"prog {prog.name!r}: section "
                                            f"{prog.section_name!r} has no auto-attach (it "
                                            "needs uprobe/<path>:<function>)")
    events = default_events()
    try:
        offset = int(func, 0)
    except ValueError:
        source = events.find_uprobe(path, func)
        if source is None:
            raise LibbpfError(errno.ENOENT, f"prog {prog.name!r}: function {func!r} not "
                                            f"found in {path!r}") from None
        offset = source.offset
    return bpf_program__attach_uprobe(prog, retprobe, -1, path, offset)


# -- bpf_prog_attach / bpf_prog_detach ---------------------------------------
@dataclass(frozen=True)
class _ProgAttachment:
    prog: Program
    target: int
    attach_type: int
    undo: Callable[[], object]


_prog_attachments: list[_ProgAttachment] = []
_prog_attach_lock = threading.Lock()
_W = windows_abi.WINDOWS_ONLY_BASE


def _loaded(prog_fd: int, what: str) -> Program:
    obj = fd_table.get(prog_fd) if isinstance(prog_fd, int) and prog_fd in fd_table else None
    if not isinstance(obj, Program) or obj.vm is None:
        raise LibbpfError(errno.EBADF, f"{what}: fd {prog_fd} is not a loaded program")
    return obj


def _attach_by_type(prog: Program, target: int, attach_type: int,
                    owner: object) -> Callable[[], object]:
    """Attach ``prog`` for ``attach_type`` to ``target``; returns the undo."""
    if attach_type in (A.BPF_CGROUP_INET_INGRESS, A.BPF_CGROUP_INET_EGRESS):
        egress = attach_type == A.BPF_CGROUP_INET_EGRESS
        cg = default_cgroup_skb_hook()
        cg.attach(prog, egress=egress, cgroup=target, owner=owner)
        return lambda: cg.detach(prog, egress=egress, cgroup=target, owner=owner)
    if attach_type in ATTACH_POINTS:
        sa = default_sock_addr_hook()
        sa.attach(prog, attach_type, cgroup=target, owner=owner)
        return lambda: sa.detach(prog, attach_type, cgroup=target, owner=owner)
    if attach_type == A.BPF_CGROUP_SOCK_OPS:
        so = default_sock_ops_hook()
        so.attach(prog, cgroup=target, owner=owner)
        return lambda: so.detach(prog, cgroup=target, owner=owner)
    if attach_type in (BPF_TCX_INGRESS, BPF_TCX_EGRESS):
        tc = default_tc_hook(target)
        direction = TcDirection.INGRESS if attach_type == BPF_TCX_INGRESS else TcDirection.EGRESS
        tc.attach(prog, direction, owner=owner)
        return lambda: tc.detach(prog, direction, owner=owner)
    if attach_type == _W + 2:
        bh = default_bind_hook()
        bh.attach(prog, owner=owner)
        return lambda: bh.detach(prog, owner=owner)
    if attach_type == _W + 11:
        ph = default_process_hook()
        ph.attach(prog, owner=owner)
        return lambda: ph.detach(prog, owner=owner)
    spec = registry.registered_type(prog.prog_type)
    if spec is not None and attach_type == spec.attach_type:
        spec.hook.attach(prog, owner=owner)
        return lambda: spec.hook.detach(prog, owner=owner)
    raise LibbpfError(errno.EINVAL, f"bpf_prog_attach: program {prog.name!r}: attach type "
                                    f"{attach_type} is not one this project attaches "
                                    "without a link")


def bpf_prog_attach(prog_fd: int, target_fd: int, attach_type: int, flags: int = 0) -> None:
    """Attach program ``prog_fd`` to ``target_fd`` (a cgroup, an interface,
    0 for the eBPF-for-Windows hooks) for ``attach_type``."""
    prog = _loaded(prog_fd, "bpf_prog_attach")
    if type(target_fd) is not int or target_fd < 0:
        raise LibbpfError(errno.EBADF, f"bpf_prog_attach: invalid target fd {target_fd!r}")
    if flags & ~(BPF_F_ALLOW_OVERRIDE | BPF_F_ALLOW_MULTI) or flags == (
            BPF_F_ALLOW_OVERRIDE | BPF_F_ALLOW_MULTI):
        raise LibbpfError(errno.EINVAL, f"bpf_prog_attach: invalid flags {flags:#x}")
    with _prog_attach_lock:
        same = [a for a in _prog_attachments
                if a.target == target_fd and a.attach_type == attach_type]
        if any(a.prog is prog for a in same):
            raise LibbpfError(errno.EEXIST, f"bpf_prog_attach: program {prog.name!r} is "
                                            "already attached there")
        owner = object()
        undo = _attach_by_type(prog, target_fd, attach_type, owner)
        if not flags & BPF_F_ALLOW_MULTI:  # replace what bpf_prog_attach put there
            for old in same:
                old.undo()
                _prog_attachments.remove(old)
        _prog_attachments.append(_ProgAttachment(prog, target_fd, attach_type, undo))


def bpf_prog_detach2(prog_fd: int, target_fd: int, attach_type: int) -> None:
    """Detach program ``prog_fd`` from ``target_fd`` / ``attach_type``
    (ENOENT when bpf_prog_attach did not attach it there)."""
    prog = _loaded(prog_fd, "bpf_prog_detach2")
    with _prog_attach_lock:
        for a in _prog_attachments:
            if a.prog is prog and a.target == target_fd and a.attach_type == attach_type:
                a.undo()
                _prog_attachments.remove(a)
                return
    raise LibbpfError(errno.ENOENT, f"bpf_prog_detach2: program {prog.name!r} is not "
                                    f"attached to {target_fd} for attach type {attach_type}")


def bpf_prog_detach(target_fd: int, attach_type: int) -> None:
    """Detach the one program bpf_prog_attach attached to ``target_fd`` /
    ``attach_type`` (ENOENT for none; EINVAL when several are: name one
    with bpf_prog_detach2)."""
    with _prog_attach_lock:
        found = [a for a in _prog_attachments
                 if a.target == target_fd and a.attach_type == attach_type]
        if not found:
            raise LibbpfError(errno.ENOENT, f"bpf_prog_detach: nothing attached to "
                                            f"{target_fd} for attach type {attach_type}")
        if len(found) > 1:
            raise LibbpfError(errno.EINVAL, f"bpf_prog_detach: {len(found)} programs are "
                                            "attached there: use bpf_prog_detach2")
        found[0].undo()
        _prog_attachments.remove(found[0])


# -- link ids and pins -------------------------------------------------------
def bpf_link_get_next_id(start_id: int) -> int:
    """The smallest id above ``start_id`` of a live link (ENOENT: none)."""
    ids = sorted(link.id for link in all_links() if not link.destroyed or link.pin_path)
    for link_id in ids:
        if link_id > start_id:
            return link_id
    raise LibbpfError(errno.ENOENT, f"no link id after {start_id}")


_pinned: dict[str, Link] = {}
_pin_lock = threading.Lock()


def bpf_link__pin(link: Link, path: str) -> None:
    """Pin ``link`` at ``path`` (a bpffs path: the pin root). EEXIST when
    the path is taken, EBUSY when the link is pinned already."""
    if link is None or link.detached:
        raise LibbpfError(errno.EINVAL, "bpf_link__pin: no attached link")
    if link.pin_path is not None:
        raise LibbpfError(errno.EBUSY, f"link already pinned at {link.pin_path!r}")
    real = resolve_pin_path(path)
    with _pin_lock:
        try:
            fd = os.open(real, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise LibbpfError(errno.EEXIST, f"bpf_link__pin: {path!r} exists") from None
        except OSError as exc:
            raise LibbpfError(exc.errno or errno.EINVAL, f"bpf_link__pin: {path!r}: "
                                                         f"{exc.strerror}") from exc
        os.write(fd, f"libbpf-compat link {link.id} of process {os.getpid()}\n".encode())
        os.close(fd)
        _pinned[real] = link
        link.pin_path = path


def bpf_link__unpin(link: Link) -> None:
    """Remove ``link``'s pin; a link destroyed while pinned detaches now."""
    if link is None or link.pin_path is None:
        raise LibbpfError(errno.EINVAL, "bpf_link__unpin: the link is not pinned")
    real = resolve_pin_path(link.pin_path)
    with _pin_lock:
        _pinned.pop(real, None)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(real)
        link.pin_path = None
    if link.destroyed and not link.disconnected:
        link.detach()


__all__ = [
    "BPF_F_ALLOW_MULTI",
    "BPF_F_ALLOW_OVERRIDE",
    "HookLink",
    "attach_cgroup_skb",
    "attach_registered",
    "auto_attach",
    "bpf_link__pin",
    "bpf_link__unpin",
    "bpf_link_get_next_id",
    "bpf_prog_attach",
    "bpf_prog_detach",
    "bpf_prog_detach2",
    "bpf_program__attach_kprobe",
    "bpf_program__attach_perf_event",
    "bpf_program__attach_raw_tracepoint",
    "bpf_program__attach_tcx",
    "bpf_program__attach_tracepoint",
    "bpf_program__attach_uprobe",
    "bpf_tcx_opts",
]
