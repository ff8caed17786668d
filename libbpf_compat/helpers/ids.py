"""Helper IDs on both platforms, and the project's internal numbering.

Internal IDs are Linux's (``enum bpf_func_id``). Helpers that exist only in
eBPF for Windows get internal IDs in a reserved range, WINDOWS_ONLY_BASE +
their Windows ID (program-type-specific Windows helpers, which Windows numbers
from 0x10000 per program type, get WINDOWS_PROG_BASE + program type * 0x100 +
their offset). The numbers are facts from the platforms' public headers
(shared/reference/ABI.md).
"""

from __future__ import annotations

import errno
from dataclasses import dataclass

from libbpf_compat.errors import LibbpfError

#: Linux helper names; the index is the Linux (and internal) helper ID.
LINUX_HELPER_NAMES: tuple[str, ...] = (
    "unspec", "map_lookup_elem", "map_update_elem", "map_delete_elem", "probe_read",
    "ktime_get_ns", "trace_printk", "get_prandom_u32", "get_smp_processor_id",
    "skb_store_bytes", "l3_csum_replace", "l4_csum_replace", "tail_call", "clone_redirect",
    "get_current_pid_tgid", "get_current_uid_gid", "get_current_comm", "get_cgroup_classid",
    "skb_vlan_push", "skb_vlan_pop", "skb_get_tunnel_key", "skb_set_tunnel_key",
    "perf_event_read", "redirect", "get_route_realm", "perf_event_output", "skb_load_bytes",
    "get_stackid", "csum_diff", "skb_get_tunnel_opt", "skb_set_tunnel_opt", "skb_change_proto",
    "skb_change_type", "skb_under_cgroup", "get_hash_recalc", "get_current_task",
    "probe_write_user", "current_task_under_cgroup", "skb_change_tail", "skb_pull_data",
    "csum_update", "set_hash_invalid", "get_numa_node_id", "skb_change_head",
    "xdp_adjust_head", "probe_read_str", "get_socket_cookie", "get_socket_uid", "set_hash",
    "setsockopt", "skb_adjust_room", "redirect_map", "sk_redirect_map", "sock_map_update",
    "xdp_adjust_meta", "perf_event_read_value", "perf_prog_read_value", "getsockopt",
    "override_return", "sock_ops_cb_flags_set", "msg_redirect_map", "msg_apply_bytes",
    "msg_cork_bytes", "msg_pull_data", "bind", "xdp_adjust_tail", "skb_get_xfrm_state",
    "get_stack", "skb_load_bytes_relative", "fib_lookup", "sock_hash_update",
    "msg_redirect_hash", "sk_redirect_hash", "lwt_push_encap", "lwt_seg6_store_bytes",
    "lwt_seg6_adjust_srh", "lwt_seg6_action", "rc_repeat", "rc_keydown", "skb_cgroup_id",
    "get_current_cgroup_id", "get_local_storage", "sk_select_reuseport",
    "skb_ancestor_cgroup_id", "sk_lookup_tcp", "sk_lookup_udp", "sk_release", "map_push_elem",
    "map_pop_elem", "map_peek_elem", "msg_push_data", "msg_pop_data", "rc_pointer_rel",
    "spin_lock", "spin_unlock", "sk_fullsock", "tcp_sock", "skb_ecn_set_ce",
    "get_listener_sock", "skc_lookup_tcp", "tcp_check_syncookie", "sysctl_get_name",
    "sysctl_get_current_value", "sysctl_get_new_value", "sysctl_set_new_value", "strtol",
    "strtoul", "sk_storage_get", "sk_storage_delete", "send_signal", "tcp_gen_syncookie",
    "skb_output", "probe_read_user", "probe_read_kernel", "probe_read_user_str",
    "probe_read_kernel_str", "tcp_send_ack", "send_signal_thread", "jiffies64",
    "read_branch_records", "get_ns_current_pid_tgid", "xdp_output", "get_netns_cookie",
    "get_current_ancestor_cgroup_id", "sk_assign", "ktime_get_boot_ns", "seq_printf",
    "seq_write", "sk_cgroup_id", "sk_ancestor_cgroup_id", "ringbuf_output", "ringbuf_reserve",
    "ringbuf_submit", "ringbuf_discard", "ringbuf_query", "csum_level", "skc_to_tcp6_sock",
    "skc_to_tcp_sock", "skc_to_tcp_timewait_sock", "skc_to_tcp_request_sock",
    "skc_to_udp6_sock", "get_task_stack", "load_hdr_opt", "store_hdr_opt", "reserve_hdr_opt",
    "inode_storage_get", "inode_storage_delete", "d_path", "copy_from_user", "snprintf_btf",
    "seq_printf_btf", "skb_cgroup_classid", "redirect_neigh", "per_cpu_ptr", "this_cpu_ptr",
    "redirect_peer", "task_storage_get", "task_storage_delete", "get_current_task_btf",
    "bprm_opts_set", "ktime_get_coarse_ns", "ima_inode_hash", "sock_from_file", "check_mtu",
    "for_each_map_elem", "snprintf", "sys_bpf", "btf_find_by_name_kind", "sys_close",
    "timer_init", "timer_set_callback", "timer_start", "timer_cancel", "get_func_ip",
    "get_attach_cookie", "task_pt_regs", "get_branch_snapshot", "trace_vprintk",
    "skc_to_unix_sock", "kallsyms_lookup_name", "find_vma", "loop", "strncmp", "get_func_arg",
    "get_func_ret", "get_func_arg_cnt", "get_retval", "set_retval", "xdp_get_buff_len",
    "xdp_load_bytes", "xdp_store_bytes", "copy_from_user_task", "skb_set_tstamp",
    "ima_file_hash", "kptr_xchg", "map_lookup_percpu_elem", "skc_to_mptcp_sock",
    "dynptr_from_mem", "ringbuf_reserve_dynptr", "ringbuf_submit_dynptr",
    "ringbuf_discard_dynptr", "dynptr_read", "dynptr_write", "dynptr_data",
    "tcp_raw_gen_syncookie_ipv4", "tcp_raw_gen_syncookie_ipv6", "tcp_raw_check_syncookie_ipv4",
    "tcp_raw_check_syncookie_ipv6", "ktime_get_tai_ns", "user_ringbuf_drain",
)

