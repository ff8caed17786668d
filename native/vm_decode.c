/* Loading a program: validate every slot of raw eBPF bytecode (RFC 9669
 * encodings, unused fields zero, registers, jump targets, fall-through),
 * resolve helper calls, and build one threaded copy per loop variant. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jit.h"
#include "lbc_ops.h"
#include "lbc_runtime.h"

enum {
    CLS_LD = 0, CLS_LDX = 1, CLS_ST = 2, CLS_STX = 3,
    CLS_ALU = 4, CLS_JMP = 5, CLS_JMP32 = 6, CLS_ALU64 = 7,
};
enum { SZ_W = 0x00, SZ_H = 0x08, SZ_B = 0x10, SZ_DW = 0x18 };
enum { MODE_IMM = 0x00, MODE_ABS = 0x20, MODE_IND = 0x40, MODE_MEM = 0x60,
       MODE_MEMSX = 0x80, MODE_ATOMIC = 0xc0 };
enum { SRC_X = 0x08 };
enum { A_ADD = 0x00, A_OR = 0x40, A_AND = 0x50, A_XOR = 0xa0, A_FETCH = 0x01,
       A_XCHG = 0xe1, A_CMPXCHG = 0xf1 };

typedef struct raw_insn {
    uint8_t opcode, dst, src;
    int16_t off;
    int32_t imm;
} raw_insn;

static raw_insn raw_at(const uint8_t *p)
{
    raw_insn r;
    r.opcode = p[0];
    r.dst = p[1] & 0x0f;
    r.src = p[1] >> 4;
    r.off = (int16_t)(uint16_t)(p[2] | (p[3] << 8));
    r.imm = (int32_t)((uint32_t)p[4] | ((uint32_t)p[5] << 8) |
                      ((uint32_t)p[6] << 16) | ((uint32_t)p[7] << 24));
    return r;
}

static int fail(lbc_error *err, int code, int64_t pc, const char *fmt, ...)
{
    va_list ap;
    err->code = code;
    err->pc = pc;
    err->addr = 0;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return code;
}

#define BAD(...) fail(err, -EINVAL, (int64_t)pc, __VA_ARGS__)

/* ALU op nibble (opcode >> 4) -> index in LBC_ALU_BINOPS, -1 if not a binop. */
static int alu_index(unsigned nib, int signed_form)
{
    static const int8_t idx[16] = {
        0, 1, 2, 3, 5, 6, 7, 8, -1, 9, 11, 12, 13, -1, -1, -1,
    };
    int i = idx[nib & 15];
    if (i < 0) return -1;
    if (signed_form) {
        if (nib == 0x3) return 4;   /* sdiv */
        if (nib == 0x9) return 10;  /* smod */
    }
    return i;
}

/* Jump op nibble -> index in LBC_JMP_CONDS, -1 if not a conditional jump. */
static int jmp_index(unsigned nib)
{
    static const int8_t idx[16] = {
        -1, 0, 1, 2, 3, 4, 5, 6, -1, -1, 7, 8, 9, 10, -1, -1,
    };
    return idx[nib & 15];
}

/* Absolute target of a jump: -1 when it cannot be a slot index at all. */
static int32_t target_of(size_t pc, int64_t delta)
{
    const int64_t t = (int64_t)pc + 1 + delta;
    return t < 0 || t > INT32_MAX ? -1 : (int32_t)t;
}

static int check_regs(const raw_insn *r, size_t pc, lbc_error *err)
{
    if (r->dst > 10) return BAD("invalid destination register r%u", r->dst);
    if (r->src > 10) return BAD("invalid source register r%u", r->src);
    return 0;
}

static int no_r10_write(unsigned reg, size_t pc, lbc_error *err)
{
    if (reg == 10) return BAD("writes to r10, the read-only frame pointer");
    return 0;
}

