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
#define LBC_HELPER_SCRATCH 512   /* lbc_exec.helper_scratch bytes */

/* Error codes: negative errno values, as libbpf reports them. */
#define LBC_OK 0

typedef struct lbc_exec lbc_exec;

/* A helper's callback stepper (see lbc_exec_callback): fills r1..r5 for
 * callback number `index` (0, 1, ...) and returns 1, or returns 0 when there
 * is nothing more to call. `state` is the helper's, kept for the calls. */
typedef int (*lbc_callback_step)(uint64_t *state, uint64_t index, uint64_t *args);

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
/* LBC_LOAD_JIT: translate to machine code (x86-64) for unchecked,
 * uncounted runs; the interpreter runs the rest. */
#define LBC_LOAD_JIT 2u

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
    uint64_t cb_func;                  /* set by lbc_exec_callback */
    lbc_callback_step cb_step;
    uint64_t cb_state[4];
    uint64_t held_lock;                /* the bpf_spin_lock word the run holds, 0 for none */
    /* internal: the run's memory and stack, for checked access */
    uint64_t mem_start, mem_size;
    uint64_t stack_start, stack_size;
    /* bytes a helper hands the program to read (bpf_for_each_map_elem's
     * key): checked runs may read the first helper_scratch_len of them */
    uint32_t helper_scratch_len;
    uint64_t helper_scratch[64];    /* LBC_HELPER_SCRATCH bytes */
};

typedef struct lbc_prog lbc_prog;

/* Validate and decode `len` bytes of eBPF code. On success *out holds the
 * program and 0 is returned; on failure a negative errno with err filled. */
int lbc_prog_load(const uint8_t *code, size_t len, const lbc_helper *helpers,
                  size_t nhelpers, uint32_t flags, lbc_prog **out,
                  lbc_error *err);
void lbc_prog_free(lbc_prog *prog);
size_t lbc_prog_insn_count(const lbc_prog *prog);
/* Whether unchecked, uncounted runs of prog run machine code (LBC_LOAD_JIT),
 * and if not, why (an empty string when the JIT was not asked for). */
int lbc_prog_jitted(const lbc_prog *prog);
const char *lbc_prog_jit_note(const lbc_prog *prog);

/* Run with r1 = arg1, r2 = arg2. Returns 0 and sets ex->retval, or a
 * negative errno with ex->err filled. When mem is passed through
 * lbc_run_mem, it is also the memory a checked run may touch. */
int lbc_run(const lbc_prog *prog, lbc_exec *ex, uint64_t arg1, uint64_t arg2);
int lbc_run_mem(const lbc_prog *prog, lbc_exec *ex, void *mem, size_t len);
/* lbc_run_mem for a host's hook path, in one call with its result: r0 as
 * a signed 64-bit number, or, when the run failed, its negative errno
 * (-LBC_HOOK_MAX_ERRNO..-1) with ex->err.code set. A return value in that
 * range is an error only when ex->err.code is non-zero. */
#define LBC_HOOK_MAX_ERRNO 4095
int64_t lbc_run_hook(const lbc_prog *prog, lbc_exec *ex, void *ctx, size_t len);

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
/* For helpers: when the helper returns, call the program's function at
 * slot `func` (a function address as the loader resolves it: the slot
 * index in the program) in a new frame, once for each step `step` allows,
 * until the function returns non-zero; r0 after the helper is then the
 * number of calls made (bpf_loop, bpf_for_each_map_elem). Returns 0. */
int lbc_exec_callback(lbc_exec *ex, uint64_t func, lbc_callback_step step,
                      const uint64_t *state);
/* For helpers: end the run with an error (negative errno) and message. */
void lbc_exec_fail(lbc_exec *ex, int code, const char *msg);

#endif
