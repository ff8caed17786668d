"""The verifier on the object corpus, judged against its two oracles
(libbpf_compat.verifier.corpus): floors for what it achieves. Run with ``pytest -s``
for the summary (also ``python3 -m libbpf_compat.verifier.corpus``)."""

from __future__ import annotations

import pytest

from libbpf_compat.verifier.corpus import CorpusResult, evaluate, summary
from tests.shared_data import shared_path

#: (a) PREVAIL-proven sections (of the objects present) verified here.
#: (249 before two changes. The ELF reader refuses invalid/ef2e42c0…: PREVAIL proves
#: its .text function, but the file's .rel.debug_line patches a section renamed
#: 'info' -- corrupt section headers, refused at open as the object issue asks for
#: invalid/. And since the soundness merge an access through a pointer that may be of
#: several types is checked against each region -- build/twotypes.o's stack-or-map
#: byte read is refused, its joined offset says nothing of either. 246 before
#: the sock_ops context offered Linux's TCP fields: cilium-examples' tcprtt_sockops reads
#: srtt_us and calls bpf_sock_ops_cb_flags_set. 247 before .text sub-programs that other
#: programs call, bpf2bpf.o's add1 and add2, were verified as part of their callers, as
#: libbpf loads them, instead of alone with an assumed context. 249 before Cilium's
#: bpf_lxc.o 2/7 and 2/10 verified: the stack runs of verifier.relations keep the
#: correlation of the event size with the bytes each path wrote before its
#: perf_event_output. 251 before trace partitioning (verifier/partition.py) verified
#: twotypes.o and xdp_ddos01_blacklist_kern.o's xdp_prog. 253 before an ``xdp_md_t``
#: typedef of Linux's 32-bit struct xdp_md stopped marking an object as eBPF for
#: Windows': build/correlated_branch.o verifies on Linux's context. The 3 left do not
#: open: build/externalfunction.o calls a function it does not define, invalid/c049…
#: and invalid/ef2e… have corrupt section headers.)
PROVEN_VERIFIED_FLOOR = 254
#: (b) PREVAIL-unproven programs the kernel refused for memory safety, rejected here.
#: (11 before the Windows helpers had prototypes: the twelfth, timeout-29db…'s
#: bind_test_caller, is a safe Windows bind program -- trace_printk2 and a tail call --
#: the kernel refused only because it read helper 12 as Linux's tail_call)
UNSAFE_REJECTED_FLOOR = 10


@pytest.fixture(scope="module")
def corpus() -> CorpusResult:
    return evaluate(shared_path("corpus"))


def test_prevail_proven_sections_verify(corpus: CorpusResult) -> None:
    print("\n" + summary(corpus))
    proven = corpus.proven()
    verified = [s for s in proven if s.verdict == "verified"]
    assert len(proven) >= 250
    assert len(verified) >= PROVEN_VERIFIED_FLOOR
    # every program type the proven sections use has a context here: none unsupported
    assert not [s for s in proven if s.verdict == "unsupported"]


def test_memory_safety_refusals_are_rejected(corpus: CorpusResult) -> None:
    must = corpus.must_reject()
    assert must
    rejected = [s for s in must if s.verdict == "rejected"]
    assert len(rejected) >= UNSAFE_REJECTED_FLOOR


def test_known_unsafe_programs_are_rejected(corpus: CorpusResult) -> None:
    """Programs of the corpus that are unsafe for certain (checked by hand): each
    reads past the bytes it bounds-checked, both oracles refuse them."""
    verdicts = {(s.obj, s.function): s.verdict for s in corpus.sections}
    for key in [("build/packet_overflow.o", "read_write_packet_start"),
                ("build/packet_reallocate.o", "reallocate_invalidates")]:
        if key in verdicts:
            assert verdicts[key] == "rejected", key


def test_sub_programs_are_verified_in_their_callers(corpus: CorpusResult) -> None:
    """libbpf loads a called ``.text`` function only inside its callers: the corpus
    verifies it there, and says so."""
    subs = {(s.obj, s.function): s for s in corpus.sections if s.callers}
    add1 = subs.get(("build/bpf2bpf.o", "add1"))
    if add1 is None:
        pytest.skip("build/bpf2bpf.o is not in this corpus")
    assert add1.callers == ("func",)
    assert add1.verdict == "verified"
    assert "add1 is a sub-program: verified as part of func" in summary(corpus)
    # a .text function no program calls is still checked as a program of its own
    assert ("build/twotypes.o", "func") not in subs


def test_leads_are_shown_safe(corpus: CorpusResult) -> None:
    """Issue 6: a PREVAIL-unproven program verified here counts as a lead only once shown
    safe. Every lead is accepted by the kernel here or ran RUNS bounds-checked runs to
    its exit without a violation -- except one whose verified code is poisoned by CO-RE
    (the host BTF lacks the types it names), which the summary lists as not shown safe."""
    from benchmarks import corpus_leads
    from libbpf_compat.verifier.corpus import gather_evidence
    from libbpf_compat.verifier.leads import RUNS

    why = corpus_leads.unavailable()
    if why is not None:
        pytest.skip(f"the kernel cannot load programs here: {why}")
    evidence = gather_evidence(shared_path("corpus"), corpus, corpus_leads.kernel_judge)
    assert evidence and set(evidence) == {(s.obj, s.function) for s in corpus.leads()}
    for lead in evidence.values():
        if lead.runs is not None:
            assert not lead.runs.violations, (lead.obj, lead.function, lead.runs.describe())
        if lead.shown_safe == "runs":
            assert lead.runs is not None and lead.runs.completed == lead.runs.runs == RUNS
        elif lead.shown_safe is None:
            assert lead.poisoned, (lead.obj, lead.function, lead.describe())
    text = summary(corpus, evidence)
    shown = sum(e.shown_safe is not None for e in evidence.values())
    assert f"    shown safe: {shown} (kernel accepts here: " in text
