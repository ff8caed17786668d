"""Programs attached to one attach point and run in attach order, as cgroup
hooks and eBPF for Windows' hooks run them: the attach/detach bookkeeping
the bind, process, sock_ops, skb, tracing and registered hooks share.

An attachment may be for a cgroup (an int; Linux cgroup attach) or for
every cgroup (None; eBPF for Windows attaches so): a run for a cgroup runs
the attachments for it and those for every cgroup, in attach order; a run
for ``cgroup=None`` runs them all."""

from __future__ import annotations

import errno
import threading
from dataclasses import dataclass

from libbpf_compat.errors import LibbpfError
from libbpf_compat.hooks.xdp import XdpProgram
from libbpf_compat.vm import Vm


@dataclass(frozen=True)
class Attachment:
    prog: XdpProgram
    vm: Vm
    owner: object | None
    cgroup: int | None = None


class ProgramChain:
    """An ordered list of attached programs of one program type."""

    #: the hook's name in messages, and the (internal) program type it takes
    hook_name = "hook"
    prog_type = -1

    def __init__(self) -> None:
        self._chain: list[Attachment] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {len(self._chain)} programs attached>"

    def attach(self, prog: XdpProgram, *, owner: object | None = None,
               cgroup: int | None = None) -> None:
        """Attach ``prog`` after the programs already attached (for ``cgroup``)."""
        name = self.hook_name
        if prog.prog_type != self.prog_type:
            raise LibbpfError(errno.EINVAL, f"{name}: program {prog.name!r} is not a {name} "
                                            f"program (type {prog.prog_type})")
        if prog.vm is None:
            raise LibbpfError(errno.EINVAL, f"{name}: program {prog.name!r} is not loaded")
        if cgroup is not None and type(cgroup) is not int:
            raise LibbpfError(errno.EBADF, f"{name}: invalid cgroup {cgroup!r}")
        with self._lock:
            if any(a.prog is prog and a.cgroup == cgroup for a in self._chain):
                raise LibbpfError(errno.EEXIST, f"{name}: program {prog.name!r} is already "
                                                "attached")
            self._chain.append(Attachment(prog, prog.vm, owner, cgroup))

    def detach(self, prog: XdpProgram, *, owner: object | None = None,
               cgroup: int | None = None) -> bool:
        """Detach ``prog`` as attached by ``owner`` (for ``cgroup``); False
        when it is not."""
        with self._lock:
            for i, a in enumerate(self._chain):
                if a.prog is prog and a.owner is owner and a.cgroup == cgroup:
                    del self._chain[i]
                    return True
        return False

    def detach_program(self, prog: XdpProgram) -> int:
        """Detach every attachment of ``prog``; returns how many there were."""
        with self._lock:
            before = len(self._chain)
            self._chain[:] = [a for a in self._chain if a.prog is not prog]
            return before - len(self._chain)

    def attached(self, cgroup: int | None = None) -> list[XdpProgram]:
        """The programs a run for ``cgroup`` runs, in order."""
        return [a.prog for a in self.attached_chain(cgroup)]

    def attached_chain(self, cgroup: int | None = None) -> list[Attachment]:
        """A snapshot of the attachments a run for ``cgroup`` runs, in order."""
        if cgroup is None:
            return self._chain[:]  # one copy, atomic: no lock needed
        with self._lock:
            return [a for a in self._chain
                    if cgroup is None or a.cgroup is None or a.cgroup == cgroup]
