"""The verifier against the object corpus and its two oracles.

``python3 -m libbpf_compat.verifier.corpus [SHARED_CORPUS_DIR]`` prints:

(a) the sections PREVAIL proves (elf_inventory.json: no ``test_overrides`` entry)
    that verify here, with the failures and the unsupported program types by name;
(b) the programs PREVAIL does not prove and the Linux kernel refused for a memory
    safety reason (kernel_verdicts.tsv) that are rejected here;
(c) the programs where the oracles disagree, and what this verifier says;

then the "leads": the sections PREVAIL does not prove that verify here. With
``--leads`` (only the PREVAIL-unproven sections are verified, the rest skipped) each
lead gets its evidence of safety (:mod:`libbpf_compat.verifier.leads`): the kernel's
verdict here (as root, through ``benchmarks/corpus_leads.py``; skipped, with the reason,
where bpf() is not permitted or the script does not run from the repository), else
``--runs N`` (default 200) bounds-checked runs over random inputs.

Programs whose section names no type get the type the kernel oracle assumed
(kernel_verdicts.tsv), else the one their section prefix names, else XDP or SCHED_CLS
(see :func:`_assumed_type`).
"""

from __future__ import annotations

import csv
import json
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from libbpf_compat.elf.log import libbpf_set_print
from libbpf_compat.errors import LibbpfError
from libbpf_compat.object import BpfObject, bpf_object_open_opts
from libbpf_compat.uapi import BpfProgType
from libbpf_compat.verifier import leads as lead_evidence
from libbpf_compat.verify import ProgramReport, verify_object

#: Kernel first errors that are memory-safety refusals (not policy: helpers the type
#: may not call, map creation, unreachable code).
MEMORY_SAFETY = re.compile(
    r"invalid (bpf_context )?access|invalid mem access|outside of the packet|"
    r"outside of the allowed memory|invalid (write|read) to stack|invalid indirect|"
    r"pointer arithmetic|pointer \+= pointer|!read_ok|type=\w+ expected|"
    r"modified ctx ptr|zero-sized read|invalid stack|unbounded memory|math between")


@dataclass
class SectionResult:
    obj: str
    section: str
    function: str
    proven_by_prevail: bool
    report: ProgramReport | None
    error: str = ""
    #: the program type it was verified as, for a section that names none
    default_type: int | None = None
    #: a ``.text`` sub-program that programs of its object call: libbpf loads it only
    #: as part of them, so it is verified in them (the report is the first caller's
    #: that fails, else the first's)
    callers: tuple[str, ...] = ()

    @property
    def verdict(self) -> str:
        if self.report is not None:
            return self.report.verdict
        return "absent" if self.error == "absent" else "error"


@dataclass
class CorpusResult:
    sections: list[SectionResult] = field(default_factory=list)
    kernel: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    #: the PREVAIL-proven sections were left out (``evaluate(unproven_only=True)``)
    unproven_only: bool = False

    def present(self) -> list[SectionResult]:
        return [s for s in self.sections if s.verdict != "absent"]

    def proven(self) -> list[SectionResult]:
        return [s for s in self.present() if s.proven_by_prevail]

    def must_reject(self) -> list[SectionResult]:
        """(b): not proven by PREVAIL and refused by the kernel for memory safety."""
        out = []
        for s in self.present():
            verdict, error = self.kernel.get((s.obj, s.function), ("", ""))
            if not s.proven_by_prevail and verdict == "refused" and MEMORY_SAFETY.search(error):
                out.append(s)
        return out

    def leads(self) -> list[SectionResult]:
        """The sections PREVAIL does not prove that verify here."""
        return [s for s in self.present() if not s.proven_by_prevail
                and s.verdict == "verified"]

    def disagreements(self) -> list[tuple[SectionResult, str]]:
        """(c): PREVAIL proves it and the kernel refused it, or PREVAIL does not and the
        kernel loaded it; with the kernel's verdict."""
        out = []
        for s in self.present():
            verdict, _error = self.kernel.get((s.obj, s.function), ("", ""))
            if (s.proven_by_prevail and verdict == "refused") or (
                    not s.proven_by_prevail and verdict == "loaded"):
                out.append((s, verdict))
        return out


def _kernel_verdicts(path: Path) -> tuple[dict[tuple[str, str], tuple[str, str]],
                                          dict[tuple[str, str], str]]:
    verdicts: dict[tuple[str, str], tuple[str, str]] = {}
    types: dict[tuple[str, str], str] = {}
    with path.open() as f:
        rows = csv.reader((line for line in f if not line.startswith("#")), delimiter="\t")
        header = next(rows)
        for row in rows:
            rec = dict(zip(header, row, strict=False))
            key = (rec["object"], rec["program"])
            verdicts[key] = (rec["verdict"], rec.get("kernel_error", ""))
            types[(rec["object"], rec["section"])] = rec["program_type"]
    return verdicts, types


