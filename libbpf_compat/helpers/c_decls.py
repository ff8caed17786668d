"""C declarations of the helpers the project's headers offer to BPF C
programs, by helper name: (return type, parameter list). The generated
include/bpf/bpf_helper_defs.h declares each with its Linux ID, or its
eBPF-for-Windows ID when the program is built with LBC_ABI_WINDOWS."""

from __future__ import annotations

C_DECLS: dict[str, tuple[str, str]] = {
    "map_lookup_elem": ("void *", "void *map, const void *key"),
    "map_update_elem": ("long", "void *map, const void *key, const void *value, __u64 flags"),
    "map_delete_elem": ("long", "void *map, const void *key"),
    "map_lookup_and_delete_elem": ("void *", "void *map, const void *key"),
    "probe_read": ("long", "void *dst, __u32 size, const void *unsafe_ptr"),
    "ktime_get_ns": ("__u64", "void"),
    "trace_printk": ("long", "const char *fmt, __u32 fmt_size, ..."),
    "trace_printk2": ("long", "const char *fmt, __u32 fmt_size"),
    "trace_printk3": ("long", "const char *fmt, __u32 fmt_size, __u64 arg3"),
    "trace_printk4": ("long", "const char *fmt, __u32 fmt_size, __u64 arg3, __u64 arg4"),
    "trace_printk5": ("long", "const char *fmt, __u32 fmt_size, __u64 arg3, __u64 arg4, "
                              "__u64 arg5"),
    "get_prandom_u32": ("__u32", "void"),
    "get_smp_processor_id": ("__u32", "void"),
    "tail_call": ("long", "void *ctx, void *prog_array_map, __u32 index"),
    "get_current_pid_tgid": ("__u64", "void"),
    "get_current_uid_gid": ("__u64", "void"),
    "get_current_comm": ("long", "void *buf, __u32 size_of_buf"),
    "perf_event_output": ("long", "void *ctx, void *map, __u64 flags, void *data, __u64 size"),
    "csum_diff": ("__s64", "__be32 *from, __u32 from_size, __be32 *to, __u32 to_size, "
                           "__wsum seed"),
    "redirect": ("long", "__u32 ifindex, __u64 flags"),
    "xdp_adjust_head": ("long", "void *xdp_md, int delta"),
    "get_socket_cookie": ("__u64", "void *ctx"),
    "redirect_map": ("long", "void *map, __u64 key, __u64 flags"),
    "xdp_adjust_meta": ("long", "void *xdp_md, int delta"),
    "xdp_adjust_tail": ("long", "void *xdp_md, int delta"),
    "map_push_elem": ("long", "void *map, const void *value, __u64 flags"),
    "map_pop_elem": ("long", "void *map, void *value"),
    "map_peek_elem": ("long", "void *map, void *value"),
    "spin_lock": ("long", "struct bpf_spin_lock *lock"),
    "spin_unlock": ("long", "struct bpf_spin_lock *lock"),
    "probe_read_user": ("long", "void *dst, __u32 size, const void *unsafe_ptr"),
    "probe_read_kernel": ("long", "void *dst, __u32 size, const void *unsafe_ptr"),
    "probe_read_user_str": ("long", "void *dst, __u32 size, const void *unsafe_ptr"),
    "probe_read_kernel_str": ("long", "void *dst, __u32 size, const void *unsafe_ptr"),
    "ktime_get_boot_ns": ("__u64", "void"),
    "ringbuf_output": ("long", "void *ringbuf, void *data, __u64 size, __u64 flags"),
    "ringbuf_reserve": ("void *", "void *ringbuf, __u64 size, __u64 flags"),
    "ringbuf_submit": ("void", "void *data, __u64 flags"),
    "ringbuf_discard": ("void", "void *data, __u64 flags"),
    "ringbuf_query": ("__u64", "void *ringbuf, __u64 flags"),
    "snprintf": ("long", "char *str, __u32 str_size, const char *fmt, __u64 *data, "
                         "__u32 data_len"),
    "loop": ("long", "__u32 nr_loops, void *callback_fn, void *callback_ctx, __u64 flags"),
    "for_each_map_elem": ("long", "void *map, void *callback_fn, void *callback_ctx, "
                                  "__u64 flags"),
    "get_current_logon_id": ("__u64", "const void *ctx"),
    "is_current_admin": ("__s32", "const void *ctx"),
    "memcpy_s": ("long", "void *destination, __u64 destination_size, const void *source, "
                         "__u64 source_size"),
    "memcmp_s": ("int", "const void *memory1, __u64 memory1_size, const void *memory2, "
                        "__u64 memory2_size"),
    "memset": ("long", "void *memory, __u64 size, int value"),
    "memmove_s": ("long", "void *destination, __u64 destination_size, const void *source, "
                          "__u64 source_size"),
    "strncpy_s": ("long", "char *dest, __u64 dest_size, const char *src, __u64 count"),
    "strncat_s": ("long", "char *dest, __u64 dest_size, const char *src, __u64 count"),
    "strnlen_s": ("__u64", "const char *str, __u64 str_size"),
    "ktime_get_boot_ms": ("__u64", "void"),
    "ktime_get_ms": ("__u64", "void"),
    "get_current_process_start_key": ("__u64", "void"),
    "get_current_thread_create_time": ("__s64", "void"),
    "sock_addr_set_redirect_context": ("long", "bpf_sock_addr_t *ctx, void *data, "
                                               "__u32 data_size"),
    "sock_addr_get_network_context": ("int", "bpf_sock_addr_t *ctx, void *data, "
                                              "__u32 data_size"),
    "sock_ops_get_flow_id": ("__u64", "bpf_sock_ops_t *ctx"),
    "sock_ops_cb_flags_set": ("long", "struct bpf_sock_ops *bpf_sock, int argval"),
    "process_get_image_path": ("int", "process_md_t *ctx, __u8 *path, __u32 path_length"),
    "skb_load_bytes": ("long", "const void *skb, __u32 offset, void *to, __u32 len"),
    "skb_store_bytes": ("long", "struct __sk_buff *skb, __u32 offset, const void *from, "
                                "__u32 len, __u64 flags"),
    "l3_csum_replace": ("long", "struct __sk_buff *skb, __u32 offset, __u64 from, __u64 to, "
                                "__u64 size"),
    "l4_csum_replace": ("long", "struct __sk_buff *skb, __u32 offset, __u64 from, __u64 to, "
                                "__u64 flags"),
    "skb_change_tail": ("long", "struct __sk_buff *skb, __u32 len, __u64 flags"),
    "skb_change_head": ("long", "struct __sk_buff *skb, __u32 len, __u64 flags"),
    "skb_change_proto": ("long", "struct __sk_buff *skb, __be16 proto, __u64 flags"),
    "skb_change_type": ("long", "struct __sk_buff *skb, __u32 type"),
}
