/* libbpf-compat runtime services for helpers: the task a hook event runs
 * for, the trace pipe, memory a program may probe-read, and the helpers
 * implemented in C. A run reaches them through lbc_exec.runtime. */
#ifndef LBC_RUNTIME_H
#define LBC_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#include "lbc_vm.h"

/* What the host says about the task an event belongs to. */
typedef struct lbc_task {
    uint64_t pid_tgid;            /* (tgid << 32) | pid, as Linux */
    uint64_t uid_gid;             /* (gid << 32) | uid */
    char comm[16];
    uint64_t logon_id;            /* Windows */
    int32_t is_admin;             /* Windows */
    uint64_t process_start_key;   /* Windows */
    int64_t thread_create_time;   /* Windows */
} lbc_task;

/* A bounded, thread-safe buffer of text lines (bpf_trace_printk output). */
typedef struct lbc_trace_pipe lbc_trace_pipe;

lbc_trace_pipe *lbc_trace_pipe_new(size_t capacity);
void lbc_trace_pipe_free(lbc_trace_pipe *pipe);
/* Append one line (no newline needed); the oldest lines make room. */
void lbc_trace_pipe_write(lbc_trace_pipe *pipe, const char *text, size_t len);
/* Move up to `size` bytes of whole lines into buf; returns the byte count. */
size_t lbc_trace_pipe_read(lbc_trace_pipe *pipe, char *buf, size_t size);
/* Lines dropped because the pipe was full. */
uint64_t lbc_trace_pipe_dropped(const lbc_trace_pipe *pipe);
/* The process-wide pipe printk writes to when the run's runtime has no
 * pipe of its own (NULL: such output is discarded). The pipe must outlive
 * its use as the default. */
void lbc_trace_pipe_set_default(lbc_trace_pipe *pipe);
lbc_trace_pipe *lbc_trace_pipe_get_default(void);

typedef struct lbc_runtime {
    lbc_task task;
    lbc_trace_pipe *trace;          /* NULL: printk output is discarded */
    const lbc_region *probe_regions; /* memory probe_read may read */
    uint32_t nprobe_regions;
} lbc_runtime;

/* The native XDP context a hook builds: its first 40 bytes are what
 * programs see (hooks/contexts.py XDP_NATIVE), the rest is what the XDP
 * helpers need: the buffer's bounds and the redirect target. */
typedef struct lbc_xdp_ctx {
    uint64_t data, data_end, data_meta;
    uint32_t ingress_ifindex, rx_queue_index, egress_ifindex, reserved;
    uint64_t hard_start;        /* start of the buffer, the headroom before data */
    uint64_t frame_end;         /* how far data_end may grow */
    uint32_t redirect_ifindex;  /* set by bpf_redirect / bpf_redirect_map */
    uint32_t redirected;        /* 1 when redirect_ifindex is set */
    uint64_t magic;             /* LBC_XDP_CTX_MAGIC */
} lbc_xdp_ctx;

#define LBC_XDP_CTX_MAGIC 1480803404u /* "LBCX" */
#define LBC_XDP_FRAME_OVERHEAD 40     /* sizeof(struct xdp_frame) Linux keeps at the buffer's start */
#define LBC_XDP_META_MAX 255          /* the largest metadata Linux allows (a u8 length) */

/* XDP packets (vm_xdp.c): a packet through an XDP program in one C call,
 * on the frame hooks/xdp_frame.py's run_xdp_frame builds: `headroom`
 * zeroed bytes (the first LBC_XDP_FRAME_OVERHEAD reserved), the packet,
 * zeroed room up to max(len, room) bytes of packet, then `tailroom` zeroed
 * bytes; the context is a full lbc_xdp_ctx (hard_start = the frame's start,
 * frame_end = data + max(len, room), LBC_XDP_CTX_MAGIC) so that the XDP
 * helpers work. The run may touch the whole frame (its region, appended as
 * regions[nregions]: the array needs room for one more) and the context;
 * afterwards the packet is what lies between the context's data and
 * data_end, clamped to the frame. buf_size is at most LBC_XDP_FIELD_MASK. */
typedef struct lbc_xdp_io {
    const lbc_prog *prog;
    lbc_exec *ex;                /* the runs' state (flags, budget, host, runtime; errors) */
    uint8_t *buf;
    uint32_t buf_size;           /* at least headroom + max(largest packet, room) + tailroom */
    uint32_t headroom, room, tailroom;
    lbc_region *regions;         /* ex->regions for the runs: nregions + 1 slots */
    uint32_t nregions;
    uint8_t verdicts[8];         /* batch: return value (low 32 bits) 0..7 -> verdict */
    uint8_t unknown_verdict;     /* batch: the verdict of any other return value */
} lbc_xdp_io;