#: Section prefixes (as PREVAIL's Linux platform reads them) for sections libbpf does not
#: type and the kernel oracle did not record.
_PREFIXES = (("xdp", "XDP"), ("socket", "SOCKET_FILTER"), ("kprobe/", "KPROBE"),
             ("kretprobe/", "KPROBE"), ("tracepoint/", "TRACEPOINT"),
             ("raw_tracepoint/", "RAW_TRACEPOINT"), ("classifier", "SCHED_CLS"),
             ("tc", "SCHED_CLS"), ("action", "SCHED_ACT"), ("cgroup/skb", "CGROUP_SKB"),
             ("cgroup/sock", "CGROUP_SOCK"), ("sockops", "SOCK_OPS"), ("sk_skb", "SK_SKB"),
             ("sk_msg", "SK_MSG"), ("perf_event", "PERF_EVENT"), ("lwt_in", "LWT_IN"),
             ("lwt_out", "LWT_OUT"), ("lwt_xmit", "LWT_XMIT"))


def _assumed_type(rel: str, section: str) -> str:
    """The type of an untyped section the kernel oracle did not type: its prefix's, else
    XDP for an object whose name says xdp (Cilium's ``from-netdev`` in bpf_xdp*.o), else
    SCHED_CLS: a ``struct __sk_buff`` program with direct packet access, as PREVAIL
    models a section it does not know (Cilium's tail calls ``2/7``, tc samples)."""
    for prefix, name in _PREFIXES:
        if section.startswith(prefix):
            return name
    return "XDP" if "xdp" in rel.rsplit("/", 1)[-1] else "SCHED_CLS"


def _type_number(name: str | None) -> int:
    if not name:
        return BpfProgType.BPF_PROG_TYPE_SOCKET_FILTER
    try:
        return int(BpfProgType["BPF_PROG_TYPE_" + name])
    except KeyError:
        return BpfProgType.BPF_PROG_TYPE_SOCKET_FILTER


def evaluate(corpus: Path, only: str | None = None,
             unproven_only: bool = False) -> CorpusResult:
    """Verify the inventory's sections (those of objects whose path has ``only``; with
    ``unproven_only`` the PREVAIL-proven ones are left out)."""
    inventory = json.loads((corpus / "elf_inventory.json").read_text())
    verdicts, types = _kernel_verdicts(corpus / "kernel_verdicts.tsv")
    result = CorpusResult(kernel=verdicts, unproven_only=unproven_only)
    samples = corpus / "ebpf-samples"
    previous = libbpf_set_print(None)
    try:
        for project, pv in sorted(inventory["projects"].items()):
            for name, ov in sorted(pv["objects"].items()):
                rel = f"{project}/{name}"
                if only is not None and only not in rel:
                    continue
                overrides = ov.get("test_overrides", {}).get("sections", {})
                for section, functions in sorted(ov["sections"].items()):
                    if unproven_only and section not in overrides:
                        continue
                    for fn in functions:
                        result.sections.append(_one(samples / rel, rel, section,
                                                    fn["function"], section not in overrides,
                                                    _type_number(types.get((rel, section))
                                                                 or _assumed_type(rel, section))))
    finally:
        libbpf_set_print(previous)
    return result


def _one(path: Path, rel: str, section: str, function: str, proven: bool,
         default_type: int) -> SectionResult:
    if not path.is_file():
        return SectionResult(rel, section, function, proven, None, "absent")
    try:
        callers = _callers(path, section, function)
        if callers:
            reports = [verify_object(path, program=c, default_type=default_type).programs[0]
                       for c in callers]
            failed = [r for r in reports if not r.ok]
            return SectionResult(rel, section, function, proven, (failed or reports)[0],
                                 callers=callers, default_type=default_type)
        report = verify_object(path, section=section, program=function,
                               default_type=default_type)
    except LibbpfError as exc:
        return SectionResult(rel, section, function, proven, None, str(exc))
    return SectionResult(rel, section, function, proven, report.programs[0],
                         default_type=default_type)


def _callers(path: Path, section: str, function: str) -> tuple[str, ...]:
    """The programs of the object that call ``function`` when it is a ``.text``
    sub-program; empty for a program of its own."""
    if section != ".text":
        return ()
    obj = BpfObject.open_file(path, bpf_object_open_opts())
    try:
        if not any(p.name == function for p in obj.subprograms):
            return ()
        return tuple(p.name for p in obj.programs if function in p.subprograms)
    finally:
        obj.close()


