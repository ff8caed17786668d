/* Running a loaded program: the per-run state, bounds checks for checked
 * runs, ALU helpers with Linux semantics, and the four loop variants built
 * from vm_loop.inc. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lbc_maps.h"
#include "map_fast.h"
#include "jit.h"
#include "lbc_ops.h"
#include "lbc_platform.h"

#ifndef ETIME
#define ETIME 62
#endif

/* Signed division and modulo as RFC 9669 and Linux define them: by zero
 * gives 0 (div) or leaves dst (mod); INT_MIN / -1 wraps; results truncate. */
static inline uint64_t lbc_sdiv64(uint64_t d, uint64_t s)
{
    if (s == 0) return 0;
    if (s == UINT64_MAX) return 0 - d;
    return (uint64_t)((int64_t)d / (int64_t)s);
}
static inline uint64_t lbc_smod64(uint64_t d, uint64_t s)
{
    if (s == 0) return d;
    if (s == UINT64_MAX) return 0;
    return (uint64_t)((int64_t)d % (int64_t)s);
}
static inline uint32_t lbc_sdiv32(uint32_t d, uint32_t s)
{
    if (s == 0) return 0;
    if (s == UINT32_MAX) return 0u - d;
    return (uint32_t)((int32_t)d / (int32_t)s);
}
static inline uint32_t lbc_smod32(uint32_t d, uint32_t s)
{
    if (s == 0) return d;
    if (s == UINT32_MAX) return 0;
    return (uint32_t)((int32_t)d % (int32_t)s);
}

static inline uint64_t lbc_be16(const uint8_t *p) { return (uint64_t)p[0] << 8 | p[1]; }
static inline uint64_t lbc_be32(const uint8_t *p)
{
    return (uint64_t)p[0] << 24 | (uint64_t)p[1] << 16 | (uint64_t)p[2] << 8 | p[3];
}

/* Is [a, a+n) inside [start, start+size)? Unsigned wrap makes a < start
 * fail the first comparison. */
static inline int lbc_in(uint64_t a, uint64_t n, uint64_t start, uint64_t size)
{
    const uint64_t off = a - start;
    return off < size && size - off >= n;
}

/* The same as a 0/1 value computed without branches, for combining. */
static inline int lbc_in_flag(uint64_t a, uint64_t n, uint64_t start, uint64_t size)
{
    const uint64_t off = a - start;
    return (off < size) & (size - off >= n);
}

/* The host's extra regions, searched when a checked access misses the run's
 * memory, the stack and the last region hit; the region found becomes the
 * cached one. */
static int lbc_region_hit(const lbc_exec *ex, uint64_t a, uint64_t n, int write, uint64_t *lo,
                          uint64_t *size, uint64_t *wsize)
{
    if (!write && ex->helper_scratch_len &&
        lbc_in(a, n, (uint64_t)(uintptr_t)ex->helper_scratch, ex->helper_scratch_len))
        return 1;
    for (uint32_t i = 0; i < ex->nregions; i++) {
        const lbc_region *g = &ex->regions[i];
        if (lbc_in(a, n, g->start, g->size)) {
            *lo = g->start;
            *size = g->size;
            *wsize = g->writable ? g->size : 0;
            return !write || g->writable;
        }
    }
    return 0;
}

static int lbc_loop_error(lbc_exec *ex, int code, int64_t pc, uint64_t addr, const char *fmt, ...)
{
    va_list ap;
    ex->err.code = code;
    ex->err.pc = pc;
    ex->err.addr = addr;
    va_start(ap, fmt);
    vsnprintf(ex->err.msg, sizeof ex->err.msg, fmt, ap);
    va_end(ap);
    return code;
}

#define LBC_LOOP_NAME lbc_loop_fast
#define LBC_CHECKED 0
#define LBC_COUNTING 0
#include "vm_loop.inc"
#undef LBC_LOOP_NAME
#undef LBC_CHECKED
#undef LBC_COUNTING

#define LBC_LOOP_NAME lbc_loop_checked
#define LBC_CHECKED 1
#define LBC_COUNTING 0
#include "vm_loop.inc"
#undef LBC_LOOP_NAME
#undef LBC_CHECKED
#undef LBC_COUNTING

#define LBC_LOOP_NAME lbc_loop_counted
#define LBC_CHECKED 0
#define LBC_COUNTING 1
#include "vm_loop.inc"
#undef LBC_LOOP_NAME
#undef LBC_CHECKED
#undef LBC_COUNTING

#define LBC_LOOP_NAME lbc_loop_checked_counted
#define LBC_CHECKED 1
#define LBC_COUNTING 1
#include "vm_loop.inc"
#undef LBC_LOOP_NAME
#undef LBC_CHECKED
#undef LBC_COUNTING

const lbc_loop_fn lbc_loops[LBC_VARIANTS] = {
    lbc_loop_fast, lbc_loop_checked, lbc_loop_counted, lbc_loop_checked_counted,
};

