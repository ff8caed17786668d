"""eBPF for Windows numbering (ebpf-for-windows 1.6 public headers, as
gathered in shared/reference/ABI.md): map types, program types, attach
types and verdicts, each with the internal (Linux-numbered) equivalent.

Windows-only program and attach types get internal numbers in a reserved
range, WINDOWS_ONLY_BASE + their Windows number.
"""

from __future__ import annotations

from libbpf_compat.uapi import BpfAttachType as A
from libbpf_compat.uapi import BpfMapType as M
from libbpf_compat.uapi import BpfProgType as P

WINDOWS_ONLY_BASE = 0x1_0000

#: Windows map type -> internal (Linux) map type.
MAP_TYPES: dict[int, int] = {
    1: M.BPF_MAP_TYPE_HASH,
    2: M.BPF_MAP_TYPE_ARRAY,
    3: M.BPF_MAP_TYPE_PROG_ARRAY,
    4: M.BPF_MAP_TYPE_PERCPU_HASH,
    5: M.BPF_MAP_TYPE_PERCPU_ARRAY,
    6: M.BPF_MAP_TYPE_HASH_OF_MAPS,
    7: M.BPF_MAP_TYPE_ARRAY_OF_MAPS,
    8: M.BPF_MAP_TYPE_LRU_HASH,
    9: M.BPF_MAP_TYPE_LPM_TRIE,
    10: M.BPF_MAP_TYPE_QUEUE,
    11: M.BPF_MAP_TYPE_LRU_PERCPU_HASH,
    12: M.BPF_MAP_TYPE_STACK,
    13: M.BPF_MAP_TYPE_RINGBUF,
    14: M.BPF_MAP_TYPE_PERF_EVENT_ARRAY,
    16: M.BPF_MAP_TYPE_XSKMAP,
}

# Windows program types.
PROG_XDP = 1
PROG_BIND = 2
PROG_CGROUP_SOCK_ADDR = 3
PROG_SOCK_OPS = 4
PROG_PROCESS = 6
PROG_SAMPLE = 999

INTERNAL_PROG_BIND = WINDOWS_ONLY_BASE + PROG_BIND
INTERNAL_PROG_PROCESS = WINDOWS_ONLY_BASE + PROG_PROCESS
INTERNAL_PROG_SAMPLE = WINDOWS_ONLY_BASE + PROG_SAMPLE

#: Windows program type -> internal program type.
PROG_TYPES: dict[int, int] = {
    PROG_XDP: P.BPF_PROG_TYPE_XDP,
    PROG_BIND: INTERNAL_PROG_BIND,
    PROG_CGROUP_SOCK_ADDR: P.BPF_PROG_TYPE_CGROUP_SOCK_ADDR,
    PROG_SOCK_OPS: P.BPF_PROG_TYPE_SOCK_OPS,
    PROG_PROCESS: INTERNAL_PROG_PROCESS,
    PROG_SAMPLE: INTERNAL_PROG_SAMPLE,
}

#: Windows attach type -> (name, internal attach type).
ATTACH_TYPES: dict[int, tuple[str, int]] = {
    1: ("xdp", A.BPF_XDP),
    2: ("bind", WINDOWS_ONLY_BASE + 2),
    3: ("cgroup_inet4_connect", A.BPF_CGROUP_INET4_CONNECT),
    4: ("cgroup_inet6_connect", A.BPF_CGROUP_INET6_CONNECT),
    5: ("cgroup_inet4_recv_accept", WINDOWS_ONLY_BASE + 5),
    6: ("cgroup_inet6_recv_accept", WINDOWS_ONLY_BASE + 6),
    7: ("cgroup_sock_ops", A.BPF_CGROUP_SOCK_OPS),
    8: ("sample", WINDOWS_ONLY_BASE + 8),
    11: ("process", WINDOWS_ONLY_BASE + 11),
    12: ("cgroup_inet4_connect_authorization", WINDOWS_ONLY_BASE + 12),
    13: ("cgroup_inet6_connect_authorization", WINDOWS_ONLY_BASE + 13),
    14: ("cgroup_inet4_bind", A.BPF_CGROUP_INET4_BIND),
    15: ("cgroup_inet6_bind", A.BPF_CGROUP_INET6_BIND),
    16: ("cgroup_inet4_listen", WINDOWS_ONLY_BASE + 16),
    17: ("cgroup_inet6_listen", WINDOWS_ONLY_BASE + 17),
}

#: Verdicts a Windows program returns, per hook: value -> meaning.
XDP_VERDICTS = {1: "pass", 2: "drop", 3: "tx"}
SOCK_ADDR_VERDICTS = {0: "reject", 1: "proceed_soft", 2: "proceed_hard"}
BIND_VERDICTS = {0: "permit_soft", 1: "deny", 2: "redirect", 3: "permit_hard"}
SOCK_OPS_OPS = {0: "active_established", 1: "passive_established", 2: "connection_deleted"}