WINDOWS_ONLY_BASE = 0x4000_0000
WINDOWS_PROG_BASE = 0x4100_0000
#: Internal IDs of the helpers a host adds from Python (helpers/host.py).
HOST_HELPER_BASE = 0x4200_0000
#: Windows numbers its program-type-specific helpers from here.
WINDOWS_PROG_HELPER_START = 0x10000

#: eBPF-for-Windows general helpers: name -> Windows ID. Names match Linux's
#: where the helper is the same; Windows-only helpers have their own names.
WINDOWS_GENERAL_HELPERS: dict[str, int] = {
    "map_lookup_elem": 1,
    "map_update_elem": 2,
    "map_delete_elem": 3,
    "map_lookup_and_delete_elem": 4,
    "tail_call": 5,
    "get_prandom_u32": 6,
    "ktime_get_boot_ns": 7,
    "get_smp_processor_id": 8,
    "ktime_get_ns": 9,
    "csum_diff": 10,
    "ringbuf_output": 11,
    "trace_printk2": 12,
    "trace_printk3": 13,
    "trace_printk4": 14,
    "trace_printk5": 15,
    "map_push_elem": 16,
    "map_pop_elem": 17,
    "map_peek_elem": 18,
    "get_current_pid_tgid": 19,
    "get_current_logon_id": 20,
    "is_current_admin": 21,
    "memcpy_s": 22,
    "memcmp_s": 23,
    "memset": 24,
    "memmove_s": 25,
    "get_socket_cookie": 26,
    "strncpy_s": 27,
    "strncat_s": 28,
    "strnlen_s": 29,
    "ktime_get_boot_ms": 30,
    "ktime_get_ms": 31,
    "perf_event_output": 32,
    "get_current_process_start_key": 33,
    "get_current_thread_create_time": 34,
    "redirect_map": 35,
}

#: Program-type-specific Windows helpers: (Windows program type, Windows ID) -> name.
#: Windows program types: XDP 1 (xdp_test), CGROUP_SOCK_ADDR 3, SOCK_OPS 4, PROCESS 6,
#: SAMPLE 999 (the sample extension's helpers).
WINDOWS_PROGRAM_HELPERS: dict[tuple[int, int], str] = {
    (1, 0x10000): "xdp_adjust_head",
    (3, 0x10001): "sock_addr_set_redirect_context",
    (3, 0x10002): "sock_addr_get_network_context",
    (4, 0x10000): "sock_ops_get_flow_id",
    (6, 0x10000): "process_get_image_path",
    (999, 0x10000): "sample_ebpf_extension_helper_function1",
    (999, 0x10001): "sample_ebpf_extension_find",
    (999, 0x10002): "sample_ebpf_extension_replace",
}


#: Helpers whose C name is their registry name as it is: eBPF for Windows'
#: sample extension names its helpers without the ``bpf_`` prefix.
UNPREFIXED_HELPERS = frozenset({
    "sample_ebpf_extension_helper_function1", "sample_ebpf_extension_find",
    "sample_ebpf_extension_replace",
})


@dataclass(frozen=True)
class HelperId:
    """One helper's numbers: internal, Linux (None if Linux lacks it) and
    Windows (None if Windows lacks it; for a program-type-specific helper,
    ``windows_prog_type`` says which program type it belongs to)."""

    name: str
    internal: int
    linux: int | None
    windows: int | None
    windows_prog_type: int | None = None

    @property
    def c_name(self) -> str:
        """The name BPF C programs call it by (``bpf_`` and the name, but
        for the sample extension's helpers)."""
        return self.name if self.name in UNPREFIXED_HELPERS else f"bpf_{self.name}"


