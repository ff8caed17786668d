/* The x86-64 JIT's code generator: one decoded program (lbc_ops.h) to
 * System V x86-64 machine code, written into a private mapping that is
 * made executable only once written (never writable and executable).
 *
 * Registers: r0 rax, r1 rdi, r2 rsi, r3 rdx, r4 rcx, r5 r8, r6 rbx,
 * r7 r13, r8 r14, r9 r15, r10 rbp; r12 holds the lbc_jit_ctx; r9, r10,
 * r11 are scratch. Every eBPF function (main program, local callee,
 * callback) is a native function whose frame the caller allocates, so
 * EXIT is `ret`; at each instruction boundary rsp = 8 (mod 16). */
#define _DEFAULT_SOURCE 1 /* MAP_ANONYMOUS under -std=c11 */
#include "jit.h"

#if defined(__x86_64__) && (defined(__linux__) || defined(__APPLE__) || defined(__FreeBSD__))
#define LBC_HAVE_JIT 1
#else
#define LBC_HAVE_JIT 0
#endif

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbc_maps.h"
#include "map_internal.h"
#include "lbc_ops.h"
#include "lbc_runtime.h"

#if LBC_HAVE_JIT
#include <sys/mman.h>

enum { RAX = 0, RCX = 1, RDX = 2, RBX = 3, RSP = 4, RBP = 5, RSI = 6, RDI = 7,
       R8 = 8, R9 = 9, R10 = 10, R11 = 11, R12 = 12, R13 = 13, R14 = 14, R15 = 15 };
static const uint8_t REG[11] = {RAX, RDI, RSI, RDX, RCX, R8, RBX, R13, R14, R15, RBP};

enum { CC_B = 2, CC_AE = 3, CC_E = 4, CC_NE = 5, CC_BE = 6, CC_A = 7, CC_S = 8,
       CC_L = 0xc, CC_GE = 0xd, CC_LE = 0xe, CC_G = 0xf };

/* Out-of-line code: the slow paths of one instruction. */
enum { STUB_STOP, STUB_FAIL };
typedef struct stub {
    int kind;
    size_t pc;
    size_t jcc_at;   /* rel32 to patch with the stub's address */
    size_t back;     /* where the stub returns */
    int code;        /* STUB_FAIL: the errno */
} stub;

typedef struct fixup { size_t at; size_t slot; } fixup;

typedef struct jit_buf {
    uint8_t *p;
    size_t len, cap;
    int overflow;
    fixup *fix;
    size_t nfix, capfix;
    stub *stubs;
    size_t nstubs, capstubs;
} jit_buf;

static void b1(jit_buf *j, unsigned v)
{
    if (j->len >= j->cap) { j->overflow = 1; return; }
    j->p[j->len++] = (uint8_t)v;
}
static void b4(jit_buf *j, uint32_t v) { for (int i = 0; i < 4; i++) b1(j, (v >> (8 * i)) & 0xff); }
static void b8(jit_buf *j, uint64_t v) { for (int i = 0; i < 8; i++) b1(j, (unsigned)(v >> (8 * i)) & 0xff); }
static void patch32(jit_buf *j, size_t at, uint32_t v)
{
    if (at + 4 <= j->len) for (int i = 0; i < 4; i++) j->p[at + i] = (uint8_t)(v >> (8 * i));
}
/* rel32 at `at` so that a jump ends at `to` */
static void patch_rel(jit_buf *j, size_t at, size_t to)
{
    patch32(j, at, (uint32_t)(int32_t)((int64_t)to - (int64_t)(at + 4)));
}

/* REX prefix when needed (w: 64-bit operand; force: for sil/dil bytes). */
static void rex(jit_buf *j, int w, unsigned reg, unsigned rm, int force)
{
    const unsigned v = 0x40 | (w ? 8 : 0) | ((reg & 8) ? 4 : 0) | ((rm & 8) ? 1 : 0);
    if (v != 0x40 || force) b1(j, v);
}
static void modrm_rr(jit_buf *j, unsigned reg, unsigned rm) { b1(j, 0xc0 | ((reg & 7) << 3) | (rm & 7)); }
static void modrm_mem(jit_buf *j, unsigned reg, unsigned base, int32_t disp)
{
    const unsigned mod = (disp == 0 && (base & 7) != RBP) ? 0 : (disp >= -128 && disp <= 127) ? 1 : 2;
    b1(j, (mod << 6) | ((reg & 7) << 3) | (base & 7));
    if ((base & 7) == RSP) b1(j, 0x24);
    if (mod == 1) b1(j, (uint8_t)(int8_t)disp);
    else if (mod == 2) b4(j, (uint32_t)disp);
}