static int decode_alu(const raw_insn *r, size_t pc, lbc_insn *d, lbc_error *err)
{
    const int is64 = (r->opcode & 7) == CLS_ALU64;
    const int x = (r->opcode & SRC_X) != 0;
    const unsigned nib = r->opcode >> 4;
    const char *w = is64 ? "alu64" : "alu32";

    if (no_r10_write(r->dst, pc, err)) return err->code;
    if (nib == 0x8) { /* neg */
        if (x) return BAD("unknown opcode 0x%02x (neg takes no source register)", r->opcode);
        if (r->src || r->off || r->imm)
            return BAD("%s neg (opcode 0x%02x) has non-zero unused fields", w, r->opcode);
        d->op = is64 ? LBC_OP_NEG64 : LBC_OP_NEG32;
        return 0;
    }
    if (nib == 0xd) { /* byte swaps */
        if (r->src || r->off)
            return BAD("%s byte swap (opcode 0x%02x) has non-zero unused fields", w, r->opcode);
        if (r->imm != 16 && r->imm != 32 && r->imm != 64)
            return BAD("byte swap width %d is not 16, 32 or 64", r->imm);
        const int k = r->imm == 16 ? 0 : r->imm == 32 ? 1 : 2;
        if (is64) {
            if (x) return BAD("invalid opcode 0x%02x (bswap takes no source bit)", r->opcode);
            d->op = (uint16_t)(LBC_OP_BSWAP16 + k);
        } else {
            d->op = (uint16_t)((x ? LBC_OP_BE16 : LBC_OP_LE16) + k);
        }
        return 0;
    }
    const int signed_form = (nib == 0x3 || nib == 0x9) && r->off == 1;
    const int idx = alu_index(nib, signed_form);
    if (idx < 0) return BAD("unknown opcode 0x%02x", r->opcode);
    if (nib == 0xb && x && r->off != 0) { /* movsx */
        if (r->imm) return BAD("%s movsx has a non-zero immediate", w);
        switch (r->off) {
        case 8: d->op = is64 ? LBC_OP_MOVSX64_8 : LBC_OP_MOVSX32_8; return 0;
        case 16: d->op = is64 ? LBC_OP_MOVSX64_16 : LBC_OP_MOVSX32_16; return 0;
        case 32: if (is64) { d->op = LBC_OP_MOVSX64_32; return 0; } break;
        default: break;
        }
        return BAD("%s movsx with invalid width %d", w, r->off);
    }
    if (r->off != 0 && !signed_form)
        return BAD("%s opcode 0x%02x has a non-zero offset %d", w, r->opcode, r->off);
    if (x ? r->imm != 0 : r->src != 0)
        return BAD("%s opcode 0x%02x has a non-zero unused %s field", w, r->opcode,
                   x ? "immediate" : "source register");
    const int base = is64 ? (x ? LBC_OP_ADD64_X : LBC_OP_ADD64_K)
                          : (x ? LBC_OP_ADD32_X : LBC_OP_ADD32_K);
    d->op = (uint16_t)(base + idx);
    return 0;
}

static int decode_jmp(const raw_insn *r, size_t pc, lbc_insn *d, lbc_error *err)
{
    const int is64 = (r->opcode & 7) == CLS_JMP;
    const int x = (r->opcode & SRC_X) != 0;
    const unsigned nib = r->opcode >> 4;

    if (nib == 0x0) { /* ja / ja32 */
        if (x || r->dst || r->src || (is64 ? r->imm != 0 : r->off != 0))
            return BAD("%s (opcode 0x%02x) has non-zero unused fields", is64 ? "ja" : "ja32", r->opcode);
        d->op = LBC_OP_JA;
        d->off = target_of(pc, is64 ? r->off : r->imm);
        return 0;
    }
    if (nib == 0x8) { /* calls */
        if (!is64) return BAD("unknown opcode 0x%02x (call in the jmp32 class)", r->opcode);
        if (x) {
            if (r->src || r->off || r->imm)
                return BAD("callx (opcode 0x8d) has non-zero unused fields");
            d->op = LBC_OP_CALLX;
            return 0;
        }
        if (r->dst || r->off)
            return BAD("call (opcode 0x85) has non-zero unused fields");
        if (r->src == 0 || r->src == 2) { d->op = LBC_OP_CALL_UNRESOLVED; return 0; }
        if (r->src == 1) {
            d->op = LBC_OP_CALL_LOCAL;
            d->off = target_of(pc, r->imm);
            return 0;
        }
        return BAD("call with invalid source %u (0 helper, 1 local, 2 kfunc)", r->src);
    }
    if (nib == 0x9) {
        if (!is64) return BAD("unknown opcode 0x%02x (exit in the jmp32 class)", r->opcode);
        if (x || r->dst || r->src || r->off || r->imm)
            return BAD("exit (opcode 0x95) has non-zero unused fields");
        d->op = LBC_OP_EXIT;
        return 0;
    }
    const int idx = jmp_index(nib);
    if (idx < 0) return BAD("unknown opcode 0x%02x", r->opcode);
    if (x ? r->imm != 0 : r->src != 0)
        return BAD("conditional jump (opcode 0x%02x) has a non-zero unused %s field", r->opcode,
                   x ? "immediate" : "source register");
    const int base = is64 ? (x ? LBC_OP_JEQ64_X : LBC_OP_JEQ64_K)
                          : (x ? LBC_OP_JEQ32_X : LBC_OP_JEQ32_K);
    d->op = (uint16_t)(base + idx);
    d->off = target_of(pc, r->off);
    return 0;
}

