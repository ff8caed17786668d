/* The hook context types of the internal (Linux) ABI, compiled only for
 * their BTF: the default target of CO-RE relocations when an object is
 * loaded without btf_custom_path (build_context_btf.sh extracts it into
 * context_types.btf). */
#include <linux/bpf.h>

#define KEEP(type, name) type *name __attribute__((section(".data.lbc_keep"), used))

KEEP(struct xdp_md, lbc_xdp_md);
KEEP(struct __sk_buff, lbc_sk_buff);
KEEP(struct bpf_sock_addr, lbc_bpf_sock_addr);
KEEP(struct bpf_sock_ops, lbc_bpf_sock_ops);
KEEP(struct bpf_sock, lbc_bpf_sock);
KEEP(struct bpf_raw_tracepoint_args, lbc_raw_tp_args);
KEEP(struct bpf_perf_event_data, lbc_perf_event_data);
KEEP(struct sk_msg_md, lbc_sk_msg_md);
KEEP(struct bpf_sysctl, lbc_bpf_sysctl);
KEEP(struct bpf_sockopt, lbc_bpf_sockopt);
KEEP(struct bpf_sk_lookup, lbc_bpf_sk_lookup);