/* op reg, rm (register form); opcode bytes given, optional 0x66 */
static void op_rr(jit_buf *j, int w, unsigned opc, unsigned reg, unsigned rm)
{
    rex(j, w, reg, rm, 0);
    if (opc > 0xff) b1(j, opc >> 8);
    b1(j, opc & 0xff);
    modrm_rr(j, reg, rm);
}
static void op_rm(jit_buf *j, int w, unsigned opc, unsigned reg, unsigned base, int32_t disp,
                  int force_rex)
{
    rex(j, w, reg, base, force_rex);
    if (opc > 0xff) b1(j, opc >> 8);
    b1(j, opc & 0xff);
    modrm_mem(j, reg, base, disp);
}

static void mov_rr(jit_buf *j, int w, unsigned dst, unsigned src) { op_rr(j, w, 0x89, src, dst); }
static void mov_imm64(jit_buf *j, unsigned dst, uint64_t v)
{
    if (v <= UINT32_MAX) { /* mov r32, imm32 zero-extends */
        rex(j, 0, 0, dst, 0); b1(j, 0xb8 + (dst & 7)); b4(j, (uint32_t)v);
    } else if ((int64_t)v >= INT32_MIN && (int64_t)v <= INT32_MAX) {
        rex(j, 1, 0, dst, 0); b1(j, 0xc7); modrm_rr(j, 0, dst); b4(j, (uint32_t)v);
    } else {
        rex(j, 1, 0, dst, 0); b1(j, 0xb8 + (dst & 7)); b8(j, v);
    }
}
static void push(jit_buf *j, unsigned r) { rex(j, 0, 0, r, 0); b1(j, 0x50 + (r & 7)); }
static void pop(jit_buf *j, unsigned r) { rex(j, 0, 0, r, 0); b1(j, 0x58 + (r & 7)); }
static void call_abs(jit_buf *j, uint64_t fn)
{
    mov_imm64(j, R11, fn);
    rex(j, 0, 0, R11, 0); b1(j, 0xff); modrm_rr(j, 2, R11);
}
/* jcc/jmp rel32 with its displacement left to patch; returns where it is */
static size_t jcc(jit_buf *j, unsigned cc) { b1(j, 0x0f); b1(j, 0x80 | cc); b4(j, 0); return j->len - 4; }
static size_t jmp(jit_buf *j) { b1(j, 0xe9); b4(j, 0); return j->len - 4; }
static void jmp_to(jit_buf *j, size_t to) { size_t at = jmp(j); patch_rel(j, at, to); }
static void jcc_to(jit_buf *j, unsigned cc, size_t to) { size_t at = jcc(j, cc); patch_rel(j, at, to); }

static int grow(void **arr, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap) return 0;
    size_t nc = *cap ? *cap * 2 : 64;
    void *p = realloc(*arr, nc * elem);
    if (!p) return -1;
    *arr = p;
    *cap = nc;
    return 0;
}
static void jump_slot(jit_buf *j, size_t at, size_t slot)
{
    if (grow((void **)&j->fix, &j->capfix, j->nfix, sizeof *j->fix)) { j->overflow = 1; return; }
    j->fix[j->nfix].at = at;
    j->fix[j->nfix++].slot = slot;
}
static void add_stub(jit_buf *j, int kind, size_t pc, size_t jcc_at, size_t back, int code)
{
    if (grow((void **)&j->stubs, &j->capstubs, j->nstubs, sizeof *j->stubs)) { j->overflow = 1; return; }
    stub s = {kind, pc, jcc_at, back, code};
    j->stubs[j->nstubs++] = s;
}

/* The registers a call into C must keep (r1..r5 stay as the interpreter
 * keeps them): push/pop, 40 bytes, which makes rsp 0 (mod 16). */
static void save_args(jit_buf *j) { push(j, R8); push(j, RCX); push(j, RDX); push(j, RSI); push(j, RDI); }
static void restore_args(jit_buf *j) { pop(j, RDI); pop(j, RSI); pop(j, RDX); pop(j, RCX); pop(j, R8); }

/* mov r11, ctx->ex; cmp dword [r11 + stop], 0; jne stub */
static void check_stop(jit_buf *j, size_t pc)
{
    op_rm(j, 1, 0x8b, R11, R12, offsetof(lbc_jit_ctx, ex), 0);
    op_rm(j, 0, 0x83, 7, R11, (int32_t)offsetof(lbc_exec, stop), 0);
    b1(j, 0);
    const size_t at = jcc(j, CC_NE);
    add_stub(j, STUB_STOP, pc, at, j->len, 0);
}

