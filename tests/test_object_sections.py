"""Program and attach types from section names, and libbpf's type-name functions."""

from __future__ import annotations

import errno

import pytest

from libbpf_compat.abi import windows as win
from libbpf_compat.errors import LibbpfError
from libbpf_compat.sections import (
    SECTION_DEFS,
    libbpf_attach_type_by_name,
    libbpf_bpf_attach_type_str,
    libbpf_bpf_map_type_str,
    libbpf_bpf_prog_type_str,
    libbpf_prog_type_by_name,
    section_def,
)
from libbpf_compat.uapi import BpfAttachType as A
from libbpf_compat.uapi import BpfMapType as M
from libbpf_compat.uapi import BpfProgType as P

BASE = win.WINDOWS_ONLY_BASE


@pytest.mark.parametrize(
    ("name", "prog_type", "attach_type"),
    [
        ("xdp", P.BPF_PROG_TYPE_XDP, A.BPF_XDP),
        ("xdp.frags", P.BPF_PROG_TYPE_XDP, A.BPF_XDP),
        ("xdp/devmap", P.BPF_PROG_TYPE_XDP, A.BPF_XDP_DEVMAP),
        ("tc", P.BPF_PROG_TYPE_SCHED_CLS, 0),
        ("classifier", P.BPF_PROG_TYPE_SCHED_CLS, 0),
        ("socket", P.BPF_PROG_TYPE_SOCKET_FILTER, 0),
        ("kprobe/do_sys_open", P.BPF_PROG_TYPE_KPROBE, 0),
        ("kretprobe/do_sys_open", P.BPF_PROG_TYPE_KPROBE, 0),
        ("kprobe", P.BPF_PROG_TYPE_KPROBE, 0),
        ("uprobe//bin/bash:readline", P.BPF_PROG_TYPE_KPROBE, 0),
        ("tracepoint/syscalls/sys_enter_write", P.BPF_PROG_TYPE_TRACEPOINT, 0),
        ("tp/sched/sched_switch", P.BPF_PROG_TYPE_TRACEPOINT, 0),
        ("raw_tracepoint/sys_enter", P.BPF_PROG_TYPE_RAW_TRACEPOINT, 0),
        ("raw_tp/sys_enter", P.BPF_PROG_TYPE_RAW_TRACEPOINT, 0),
        ("cgroup_skb/ingress", P.BPF_PROG_TYPE_CGROUP_SKB, A.BPF_CGROUP_INET_INGRESS),
        ("cgroup_skb/egress", P.BPF_PROG_TYPE_CGROUP_SKB, A.BPF_CGROUP_INET_EGRESS),
        ("cgroup/connect4", P.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, A.BPF_CGROUP_INET4_CONNECT),
        ("cgroup/connect6", P.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, A.BPF_CGROUP_INET6_CONNECT),
        ("cgroup/bind4", P.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, A.BPF_CGROUP_INET4_BIND),
        ("cgroup/bind6", P.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, A.BPF_CGROUP_INET6_BIND),
        ("cgroup/sendmsg4", P.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, A.BPF_CGROUP_UDP4_SENDMSG),
        ("cgroup/recvmsg6", P.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, A.BPF_CGROUP_UDP6_RECVMSG),
        ("cgroup/sock", P.BPF_PROG_TYPE_CGROUP_SOCK, A.BPF_CGROUP_INET_SOCK_CREATE),
        ("sockops", P.BPF_PROG_TYPE_SOCK_OPS, A.BPF_CGROUP_SOCK_OPS),
        ("perf_event", P.BPF_PROG_TYPE_PERF_EVENT, 0),
        ("fentry/tcp_connect", P.BPF_PROG_TYPE_TRACING, A.BPF_TRACE_FENTRY),
        ("fexit/tcp_close", P.BPF_PROG_TYPE_TRACING, A.BPF_TRACE_FEXIT),
        ("lsm/file_open", P.BPF_PROG_TYPE_LSM, A.BPF_LSM_MAC),
        ("sk_msg", P.BPF_PROG_TYPE_SK_MSG, A.BPF_SK_MSG_VERDICT),
        ("tcx/ingress", P.BPF_PROG_TYPE_SCHED_CLS, 46),
        # eBPF-for-Windows names.
        ("bind", win.INTERNAL_PROG_BIND, BASE + 2),
        ("cgroup/recv_accept4", P.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BASE + 5),
        ("cgroup/recv_accept6", P.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BASE + 6),
        ("cgroup/connect_authorization4", P.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BASE + 12),
        ("cgroup/connect_authorization6", P.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BASE + 13),
        ("cgroup/listen4", P.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BASE + 16),
        ("cgroup/listen6", P.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BASE + 17),
        ("process", win.INTERNAL_PROG_PROCESS, BASE + 11),
        ("sample", win.INTERNAL_PROG_SAMPLE, BASE + 8),
        ("xdp_test", P.BPF_PROG_TYPE_XDP, A.BPF_XDP),
    ],
)
def test_prog_type_by_name(name: str, prog_type: int, attach_type: int) -> None:
    assert libbpf_prog_type_by_name(name) == (prog_type, attach_type)


