/* libbpf-compat virtual machine: public C API.
 *
 * A program is validated and pre-decoded once (lbc_prog_load) into an
 * immutable form that any number of threads may run at once (lbc_run).
 * Helpers are C function pointers with an opaque data word; the loader
 * copies the helper list it is given, so a loaded program never changes.
 */
#ifndef LBC_VM_H
#define LBC_VM_H

#include <stddef.h>
#include <stdint.h>

#define LBC_STACK_SIZE 512       /* bytes per call frame, as Linux */
#define LBC_MAX_FRAMES 8         /* call frames, main program included */
#define LBC_MAX_TAIL_CALLS 33    /* tail calls per run, as Linux */

/* Error codes: negative errno values, as libbpf reports them. */
#define LBC_OK 0

typedef struct lbc_exec lbc_exec;

/* A helper: receives the run's state, its own data word and r1..r5;
 * returns the new r0. It may call lbc_exec_stop or lbc_exec_fail. */
typedef uint64_t (*lbc_helper_fn)(lbc_exec *ex, void *data, uint64_t r1,
                                  uint64_t r2, uint64_t r3, uint64_t r4,
                                  uint64_t r5);

typedef struct lbc_helper {
    int64_t id;        /* helper id (src 0 calls, callx) or kfunc BTF id */
    int32_t kind;      /* LBC_HELPER or LBC_KFUNC */
    lbc_helper_fn fn;
    void *data;
} lbc_helper;

#define LBC_HELPER 0
#define LBC_KFUNC 1

typedef struct lbc_error {
    int code;          /* negative errno, 0 when no error */
    int64_t pc;        /* instruction (slot) index, -1 when none */
    uint64_t addr;     /* faulting address for memory errors */
    char msg[256];
} lbc_error;

/* A memory region a bounds-checked run may touch. */
typedef struct lbc_region {
    uint64_t start;
    uint64_t size;
    int writable;
} lbc_region;

/* Load flags */
#define LBC_LOAD_DEFER_HELPERS 1u  /* leave helper calls unresolved (validate only) */

/* Run flags */
#define LBC_RUN_CHECKED 1u   /* bounds-check every memory access */
#define LBC_RUN_COUNT 2u     /* count instructions (needed for a budget) */

struct lbc_exec {
    /* inputs */
    uint32_t flags;
    uint64_t budget;                /* max instructions, 0 = unlimited (needs LBC_RUN_COUNT) */
    const lbc_region *regions;      /* extra regions for checked runs */
    uint32_t nregions;
    const uint8_t *pkt;             /* packet for LD_ABS / LD_IND */
    uint64_t pkt_len;
    void *host;                     /* free for the host (the Python layer uses it) */
    void *runtime;                  /* lbc_runtime for the C helpers, or NULL */
    /* outputs */
    uint64_t retval;
    uint64_t insn_count;            /* instructions executed (LBC_RUN_COUNT) */
    lbc_error err;
    /* set by helpers */
    int stop;
    uint64_t stop_value;
    const struct lbc_prog *tail_prog;  /* set by lbc_exec_tail_call */
    uint32_t tail_calls;               /* tail calls made in this run */
    /* internal: the run's memory and stack, for checked access */
    uint64_t mem_start, mem_size;
    uint64_t stack_start, stack_size;
};

typedef struct lbc_prog lbc_prog;

/* Validate and decode `len` bytes of eBPF code. On success *out holds the
 * program and 0 is returned; on failure a negative errno with err filled. */
int lbc_prog_load(const uint8_t *code, size_t len, const lbc_helper *helpers,
                  size_t nhelpers, uint32_t flags, lbc_prog **out,
                  lbc_error *err);
void lbc_prog_free(lbc_prog *prog);
size_t lbc_prog_insn_count(const lbc_prog *prog);

/* Run with r1 = arg1, r2 = arg2. Returns 0 and sets ex->retval, or a
 * negative errno with ex->err filled. When mem is passed through
 * lbc_run_mem, it is also the memory a checked run may touch. */
int lbc_run(const lbc_prog *prog, lbc_exec *ex, uint64_t arg1, uint64_t arg2);
int lbc_run_mem(const lbc_prog *prog, lbc_exec *ex, void *mem, size_t len);

/* Run `repeat` times (at least once) on the same memory, stopping at the
 * first error; *total_ns receives the time all runs took together: the
 * calling thread's CPU time (lbc_run_clock_ns), so that, as the kernel's
 * test_run timer which stops while the task is rescheduled, time the thread
 * spent preempted is not counted. */
