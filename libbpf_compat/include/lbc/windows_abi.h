/* libbpf-compat: the eBPF-for-Windows ABI for BPF C programs — map, program
 * and attach type numbers, hook verdicts and the hook context structs, as
 * eBPF for Windows numbers and lays them out (x86-64, natural alignment).
 * Programs built with LBC_ABI_WINDOWS defined get these numbers; the loader
 * translates them to its internal (Linux) numbering. */
#ifndef LBC_WINDOWS_ABI_H
#define LBC_WINDOWS_ABI_H

#include "lbc/types.h"

typedef enum bpf_map_type {
    BPF_MAP_TYPE_UNSPEC = 0,
    BPF_MAP_TYPE_HASH = 1,
    BPF_MAP_TYPE_ARRAY = 2,
    BPF_MAP_TYPE_PROG_ARRAY = 3,
    BPF_MAP_TYPE_PERCPU_HASH = 4,
    BPF_MAP_TYPE_PERCPU_ARRAY = 5,
    BPF_MAP_TYPE_HASH_OF_MAPS = 6,
    BPF_MAP_TYPE_ARRAY_OF_MAPS = 7,
    BPF_MAP_TYPE_LRU_HASH = 8,
    BPF_MAP_TYPE_LPM_TRIE = 9,
    BPF_MAP_TYPE_QUEUE = 10,
    BPF_MAP_TYPE_LRU_PERCPU_HASH = 11,
    BPF_MAP_TYPE_STACK = 12,
    BPF_MAP_TYPE_RINGBUF = 13,
    BPF_MAP_TYPE_PERF_EVENT_ARRAY = 14,
    BPF_MAP_TYPE_XSKMAP = 16,
} ebpf_map_type_t;

typedef enum bpf_prog_type {
    BPF_PROG_TYPE_UNSPEC = 0,
    BPF_PROG_TYPE_XDP = 1,
    BPF_PROG_TYPE_BIND = 2,
    BPF_PROG_TYPE_CGROUP_SOCK_ADDR = 3,
    BPF_PROG_TYPE_SOCK_OPS = 4,
    BPF_PROG_TYPE_PROCESS = 6,
    BPF_PROG_TYPE_SAMPLE = 999,
} ebpf_prog_type_t;

enum { BPF_ANY = 0, BPF_NOEXIST = 1, BPF_EXIST = 2 };

/* XDP */
typedef enum _xdp_action { XDP_PASS = 1, XDP_DROP = 2, XDP_TX = 3 } xdp_action_t;

typedef struct xdp_md_ {
    void *data;
    void *data_end;
    __u64 data_meta;
    __u32 ingress_ifindex;
} xdp_md_t;

/* bind */
typedef enum _bind_operation { BIND_OPERATION_BIND = 0, BIND_OPERATION_POST_BIND = 1,
                               BIND_OPERATION_UNBIND = 2 } bind_operation_t;
typedef enum _bind_action { BIND_PERMIT_SOFT = 0, BIND_DENY = 1, BIND_REDIRECT = 2,
                            BIND_PERMIT_HARD = 3 } bind_action_t;

typedef struct _bind_md {
    __u8 *app_id_start;
    __u8 *app_id_end;
    __u64 process_id;
    __u8 socket_address[16];
    __u8 socket_address_length;
    bind_operation_t operation;
    __u8 protocol;
} bind_md_t;

/* sock_addr (connect, recv_accept, bind, listen) */
#define BPF_SOCK_ADDR_VERDICT_REJECT 0
#define BPF_SOCK_ADDR_VERDICT_PROCEED_SOFT 1
#define BPF_SOCK_ADDR_VERDICT_PROCEED_HARD 2

typedef struct bpf_sock_addr {
    __u32 family;
    union {
        __u32 msg_src_ip4;
        __u32 msg_src_ip6[4];
    };
    __u16 msg_src_port;
    union {
        __u32 user_ip4;
        __u32 user_ip6[4];
    };
    __u16 user_port;
    __u32 protocol;
    __u32 compartment_id;
    __u64 interface_luid;
} bpf_sock_addr_t;

/* What bpf_sock_addr_get_network_context fills (version 1); a field the
 * attach point cannot tell holds all ones. */
typedef struct bpf_sock_addr_network_context {
    __u32 version;
    __u32 interface_type;           /* IANA ifType (6 Ethernet, 71 Wi-Fi, 131 tunnel) */
    __u32 tunnel_type;              /* IANA tunnel type, 0: not a tunnel */
    __u64 next_hop_interface_luid;
    __u32 sub_interface_index;
} bpf_sock_addr_network_context_t;

/* sock_ops */
typedef enum {
    BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB = 0,
    BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB = 1,
    BPF_SOCK_OPS_CONNECTION_DELETED_CB = 2,
} bpf_sock_op_type_t;

typedef struct _bpf_sock_ops {
    bpf_sock_op_type_t op;
    __u32 family;
    union {
        __u32 local_ip4;
        __u32 local_ip6[4];
    };
    __u32 local_port;
    union {
        __u32 remote_ip4;
        __u32 remote_ip6[4];
    };
    __u32 remote_port;
    __u8 protocol;
    __u32 compartment_id;
    __u64 interface_luid;
} bpf_sock_ops_t;

/* process */
typedef enum _process_operation { PROCESS_OPERATION_CREATE = 0,
                                  PROCESS_OPERATION_DELETE = 1 } process_operation_t;

typedef struct _process_md {
    __u8 *command_start;
    __u8 *command_end;
    __u64 process_id;
    __u64 parent_process_id;
    __u64 creating_process_id;
    __u64 creating_thread_id;
    process_operation_t operation;
} process_md_t;

#endif