/* One packet, received on interface ifindex, queue rx_queue: a run's
 * negative errno (ex->err), -EINVAL when its frame does not fit buf; else,
 * packed into one non-negative number, the return value's low 32 bits
 * (bits 0..31; ex->retval has all 64), the packet's length (bits 32..44),
 * its offset in buf (bits 45..57), bit 58 set when the packet is the one
 * given, unchanged (same place, length and bytes) and bit 59 set when
 * bpf_redirect / bpf_redirect_map named an interface (then in *redirect). */
#define LBC_XDP_LEN_SHIFT 32
#define LBC_XDP_OFF_SHIFT 45
#define LBC_XDP_SAME_SHIFT 58
#define LBC_XDP_REDIRECTED_SHIFT 59
#define LBC_XDP_FIELD_MASK 8191
int64_t lbc_xdp_run(const lbc_xdp_io *io, const char *pkt, uint32_t len, uint32_t ifindex,
                    uint32_t rx_queue, uint32_t *redirect);

/* A batch: packets back to back in pkts (lens[i] bytes each); each run's
 * packet is appended to out (out_lens[i]), its normalised verdict stored
 * in verdicts[i], its return value in retvals[i] and the interface a
 * REDIRECT verdict sends it to in redirects[i] (0 for any other verdict).
 * A REDIRECT without a target the hook has becomes LBC_XDP_VERDICT_ABORTED
 * as Linux drops a failed redirect: the hook has every ifindex
 * 1..LBC_XDP_MAX_IFINDEX when ifaces is NULL, else the nifaces ones in
 * ifaces (sorted ascending). Resumable: `done`, in_pos and out_pos say
 * where it is. Returns 0 when all n are done, -ENOSPC when out has less
 * than the next packet's frame size left (before that packet runs: grow
 * out and call again), -EMSGSIZE before any run when a packet's size is
 * outside min_len..max_len (`done` is its index), -EINVAL for a packet
 * whose frame does not fit buf, or a run's negative errno (ex->err;
 * packet `done`). */
#define LBC_XDP_VERDICT_ABORTED 0
#define LBC_XDP_VERDICT_REDIRECT 4
#define LBC_XDP_MAX_IFINDEX 2147483647
typedef struct lbc_xdp_batch {
    const char *pkts;
    const uint32_t *lens;
    uint32_t n;
    char *out;
    uint64_t out_cap;
    uint32_t *out_lens;
    uint8_t *verdicts;
    uint32_t *retvals;
    uint32_t *redirects;
    const uint32_t *ifaces;      /* the hook's interfaces (sorted), NULL: all */
    uint32_t nifaces;
    uint32_t ifindex, rx_queue;
    uint32_t min_len, max_len;   /* the packet sizes the hook takes */
    uint32_t done;
    uint64_t in_pos, out_pos;
} lbc_xdp_batch;

int lbc_xdp_run_batch(const lbc_xdp_io *io, lbc_xdp_batch *batch);

/* The native skb context the skb hooks build (hooks/skb.py): __sk_buff's
 * 192 bytes at their offsets, the packet pointers as 64-bit values, then
 * what the skb helpers need: the buffer the packet may move and grow in,
 * its limits and the redirect target. */
typedef struct lbc_skb_ctx {
    uint8_t sk_buff[192];
    uint64_t data, data_end, data_meta;
    uint64_t buf_start, buf_end;   /* the packet's buffer (head- and tailroom) */
    uint32_t max_len;              /* the longest the packet may become */
    uint32_t net_off;              /* the network header's offset from data */
    uint32_t redirect_ifindex;     /* set by bpf_redirect (tc) */
    uint32_t redirect_flags;       /* BPF_F_INGRESS or 0 */
    uint32_t redirected;           /* 1 when bpf_redirect set a target */
    uint32_t writable;             /* 1: the packet may be changed */
    uint64_t magic;                /* LBC_SKB_CTX_MAGIC */
} lbc_skb_ctx;

#define LBC_SKB_CTX_MAGIC 1262699084u /* "LBCK" */

/* tc's bpf_redirect for an skb run: when the run's context is an skb
 * context, record the target and return 1 with *verdict set; else 0. */
int lbc_skb_redirect(lbc_exec *ex, uint32_t ifindex, uint64_t flags, uint64_t *verdict);

/* What the process hook places after its native context (56 bytes), at
 * LBC_PROCESS_TRAILER_OFFSET: the image path of a process creation. */
#define LBC_PROCESS_TRAILER_OFFSET 64
#define LBC_PROCESS_CTX_MAGIC 1346585164u /* "LBCP" */
typedef struct lbc_process_trailer {
    uint64_t magic;                 /* LBC_PROCESS_CTX_MAGIC */
    uint64_t image;                 /* the image path's bytes */
    uint32_t image_len;             /* 0: none */
    uint32_t reserved;
} lbc_process_trailer;

/* What the socket hooks (sock_addr, sock_ops) place after their native
 * context, at LBC_SOCK_TRAILER_OFFSET from its start: the socket's cookie
 * and, for requests that take one (Windows connect redirection), room for
 * the redirect context a program sets. */
