"""``verify_object``: verify the programs of an object file without loading them.

The report says, per program, its name, section, program type, verdict
(``verified``, ``rejected`` or ``unsupported``), instructions processed, time and
messages; ``report.ok`` is true only if every selected program verified.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from libbpf_compat.errors import LibbpfError
from libbpf_compat.loader import _btf_ext, _target_btf, linked_code, program_pieces
from libbpf_compat.object import BpfObject, bpf_object_open_opts
from libbpf_compat.verifier.load import prog_type_name, verify_linked


@dataclass
class ProgramReport:
    name: str
    section: str
    prog_type: str
    verdict: str  # verified, rejected, unsupported
    processed: int
    seconds: float
    messages: list[str]
    log: str
    insns: int = 0

    @property
    def ok(self) -> bool:
        return self.verdict == "verified"


@dataclass
class VerifyReport:
    path: str
    programs: list[ProgramReport] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.programs) and all(p.ok for p in self.programs)

    def by_name(self, name: str) -> ProgramReport:
        for p in self.programs:
            if p.name == name:
                return p
        raise KeyError(name)

    def __str__(self) -> str:
        lines = [f"{self.path}: {'ok' if self.ok else 'NOT ok'}"]
        for p in self.programs:
            lines.append(f"  {p.name} (section {p.section!r}, {p.prog_type}): {p.verdict}, "
                         f"{p.processed} insns processed, {p.seconds * 1000:.1f} ms")
            lines.extend(f"    {m}" for m in p.messages)
        return "\n".join(lines)


def verify_object(path: str | Path, section: str | None = None, program: str | None = None,
                  log_level: int = 1, default_type: int | None = None,
                  **open_opts: Any) -> VerifyReport:
    """Verify the programs of the object at ``path`` (all, those of ``section``, or the
    one named ``program``; ``.text`` functions only when selected so); ``open_opts`` are
    :class:`bpf_object_open_opts` fields; ``default_type`` is the program type of
    programs whose section names none. EINVAL/ENOENT when the object does not open
    or nothing matches the selection."""
    obj = BpfObject.open_file(path, bpf_object_open_opts(**open_opts))
    try:
        candidates = obj.programs + (obj.subprograms if section or program else [])
        chosen = [p for p in candidates
                  if (section is None or p.section_name == section)
                  and (program is None or p.name == program)]
        if not chosen:
            raise LibbpfError(errno.ENOENT, f"object {obj.name!r}: no program matches "
                                            f"section={section!r} program={program!r}")
        ext = _btf_ext(obj)
        target = _target_btf(obj)
        report = VerifyReport(str(path))
        for prog in chosen:
            prog.log_level = log_level
            if not prog.prog_type and default_type is not None:
                prog.prog_type = default_type
            try:
                linked = linked_code(obj, prog, ext, target)
            except LibbpfError as exc:
                report.programs.append(ProgramReport(
                    prog.name, prog.section_name, prog_type_name(prog.prog_type),
                    "rejected", 0, 0.0, [f"cannot link: {exc}"], ""))
                continue
            verdict, _hooked = verify_linked(obj, prog, linked, ext,
                                             list(program_pieces(obj, prog)))
            state = ("unsupported" if verdict.unsupported is not None else
                     "verified" if verdict.ok else "rejected")
            report.programs.append(ProgramReport(
                prog.name, prog.section_name, prog_type_name(prog.prog_type), state,
                verdict.processed, verdict.seconds, verdict.messages, verdict.log,
                verdict.insns))
        return report
    finally:
        obj.close()


__all__ = ["ProgramReport", "VerifyReport", "verify_object"]