static int size_index(uint8_t opcode)
{
    switch (opcode & 0x18) {
    case SZ_B: return 0;
    case SZ_H: return 1;
    case SZ_W: return 2;
    default: return 3;
    }
}

static int decode_ld(const raw_insn *r, size_t pc, lbc_insn *d, lbc_error *err)
{
    const int mode = r->opcode & 0xe0;
    const int sz = size_index(r->opcode);
    if (mode == MODE_IMM && sz == 3) {
        if (no_r10_write(r->dst, pc, err)) return err->code;
        if (r->off) return BAD("lddw has a non-zero offset");
        if (r->src != 0)
            return BAD("lddw with pseudo source %u (map or BTF reference) was not resolved by a loader", r->src);
        d->op = LBC_OP_LDDW;
        return 0;
    }
    if ((mode == MODE_ABS || mode == MODE_IND) && sz != 3) {
        if (r->dst || r->off || (mode == MODE_ABS && r->src))
            return BAD("legacy packet load (opcode 0x%02x) has non-zero unused fields", r->opcode);
        static const uint16_t abs_ops[3] = {LBC_OP_LDABS_B, LBC_OP_LDABS_H, LBC_OP_LDABS_W};
        static const uint16_t ind_ops[3] = {LBC_OP_LDIND_B, LBC_OP_LDIND_H, LBC_OP_LDIND_W};
        d->op = mode == MODE_ABS ? abs_ops[sz] : ind_ops[sz];
        return 0;
    }
    return BAD("unknown opcode 0x%02x", r->opcode);
}

static int decode_mem(const raw_insn *r, size_t pc, lbc_insn *d, lbc_error *err)
{
    const int cls = r->opcode & 7;
    const int mode = r->opcode & 0xe0;
    const int sz = size_index(r->opcode);
    static const uint16_t ldx[4] = {LBC_OP_LDX_B, LBC_OP_LDX_H, LBC_OP_LDX_W, LBC_OP_LDX_DW};
    static const uint16_t ldxs[3] = {LBC_OP_LDXS_B, LBC_OP_LDXS_H, LBC_OP_LDXS_W};
    static const uint16_t st[4] = {LBC_OP_ST_B, LBC_OP_ST_H, LBC_OP_ST_W, LBC_OP_ST_DW};
    static const uint16_t stx[4] = {LBC_OP_STX_B, LBC_OP_STX_H, LBC_OP_STX_W, LBC_OP_STX_DW};

    if (cls == CLS_LDX) {
        if (mode != MODE_MEM && !(mode == MODE_MEMSX && sz != 3))
            return BAD("unknown opcode 0x%02x", r->opcode);
        if (r->imm) return BAD("load (opcode 0x%02x) has a non-zero immediate", r->opcode);
        if (no_r10_write(r->dst, pc, err)) return err->code;
        d->op = mode == MODE_MEM ? ldx[sz] : ldxs[sz];
        return 0;
    }
    if (cls == CLS_ST) {
        if (mode != MODE_MEM) return BAD("unknown opcode 0x%02x", r->opcode);
        if (r->src) return BAD("store (opcode 0x%02x) has a non-zero source register", r->opcode);
        d->op = st[sz];
        return 0;
    }
    /* STX */
    if (mode == MODE_MEM) {
        if (r->imm) return BAD("store (opcode 0x%02x) has a non-zero immediate", r->opcode);
        d->op = stx[sz];
        return 0;
    }
    if (mode != MODE_ATOMIC || (sz != 2 && sz != 3))
        return BAD("unknown opcode 0x%02x", r->opcode);
    const int dw = sz == 3;
    uint16_t op;
    switch (r->imm) {
    case A_ADD: op = dw ? LBC_OP_AADD_DW : LBC_OP_AADD_W; break;
    case A_OR: op = dw ? LBC_OP_AOR_DW : LBC_OP_AOR_W; break;
    case A_AND: op = dw ? LBC_OP_AAND_DW : LBC_OP_AAND_W; break;
    case A_XOR: op = dw ? LBC_OP_AXOR_DW : LBC_OP_AXOR_W; break;
    case A_ADD | A_FETCH: op = dw ? LBC_OP_AFADD_DW : LBC_OP_AFADD_W; break;
    case A_OR | A_FETCH: op = dw ? LBC_OP_AFOR_DW : LBC_OP_AFOR_W; break;
    case A_AND | A_FETCH: op = dw ? LBC_OP_AFAND_DW : LBC_OP_AFAND_W; break;
    case A_XOR | A_FETCH: op = dw ? LBC_OP_AFXOR_DW : LBC_OP_AFXOR_W; break;
    case A_XCHG: op = dw ? LBC_OP_AXCHG_DW : LBC_OP_AXCHG_W; break;
    case A_CMPXCHG: op = dw ? LBC_OP_ACMPXCHG_DW : LBC_OP_ACMPXCHG_W; break;
    default: return BAD("unknown atomic operation 0x%x", (unsigned)r->imm);
    }
    if ((r->imm & A_FETCH) && r->imm != A_CMPXCHG && no_r10_write(r->src, pc, err))
        return err->code;
    d->op = op;
    return 0;
}