#define LBC_SOCK_TRAILER_OFFSET 192
/* The native sock_ops context's fields bpf_sock_ops_cb_flags_set reads and
 * writes (hooks/contexts.py SOCK_OPS_NATIVE), and the flags Linux knows. */
#define LBC_SOCK_OPS_IS_FULLSOCK_OFFSET 80
#define LBC_SOCK_OPS_CB_FLAGS_OFFSET 96
#define LBC_SOCK_OPS_ALL_CB_FLAGS 0x7F
#define LBC_SOCK_CTX_MAGIC 1396916812u /* "LBCS" */
#define LBC_REDIRECT_CONTEXT_MAX 256
typedef struct lbc_sock_trailer {
    uint64_t cookie;
    uint64_t magic;                 /* LBC_SOCK_CTX_MAGIC */
    uint32_t redirect_room;         /* 0: this request takes no redirect context */
    uint32_t redirect_size;         /* bytes stored, 0 for none */
    uint8_t redirect_context[LBC_REDIRECT_CONTEXT_MAX];
    uint64_t flow_id;               /* sock_ops: the connection's flow id, 0: none */
    uint32_t net_ctx_valid;         /* 1: this request offers a network context */
    uint32_t net_interface_type;    /* the network context (sentinels where unknown) */
    uint32_t net_tunnel_type;
    uint32_t net_sub_interface_index;
    uint64_t net_next_hop_interface_luid;
} lbc_sock_trailer;

/* eBPF for Windows' bpf_sock_addr_network_context_t, version 1 (32 bytes). */
#define LBC_NETWORK_CONTEXT_SIZE 32
#define LBC_NETWORK_CONTEXT_VERSION 1

/* Format like the kernel's bpf_trace_printk/bpf_snprintf: %d %i %u %x %X
 * %c %s %p %% with l/ll, at most `nargs` values; %s and %p read through the
 * runtime's probe regions. Returns the length of the full result (without
 * its NUL) or -EINVAL for a bad format / argument count. Writes at most
 * out_size bytes including the NUL. */
long lbc_format(const lbc_runtime *rt, const char *fmt, size_t fmt_size, const uint64_t *args,
                unsigned nargs, char *out, size_t out_size);

/* May a program read [addr, addr+size) through probe_read? */
int lbc_probe_ok(const lbc_runtime *rt, uint64_t addr, uint64_t size);

/* Helpers implemented in C, each an lbc_helper_fn (named after the helper
 * without its bpf_ prefix). */
uint64_t lbc_helper_ktime_get_ns(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_ktime_get_boot_ns(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_ktime_get_coarse_ns(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_ktime_get_ms(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_ktime_get_boot_ms(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_get_prandom_u32(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_get_smp_processor_id(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_get_current_pid_tgid(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_get_current_uid_gid(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_get_current_comm(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_get_current_logon_id(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_is_current_admin(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_get_current_process_start_key(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_get_current_thread_create_time(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_probe_read(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_probe_read_user(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_probe_read_kernel(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_probe_read_str(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_probe_read_user_str(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_probe_read_kernel_str(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_memcpy_s(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_memcmp_s(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_memset(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_memmove_s(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_strncpy_s(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_strncat_s(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_strnlen_s(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_csum_diff(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_trace_printk(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_trace_printk2(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_trace_printk3(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_trace_printk4(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_trace_printk5(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_snprintf(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);

uint64_t lbc_helper_ringbuf_output(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_ringbuf_reserve(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_ringbuf_submit(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_ringbuf_discard(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_ringbuf_query(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_map_lookup_elem(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_map_update_elem(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_map_delete_elem(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
/* The map helpers' own addresses: 0 lookup, 1 update, 2 delete (NULL for
 * others). Register these rather than cffi's lib.lbc_helper_map_* (which
 * are wrappers' addresses) so that the VM recognises the calls and runs
 * them as superinstructions (lbc_ops.h). */
lbc_helper_fn lbc_map_helper(int which);
uint64_t lbc_helper_tail_call(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_perf_event_output(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_loop(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_spin_lock(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_spin_unlock(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_xdp_adjust_head(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_xdp_adjust_tail(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_xdp_adjust_meta(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_redirect(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_redirect_map(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_get_socket_cookie(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_sock_addr_set_redirect_context(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_sock_addr_get_network_context(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_sock_ops_get_flow_id(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_sock_ops_cb_flags_set(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_map_push_elem(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_map_pop_elem(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_map_peek_elem(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);

uint64_t lbc_helper_skb_load_bytes(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_skb_store_bytes(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_l3_csum_replace(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_l4_csum_replace(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_skb_change_tail(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_skb_change_head(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_skb_change_proto(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_skb_change_type(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_map_lookup_and_delete_elem(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_sample_ebpf_extension_helper_function1(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_sample_ebpf_extension_find(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_sample_ebpf_extension_replace(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_for_each_map_elem(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t lbc_helper_process_get_image_path(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);

#endif