def summary(result: CorpusResult,
            evidence: dict[tuple[str, str], lead_evidence.LeadEvidence] | None = None) -> str:
    """The counts (a), (b), (c) and the leads; ``evidence`` (from :func:`gather_evidence`)
    adds each lead's evidence of safety and how many are shown safe."""
    absent = len(result.sections) - len(result.present())
    lines = [f"{len(result.sections)} inventory programs, {absent} of them in objects absent "
             "from ebpf-samples (not counted)"]
    proven = result.proven()
    ok = [s for s in proven if s.verdict == "verified"]
    if result.unproven_only:
        lines.append("(a) PREVAIL-proven sections: not verified in this run (--leads)")
    else:
        lines.append(f"(a) PREVAIL-proven sections verified here: {len(ok)}/{len(proven)}")
    unsupported = Counter(s.report.prog_type for s in proven
                          if s.report is not None and s.verdict == "unsupported")
    if unsupported:
        lines.append("    unsupported program types: " + ", ".join(
            f"{t} ({n})" for t, n in sorted(unsupported.items())))
    for s in proven:
        if s.callers:
            lines.append(f"    {s.obj} {s.section} {s.function} is a sub-program: "
                         f"{s.verdict} as part of {', '.join(s.callers)}")
    for s in proven:
        if s.verdict not in ("verified", "unsupported"):
            why = s.error or (s.report.messages[0] if s.report and s.report.messages else "")
            lines.append(f"    {s.verdict}: {s.obj} {s.section} {s.function}: {why[:150]}")
    must = result.must_reject()
    rejected = [s for s in must if s.verdict == "rejected"]
    lines.append(f"(b) PREVAIL-unproven, kernel memory-safety refusals rejected here: "
                 f"{len(rejected)}/{len(must)}")
    for s in must:
        if s.verdict != "rejected":
            lines.append(f"    {s.verdict}: {s.obj} {s.section} {s.function}: "
                         f"kernel: {result.kernel[(s.obj, s.function)][1]}")
    dis = result.disagreements()
    lines.append(f"(c) oracle disagreements: {len(dis)}")
    for s, kernel in dis:
        lines.append(f"    PREVAIL {'proves' if s.proven_by_prevail else 'does not prove'}, "
                     f"kernel {kernel}, here {s.verdict}: {s.obj} {s.section} {s.function}")
    unproven = [s for s in result.present() if not s.proven_by_prevail]
    lead = result.leads()
    lines.append(f"PREVAIL-unproven sections verified here: {len(lead)}/{len(unproven)} "
                 "(leads only once shown safe)")
    if evidence is not None:
        found = [evidence[(s.obj, s.function)] for s in lead if (s.obj, s.function) in evidence]
        by_kernel = sum(e.shown_safe == "kernel" for e in found)
        by_runs = sum(e.shown_safe == "runs" for e in found)
        lines.append(f"    shown safe: {by_kernel + by_runs} (kernel accepts here: {by_kernel}, "
                     f"bounds-checked runs without violation: {by_runs}); not shown safe: "
                     f"{len(lead) - by_kernel - by_runs}")
    for s in lead:
        kernel_verdict = result.kernel.get((s.obj, s.function), ("not run", ""))[0]
        line = f"    {s.obj} {s.section} {s.function} (kernel oracle file: {kernel_verdict})"
        if evidence is not None and (s.obj, s.function) in evidence:
            line += "\n        " + evidence[(s.obj, s.function)].describe()
        lines.append(line)
    return "\n".join(lines)


def gather_evidence(corpus: Path, result: CorpusResult, judge: lead_evidence.KernelJudge | None,
                    why_no_judge: str = "", runs: int = lead_evidence.RUNS,
                    seed: int = 0) -> dict[tuple[str, str], lead_evidence.LeadEvidence]:
    """Each lead's evidence of safety (see :mod:`libbpf_compat.verifier.leads`)."""
    samples = corpus / "ebpf-samples"
    return {(s.obj, s.function): lead_evidence.gather(
        samples / s.obj, s.obj, s.section, s.callers[0] if s.callers else s.function,
        s.default_type, judge, why_no_judge, runs, seed) for s in result.leads()}


def _kernel_judge() -> tuple[lead_evidence.KernelJudge | None, str]:
    """The kernel judge of ``benchmarks/corpus_leads.py`` (importable when run from the
    repository), or None and why not."""
    try:
        from benchmarks import corpus_leads
    except ImportError as exc:
        return None, f"benchmarks/corpus_leads.py is not importable ({exc}): run from the " \
                     "repository root"
    why = corpus_leads.unavailable()
    if why is not None:
        return None, why
    return corpus_leads.kernel_judge, ""


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    from libbpf_compat.conformance import shared_dir

    with_leads = "--leads" in args
    runs = lead_evidence.RUNS
    for a in args:
        if a.startswith("--runs="):
            runs = int(a.split("=", 1)[1])
    args = [a for a in args if not a.startswith("--")]
    corpus = Path(args[0]) if args else shared_dir() / "corpus"
    only = args[1] if len(args) > 1 else None
    result = evaluate(corpus, only, unproven_only=with_leads)
    evidence = None
    if with_leads:
        judge, why = _kernel_judge()
        evidence = gather_evidence(corpus, result, judge, why, runs)
    print(summary(result, evidence))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