def _build() -> tuple[HelperId, ...]:
    linux = {name: i for i, name in enumerate(LINUX_HELPER_NAMES) if i}
    table: dict[str, HelperId] = {
        name: HelperId(name, i, i, WINDOWS_GENERAL_HELPERS.get(name)) for name, i in linux.items()
    }
    for name, wid in WINDOWS_GENERAL_HELPERS.items():
        if name not in table:
            table[name] = HelperId(name, WINDOWS_ONLY_BASE + wid, None, wid)
    for (prog_type, wid), name in WINDOWS_PROGRAM_HELPERS.items():
        if name in table:  # the same helper as Linux's, reached by another number
            old = table[name]
            table[name] = HelperId(name, old.internal, old.linux, wid, prog_type)
        else:
            internal = (WINDOWS_PROG_BASE + prog_type * 0x100
                        + (wid - WINDOWS_PROG_HELPER_START))
            table[name] = HelperId(name, internal, None, wid, prog_type)
    return tuple(sorted(table.values(), key=lambda h: h.internal))


HELPER_IDS: tuple[HelperId, ...] = _build()
_BY_INTERNAL = {h.internal: h for h in HELPER_IDS}
_BY_NAME = {h.name: h for h in HELPER_IDS}
_BY_WINDOWS_GENERAL = {h.windows: h for h in HELPER_IDS
                       if h.windows is not None and h.windows_prog_type is None}
_BY_WINDOWS_PROGRAM: dict[tuple[int, int], HelperId] = {
    (h.windows_prog_type, h.windows): h
    for h in HELPER_IDS
    if h.windows_prog_type is not None and h.windows is not None
}


def helper_by_name(name: str) -> HelperId | None:
    """The helper called ``name`` (without the ``bpf_`` prefix), or None."""
    return _BY_NAME.get(name.removeprefix("bpf_"))


def helper_by_internal(helper_id: int) -> HelperId | None:
    return _BY_INTERNAL.get(helper_id)


#: (ABI, the ID programs call) -> internal ID of the helpers a host added.
_HOST_IDS: dict[tuple[str, int], HelperId] = {}


def add_host_helper_id(abi: str, helper_id: int, name: str) -> HelperId:
    """Give a host's helper, called as ``helper_id`` by programs of ``abi``,
    an internal ID (EEXIST when the number or name is taken)."""
    if (abi, helper_id) in _HOST_IDS or name in _BY_NAME:
        raise LibbpfError(errno.EEXIST, f"helper {name!r} ({abi} id {helper_id}) is "
                                        "already registered")
    internal = HOST_HELPER_BASE + len(_HOST_IDS) + 1
    while internal in _BY_INTERNAL:
        internal += 1
    helper = HelperId(name, internal, helper_id if abi == "linux" else None,
                      helper_id if abi == "windows" else None)
    _HOST_IDS[(abi, helper_id)] = helper
    _BY_INTERNAL[internal] = helper
    _BY_NAME[name] = helper
    return helper


def remove_host_helper_id(abi: str, helper_id: int) -> None:
    helper = _HOST_IDS.pop((abi, helper_id), None)
    if helper is not None:
        _BY_INTERNAL.pop(helper.internal, None)
        _BY_NAME.pop(helper.name, None)


def internal_helper_id(abi: str, helper_id: int, windows_prog_type: int | None = None) -> int:
    """The internal ID of a helper a program of ``abi`` ("linux" or "windows")
    calls by ``helper_id``; ``windows_prog_type`` resolves Windows'
    program-type-specific IDs (0x10000 and up). Raises ENOENT for an unknown ID."""
    host = _HOST_IDS.get((abi, helper_id))
    if host is not None:
        return host.internal
    if abi == "linux":
        if 0 < helper_id < len(LINUX_HELPER_NAMES):
            return helper_id
        raise LibbpfError(errno.ENOENT, f"unknown Linux helper id {helper_id}")
    if abi != "windows":
        raise LibbpfError(errno.EINVAL, f"unknown ABI {abi!r} (expected 'linux' or 'windows')")
    if helper_id >= WINDOWS_PROG_HELPER_START:
        found = _BY_WINDOWS_PROGRAM.get((windows_prog_type or 0, helper_id))
    else:
        found = _BY_WINDOWS_GENERAL.get(helper_id)
    if found is None:
        where = f" for Windows program type {windows_prog_type}" if windows_prog_type else ""
        raise LibbpfError(errno.ENOENT, f"unknown eBPF-for-Windows helper id {helper_id:#x}{where}")
    return found.internal
