"""Programs attached to one attach point and run in attach order, as cgroup
hooks and eBPF for Windows' hooks run them: the attach/detach bookkeeping
the bind and process hooks share."""

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

    def attach(self, prog: XdpProgram, *, owner: object | None = None) -> None:
        """Attach ``prog`` after the programs already attached."""
        name = self.hook_name
        if prog.prog_type != self.prog_type:
            raise LibbpfError(errno.EINVAL, f"{name}: program {prog.name!r} is not a {name} "
                                            f"program (type {prog.prog_type})")
        if prog.vm is None:
            raise LibbpfError(errno.EINVAL, f"{name}: program {prog.name!r} is not loaded")
        with self._lock:
            if any(a.prog is prog for a in self._chain):
                raise LibbpfError(errno.EEXIST, f"{name}: program {prog.name!r} is already "
                                                "attached")
            self._chain.append(Attachment(prog, prog.vm, owner))

    def detach(self, prog: XdpProgram, *, owner: object | None = None) -> bool:
        """Detach ``prog`` as attached by ``owner``; False when it is not."""
        with self._lock:
            for i, a in enumerate(self._chain):
                if a.prog is prog and a.owner is owner:
                    del self._chain[i]
                    return True
        return False

    def detach_program(self, prog: XdpProgram) -> int:
        """Detach every attachment of ``prog``; returns how many there were."""
        with self._lock:
            before = len(self._chain)
            self._chain[:] = [a for a in self._chain if a.prog is not prog]
            return before - len(self._chain)

    def attached(self) -> list[XdpProgram]:
        with self._lock:
            return [a.prog for a in self._chain]

    def attached_chain(self) -> list[Attachment]:
        """A snapshot of the attachments, in run order."""
        with self._lock:
            return list(self._chain)