static void emit_alu(jit_buf *j, const lbc_insn *in, int w, int x, int idx)
{
    const unsigned d = REG[in->dst], s = REG[in->src];
    const int32_t imm = (int32_t)in->imm;
    static const unsigned rr_op[14] = {0x01, 0x29, 0, 0, 0, 0x09, 0x21, 0, 0, 0, 0, 0x31, 0x89, 0};
    static const unsigned ri_ext[14] = {0, 5, 0, 0, 0, 1, 4, 0, 0, 0, 0, 6, 0, 0};
    switch (idx) {
    case 0: case 1: case 5: case 6: case 11: /* add sub or and xor */
        if (x) op_rr(j, w, rr_op[idx], s, d);
        else { rex(j, w, 0, d, 0); b1(j, 0x81); modrm_rr(j, ri_ext[idx], d); b4(j, (uint32_t)imm); }
        return;
    case 12: /* mov */
        if (x) mov_rr(j, w, d, s);
        else if (w) mov_imm64(j, d, (uint64_t)(int64_t)imm);
        else mov_imm64(j, d, (uint32_t)imm);
        return;
    case 2: /* mul */
        if (x) op_rr(j, w, 0x0faf, d, s);
        else { rex(j, w, d, d, 0); b1(j, 0x69); modrm_rr(j, d, d); b4(j, (uint32_t)imm); }
        return;
    case 7: case 8: case 13: { /* lsh rsh arsh */
        const unsigned ext = idx == 7 ? 4 : idx == 8 ? 5 : 7;
        if (!x) {
            rex(j, w, 0, d, 0); b1(j, 0xc1); modrm_rr(j, ext, d); b1(j, (unsigned)imm & (w ? 63 : 31));
            return;
        }
        mov_rr(j, 1, R10, d);
        mov_rr(j, 1, R11, s);
        push(j, RCX);
        mov_rr(j, 1, RCX, R11);
        rex(j, w, 0, R10, 0); b1(j, 0xd3); modrm_rr(j, ext, R10);
        pop(j, RCX);
        mov_rr(j, w, d, R10); /* a 32-bit shift already zero-extended r10 */
        return;
    }
    default: break;
    }
    /* div sdiv mod smod: r11 = divisor, r10 = dividend, Linux's cases first */
    const int is_mod = idx == 9 || idx == 10, is_signed = idx == 4 || idx == 10;
    if (x) mov_rr(j, 1, R11, s);
    else mov_imm64(j, R11, w ? (uint64_t)(int64_t)imm : (uint32_t)imm);
    mov_rr(j, 1, R10, d);
    op_rr(j, w, 0x85, R11, R11); /* test */
    const size_t jz = jcc(j, CC_E);
    size_t jm1 = 0;
    if (is_signed) {
        rex(j, w, 0, R11, 0); b1(j, 0x83); modrm_rr(j, 7, R11); b1(j, 0xff); /* cmp r11, -1 */
        jm1 = jcc(j, CC_E);
    }
    push(j, RAX);
    push(j, RDX);
    mov_rr(j, 1, RAX, R10);
    if (is_signed) { rex(j, w, 0, 0, 0); b1(j, 0x99); } /* cqo / cdq */
    else op_rr(j, 0, 0x31, RDX, RDX);
    rex(j, w, 0, R11, 0); b1(j, 0xf7); modrm_rr(j, is_signed ? 7 : 6, R11);
    mov_rr(j, 1, R10, is_mod ? RDX : RAX);
    pop(j, RDX);
    pop(j, RAX);
    const size_t jdone = jmp(j);
    /* divisor 0: div -> 0, mod -> dst */
    patch_rel(j, jz, j->len);
    if (!is_mod) op_rr(j, 0, 0x31, R10, R10);
    size_t jdone2 = jmp(j);
    size_t jdone3 = 0;
    if (is_signed) { /* divisor -1: sdiv -> -dst, smod -> 0 */
        patch_rel(j, jm1, j->len);
        if (is_mod) op_rr(j, 0, 0x31, R10, R10);
        else { rex(j, w, 0, R10, 0); b1(j, 0xf7); modrm_rr(j, 3, R10); }
        jdone3 = jmp(j);
    }
    patch_rel(j, jdone, j->len);
    patch_rel(j, jdone2, j->len);
    if (is_signed) patch_rel(j, jdone3, j->len);
    mov_rr(j, w, d, R10); /* 32-bit forms zero-extend */
}

static void emit_jcond(jit_buf *j, const lbc_insn *in, int w, int x, int idx)
{
    /* JEQ JGT JGE JSET JNE JSGT JSGE JLT JLE JSLT JSLE */
    static const unsigned cc[11] = {CC_E, CC_A, CC_AE, CC_NE, CC_NE, CC_G, CC_GE, CC_B, CC_BE, CC_L, CC_LE};
    const unsigned d = REG[in->dst], s = REG[in->src];
    const int32_t imm = (int32_t)in->imm;
    if (idx == 3) { /* jset: test */
        if (x) op_rr(j, w, 0x85, s, d);
        else { rex(j, w, 0, d, 0); b1(j, 0xf7); modrm_rr(j, 0, d); b4(j, (uint32_t)imm); }
    } else {
        if (x) op_rr(j, w, 0x39, s, d);
        else { rex(j, w, 0, d, 0); b1(j, 0x81); modrm_rr(j, 7, d); b4(j, (uint32_t)imm); }
    }
    jump_slot(j, jcc(j, cc[idx]), (size_t)in->off);
}

