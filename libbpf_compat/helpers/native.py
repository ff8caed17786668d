"""The helpers implemented in C (native/helpers_*.c), by helper name, and
registering them on a Vm under their internal IDs."""

from __future__ import annotations

from typing import Any

from libbpf_compat._native import lib
from libbpf_compat.helpers.ids import helper_by_name
from libbpf_compat.runtime import DEFAULT_TRACE_PIPE
from libbpf_compat.vm import Vm

#: printk output of programs without a pipe of their own goes here
#: (imported so that it exists before any program runs).
TRACE_PIPE = DEFAULT_TRACE_PIPE

#: Helper names with a C implementation (lbc_helper_<name>).
C_HELPER_NAMES: tuple[str, ...] = (
    "ktime_get_ns", "ktime_get_boot_ns", "ktime_get_coarse_ns", "ktime_get_ms",
    "ktime_get_boot_ms", "get_prandom_u32", "get_smp_processor_id", "get_current_pid_tgid",
    "get_current_uid_gid", "get_current_comm", "get_current_logon_id", "is_current_admin",
    "get_current_process_start_key", "get_current_thread_create_time", "probe_read",
    "probe_read_user", "probe_read_kernel", "probe_read_str", "probe_read_user_str",
    "probe_read_kernel_str", "memcpy_s", "memcmp_s", "memset", "memmove_s", "strncpy_s",
    "strncat_s", "strnlen_s", "csum_diff", "trace_printk", "trace_printk2", "trace_printk3",
    "trace_printk4", "trace_printk5", "snprintf", "ringbuf_output", "ringbuf_reserve",
    "ringbuf_submit", "ringbuf_discard", "ringbuf_query", "map_lookup_elem", "map_update_elem",
    "map_delete_elem", "tail_call", "perf_event_output", "loop", "spin_lock", "spin_unlock",
    "xdp_adjust_head", "xdp_adjust_tail", "xdp_adjust_meta", "redirect", "redirect_map",
    "get_socket_cookie", "sock_addr_set_redirect_context", "map_push_elem", "map_pop_elem",
    "map_peek_elem", "skb_load_bytes", "skb_store_bytes", "l3_csum_replace", "l4_csum_replace",
    "skb_change_tail", "skb_change_head", "skb_change_proto", "skb_change_type",
    "map_lookup_and_delete_elem", "sample_ebpf_extension_helper_function1",
    "sample_ebpf_extension_find", "sample_ebpf_extension_replace", "for_each_map_elem",
    "process_get_image_path", "sock_addr_get_network_context", "sock_ops_get_flow_id",
    "sock_ops_cb_flags_set",
)


#: helpers the VM runs as superinstructions when it sees their own address
_MAP_HELPERS = {"map_lookup_elem": 0, "map_update_elem": 1, "map_delete_elem": 2}


def c_helper(name: str) -> Any:
    """The C function implementing helper ``name`` (for the map helpers the
    function's own address, which the VM recognises)."""
    if name in _MAP_HELPERS:
        return lib.lbc_map_helper(_MAP_HELPERS[name])
    return getattr(lib, f"lbc_helper_{name}")


def register_c_helpers(vm: Vm) -> None:
    """Register every C helper on ``vm`` under its internal ID (Linux's where
    Linux has the helper; the reserved range for Windows-only ones)."""
    for name in C_HELPER_NAMES:
        helper = helper_by_name(name)
        if helper is None:  # pragma: no cover - guarded by tests
            raise LookupError(f"C helper {name} is not in the registry")
        vm.register_native_helper(helper.internal, c_helper(name))
