"""The kernel column of benchmarks/verify_corpus.py: the kernel verifier's statistics
read from a BPF_LOG_STATS log, and a program loaded in the kernel both through the
system libbpf and from the code our loader links, with the same verdicts (skipped
where bpf() is not allowed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import kernel_libbpf
from benchmarks.kernel_relocated import kernel_verify_relocated

FIXTURE = Path(__file__).parent / "fixtures" / "hooks" / "sock_ops_tcp.o"
STATS_LOG = ("verification time 69 usec\nstack depth 8\nprocessed 38 insns (limit 1000000) "
             "max_states_per_insn 0 total_states 3 peak_states 3 mark_read 0\n")


def test_parse_stats() -> None:
    assert kernel_libbpf.parse_stats(STATS_LOG) == (69, 38)
    assert kernel_libbpf.parse_stats("processed 3 insns\n") is None
    refusal = "0: (63) *(u32 *)(r1 +80) = r2\ninvalid bpf_context access off=80 size=4\n"
    assert kernel_libbpf.error_line(refusal + STATS_LOG) == (
        "invalid bpf_context access off=80 size=4")


@pytest.fixture
def kernel() -> None:
    why = kernel_libbpf.unavailable()
    if why is not None:
        pytest.skip(why)


@pytest.mark.usefixtures("kernel")
@pytest.mark.parametrize(("name", "ok"), [("tcp_sample", True), ("rehash", True),
                                          ("write_srtt", False)])
def test_both_routes_agree(name: str, ok: bool) -> None:
    via_libbpf = kernel_libbpf.kernel_verify(str(FIXTURE), name)
    linked = kernel_verify_relocated(str(FIXTURE), name)
    assert via_libbpf.loaded == linked.loaded == ok, (via_libbpf.error, linked.error)
    if ok:
        assert via_libbpf.processed > 0 and linked.processed > 0
        # the same instructions either way
        assert via_libbpf.processed == linked.processed
    else:
        assert "invalid bpf_context access" in linked.error


@pytest.mark.usefixtures("kernel")
def test_unknown_program() -> None:
    assert kernel_libbpf.kernel_verify(str(FIXTURE), "nope").unopened
    assert not kernel_verify_relocated(str(FIXTURE), "nope").loaded
