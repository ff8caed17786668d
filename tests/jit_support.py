"""What the JIT tests share: whether this platform has the x86-64 JIT, and
the loaded-object side of the vm_mode fixture (conftest.py)."""

from __future__ import annotations

import os
import platform
import sys

from libbpf_compat.object import BpfObject
from libbpf_compat.vm import JIT_ENV

#: The JIT translates on x86-64 Linux only (elsewhere programs interpret).
JIT_PLATFORM = sys.platform == "linux" and platform.machine() in ("x86_64", "AMD64")


def follow_mode(obj: BpfObject) -> BpfObject:
    """Under vm_mode's "jit" run, make a loaded object's programs run as the
    verifier's proven-safe programs will: without bounds checks, as machine
    code (loaded programs are bounds-checked, which always interprets)."""
    if os.environ.get(JIT_ENV) == "1":
        for prog in obj.programs:
            if prog.vm is not None:
                prog.vm.bounds_check = False
                prog.vm.set_jit(True)
                assert not JIT_PLATFORM or prog.vm.jitted, (prog.name, prog.vm.jit_note)
    return obj