/* dst = *(T *)(src + off), zero- or sign-extended */
static void emit_load(jit_buf *j, unsigned d, unsigned s, int32_t off, int size, int sx)
{
    switch (size) {
    case 1: op_rm(j, sx, sx ? 0x0fbe : 0x0fb6, d, s, off, 0); return;
    case 2: op_rm(j, sx, sx ? 0x0fbf : 0x0fb7, d, s, off, 0); return;
    case 4: if (sx) op_rm(j, 1, 0x63, d, s, off, 0); else op_rm(j, 0, 0x8b, d, s, off, 0); return;
    default: op_rm(j, 1, 0x8b, d, s, off, 0); return;
    }
}
static void emit_store_reg(jit_buf *j, unsigned base, int32_t off, unsigned s, int size)
{
    switch (size) {
    case 1: op_rm(j, 0, 0x88, s, base, off, 1); return;
    case 2: b1(j, 0x66); op_rm(j, 0, 0x89, s, base, off, 0); return;
    case 4: op_rm(j, 0, 0x89, s, base, off, 0); return;
    default: op_rm(j, 1, 0x89, s, base, off, 0); return;
    }
}
static void emit_store_imm(jit_buf *j, unsigned base, int32_t off, int32_t imm, int size)
{
    switch (size) {
    case 1: op_rm(j, 0, 0xc6, 0, base, off, 0); b1(j, (unsigned)imm & 0xff); return;
    case 2: b1(j, 0x66); op_rm(j, 0, 0xc7, 0, base, off, 0); b1(j, (unsigned)imm & 0xff);
        b1(j, ((unsigned)imm >> 8) & 0xff); return;
    case 4: op_rm(j, 0, 0xc7, 0, base, off, 0); b4(j, (uint32_t)imm); return;
    default: op_rm(j, 1, 0xc7, 0, base, off, 0); b4(j, (uint32_t)imm); return;
    }
}

/* atomics: kind 0 add 1 or 2 and 3 xor, +4 fetch, 8 xchg, 9 cmpxchg */
static void emit_atomic(jit_buf *j, const lbc_insn *in, int w, int kind)
{
    const unsigned d = REG[in->dst], s = REG[in->src];
    static const unsigned lock_op[4] = {0x01, 0x09, 0x21, 0x31};
    op_rm(j, 1, 0x8d, R11, d, in->off, 0); /* lea r11, [dst + off] */
    if (kind < 4) { b1(j, 0xf0); op_rm(j, w, lock_op[kind], s, R11, 0, 0); return; }
    if (kind == 4) { /* lock xadd */
        b1(j, 0xf0); op_rm(j, w, 0x0fc1, s, R11, 0, 0);
        if (!w) mov_rr(j, 0, s, s);
        return;
    }
    if (kind == 8) { op_rm(j, w, 0x87, s, R11, 0, 0); if (!w) mov_rr(j, 0, s, s); return; }
    if (kind == 9) {
        b1(j, 0xf0); op_rm(j, w, 0x0fb1, s, R11, 0, 0);
        if (!w) mov_rr(j, 0, RAX, RAX);
        return;
    }
    /* fetch or/and/xor: a compare-exchange loop, rax saved */
    mov_rr(j, 1, R10, s);
    push(j, RAX);
    op_rm(j, w, 0x8b, RAX, R11, 0, 0);
    const size_t loop = j->len;
    mov_rr(j, 1, R9, RAX);
    op_rr(j, w, lock_op[kind - 4], R10, R9);
    b1(j, 0xf0); op_rm(j, w, 0x0fb1, R9, R11, 0, 0);
    jcc_to(j, CC_NE, loop);
    mov_rr(j, w, R10, RAX);
    pop(j, RAX);
    mov_rr(j, 1, s, R10);
}

/* A C call from JIT code: callers keep r1..r5 (save_args) and set the
 * arguments; here only the call itself. */
static void call_c(jit_buf *j, uint64_t fn) { call_abs(j, fn); }
/* a C function's address as the code calls it */
#define FN(f) ((uint64_t)(uintptr_t)(f))

