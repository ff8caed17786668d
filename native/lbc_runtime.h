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

typedef struct lbc_runtime {
    lbc_task task;
    lbc_trace_pipe *trace;          /* NULL: printk output is discarded */
    const lbc_region *probe_regions; /* memory probe_read may read */
    uint32_t nprobe_regions;
} lbc_runtime;

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

#endif