static int access_size(uint16_t op)
{
    static const int8_t sizes[] = {1, 2, 4, 8, 1, 2, 4, 1, 2, 4, 8, 1, 2, 4, 8};
    return sizes[op - LBC_OP_LDX_B];
}

/* A load or store through r10 with a constant offset inside the frame can
 * never leave the stack: use the form that skips the bounds check. */
static void mark_frame_access(const raw_insn *r, lbc_insn *d)
{
    if (d->op < LBC_OP_LDX_B || d->op > LBC_OP_STX_DW) return;
    const unsigned base = d->op <= LBC_OP_LDXS_W ? r->src : r->dst;
    if (base == 10 && r->off >= -LBC_STACK_SIZE && r->off + access_size(d->op) <= 0)
        d->op = (uint16_t)(d->op + (LBC_OP_LDX_B_FP - LBC_OP_LDX_B));
}

static int decode_slot(const raw_insn *r, size_t pc, lbc_insn *d, lbc_error *err)
{
    if (check_regs(r, pc, err)) return err->code;
    d->dst = r->dst;
    d->src = r->src;
    d->off = r->off;
    d->imm = (uint64_t)(int64_t)r->imm;
    switch (r->opcode & 7) {
    case CLS_ALU: case CLS_ALU64: return decode_alu(r, pc, d, err);
    case CLS_JMP: case CLS_JMP32: return decode_jmp(r, pc, d, err);
    case CLS_LD: return decode_ld(r, pc, d, err);
    default:
        if (decode_mem(r, pc, d, err)) return err->code;
        mark_frame_access(r, d);
        return 0;
    }
}

static int is_jump(uint16_t op)
{
    return op == LBC_OP_JA || op == LBC_OP_CALL_LOCAL ||
           (op >= LBC_OP_JEQ64_K && op <= LBC_OP_JSLE32_X);
}

static int falls_through(uint16_t op) { return op != LBC_OP_JA && op != LBC_OP_EXIT; }

const lbc_helper *lbc_find_helper(const lbc_helper *h, size_t n, int32_t kind, int64_t id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (h[mid].kind < kind || (h[mid].kind == kind && h[mid].id < id)) lo = mid + 1;
        else hi = mid;
    }
    return lo < n && h[lo].kind == kind && h[lo].id == id ? &h[lo] : NULL;
}