static void emit_helper_call(jit_buf *j, const lbc_helper *h, size_t pc)
{
    save_args(j);
    rex(j, 1, 0, RSP, 0); b1(j, 0x83); modrm_rr(j, 5, RSP); b1(j, 8); /* sub rsp, 8 */
    push(j, R8);                                 /* the 7th argument, r5 */
    mov_rr(j, 1, R9, RCX);
    mov_rr(j, 1, R8, RDX);
    mov_rr(j, 1, RCX, RSI);
    mov_rr(j, 1, RDX, RDI);
    mov_imm64(j, RSI, (uint64_t)(uintptr_t)h->data);
    op_rm(j, 1, 0x8b, RDI, R12, offsetof(lbc_jit_ctx, ex), 0);
    call_c(j, FN(h->fn));
    rex(j, 1, 0, RSP, 0); b1(j, 0x83); modrm_rr(j, 0, RSP); b1(j, 16); /* add rsp, 16 */
    restore_args(j);
    check_stop(j, pc);
}

static void emit_map_op(jit_buf *j, const lbc_insn *in)
{
    lbc_map *m = (lbc_map *)(uintptr_t)in->imm;
    size_t jdone = 0, jdone2 = 0;
    if (in->op == LBC_OP_MAP_LOOKUP && m->fast != LBC_FAST_OTHER) {
        /* as Linux's map_gen_lookup: index check, values + index * elem.
         * An array's size and element size never change: they are
         * immediates. Its values are read as it runs: pinning may move them. */
        mov_imm64(j, R10, (uint64_t)(uintptr_t)m);
        op_rm(j, 0, 0x8b, R11, RSI, 0, 0);                                        /* r11d = *(u32 *)r2 */
        rex(j, 0, 0, R11, 0); b1(j, 0x81); modrm_rr(j, 7, R11); b4(j, m->max_entries); /* cmp */
        const size_t jnull = jcc(j, CC_AE);
        const uint64_t elem = m->array_elem_bytes;
        if (elem && !(elem & (elem - 1))) {                                        /* shl r11, log2 */
            unsigned shift = 0;
            while ((UINT64_C(1) << shift) != elem) shift++;
            if (shift) { rex(j, 1, 0, R11, 0); b1(j, 0xc1); modrm_rr(j, 4, R11); b1(j, shift); }
        } else if (elem <= INT32_MAX) {                                            /* imul r11, r11, elem */
            rex(j, 1, R11, R11, 0); b1(j, 0x69); modrm_rr(j, R11, R11); b4(j, (uint32_t)elem);
        } else {
            op_rm(j, 1, 0x0faf, R11, R10, (int32_t)offsetof(lbc_map, array_elem_bytes), 0);
        }
        op_rm(j, 1, 0x03, R11, R10, (int32_t)offsetof(lbc_map, array_values), 0);
        size_t jslow = 0;
        if (m->fast == LBC_FAST_ARRAY) {
            mov_rr(j, 1, RAX, R11);
        } else { /* PERCPU_ARRAY: + slot * stride, the slot cached in the ctx */
            op_rm(j, 1, 0x63, RAX, R12, offsetof(lbc_jit_ctx, cpu_slot), 0); /* movsxd */
            op_rr(j, 1, 0x85, RAX, RAX);
            jslow = jcc(j, CC_S);
            op_rm(j, 0, 0x8b, R9, R10, (int32_t)offsetof(lbc_map, value_stride), 0);
            op_rr(j, 1, 0x0faf, RAX, R9);
            op_rr(j, 1, 0x01, R11, RAX);
        }
        jdone = jmp(j);
        patch_rel(j, jnull, j->len);
        op_rr(j, 0, 0x31, RAX, RAX);
        if (m->fast == LBC_FAST_ARRAY) {
            patch_rel(j, jdone, j->len);
            return;
        }
        jdone2 = jmp(j);
        patch_rel(j, jslow, j->len); /* first per-CPU access of the run: through C */
    }
    save_args(j);
    /* rsi = r2 (key), rdx = r3 (value), rcx = r4 (flags) already in place */
    if (in->op == LBC_OP_MAP_UPDATE) {
        mov_rr(j, 1, R8, RCX);
        mov_rr(j, 1, RCX, RDX);
        mov_rr(j, 1, RDX, RSI);
    } else {
        mov_rr(j, 1, RDX, RSI);
    }
    mov_imm64(j, RSI, in->imm);
    mov_rr(j, 1, RDI, R12);
    call_c(j, in->op == LBC_OP_MAP_LOOKUP ? FN(lbc_jit_map_lookup)
              : in->op == LBC_OP_MAP_UPDATE ? FN(lbc_jit_map_update)
              : FN(lbc_jit_map_delete));
    restore_args(j);
    if (jdone) {
        patch_rel(j, jdone, j->len);
        patch_rel(j, jdone2, j->len);
    }
}