int lbc_run_repeat(const lbc_prog *prog, lbc_exec *ex, void *mem, size_t len, uint32_t repeat,
                   uint64_t *total_ns);

/* Nanoseconds from a monotonic clock, and since boot (suspend included). */
uint64_t lbc_monotonic_ns(void);
uint64_t lbc_boottime_ns(void);
/* The clock lbc_run_repeat times with: the calling thread's CPU time where
 * the platform has one, else the monotonic clock. */
uint64_t lbc_run_clock_ns(void);

/* For helpers: end the run now with r0 = value. */
void lbc_exec_stop(lbc_exec *ex, uint64_t value);
/* For helpers: when the helper returns, continue in `target` (same frame,
 * same r1) instead of the current program. Returns 0, or -E2BIG after
 * LBC_MAX_TAIL_CALLS tail calls in one run (the program then goes on). */
int lbc_exec_tail_call(lbc_exec *ex, const struct lbc_prog *target);
/* For helpers: end the run with an error (negative errno) and message. */
void lbc_exec_fail(lbc_exec *ex, int code, const char *msg);

/* XDP packets (vm_xdp.c): a packet through an XDP program on the native XDP
 * context, in one C call. The packet is copied to buf after `headroom`
 * zeroed bytes; the run may touch [buf, buf + headroom + len) (its region,
 * appended as regions[nregions]: the array needs room for one more) and
 * the context; afterwards the packet is what lies between the context's
 * data and data_end, clamped to that span. buf_size is at most 8191. */
typedef struct lbc_xdp_ctx {     /* the native XDP context (XDP_NATIVE) */
    uint64_t data, data_end, data_meta;
    uint32_t ingress_ifindex, rx_queue_index, egress_ifindex, pad;
} lbc_xdp_ctx;

typedef struct lbc_xdp_io {
    const lbc_prog *prog;
    lbc_exec *ex;                /* the runs' state (flags, budget, host, runtime; errors) */
    uint8_t *buf;
    uint32_t buf_size;           /* at least headroom + the largest packet */
    uint32_t headroom;
    lbc_region *regions;         /* ex->regions for the runs: nregions + 1 slots */
    uint32_t nregions;
    uint8_t verdicts[8];         /* batch: return value (low 32 bits) 0..7 -> verdict */
    uint8_t unknown_verdict;     /* batch: the verdict of any other return value */
} lbc_xdp_io;

/* One packet, received on interface ifindex, queue rx_queue: a run's
 * negative errno (ex->err), -EINVAL when it does not fit buf; else, packed
 * into one non-negative number, the return value's low 32 bits (bits
 * 0..31; ex->retval has all 64), the packet's length (bits 32..44), its
 * offset in buf (bits 45..57) and bit 58 set when the packet is the one
 * given, unchanged (same place, length and bytes). */
#define LBC_XDP_LEN_SHIFT 32
#define LBC_XDP_OFF_SHIFT 45
#define LBC_XDP_SAME_SHIFT 58
#define LBC_XDP_FIELD_MASK 8191
int64_t lbc_xdp_run(const lbc_xdp_io *io, const char *pkt, uint32_t len, uint32_t ifindex,
                    uint32_t rx_queue);

/* A batch: packets back to back in pkts (lens[i] bytes each); each run's
 * packet is appended to out (out_lens[i]), its normalised verdict stored
 * in verdicts[i] and its return value in retvals[i]. Resumable: `done`,
 * in_pos and out_pos say where it is. Returns 0 when all n are done,
 * -ENOSPC when out has less than headroom + the next packet's length left
 * (before that packet runs: grow out and call again), -EMSGSIZE before
 * any run when a packet's size is outside min_len..max_len (`done` is its
 * index), -EINVAL for a packet that does not fit buf, or a run's negative
 * errno (ex->err; packet `done`). */
typedef struct lbc_xdp_batch {
    const char *pkts;
    const uint32_t *lens;
    uint32_t n;
    char *out;
    uint64_t out_cap;
    uint32_t *out_lens;
    uint8_t *verdicts;
    uint32_t *retvals;
    uint32_t ifindex, rx_queue;
    uint32_t min_len, max_len;   /* the packet sizes the hook takes */
    uint32_t done;
    uint64_t in_pos, out_pos;
} lbc_xdp_batch;

int lbc_xdp_run_batch(const lbc_xdp_io *io, lbc_xdp_batch *batch);

#endif
