/* The x86-64 JIT (jit_x86_64.c emits, jit_run.c runs): a loaded program's
 * machine code for unchecked, uncounted runs, with exactly the
 * interpreter's semantics. Programs it cannot translate, and every other
 * platform, stay with the interpreter. Internal to the VM. */
#ifndef LBC_JIT_H
#define LBC_JIT_H

#include <stddef.h>
#include <stdint.h>

#include "lbc_vm.h"

/* The state JIT code reaches through r12 while it runs. Offsets are
 * baked into the code: keep the layout in step with jit_x86_64.c. */
typedef struct lbc_jit_ctx {
    lbc_exec *ex;          /* 0 */
    uint64_t entry_rsp;    /* 8: where an unwind returns the native stack to */
    int32_t depth;         /* 16: call frames in use beyond the first */
    int32_t status;        /* 20: 0 go on, 1 return from this function, 2 the run ends */
    uint64_t retval;       /* 24: the run's value when it ends with status 2 */
    int32_t cpu_slot;      /* 32: the run's CPU slot, -1 until read */
    int32_t pad;
    const uint8_t *pkt;    /* 40: LD_ABS / LD_IND data */
    uint64_t pkt_len;      /* 48 */
} lbc_jit_ctx;

/* A program's machine code: the entry trampoline at offset 0
 * (uint64_t tramp(lbc_jit_ctx *, const uint64_t r1_r5[5], const void *target)),
 * and the native address of each instruction slot. */
typedef struct lbc_jit {
    uint8_t *code;
    size_t size;           /* mapped bytes */
    uint32_t *slot_off;    /* per slot: offset of its code, UINT32_MAX for none */
} lbc_jit;

typedef uint64_t (*lbc_jit_tramp)(lbc_jit_ctx *c, const uint64_t *args, const void *target);

/* Translate prog (its decoded copy code[0]); NULL when the platform has no
 * JIT or the program uses something it does not translate, with why in
 * `why` (at most why_size bytes). */
lbc_jit *lbc_jit_compile(const struct lbc_prog *prog, char *why, size_t why_size);
void lbc_jit_free(lbc_jit *jit);

/* Run prog's machine code as lbc_loops[0] would run it: 0 with ex->retval
 * set, or a negative errno with ex->err filled. */
int lbc_jit_run(const struct lbc_prog *prog, lbc_exec *ex, uint64_t a1, uint64_t a2);

/* Called from JIT code (jit_run.c). */
uint64_t lbc_jit_on_stop(lbc_jit_ctx *c, const struct lbc_prog *prog, int64_t pc, uint64_t r1);
uint64_t lbc_jit_callx(lbc_jit_ctx *c, const struct lbc_prog *prog, const uint64_t *regs,
                       int64_t pc, uint64_t id);
void lbc_jit_fail_at(lbc_jit_ctx *c, int64_t pc, int code);
uint64_t lbc_jit_ldabs(lbc_jit_ctx *c, uint64_t off, uint64_t size);
uint64_t lbc_jit_map_lookup(lbc_jit_ctx *c, void *map, const void *key);
uint64_t lbc_jit_map_update(lbc_jit_ctx *c, void *map, const void *key, const void *value,
                            uint64_t flags);
uint64_t lbc_jit_map_delete(lbc_jit_ctx *c, void *map, const void *key);

#endif