def test_windows_only_names_are_marked() -> None:
    windows = {d.pattern for d in SECTION_DEFS if d.windows_only}
    assert {"bind", "process", "sample", "cgroup/recv_accept4"} <= windows
    for shared in ("xdp", "sockops", "cgroup/connect4", "cgroup/bind4"):
        definition = section_def(shared)
        assert definition is not None and not definition.windows_only


def test_windows_attach_types_agree_with_the_abi_table() -> None:
    for definition in SECTION_DEFS:
        if definition.windows_only and definition.attach_type >= BASE:
            name, internal = win.ATTACH_TYPES[definition.attach_type - BASE]
            assert internal == definition.attach_type
            assert libbpf_bpf_attach_type_str(definition.attach_type) == name


@pytest.mark.parametrize("name", ["xdp1", "socket1", "kprobes/x", "tc_mark", "", "2/1",
                                  "cgroup/unknown", "xdpfoo"])
def test_unknown_names(name: str) -> None:
    assert section_def(name) is None
    with pytest.raises(LibbpfError) as info:
        libbpf_prog_type_by_name(name)
    assert info.value.errno == errno.ESRCH
    with pytest.raises(LibbpfError) as info:
        libbpf_attach_type_by_name(name)
    assert info.value.errno == errno.EINVAL


def test_attach_type_by_name() -> None:
    assert libbpf_attach_type_by_name("cgroup/connect4") == A.BPF_CGROUP_INET4_CONNECT
    assert libbpf_attach_type_by_name("xdp") == A.BPF_XDP
    assert libbpf_attach_type_by_name("sockops") == A.BPF_CGROUP_SOCK_OPS
    for not_attachable in ("kprobe/x", "socket", "tc", "fentry/x"):
        with pytest.raises(LibbpfError) as info:
            libbpf_attach_type_by_name(not_attachable)
        assert info.value.errno == errno.EINVAL


def test_type_strings() -> None:
    assert libbpf_bpf_prog_type_str(P.BPF_PROG_TYPE_XDP) == "xdp"
    assert libbpf_bpf_prog_type_str(P.BPF_PROG_TYPE_CGROUP_SOCK_ADDR) == "cgroup_sock_addr"
    assert libbpf_bpf_prog_type_str(win.INTERNAL_PROG_BIND) == "bind"
    assert libbpf_bpf_prog_type_str(12345) is None
    assert libbpf_bpf_map_type_str(M.BPF_MAP_TYPE_HASH) == "hash"
    assert libbpf_bpf_map_type_str(M.BPF_MAP_TYPE_LRU_PERCPU_HASH) == "lru_percpu_hash"
    assert libbpf_bpf_map_type_str(M.BPF_MAP_TYPE_RINGBUF) == "ringbuf"
    assert libbpf_bpf_map_type_str(999) is None
    assert libbpf_bpf_attach_type_str(A.BPF_CGROUP_INET4_CONNECT) == "cgroup_inet4_connect"
    assert libbpf_bpf_attach_type_str(A.BPF_XDP) == "xdp"
    assert libbpf_bpf_attach_type_str(A.BPF_TRACE_FENTRY) == "trace_fentry"
    assert libbpf_bpf_attach_type_str(46) == "tcx_ingress"
    assert libbpf_bpf_attach_type_str(BASE + 5) == "cgroup_inet4_recv_accept"
    assert libbpf_bpf_attach_type_str(9999) is None
