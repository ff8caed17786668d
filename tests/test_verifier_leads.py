"""Evidence of safety for the corpus leads (libbpf_compat.verifier.leads): bounds-checked
runs find the violations of an unsafe program and none in the leads they judge; the
kernel here judges Linux leads (skipped where bpf() is not permitted) and not
eBPF-for-Windows ones. The whole list of leads is checked in test_verifier_corpus.py."""

from __future__ import annotations

import pytest

from benchmarks import corpus_leads
from libbpf_compat.verifier.leads import (
    RUNS,
    KernelEvidence,
    LeadEvidence,
    gather,
    kernel_evidence,
    poisoned_instructions,
    run_evidence,
)
from tests.shared_data import shared_path

TIMEOUT = "invalid/timeout-29db93548c671165313b314d4f83a3eefa24df37"
BIND_MONITOR = "invalid/dac31099c3bb5b6395908c82cc8540e77a6a1849"


@pytest.fixture
def kernel() -> None:
    why = corpus_leads.unavailable()
    if why is not None:
        pytest.skip(f"the kernel cannot load programs here: {why}")


def test_runs_find_the_violations_of_an_unsafe_program() -> None:
    """packet_overflow.o reads 4 bytes at the packet's start after checking only that
    start <= end: the runs give it empty and short packets, and the VM stops it."""
    path = shared_path("corpus", "ebpf-samples", "build", "packet_overflow.o")
    runs = run_evidence(path, "read_write_packet_start", runs=100, seed=1)
    assert runs.runs == 100
    assert runs.violations and "EFAULT" in runs.violations[0]
    assert not runs.clean
    assert runs.completed + len(runs.violations) == 100  # it stops at the first fault


@pytest.mark.parametrize(("obj", "program"), [(BIND_MONITOR, "BindMonitor"),
                                              (TIMEOUT, "bind_test_caller"),
                                              (TIMEOUT, "bind_test_callee7")])
def test_windows_leads_run_clean(obj: str, program: str) -> None:
    path = shared_path("corpus", "ebpf-samples", obj)
    lead = gather(path, obj, "bind", program, None, corpus_leads.kernel_judge)
    assert not lead.kernel.judged and "eBPF-for-Windows" in lead.kernel.error
    assert lead.runs is not None
    assert lead.runs.runs == RUNS and lead.runs.completed == RUNS, lead.runs.describe()
    assert not lead.runs.violations
    assert lead.shown_safe == "runs"


def test_kernel_judges_a_legacy_maps_lead(kernel: None) -> None:
    """Cilium's legacy ``maps`` section: the system libbpf cannot open it, the kernel
    verifies the code our loader linked."""
    obj = "cilium/bpf_xdp_dsr_linux.o"
    path = shared_path("corpus", "ebpf-samples", obj)
    lead = gather(path, obj, "2/20", "tail_nodeport_ipv4_dsr", 6, corpus_leads.kernel_judge)
    assert lead.kernel == KernelEvidence(True, True, "linked")
    assert lead.runs is None and lead.shown_safe == "kernel"


def test_kernel_refusal_is_a_judgement(kernel: None) -> None:
    """A program the kernel's verifier refuses (a read past the bytes it checked) is
    judged, with the verifier's error."""
    path = shared_path("corpus", "ebpf-samples", "build", "packet_overflow.o")
    verdict = kernel_evidence(path, "read_write_packet_start", None, corpus_leads.kernel_judge)
    assert verdict.judged and not verdict.accepted
    assert "outside of the packet" in verdict.error


def test_poisoned_core_is_not_shown_safe() -> None:
    """tcprtt's fentry program: CO-RE against the host's BTF (no struct sock) poisons
    its first field read, so what verified stops there -- not evidence for it."""
    obj = "cilium-examples/tcprtt_bpf_bpfel.o"
    path = shared_path("corpus", "ebpf-samples", obj)
    assert poisoned_instructions(path, "tcp_close") >= 1
    lead = LeadEvidence(obj, "fentry/tcp_close", "tcp_close",
                        KernelEvidence(False, error="not judged"),
                        run_evidence(path, "tcp_close", runs=10), poisoned=1)
    assert lead.shown_safe is None
    assert "NOT shown safe" in lead.describe() and "poisoned CO-RE" in lead.describe()
