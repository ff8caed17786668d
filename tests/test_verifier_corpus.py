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
#: byte read is refused, its joined offset says nothing of either -- and Cilium's
#: bpf_lxc.o 2/10 loses a correlated branch before its perf_event_output. Trace
#: partitioning (verifier/partition.py) brought back twotypes.o and bpf_lxc.o 2/10, and
#: added bpf_lxc.o 2/7 and xdp_ddos01_blacklist_kern.o's xdp_prog: 250.)
PROVEN_VERIFIED_FLOOR = 250
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