static int emit_insn(jit_buf *j, const lbc_prog *prog, const lbc_insn *in, size_t pc,
                     char *why, size_t why_size)
{
    const uint16_t op = in->op;
    const unsigned d = REG[in->dst], s = REG[in->src];
    if (op >= LBC_OP_ADD64_K && op <= LBC_OP_ARSH32_X) {
        const int rel = op - LBC_OP_ADD64_K;
        const int group = rel / 14, idx = rel % 14;
        emit_alu(j, in, group < 2, group & 1, idx);
        return 0;
    }
    if (op >= LBC_OP_JEQ64_K && op <= LBC_OP_JSLE32_X) {
        const int rel = op - LBC_OP_JEQ64_K;
        const int group = rel / 11, idx = rel % 11;
        emit_jcond(j, in, group < 2, group & 1, idx);
        return 0;
    }
    if (op >= LBC_OP_LDX_B && op <= LBC_OP_STX_DW_FP) {
        const int fp = op >= LBC_OP_LDX_B_FP;
        const int k = op - (fp ? LBC_OP_LDX_B_FP : LBC_OP_LDX_B);
        static const int8_t size[15] = {1, 2, 4, 8, 1, 2, 4, 1, 2, 4, 8, 1, 2, 4, 8};
        if (k < 7) emit_load(j, d, s, in->off, size[k], k >= 4);
        else if (k < 11) emit_store_imm(j, d, in->off, (int32_t)in->imm, size[k]);
        else emit_store_reg(j, d, in->off, s, size[k]);
        return 0;
    }
    if (op >= LBC_OP_AADD_W && op <= LBC_OP_ACMPXCHG_DW) {
        const int rel = op - LBC_OP_AADD_W;
        emit_atomic(j, in, rel >= 10, rel % 10); /* the order of LBC_OPS */
        return 0;
    }
    switch (op) {
    case LBC_OP_INVALID: return 0; /* an lddw's second slot: never reached */
    case LBC_OP_NEG64: rex(j, 1, 0, d, 0); b1(j, 0xf7); modrm_rr(j, 3, d); return 0;
    case LBC_OP_NEG32: rex(j, 0, 0, d, 0); b1(j, 0xf7); modrm_rr(j, 3, d); return 0;
    case LBC_OP_MOVSX64_8: op_rr(j, 1, 0x0fbe, d, s); return 0;
    case LBC_OP_MOVSX64_16: op_rr(j, 1, 0x0fbf, d, s); return 0;
    case LBC_OP_MOVSX64_32: op_rr(j, 1, 0x63, d, s); return 0;
    case LBC_OP_MOVSX32_8: rex(j, 0, d, s, 1); b1(j, 0x0f); b1(j, 0xbe); modrm_rr(j, d, s); return 0;
    case LBC_OP_MOVSX32_16: op_rr(j, 0, 0x0fbf, d, s); return 0;
    case LBC_OP_LE16: op_rr(j, 0, 0x0fb7, d, d); return 0;
    case LBC_OP_LE32: mov_rr(j, 0, d, d); return 0;
    case LBC_OP_LE64: return 0;
    case LBC_OP_BE16: case LBC_OP_BSWAP16:
        b1(j, 0x66); rex(j, 0, 0, d, 0); b1(j, 0xc1); modrm_rr(j, 1, d); b1(j, 8); /* ror r16, 8 */
        op_rr(j, 0, 0x0fb7, d, d);
        return 0;
    case LBC_OP_BE32: case LBC_OP_BSWAP32: rex(j, 0, 0, d, 0); b1(j, 0x0f); b1(j, 0xc8 + (d & 7)); return 0;
    case LBC_OP_BE64: case LBC_OP_BSWAP64: rex(j, 1, 0, d, 0); b1(j, 0x0f); b1(j, 0xc8 + (d & 7)); return 0;
    case LBC_OP_JA: jump_slot(j, jmp(j), (size_t)in->off); return 0;
    case LBC_OP_LDDW: mov_imm64(j, d, in->imm); return 0;
    case LBC_OP_EXIT: b1(j, 0xc3); return 0;
    case LBC_OP_CALL: emit_helper_call(j, (const lbc_helper *)(uintptr_t)in->imm, pc); return 0;
    case LBC_OP_MAP_LOOKUP: case LBC_OP_MAP_UPDATE: case LBC_OP_MAP_DELETE: emit_map_op(j, in); return 0;
    case LBC_OP_CALLX:
        mov_rr(j, 1, R10, d);
        save_args(j);
        mov_rr(j, 1, R8, R10);
        mov_imm64(j, RCX, (uint64_t)pc);
        mov_rr(j, 1, RDX, RSP);
        mov_imm64(j, RSI, (uint64_t)(uintptr_t)prog);
        mov_rr(j, 1, RDI, R12);
        call_c(j, FN(lbc_jit_callx));
        restore_args(j);
        check_stop(j, pc);
        return 0;
    case LBC_OP_CALL_LOCAL: {
        op_rm(j, 0, 0x83, 7, R12, offsetof(lbc_jit_ctx, depth), 0); b1(j, LBC_MAX_FRAMES - 2);
        const size_t at = jcc(j, CC_G); /* depth + 1 >= LBC_MAX_FRAMES */
        add_stub(j, STUB_FAIL, pc, at, 0, -E2BIG);
        op_rm(j, 0, 0xff, 0, R12, offsetof(lbc_jit_ctx, depth), 0); /* inc */
        push(j, RBX); push(j, R13); push(j, R14); push(j, R15); push(j, RBP);
        rex(j, 1, 0, RSP, 0); b1(j, 0x81); modrm_rr(j, 5, RSP); b4(j, LBC_STACK_SIZE);
        op_rm(j, 1, 0x8d, RBP, RSP, LBC_STACK_SIZE, 0);
        b1(j, 0xe8); b4(j, 0);
        jump_slot(j, j->len - 4, (size_t)in->off);
        rex(j, 1, 0, RSP, 0); b1(j, 0x81); modrm_rr(j, 0, RSP); b4(j, LBC_STACK_SIZE);
        pop(j, RBP); pop(j, R15); pop(j, R14); pop(j, R13); pop(j, RBX);
        op_rm(j, 0, 0xff, 1, R12, offsetof(lbc_jit_ctx, depth), 0); /* dec */
        return 0;
    }
    case LBC_OP_LDABS_B: case LBC_OP_LDABS_H: case LBC_OP_LDABS_W:
    case LBC_OP_LDIND_B: case LBC_OP_LDIND_H: case LBC_OP_LDIND_W: {
        const int ind = op >= LBC_OP_LDIND_B;
        const int size = 1 << ((op - (ind ? LBC_OP_LDIND_B : LBC_OP_LDABS_B)));
        mov_imm64(j, R10, (uint32_t)in->imm);
        if (ind) op_rr(j, 0, 0x01, s, R10); /* add r10d, src32: the sum wraps at 32 bits */
        save_args(j);
        mov_rr(j, 0, RSI, R10);
        mov_imm64(j, RDX, (uint64_t)size);
        mov_rr(j, 1, RDI, R12);
        call_c(j, FN(lbc_jit_ldabs));
        restore_args(j);
        op_rm(j, 0, 0x83, 7, R12, offsetof(lbc_jit_ctx, status), 0); b1(j, 0);
        const size_t at = jcc(j, CC_NE);
        add_stub(j, STUB_STOP, pc, at, j->len, 1); /* code 1: only the status check */
        return 0;
    }
    default:
        snprintf(why, why_size, "instruction %zu: operation %u is not translated", pc, (unsigned)op);
        return -1;
    }
}

