/* Running JIT code (jit.h): the entry from lbc_run, and the C the code
 * calls for what it does not do inline: a helper that stopped the run
 * (errors, lbc_exec_stop, tail calls, callbacks), callx, legacy packet
 * loads and map operations other than ARRAY lookups. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "jit.h"
#include "lbc_maps.h"
#include "map_fast.h"
#include "lbc_ops.h"
#include "lbc_platform.h"

static uint64_t enter(lbc_jit_ctx *c, const lbc_prog *prog, size_t slot, const uint64_t *args)
{
    const lbc_jit *jit = prog->jit;
    const lbc_jit_tramp tramp = (lbc_jit_tramp)(uintptr_t)jit->code;
    return tramp(c, args, jit->code + jit->slot_off[slot]);
}

int lbc_jit_run(const lbc_prog *prog, lbc_exec *ex, uint64_t a1, uint64_t a2)
{
    lbc_jit_ctx c;
    memset(&c, 0, sizeof c);
    c.ex = ex;
    c.cpu_slot = -1;
    c.pkt = ex->pkt ? ex->pkt : (const uint8_t *)(uintptr_t)ex->mem_start;
    c.pkt_len = ex->pkt ? ex->pkt_len : ex->mem_size;
    const uint64_t args[5] = {a1, a2, 0, 0, 0};
    const uint64_t r0 = enter(&c, prog, 0, args);
    if (c.status == 0) {
        ex->retval = r0;
        return 0;
    }
    if (ex->err.code) return ex->err.code;
    ex->retval = c.retval;
    return 0;
}

static uint64_t fail(lbc_jit_ctx *c, int64_t pc, int code, const char *fmt, unsigned long long v)
{
    lbc_exec *ex = c->ex;
    ex->err.code = code;
    ex->err.pc = pc;
    ex->err.addr = 0;
    snprintf(ex->err.msg, sizeof ex->err.msg, fmt, v);
    c->status = 2;
    return 0;
}

void lbc_jit_fail_at(lbc_jit_ctx *c, int64_t pc, int code)
{
    (void)fail(c, pc, code, "local call exceeds %llu call frames", (unsigned long long)LBC_MAX_FRAMES);
}

/* Callbacks of a helper (lbc_exec_callback): call the function at `func`
 * in a new frame until it returns non-zero or the stepper ends; r0 is
 * then the number of calls, as the interpreter's CB_NEXT. */
static uint64_t run_callbacks(lbc_jit_ctx *c, const lbc_prog *prog, int64_t pc)
{
    lbc_exec *ex = c->ex;
    const uint64_t func = ex->cb_func;
    const lbc_callback_step step = ex->cb_step;
    uint64_t state[4];
    memcpy(state, ex->cb_state, sizeof state);
    ex->cb_step = NULL;
    ex->stop = 0;
    if (func >= prog->n || prog->code[0][func].op == LBC_OP_INVALID)
        return fail(c, pc, -EINVAL, "callback function %llu is not an instruction of the program",
                    (unsigned long long)func);
    if (c->depth + 1 >= LBC_MAX_FRAMES)
        return fail(c, pc, -E2BIG, "callback call exceeds %llu call frames",
                    (unsigned long long)LBC_MAX_FRAMES);
    uint64_t index = 0;
    for (;;) {
        uint64_t args[5] = {0, 0, 0, 0, 0};
        if (!step(state, index, args)) break;
        index++;
        c->depth++;
        const uint64_t r0 = enter(c, prog, (size_t)func, args);
        c->depth--;
        if (c->status) return 0; /* the run ended inside (status 2) */
        if (r0) break;
    }
    return index;
}

/* A tail call: the target runs in place of the current function, whose
 * caller gets its r0 (status 1). A target without machine code runs on
 * the interpreter's unchecked loop. */
static uint64_t run_tail(lbc_jit_ctx *c, const lbc_prog *target, int64_t pc, uint64_t r1)
{
    lbc_exec *ex = c->ex;
    (void)pc;
    if (target->jit) {
        const uint64_t args[5] = {r1, 0, 0, 0, 0};
        const uint64_t r0 = enter(c, target, 0, args);
        if (c->status) return 0;
        c->status = 1;
        return r0;
    }
    const int rc = lbc_loops[0](target, ex, r1, 0, NULL);
    if (rc || ex->stop) { /* an error, or a helper ended the run */
        c->retval = ex->retval;
        c->status = 2;
        return 0;
    }
    c->status = 1;
    return ex->retval;
}

uint64_t lbc_jit_on_stop(lbc_jit_ctx *c, const lbc_prog *prog, int64_t pc, uint64_t r1)
{
    lbc_exec *ex = c->ex;
    if (ex->cb_step && !ex->err.code) return run_callbacks(c, prog, pc);
    if (ex->tail_prog && !ex->err.code) {
        const lbc_prog *target = ex->tail_prog;
        ex->tail_prog = NULL;
        ex->stop = 0;
        return run_tail(c, target, pc, r1);
    }
    if (ex->err.code) {
        if (ex->err.pc < 0) ex->err.pc = pc;
    } else {
        c->retval = ex->stop_value;
    }
    c->status = 2;
    return 0;
}

uint64_t lbc_jit_callx(lbc_jit_ctx *c, const lbc_prog *prog, const uint64_t *regs, int64_t pc,
                       uint64_t id)
{
    lbc_exec *ex = c->ex;
    const lbc_helper *h = lbc_find_helper(prog->helpers, prog->nhelpers, LBC_HELPER, (int64_t)id);
    if (!h) {
        ex->err.code = -EINVAL;
        ex->err.pc = pc;
        ex->err.addr = 0;
        snprintf(ex->err.msg, sizeof ex->err.msg, "callx to unknown helper %lld (r%u)",
                 (long long)id, (unsigned)prog->code[0][pc].dst);
        ex->stop = 1;
        return 0;
    }
    return h->fn(ex, h->data, regs[0], regs[1], regs[2], regs[3], regs[4]);
}

uint64_t lbc_jit_ldabs(lbc_jit_ctx *c, uint64_t off, uint64_t size)
{
    if (off > c->pkt_len || c->pkt_len - off < size) { /* the run ends with 0 */
        c->retval = 0;
        c->status = 2;
        return 0;
    }
    const uint8_t *p = c->pkt + off;
    if (size == 1) return p[0];
    if (size == 2) return (uint64_t)p[0] << 8 | p[1];
    return (uint64_t)p[0] << 24 | (uint64_t)p[1] << 16 | (uint64_t)p[2] << 8 | p[3];
}

uint64_t lbc_jit_map_lookup(lbc_jit_ctx *c, void *map, const void *key)
{
    int slot = c->cpu_slot;
    void *v = lbc_map_lookup_fast((lbc_map *)map, key, &slot);
    c->cpu_slot = slot;
    return (uint64_t)(uintptr_t)v;
}

uint64_t lbc_jit_map_update(lbc_jit_ctx *c, void *map, const void *key, const void *value,
                            uint64_t flags)
{
    int slot = c->cpu_slot;
    const int rc = lbc_map_update_fast((lbc_map *)map, key, value, flags, &slot);
    c->cpu_slot = slot;
    return (uint64_t)(int64_t)rc;
}

uint64_t lbc_jit_map_delete(lbc_jit_ctx *c, void *map, const void *key)
{
    (void)c;
    return (uint64_t)(int64_t)lbc_map_delete_fast((lbc_map *)map, key);
}
