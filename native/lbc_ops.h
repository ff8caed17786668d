/* Internal instruction form of the VM: one decoded entry per 8-byte slot,
 * with a dense operation number chosen at load so the dispatch loop does no
 * decoding while it runs. Shared by the decoder and the dispatch loop. */
#ifndef LBC_OPS_H
#define LBC_OPS_H

#include <stdint.h>

#include "lbc_vm.h"

/* X(name): every operation the loop implements. ALU ops come in
 * 64/32-bit and immediate/register forms; jumps in 64/32-bit and K/X. */
#define LBC_ALU_BINOPS(X, W, S) \
    X(ADD##W##S) X(SUB##W##S) X(MUL##W##S) X(DIV##W##S) X(SDIV##W##S) \
    X(OR##W##S) X(AND##W##S) X(LSH##W##S) X(RSH##W##S) X(MOD##W##S) \
    X(SMOD##W##S) X(XOR##W##S) X(MOV##W##S) X(ARSH##W##S)

#define LBC_JMP_CONDS(X, W, S) \
    X(JEQ##W##S) X(JGT##W##S) X(JGE##W##S) X(JSET##W##S) X(JNE##W##S) \
    X(JSGT##W##S) X(JSGE##W##S) X(JLT##W##S) X(JLE##W##S) X(JSLT##W##S) \
    X(JSLE##W##S)

/* Loads and stores; the _FP forms address the current frame through r10
 * with a constant offset inside it, so even checked runs need no check. */
#define LBC_MEM_OPS(X, S) \
    X(LDX_B##S) X(LDX_H##S) X(LDX_W##S) X(LDX_DW##S) X(LDXS_B##S) X(LDXS_H##S) \
    X(LDXS_W##S) X(ST_B##S) X(ST_H##S) X(ST_W##S) X(ST_DW##S) X(STX_B##S) X(STX_H##S) \
    X(STX_W##S) X(STX_DW##S)

#define LBC_OPS(X) \
    X(INVALID) \
    LBC_ALU_BINOPS(X, 64, _K) LBC_ALU_BINOPS(X, 64, _X) \
    LBC_ALU_BINOPS(X, 32, _K) LBC_ALU_BINOPS(X, 32, _X) \
    X(NEG64) X(NEG32) \
    X(MOVSX64_8) X(MOVSX64_16) X(MOVSX64_32) X(MOVSX32_8) X(MOVSX32_16) \
    X(LE16) X(LE32) X(LE64) X(BE16) X(BE32) X(BE64) \
    X(BSWAP16) X(BSWAP32) X(BSWAP64) \
    X(JA) \
    LBC_JMP_CONDS(X, 64, _K) LBC_JMP_CONDS(X, 64, _X) \
    LBC_JMP_CONDS(X, 32, _K) LBC_JMP_CONDS(X, 32, _X) \
    X(CALL) X(CALL_UNRESOLVED) X(CALL_LOCAL) X(CALLX) X(EXIT) \
    X(MAP_LOOKUP) X(MAP_UPDATE) X(MAP_DELETE) \
    X(LDDW) X(LDABS_B) X(LDABS_H) X(LDABS_W) X(LDIND_B) X(LDIND_H) X(LDIND_W) \
    LBC_MEM_OPS(X, ) LBC_MEM_OPS(X, _FP) \
    X(AADD_W) X(AOR_W) X(AAND_W) X(AXOR_W) \
    X(AFADD_W) X(AFOR_W) X(AFAND_W) X(AFXOR_W) X(AXCHG_W) X(ACMPXCHG_W) \
    X(AADD_DW) X(AOR_DW) X(AAND_DW) X(AXOR_DW) \
    X(AFADD_DW) X(AFOR_DW) X(AFAND_DW) X(AFXOR_DW) X(AXCHG_DW) X(ACMPXCHG_DW) \
    X(CB_NEXT)

#define LBC_ENUM_OP(name) LBC_OP_##name,
enum lbc_op { LBC_OPS(LBC_ENUM_OP) LBC_OP_COUNT };
#undef LBC_ENUM_OP

/* MAP_LOOKUP, MAP_UPDATE and MAP_DELETE replace, at load, a call of
 * bpf_map_lookup_elem / update / delete (lbc_helper_map_*) whose r1 is
 * known to hold the map of an earlier `lddw r1, map` in the same straight
 * run of code: imm is that map, and the operation calls the map store
 * directly (ARRAY lookups inline), with the helper's result in r0. */

/* One decoded slot. `h` is the handler address for the loop variant the
 * copy belongs to (direct threading); `imm` is sign-extended (the full
 * 64-bit value for lddw, a helper pointer for resolved calls); `off` is the
 * memory offset or the absolute target slot of a jump or local call. */
typedef struct lbc_insn {
    const void *h;
    uint64_t imm;
    int32_t off;
    uint16_t op;
    uint8_t dst;
    uint8_t src;
} lbc_insn;

/* The loop variants: bit 0 bounds checking, bit 1 instruction counting. */
#define LBC_VARIANTS 4

struct lbc_prog {
    size_t n;                       /* slots */
    lbc_insn *code[LBC_VARIANTS];   /* one threaded copy per loop variant */
    lbc_helper *helpers;            /* sorted by (kind, id); owned */
    size_t nhelpers;
    struct lbc_jit *jit;            /* machine code (jit.h), or NULL */
    char jit_note[128];             /* why there is none, when asked for */
};

/* Each loop variant, called with prog == NULL, writes its handler table
 * (LBC_OP_COUNT entries) into `labels` and returns 0. */
typedef int (*lbc_loop_fn)(const lbc_prog *prog, lbc_exec *ex, uint64_t a1,
                           uint64_t a2, const void **labels);
extern const lbc_loop_fn lbc_loops[LBC_VARIANTS];

const lbc_helper *lbc_find_helper(const lbc_helper *h, size_t n, int32_t kind,
                                  int64_t id);

#endif