static int run_variant(const lbc_prog *prog, lbc_exec *ex, uint64_t arg1, uint64_t arg2)
{
    const int v = ((ex->flags & LBC_RUN_CHECKED) ? 1 : 0) |
                  ((ex->flags & LBC_RUN_COUNT) || ex->budget ? 2 : 0);
    ex->err.code = 0; /* not the whole message: this runs once per repeat */
    ex->err.pc = -1;
    ex->err.addr = 0;
    ex->err.msg[0] = '\0';
    ex->retval = 0;
    ex->insn_count = 0;
    ex->stop = 0;
    ex->stop_value = 0;
    ex->tail_prog = NULL;
    ex->tail_calls = 0;
    ex->cb_step = NULL;
    ex->held_lock = 0;
    int rc = v == 0 && prog->jit ? lbc_jit_run(prog, ex, arg1, arg2)
                                 : lbc_loops[v](prog, ex, arg1, arg2, NULL);
    if (LBC_UNLIKELY(ex->held_lock)) { /* never leave a map value locked */
        lbc_spin_unlock((uint32_t *)(uintptr_t)ex->held_lock);
        ex->held_lock = 0;
        if (rc == 0)
            rc = lbc_loop_error(ex, -EINVAL, -1, 0, "the program ended holding a bpf_spin_lock");
    }
    return rc;
}

/* A run holds a CPU slot (see lbc_maps.h), so per-CPU map values and
 * bpf_get_smp_processor_id are its own while it runs. */
static int run_on_slot(const lbc_prog *prog, lbc_exec *ex, uint64_t arg1, uint64_t arg2)
{
    lbc_cpu_slot_claim();
    const int rc = run_variant(prog, ex, arg1, arg2);
    lbc_cpu_slot_release();
    return rc;
}

int lbc_run(const lbc_prog *prog, lbc_exec *ex, uint64_t arg1, uint64_t arg2)
{
    ex->mem_start = 0;
    ex->mem_size = 0;
    return run_on_slot(prog, ex, arg1, arg2);
}

int lbc_run_mem(const lbc_prog *prog, lbc_exec *ex, void *mem, size_t len)
{
    ex->mem_start = (uint64_t)(uintptr_t)mem;
    ex->mem_size = mem ? len : 0;
    return run_on_slot(prog, ex, (uint64_t)(uintptr_t)mem, ex->mem_size);
}

int64_t lbc_run_hook(const lbc_prog *prog, lbc_exec *ex, void *ctx, size_t len)
{
    ex->helper_scratch_len = 0; /* a reused exec: no earlier run's helper bytes */
    const int rc = lbc_run_mem(prog, ex, ctx, len);
    if (rc) {
        if (ex->err.code == 0) /* every failure fills err; never report success */
            ex->err.code = rc;
        return (rc < -LBC_HOOK_MAX_ERRNO || rc > 0) ? -EINVAL : rc;
    }
    int64_t out; /* r0's bits as a signed number */
    memcpy(&out, &ex->retval, sizeof out);
    return out;
}

int lbc_run_repeat(const lbc_prog *prog, lbc_exec *ex, void *mem, size_t len, uint32_t repeat,
                   uint64_t *total_ns)
{
    int rc = 0;
    const uint64_t t0 = lbc_run_clock_ns();
    ex->mem_start = (uint64_t)(uintptr_t)mem;
    ex->mem_size = mem ? len : 0;
    lbc_cpu_slot_claim();
    for (uint32_t i = 0; i < (repeat ? repeat : 1) && rc == 0; i++)
        rc = run_variant(prog, ex, (uint64_t)(uintptr_t)mem, ex->mem_size);
    lbc_cpu_slot_release();
    *total_ns = lbc_run_clock_ns() - t0;
    return rc;
}

void lbc_exec_stop(lbc_exec *ex, uint64_t value)
{
    ex->stop = 1;
    ex->stop_value = value;
}

int lbc_exec_tail_call(lbc_exec *ex, const lbc_prog *target)
{
    if (!target) return -EINVAL;
    if (ex->tail_calls >= LBC_MAX_TAIL_CALLS) return -E2BIG;
    ex->tail_calls++;
    ex->tail_prog = target;
    ex->stop = 1;
    return 0;
}

int lbc_exec_callback(lbc_exec *ex, uint64_t func, lbc_callback_step step,
                      const uint64_t *state)
{
    ex->cb_func = func;
    ex->cb_step = step;
    memcpy(ex->cb_state, state, sizeof ex->cb_state);
    ex->stop = 1;
    return 0;
}

void lbc_exec_fail(lbc_exec *ex, int code, const char *msg)
{
    ex->stop = 1;
    ex->err.code = code < 0 ? code : -code;
    ex->err.pc = -1;
    snprintf(ex->err.msg, sizeof ex->err.msg, "%s", msg ? msg : "helper failed");
}
