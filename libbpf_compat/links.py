"""libbpf's link API and the XDP netlink-style calls, over the hooks.

A :class:`Link` (libbpf's ``struct bpf_link``) owns one attachment and has an
fd in the fd table. ``bpf_link__destroy`` detaches and closes the fd;
``bpf_link__detach`` detaches but keeps the fd (the link is then defunct, as
a kernel link after BPF_LINK_DETACH); after ``bpf_link__disconnect`` destroy
leaves the attachment and the fd alone (as libbpf leaves a disconnected
link's fd open). Closing the object detaches its programs' links that are
not disconnected.

``bpf_program__attach`` is libbpf's auto-attach by section. As in eBPF for
Windows' libbpf, it attaches the Windows hooks' programs: ``bind`` programs
to the default bind hook (:func:`libbpf_compat.hooks.bind.default_hook`) and
sock_addr programs of eBPF-for-Windows objects to their attach point of the
default sock_addr hook (:func:`libbpf_compat.hooks.sock_addr.default_hook`)
for every request, ``sockops`` programs of eBPF-for-Windows objects to the
default sock_ops hook (:func:`libbpf_compat.hooks.sock_ops.default_hook`) for
every connection and ``process`` programs to the default process hook
(:func:`libbpf_compat.hooks.process.default_hook`). Anything else is
EOPNOTSUPP, as in Linux libbpf, which has no auto-attach for ``SEC("xdp")``
(it needs an interface) or ``cgroup/...`` and ``sockops`` sections (they
need a cgroup): Linux sock_addr and sock_ops programs attach with
``bpf_program__attach_cgroup(prog, cgroup_fd)``, any int naming a cgroup; a
cgroup keeps every program attached to it, run in order. XDP programs
attach with ``bpf_program__attach_xdp(prog, ifindex)`` (a link) or
``bpf_xdp_attach(ifindex, prog_fd, flags, opts)`` (netlink style; the
attachment lasts until ``bpf_xdp_detach``, as a program attached over
netlink stays on its device). Both use the default XDP hook
(:func:`libbpf_compat.hooks.xdp.default_hook`); :func:`attach_xdp` takes
another.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import threading
import weakref
from dataclasses import dataclass
from types import TracebackType

from libbpf_compat.abi import windows as windows_abi
from libbpf_compat.errors import LibbpfError
from libbpf_compat.hooks.bind import BindHook
from libbpf_compat.hooks.bind import default_hook as default_bind_hook
from libbpf_compat.hooks.process import ProcessHook
from libbpf_compat.hooks.process import default_hook as default_process_hook
from libbpf_compat.hooks.sock_addr import ATTACH_POINTS, SockAddrHook
from libbpf_compat.hooks.sock_addr import default_hook as default_sock_addr_hook
from libbpf_compat.hooks.sock_ops import SockOpsHook
from libbpf_compat.hooks.sock_ops import default_hook as default_sock_ops_hook
from libbpf_compat.hooks.xdp import (
    XDP_FLAGS_MODES,
    XDP_FLAGS_REPLACE,
    XdpHook,
    default_hook,
)
from libbpf_compat.hooks.xdp import default_hook as default_xdp_hook
from libbpf_compat.mapstore import fd_table
from libbpf_compat.object import Program
from libbpf_compat.uapi import BpfProgType

_link_ids = itertools.count(1)
_links: weakref.WeakValueDictionary[int, Link] = weakref.WeakValueDictionary()
_link_lock = threading.Lock()


def all_links() -> list[Link]:
    """Every link still alive, by id order (for bpf_link_get_next_id)."""
    with _link_lock:
        return [_links[i] for i in sorted(_links)]


class Link:
    """An attachment of a program to a hook (libbpf's ``struct bpf_link``)."""

    def __init__(self, prog: Program, hook: XdpHook, ifindex: int) -> None:
        with _link_lock:
            #: the link's id (as bpf_link_info's), never reused
            self.id = next(_link_ids)
            _links[self.id] = self
        #: where bpf_link__pin pinned it (a pinned link outlives destroy)
        self.pin_path: str | None = None
        self.prog = prog
        self.hook = hook
        self.ifindex = ifindex
        self.detached = False
        self.disconnected = False
        self.destroyed = False
        #: the link's fd (installed once the attachment is made)
        self.fd = -1

    def __repr__(self) -> str:
        state = "detached" if self.detached else f"ifindex {self.ifindex}"
        return f"<Link xdp program {self.prog.name!r} fd {self.fd} {state}>"

    def _detach_attachment(self) -> None:
        self.hook.detach(self.ifindex, owner=self)

    def detach(self) -> None:
        """Detach from the hook; the fd stays open (bpf_link__detach)."""
        if not self.detached:
            self._detach_attachment()
            self.detached = True

    def detach_for_close(self) -> None:
        """The object closes: detach unless disconnected."""
        if not self.disconnected:
            self.detach()

    def disconnect(self) -> None:
        """Destroying the link will no longer detach it (bpf_link__disconnect)."""
        self.disconnected = True

    def destroy(self) -> None:
        """Detach (unless disconnected, or pinned: a pinned link stays
        attached until bpf_link__unpin) and close the fd (bpf_link__destroy)."""
        if self.destroyed:
            return
        self.destroyed = True
        with contextlib.suppress(ValueError):
            self.prog.owner.links.remove(self)
        if self.disconnected:
            return
        if self.pin_path is None:  # a pinned link stays attached until unpinned
            self.detach()
        if self.fd in fd_table and fd_table.get(self.fd) is self:
            fd_table.close(self.fd)

    def __enter__(self) -> Link:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.destroy()


class SockAddrLink(Link):
    """A sock_addr program on one attach point of a sock_addr hook, for a
    cgroup (``bpf_program__attach_cgroup``) or for every request (``None``,
    the eBPF-for-Windows attach)."""

    def __init__(self, prog: Program, hook: SockAddrHook, attach_type: int,
                 cgroup: int | None) -> None:
        super().__init__(prog, default_xdp_hook(), 0)
        self.sock_addr_hook = hook
        self.attach_type = attach_type
        self.cgroup = cgroup

    def __repr__(self) -> str:
        point = ATTACH_POINTS[self.attach_type].name
        where = "every cgroup" if self.cgroup is None else f"cgroup {self.cgroup}"
        state = "detached" if self.detached else f"{point} of {where}"
        return f"<Link sock_addr program {self.prog.name!r} fd {self.fd} {state}>"

    def _detach_attachment(self) -> None:
        self.sock_addr_hook.detach(self.prog, self.attach_type, cgroup=self.cgroup, owner=self)


class BindLink(Link):
    """A bind program on a bind hook."""

    def __init__(self, prog: Program, hook: BindHook) -> None:
        super().__init__(prog, default_xdp_hook(), 0)
        self.bind_hook = hook

    def __repr__(self) -> str:
        state = "detached" if self.detached else "bind hook"
        return f"<Link bind program {self.prog.name!r} fd {self.fd} {state}>"

    def _detach_attachment(self) -> None:
        self.bind_hook.detach(self.prog, owner=self)


class SockOpsLink(Link):
    """A sock_ops program on a sock_ops hook, for a cgroup
    (``bpf_program__attach_cgroup``) or for every connection (``None``, the
    eBPF-for-Windows attach)."""

    def __init__(self, prog: Program, hook: SockOpsHook, cgroup: int | None) -> None:
        super().__init__(prog, default_xdp_hook(), 0)
        self.sock_ops_hook = hook
        self.cgroup = cgroup

    def __repr__(self) -> str:
        where = "every cgroup" if self.cgroup is None else f"cgroup {self.cgroup}"
        state = "detached" if self.detached else f"sock_ops of {where}"
        return f"<Link sock_ops program {self.prog.name!r} fd {self.fd} {state}>"

    def _detach_attachment(self) -> None:
        self.sock_ops_hook.detach(self.prog, cgroup=self.cgroup, owner=self)


class ProcessLink(Link):
    """A process program on a process hook."""

    def __init__(self, prog: Program, hook: ProcessHook) -> None:
        super().__init__(prog, default_xdp_hook(), 0)
        self.process_hook = hook

    def __repr__(self) -> str:
        state = "detached" if self.detached else "process hook"
        return f"<Link process program {self.prog.name!r} fd {self.fd} {state}>"

    def _detach_attachment(self) -> None:
        self.process_hook.detach(self.prog, owner=self)


#: libbpf's name for the link type.
bpf_link = Link


@dataclass
class bpf_xdp_attach_opts:
    """libbpf's struct bpf_xdp_attach_opts: with XDP_FLAGS_REPLACE,
    ``old_prog_fd`` is the program expected on the interface."""

    old_prog_fd: int = 0


def _loaded_program(prog_fd: int, what: str) -> Program:
    obj = fd_table.get(prog_fd)
    if not isinstance(obj, Program) or obj.vm is None:
        raise LibbpfError(errno.EINVAL, f"{what}: fd {prog_fd} is not a loaded program")
    return obj


def attach_xdp(prog: Program, ifindex: int, *, hook: XdpHook | None = None,
               flags: int = 0) -> Link:
    """Attach ``prog`` to interface ``ifindex`` of ``hook`` (the default hook
    when None) through a new link. EINVAL when the program is not loaded or
    not XDP (naming it); EBUSY when the interface has a program."""
    if prog is None:
        raise LibbpfError(errno.EINVAL, "bpf_program__attach_xdp: prog is NULL")
    if prog.fd < 0:
        raise LibbpfError(errno.EINVAL, f"prog {prog.name!r}: can't attach BPF program "
                                        "without FD (was it loaded?)")
    if flags & ~XDP_FLAGS_MODES:
        raise LibbpfError(errno.EINVAL, f"xdp link: only mode flags are allowed, not {flags:#x}")
    hook = hook if hook is not None else default_hook()
    link = Link(prog, hook, ifindex)
    hook.attach(prog, ifindex, flags, owner=link)
    link.fd = fd_table.install(link)
    prog.owner.links.append(link)
    return link


def _check_loaded(prog: Program, what: str) -> None:
    if prog is None:
        raise LibbpfError(errno.EINVAL, f"{what}: prog is NULL")
    if prog.fd < 0:
        raise LibbpfError(errno.EINVAL, f"prog {prog.name!r}: can't attach BPF program "
                                        "without FD (was it loaded?)")


def attach_sock_addr(prog: Program, cgroup: int | None = None, *,
                     hook: SockAddrHook | None = None) -> SockAddrLink:
    """Attach a sock_addr program at its section's attach point of ``hook``
    (the default sock_addr hook when None), for ``cgroup`` (None: every
    request, as eBPF for Windows attaches), through a new link."""
    _check_loaded(prog, "attach_sock_addr")
    hook = hook if hook is not None else default_sock_addr_hook()
    if prog.prog_type != BpfProgType.BPF_PROG_TYPE_CGROUP_SOCK_ADDR:
        raise LibbpfError(errno.EINVAL, f"prog {prog.name!r}: not a sock_addr program "
                                        f"(type {prog.prog_type}): no cgroup hook for it here")
    kind = hook.attach_type_of(prog.expected_attach_type)
    link = SockAddrLink(prog, hook, kind, cgroup)
    hook.attach(prog, kind, cgroup=cgroup, owner=link)
    link.fd = fd_table.install(link)
    prog.owner.links.append(link)
    return link


def attach_bind(prog: Program, *, hook: BindHook | None = None) -> BindLink:
    """Attach a bind program to ``hook`` (the default bind hook when None)
    through a new link."""
    _check_loaded(prog, "attach_bind")
    hook = hook if hook is not None else default_bind_hook()
    link = BindLink(prog, hook)
    hook.attach(prog, owner=link)
    link.fd = fd_table.install(link)
    prog.owner.links.append(link)
    return link


def attach_sock_ops(prog: Program, cgroup: int | None = None, *,
                    hook: SockOpsHook | None = None) -> SockOpsLink:
    """Attach a sock_ops program to ``hook`` (the default sock_ops hook
    when None) for ``cgroup`` (None: every connection) through a new link."""
    _check_loaded(prog, "attach_sock_ops")
    hook = hook if hook is not None else default_sock_ops_hook()
    link = SockOpsLink(prog, hook, cgroup)
    hook.attach(prog, cgroup=cgroup, owner=link)
    link.fd = fd_table.install(link)
    prog.owner.links.append(link)
    return link


def attach_process(prog: Program, *, hook: ProcessHook | None = None) -> ProcessLink:
    """Attach a process program to ``hook`` (the default process hook when
    None) through a new link."""
    _check_loaded(prog, "attach_process")
    hook = hook if hook is not None else default_process_hook()
    link = ProcessLink(prog, hook)
    hook.attach(prog, owner=link)
    link.fd = fd_table.install(link)
    prog.owner.links.append(link)
    return link


# -- libbpf's bpf_program__attach* and bpf_link__* ---------------------------
def bpf_program__attach(prog: Program) -> Link:
    """libbpf's auto-attach by section. The eBPF-for-Windows hooks attach
    this way, as its libbpf does: ``bind`` programs to the default bind hook
    and sock_addr programs of Windows objects to their attach point of the
    default sock_addr hook, for every request. Other sections are
    EOPNOTSUPP, as in libbpf (``SEC("xdp")`` needs an interface:
    bpf_program__attach_xdp; Linux ``cgroup/...`` needs a cgroup:
    bpf_program__attach_cgroup)."""
    if prog is None:
        raise LibbpfError(errno.EINVAL, "bpf_program__attach: prog is NULL")
    if prog.prog_type == windows_abi.INTERNAL_PROG_BIND:
        return attach_bind(prog)
    if prog.prog_type == BpfProgType.BPF_PROG_TYPE_CGROUP_SOCK_ADDR and prog.abi == "windows":
        return attach_sock_addr(prog)
    if prog.prog_type == BpfProgType.BPF_PROG_TYPE_SOCK_OPS and prog.abi == "windows":
        return attach_sock_ops(prog)
    if prog.prog_type == windows_abi.INTERNAL_PROG_PROCESS:
        return attach_process(prog)
    from libbpf_compat.attach import auto_attach  # tracing, sample, registered types

    found = auto_attach(prog)
    if found is not None:
        return found
    hint = ""
    if prog.section_name.split("/")[0] in ("xdp", "xdp.frags"):
        hint = ": XDP programs need an interface, use bpf_program__attach_xdp"
    elif prog.section_name.startswith("cgroup") or prog.section_name == "sockops":
        hint = ": cgroup programs need a cgroup, use bpf_program__attach_cgroup"
    raise LibbpfError(errno.EOPNOTSUPP, f"prog {prog.name!r}: section "
                                        f"{prog.section_name!r} has no auto-attach{hint}")


def bpf_program__attach_cgroup(prog: Program, cgroup_fd: int) -> Link:
    """Attach a cgroup program to cgroup ``cgroup_fd`` (any int names a
    cgroup here) through a link: the sock_addr programs
    (``cgroup/connect4`` …) on the default sock_addr hook, ``sockops``
    programs on the default sock_ops hook. A cgroup keeps every program
    attached to it, run in attach order."""
    if type(cgroup_fd) is not int or cgroup_fd < 0:
        raise LibbpfError(errno.EBADF, f"bpf_program__attach_cgroup: invalid cgroup fd "
                                       f"{cgroup_fd!r}")
    if prog is not None and prog.prog_type == BpfProgType.BPF_PROG_TYPE_SOCK_OPS:
        return attach_sock_ops(prog, cgroup_fd)
    if prog is not None and prog.prog_type == BpfProgType.BPF_PROG_TYPE_CGROUP_SKB:
        from libbpf_compat.attach import attach_cgroup_skb

        return attach_cgroup_skb(prog, cgroup_fd)
    return attach_sock_addr(prog, cgroup_fd)


def bpf_program__attach_xdp(prog: Program, ifindex: int) -> Link:
    """Attach an XDP program to interface ``ifindex`` of the default hook
    through a link."""
    return attach_xdp(prog, ifindex)


def bpf_link__destroy(link: Link | None) -> None:
    if link is not None:
        link.destroy()


def bpf_link__detach(link: Link) -> None:
    link.detach()


def bpf_link__fd(link: Link) -> int:
    return link.fd


def bpf_link__disconnect(link: Link) -> None:
    link.disconnect()


# -- the netlink-style XDP calls ---------------------------------------------
def bpf_xdp_attach(ifindex: int, prog_fd: int, flags: int,
                   opts: bpf_xdp_attach_opts | None = None) -> None:
    """Attach program ``prog_fd`` to interface ``ifindex`` of the default
    hook (``prog_fd`` -1: detach), replacing the program there unless
    XDP_FLAGS_UPDATE_IF_NOEXIST (EBUSY); with XDP_FLAGS_REPLACE, only if
    the program there is ``opts.old_prog_fd`` (EEXIST otherwise)."""
    hook = default_hook()
    old = None
    if flags & XDP_FLAGS_REPLACE:
        old_fd = opts.old_prog_fd if opts is not None else 0
        old = _loaded_program(old_fd, "bpf_xdp_attach: old_prog_fd") if old_fd > 0 else None
        if old is None:
            raise LibbpfError(errno.EINVAL, "bpf_xdp_attach: XDP_FLAGS_REPLACE needs "
                                            "opts.old_prog_fd")
    if prog_fd == -1:
        hook.detach(ifindex, flags, old_prog=old)
        return
    hook.attach(_loaded_program(prog_fd, "bpf_xdp_attach"), ifindex, flags, old_prog=old)


def bpf_xdp_detach(ifindex: int, flags: int, opts: bpf_xdp_attach_opts | None = None) -> None:
    """Detach the program attached netlink style from ``ifindex`` (EBUSY
    when a link owns it)."""
    bpf_xdp_attach(ifindex, -1, flags, opts)


def bpf_xdp_query_id(ifindex: int, flags: int) -> int:
    """The id of the program on ``ifindex`` of the default hook, 0 for none."""
    return default_hook().query_id(ifindex, flags)


__all__ = [
    "BindLink",
    "Link",
    "ProcessLink",
    "SockAddrLink",
    "SockOpsLink",
    "all_links",
    "attach_bind",
    "attach_process",
    "attach_sock_addr",
    "attach_sock_ops",
    "attach_xdp",
    "bpf_link",
    "bpf_link__destroy",
    "bpf_link__detach",
    "bpf_link__disconnect",
    "bpf_link__fd",
    "bpf_program__attach",
    "bpf_program__attach_cgroup",
    "bpf_program__attach_xdp",
    "bpf_xdp_attach",
    "bpf_xdp_attach_opts",
    "bpf_xdp_detach",
    "bpf_xdp_query_id",
]