static int helper_cmp(const void *a, const void *b)
{
    const lbc_helper *x = a, *y = b;
    if (x->kind != y->kind) return x->kind < y->kind ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Second pass: lddw second slots, jump targets, falling off the end. */
static int check_flow(lbc_insn *d, size_t n, lbc_error *err)
{
    for (size_t pc = 0; pc < n; pc++) {
        if (d[pc].op == LBC_OP_INVALID) continue; /* second slot of lddw */
        if (is_jump(d[pc].op)) {
            const int64_t t = d[pc].off;
            const char *what = d[pc].op == LBC_OP_CALL_LOCAL ? "local call" : "jump";
            if (t < 0 || (size_t)t >= n)
                return BAD("%s to %lld is outside the program (0..%zu)", what, (long long)t, n - 1);
            if (d[t].op == LBC_OP_INVALID)
                return BAD("%s to %lld lands in the middle of an lddw", what, (long long)t);
        }
        const size_t next = pc + (d[pc].op == LBC_OP_LDDW ? 2 : 1);
        if (falls_through(d[pc].op) && next >= n)
            return BAD("the program can fall off its end after instruction %zu", pc);
    }
    return 0;
}

static int decode_all(const uint8_t *code, size_t n, lbc_insn *d, lbc_error *err)
{
    for (size_t pc = 0; pc < n; pc++) {
        const raw_insn r = raw_at(code + 8 * pc);
        if (decode_slot(&r, pc, &d[pc], err)) return err->code;
        if (d[pc].op != LBC_OP_LDDW) continue;
        if (pc + 1 >= n) return BAD("lddw is truncated: its second slot is missing");
        const raw_insn hi = raw_at(code + 8 * (pc + 1));
        if (hi.opcode || hi.dst || hi.src || hi.off)
            return BAD("lddw's second slot has non-zero opcode, registers or offset");
        d[pc].imm = (uint64_t)(uint32_t)r.imm | ((uint64_t)(uint32_t)hi.imm << 32);
        memset(&d[pc + 1], 0, sizeof d[pc + 1]);
        d[pc + 1].op = LBC_OP_INVALID;
        pc++;
    }
    return check_flow(d, n, err);
}

static int resolve_calls(const uint8_t *code, lbc_insn *d, size_t n, const lbc_helper *hs,
                         size_t nh, uint32_t flags, lbc_error *err)
{
    for (size_t pc = 0; pc < n; pc++) {
        if (d[pc].op != LBC_OP_CALL_UNRESOLVED) continue;
        const raw_insn r = raw_at(code + 8 * pc);
        const int32_t kind = r.src == 2 ? LBC_KFUNC : LBC_HELPER;
        const lbc_helper *h = lbc_find_helper(hs, nh, kind, r.imm);
        if (h) {
            d[pc].op = LBC_OP_CALL;
            d[pc].imm = (uint64_t)(uintptr_t)h;
        } else if (!(flags & LBC_LOAD_DEFER_HELPERS)) {
            return fail(err, -EINVAL, (int64_t)pc, "call to unknown %s %d",
                        kind == LBC_KFUNC ? "kfunc" : "helper", r.imm);
        }
    }
    return 0;
}

/* May an instruction sit between `lddw r1, map` and the map helper's call
 * without changing r1 or leaving the block? Plain ALU, loads and stores
 * that do not write r1. */
static int keeps_r1(const lbc_insn *d)
{
    const uint16_t op = d->op;
    if ((op >= LBC_OP_ST_B && op <= LBC_OP_STX_DW) || (op >= LBC_OP_ST_B_FP && op <= LBC_OP_STX_DW_FP))
        return 1; /* stores */
    if (op >= LBC_OP_LDX_B && op <= LBC_OP_LDXS_W) return d->dst != 1;
    if (op >= LBC_OP_LDX_B_FP && op <= LBC_OP_LDXS_W_FP) return d->dst != 1;
    if (op >= LBC_OP_ADD64_K && op <= LBC_OP_BSWAP64) return d->dst != 1;
    if (op == LBC_OP_LDDW) return d->dst != 1;
    return 0;
}

/* The superinstructions of lbc_ops.h: a call of a map helper whose r1 is
 * known to be the map of an `lddw r1, map` earlier in the same straight run
 * of code (nothing in between writes r1, no jump lands after the lddw)
 * becomes one MAP_* operation with the map as imm. */
static int fuse_map_calls(lbc_insn *d, size_t n)
{
    unsigned char *target = calloc(n, 1);
    if (!target) return -ENOMEM;
    for (size_t pc = 0; pc < n; pc++)
        if (is_jump(d[pc].op) && d[pc].off >= 0 && (size_t)d[pc].off < n) target[d[pc].off] = 1;
    for (size_t pc = 0; pc < n; pc++) {
        if (d[pc].op != LBC_OP_CALL || target[pc]) continue;
        const lbc_helper *h = (const lbc_helper *)(uintptr_t)d[pc].imm;
        uint16_t op;
        if (h->kind != LBC_HELPER) continue;
        if (h->fn == lbc_helper_map_lookup_elem) op = LBC_OP_MAP_LOOKUP;
        else if (h->fn == lbc_helper_map_update_elem) op = LBC_OP_MAP_UPDATE;
        else if (h->fn == lbc_helper_map_delete_elem) op = LBC_OP_MAP_DELETE;
        else continue;
        for (size_t back = 1; back <= 16 && back <= pc; back++) {
            const size_t j = pc - back;
            if (d[j].op == LBC_OP_INVALID) continue; /* an lddw's second slot */
            if (d[j].op == LBC_OP_LDDW && d[j].dst == 1) {
                d[pc].op = op;
                d[pc].imm = d[j].imm;
                break;
            }
            if (target[j] || !keeps_r1(&d[j])) break;
        }
    }
    free(target);
    return 0;
}

void lbc_prog_free(lbc_prog *prog)
{
    if (!prog) return;
    for (int v = 0; v < LBC_VARIANTS; v++) free(prog->code[v]);
    lbc_jit_free(prog->jit);
    free(prog->helpers);
    free(prog);
}

size_t lbc_prog_insn_count(const lbc_prog *prog) { return prog->n; }

int lbc_prog_jitted(const lbc_prog *prog) { return prog->jit != NULL; }

const char *lbc_prog_jit_note(const lbc_prog *prog) { return prog->jit_note; }

int lbc_prog_load(const uint8_t *code, size_t len, const lbc_helper *helpers, size_t nhelpers,
                  uint32_t flags, lbc_prog **out, lbc_error *err)
{
    size_t pc = 0;
    *out = NULL;
    memset(err, 0, sizeof *err);
    err->pc = -1;
    if (len == 0) return fail(err, -EINVAL, -1, "the program is empty");
    if (len % 8) {
        pc = len / 8;
        return BAD("the program is %zu bytes, not a multiple of 8", len);
    }
    if (len / 8 > 1000000u) return fail(err, -E2BIG, -1, "the program has over 1000000 instructions");
    lbc_prog *p = calloc(1, sizeof *p);
    if (!p) return fail(err, -ENOMEM, -1, "out of memory");
    p->n = len / 8;
    for (int v = 0; v < LBC_VARIANTS; v++) {
        p->code[v] = calloc(p->n, sizeof(lbc_insn));
        if (!p->code[v]) goto nomem;
    }
    if (nhelpers) {
        p->helpers = malloc(nhelpers * sizeof *helpers);
        if (!p->helpers) goto nomem;
        memcpy(p->helpers, helpers, nhelpers * sizeof *helpers);
        qsort(p->helpers, nhelpers, sizeof *helpers, helper_cmp);
        p->nhelpers = nhelpers;
    }
    lbc_insn *d = p->code[0];
    if (decode_all(code, p->n, d, err) ||
        resolve_calls(code, d, p->n, p->helpers, p->nhelpers, flags, err)) {
        lbc_prog_free(p);
        return err->code;
    }
    if (fuse_map_calls(d, p->n)) goto nomem;
    for (int v = 0; v < LBC_VARIANTS; v++) {
        const void *labels[LBC_OP_COUNT];
        lbc_loops[v](NULL, NULL, 0, 0, labels);
        if (v) memcpy(p->code[v], d, p->n * sizeof *d);
        for (size_t i = 0; i < p->n; i++) p->code[v][i].h = labels[p->code[v][i].op];
    }
    if ((flags & LBC_LOAD_JIT) && !(flags & LBC_LOAD_DEFER_HELPERS))
        p->jit = lbc_jit_compile(p, p->jit_note, sizeof p->jit_note);
    *out = p;
    return 0;
nomem:
    lbc_prog_free(p);
    return fail(err, -ENOMEM, -1, "out of memory");
}
