"""The kernel's verdict on a corpus lead (:mod:`libbpf_compat.verifier.leads`): the
program loaded alone in this machine's kernel through the system libbpf
(:mod:`benchmarks.kernel_libbpf`), else from the code our loader linked with the maps
created by us (:mod:`benchmarks.kernel_relocated`: legacy ``maps`` sections, maps
libbpf 1.1.2 cannot create). A refusal with no verifier log (the program type is
missing from this kernel, a map it cannot create) is no judgement.

``python3 -m libbpf_compat.verifier.corpus --leads`` uses it (as root).
"""

from __future__ import annotations

from pathlib import Path

from benchmarks import kernel_libbpf
from benchmarks.kernel_relocated import kernel_verify_relocated
from libbpf_compat.verifier.leads import KernelEvidence


def unavailable() -> str | None:
    """Why the kernel cannot judge here (not root, no bpf(), no system libbpf), or None."""
    return kernel_libbpf.unavailable()


def kernel_judge(path: Path, program: str, prog_type: int | None) -> KernelEvidence:
    """The kernel verifier's verdict on ``program`` of the object at ``path``."""
    why = unavailable()
    if why is not None:
        return KernelEvidence(False, error=why)
    via_libbpf = kernel_libbpf.kernel_verify(str(path), program, prog_type)
    if via_libbpf.loaded:
        return KernelEvidence(True, True, "libbpf")
    linked = kernel_verify_relocated(str(path), program, prog_type)
    if linked.loaded:
        return KernelEvidence(True, True, "linked")
    for verdict, route in ((via_libbpf, "libbpf"), (linked, "linked")):
        if kernel_libbpf.error_line(verdict.log):  # the verifier ran and said why not
            return KernelEvidence(True, False, route, verdict.error)
    return KernelEvidence(False, error=f"refused before its verifier ran (libbpf: "
                                       f"{via_libbpf.error or '-'}; linked: "
                                       f"{linked.error or '-'})")


__all__ = ["kernel_judge", "unavailable"]