/* uint64_t tramp(ctx, args, target): callee-saved registers, the ctx in
 * r12, r1..r5 from args, r0 and r6..r9 zero, a 512-byte frame, then a call
 * of target. An unwind (status 2) lands at `epilogue` with rsp restored. */
static void emit_tramp(jit_buf *j, size_t *unwind_at)
{
    push(j, RBX); push(j, RBP); push(j, R12); push(j, R13); push(j, R14); push(j, R15);
    op_rm(j, 0, 0xff, 6, RDI, offsetof(lbc_jit_ctx, entry_rsp), 0); /* push [rdi+entry_rsp] */
    mov_rr(j, 1, R12, RDI);
    mov_rr(j, 1, R11, RDX);
    op_rm(j, 1, 0x8b, R8, RSI, 32, 0);
    op_rm(j, 1, 0x8b, RCX, RSI, 24, 0);
    op_rm(j, 1, 0x8b, RDX, RSI, 16, 0);
    op_rm(j, 1, 0x8b, RDI, RSI, 0, 0);
    op_rm(j, 1, 0x8b, RSI, RSI, 8, 0);
    op_rr(j, 0, 0x31, RAX, RAX);
    op_rr(j, 0, 0x31, RBX, RBX);
    op_rr(j, 0, 0x31, R13, R13);
    op_rr(j, 0, 0x31, R14, R14);
    op_rr(j, 0, 0x31, R15, R15);
    rex(j, 1, 0, RSP, 0); b1(j, 0x81); modrm_rr(j, 5, RSP); b4(j, LBC_STACK_SIZE);
    op_rm(j, 1, 0x8d, RBP, RSP, LBC_STACK_SIZE, 0);
    op_rm(j, 1, 0x89, RSP, R12, offsetof(lbc_jit_ctx, entry_rsp), 0);
    rex(j, 0, 0, R11, 0); b1(j, 0xff); modrm_rr(j, 2, R11); /* call r11 */
    const size_t epilogue = j->len;
    rex(j, 1, 0, RSP, 0); b1(j, 0x81); modrm_rr(j, 0, RSP); b4(j, LBC_STACK_SIZE);
    pop(j, R11);
    op_rm(j, 1, 0x89, R11, R12, offsetof(lbc_jit_ctx, entry_rsp), 0);
    pop(j, R15); pop(j, R14); pop(j, R13); pop(j, R12); pop(j, RBP); pop(j, RBX);
    b1(j, 0xc3);
    *unwind_at = j->len; /* unwind: back to the innermost trampoline's frame */
    op_rm(j, 1, 0x8b, RSP, R12, offsetof(lbc_jit_ctx, entry_rsp), 0);
    jmp_to(j, epilogue);
}

static void emit_stubs(jit_buf *j, const lbc_prog *prog, size_t unwind)
{
    for (size_t i = 0; i < j->nstubs; i++) {
        const stub *st = &j->stubs[i];
        patch_rel(j, st->jcc_at, j->len);
        if (st->kind == STUB_FAIL) {
            /* and rsp, -16; ctx, pc, code; then unwind */
            rex(j, 1, 0, RSP, 0); b1(j, 0x83); modrm_rr(j, 4, RSP); b1(j, 0xf0);
            mov_rr(j, 1, RDI, R12);
            mov_imm64(j, RSI, (uint64_t)st->pc);
            mov_imm64(j, RDX, (uint64_t)(int64_t)st->code);
            call_c(j, FN(lbc_jit_fail_at));
            jmp_to(j, unwind);
            continue;
        }
        if (st->code == 0) { /* a helper stopped the run: ask what next */
            save_args(j);
            mov_rr(j, 1, RCX, RDI);
            mov_imm64(j, RDX, (uint64_t)st->pc);
            mov_imm64(j, RSI, (uint64_t)(uintptr_t)prog);
            mov_rr(j, 1, RDI, R12);
            call_c(j, FN(lbc_jit_on_stop));
            restore_args(j);
            op_rm(j, 0, 0x83, 7, R12, offsetof(lbc_jit_ctx, status), 0); b1(j, 0);
            jcc_to(j, CC_E, st->back);
        }
        /* status 1: return from this function (a tail call ran); 2: unwind */
        op_rm(j, 0, 0x83, 7, R12, offsetof(lbc_jit_ctx, status), 0); b1(j, 1);
        jcc_to(j, CC_NE, unwind);
        op_rm(j, 0, 0xc7, 0, R12, offsetof(lbc_jit_ctx, status), 0); b4(j, 0);
        b1(j, 0xc3);
    }
}

lbc_jit *lbc_jit_compile(const lbc_prog *prog, char *why, size_t why_size)
{
    const lbc_insn *code = prog->code[0];
    jit_buf j;
    memset(&j, 0, sizeof j);
    lbc_jit *jit = calloc(1, sizeof *jit);
    uint32_t *slot_off = calloc(prog->n, sizeof *slot_off);
    if (!jit || !slot_off) goto nomem;
    j.cap = prog->n * 160 + 4096;
    j.p = mmap(NULL, j.cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (j.p == MAP_FAILED) { j.p = NULL; snprintf(why, why_size, "mmap failed"); goto fail; }
    size_t unwind = 0;
    emit_tramp(&j, &unwind);
    for (size_t pc = 0; pc < prog->n; pc++) {
        slot_off[pc] = (uint32_t)j.len;
        if (emit_insn(&j, prog, &code[pc], pc, why, why_size)) goto fail;
        if (code[pc].op == LBC_OP_INVALID) slot_off[pc] = UINT32_MAX;
    }
    emit_stubs(&j, prog, unwind);
    if (j.overflow) { snprintf(why, why_size, "machine code larger than its buffer"); goto fail; }
    for (size_t i = 0; i < j.nfix; i++) patch_rel(&j, j.fix[i].at, slot_off[j.fix[i].slot]);
    if (mprotect(j.p, j.cap, PROT_READ | PROT_EXEC)) {
        snprintf(why, why_size, "mprotect failed");
        goto fail;
    }
    free(j.fix);
    free(j.stubs);
    jit->code = j.p;
    jit->size = j.cap;
    jit->slot_off = slot_off;
    return jit;
nomem:
    snprintf(why, why_size, "out of memory");
fail:
    if (j.p) munmap(j.p, j.cap);
    free(j.fix);
    free(j.stubs);
    free(slot_off);
    free(jit);
    return NULL;
}

void lbc_jit_free(lbc_jit *jit)
{
    if (!jit) return;
    munmap(jit->code, jit->size);
    free(jit->slot_off);
    free(jit);
}

#else /* no JIT on this platform */

lbc_jit *lbc_jit_compile(const lbc_prog *prog, char *why, size_t why_size)
{
    (void)prog;
    snprintf(why, why_size, "no JIT for this platform");
    return NULL;
}

void lbc_jit_free(lbc_jit *jit) { (void)jit; }

#endif
