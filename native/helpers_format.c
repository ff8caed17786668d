/* Formatted output for programs: the kernel's bpf_trace_printk and
 * bpf_snprintf format rules, eBPF-for-Windows' trace_printk2..5, and the
 * trace pipe their lines go to. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbc_platform.h"
#include "lbc_runtime.h"

#define HELPER(name) \
    uint64_t lbc_helper_##name(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, \
                               uint64_t r3, uint64_t r4, uint64_t r5)
#define UNUSED_ARGS() do { (void)ex; (void)data; (void)r1; (void)r2; (void)r3; (void)r4; \
        (void)r5; } while (0)
#define ERR(e) ((uint64_t)(int64_t)-(e))

#define LBC_PRINTK_MAX 1024      /* bytes of one trace_printk line, as Linux */
#define LBC_SNPRINTF_MAX_ARGS 12 /* MAX_BPRINTF_VARARGS */
#define LBC_STR_MAX 512          /* bytes read for one %s */

/* ---- the trace pipe ---------------------------------------------------- */

struct lbc_trace_pipe {
    uint32_t lock;
    size_t cap, used;
    uint64_t dropped;
    char *buf; /* whole lines, each ending in '\n' */
};

static void pipe_lock(lbc_trace_pipe *p)
{
    while (lbc_axchg_u32((uint64_t)(uintptr_t)&p->lock, 1)) {
    }
}
static void pipe_unlock(lbc_trace_pipe *p) { (void)lbc_axchg_u32((uint64_t)(uintptr_t)&p->lock, 0); }

lbc_trace_pipe *lbc_trace_pipe_new(size_t capacity)
{
    lbc_trace_pipe *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->cap = capacity < 64 ? 64 : capacity;
    p->buf = malloc(p->cap);
    if (!p->buf) {
        free(p);
        return NULL;
    }
    return p;
}

void lbc_trace_pipe_free(lbc_trace_pipe *p)
{
    if (!p) return;
    free(p->buf);
    free(p);
}

/* The pipe of runs whose runtime has none (0: none), kept as an address
 * for atomic access. */
static uint64_t default_pipe;

void lbc_trace_pipe_set_default(lbc_trace_pipe *pipe)
{
    lbc_astore_u64(&default_pipe, (uint64_t)(uintptr_t)pipe);
}

lbc_trace_pipe *lbc_trace_pipe_get_default(void)
{
    return (lbc_trace_pipe *)(uintptr_t)lbc_aload_u64(&default_pipe);
}

/* Drop whole lines from the front until `need` bytes are free. */
static void pipe_make_room(lbc_trace_pipe *p, size_t need)
{
    size_t cut = 0;
    while (p->cap - (p->used - cut) < need && cut < p->used) {
        const char *nl = memchr(p->buf + cut, '\n', p->used - cut);
        cut = nl ? (size_t)(nl - p->buf) + 1 : p->used;
        p->dropped++;
    }
    memmove(p->buf, p->buf + cut, p->used - cut);
    p->used -= cut;
}

void lbc_trace_pipe_write(lbc_trace_pipe *p, const char *text, size_t len)
{
    if (!p) return;
    pipe_lock(p);
    if (len > p->cap - 1) len = p->cap - 1;
    pipe_make_room(p, len + 1);
    memcpy(p->buf + p->used, text, len);
    p->buf[p->used + len] = '\n';
    p->used += len + 1;
    pipe_unlock(p);
}

size_t lbc_trace_pipe_read(lbc_trace_pipe *p, char *out, size_t size)
{
    pipe_lock(p);
    size_t n = 0;
    while (n < p->used) { /* whole lines only */
        const char *nl = memchr(p->buf + n, '\n', p->used - n);
        const size_t end = (size_t)(nl - p->buf) + 1;
        if (end > size) break;
        n = end;
    }
    memcpy(out, p->buf, n);
    memmove(p->buf, p->buf + n, p->used - n);
    p->used -= n;
    pipe_unlock(p);
    return n;
}

uint64_t lbc_trace_pipe_dropped(const lbc_trace_pipe *p) { return p->dropped; }

/* ---- the format engine ------------------------------------------------- */

typedef struct outbuf {
    char *out;
    size_t size, len; /* len counts every byte the full result has */
} outbuf;

static void put(outbuf *o, const char *s, size_t n)
{
    if (o->len < o->size) {
        const size_t room = o->size - o->len;
        memcpy(o->out + o->len, s, n < room ? n : room);
    }
    o->len += n;
}

static int legal_char(char c)
{
    const unsigned char u = (unsigned char)c;
    return u < 0x80 && (u >= 0x20 || c == '\n' || c == '\t' || c == '\r');
}

/* Read a string for %s through the probe regions: empty when unreadable. */
static void read_string(const lbc_runtime *rt, uint64_t addr, char *buf, size_t size)
{
    size_t i = 0;
    for (; i + 1 < size && lbc_probe_ok(rt, addr + i, 1); i++) {
        buf[i] = *(const char *)(uintptr_t)(addr + i);
        if (!buf[i]) return;
    }
    buf[i] = 0;
}

/* `strict`: eBPF for Windows' rule that the number of conversions equals
 * the number of arguments. */
static long format(const lbc_runtime *rt, const char *fmt, size_t fmt_size, const uint64_t *args,
                   unsigned nargs, int strict, char *out, size_t out_size)
{
    outbuf o = {out, out_size, 0};
    unsigned used = 0;
    if (!fmt || !memchr(fmt, 0, fmt_size)) return -EINVAL;
    for (const char *p = fmt; *p; p++) {
        if (!legal_char(*p)) return -EINVAL;
        if (*p != '%') {
            put(&o, p, 1);
            continue;
        }
        if (p[1] == '%') {
            put(&o, "%", 1);
            p++;
            continue;
        }
        char spec[32] = "%";
        size_t sl = 1;
        const char *q = p + 1;
        while (*q && strchr("-+ 0#", *q) && sl < 8) spec[sl++] = *q++;
        while (*q >= '0' && *q <= '9' && sl < 14) spec[sl++] = *q++;
        if (*q == '.') {
            spec[sl++] = *q++;
            while (*q >= '0' && *q <= '9' && sl < 20) spec[sl++] = *q++;
        }
        int longs = 0;
        while (*q == 'l' && longs < 2) {
            longs++;
            q++;
        }
        const char conv = *q;
        if (!conv || !strchr("diuxXcsp", conv) || (longs && strchr("csp", conv)))
            return -EINVAL;
        if (used >= nargs) return -EINVAL;
        const uint64_t v = args[used++];
        char tmp[LBC_STR_MAX + 64];
        int n;
        if (conv == 's') {
            char str[LBC_STR_MAX];
            read_string(rt, v, str, sizeof str);
            memcpy(spec + sl, "s", 2);
            n = snprintf(tmp, sizeof tmp, spec, str);
        } else if (conv == 'p') {
            if (q[1] == 'x' || q[1] == 'K') q++;
            n = snprintf(tmp, sizeof tmp, "%016llx", (unsigned long long)v);
        } else if (conv == 'c') {
            memcpy(spec + sl, "c", 2);
            n = snprintf(tmp, sizeof tmp, spec, (int)(unsigned char)v);
        } else {
            const int is_signed = conv == 'd' || conv == 'i';
            memcpy(spec + sl, "ll", 2);
            spec[sl + 2] = conv;
            spec[sl + 3] = 0;
            long long sv;
            unsigned long long uv;
            if (longs) { /* 64-bit */
                sv = (long long)v;
                uv = (unsigned long long)v;
            } else {     /* the kernel passes 32-bit conversions a 32-bit value */
                sv = (long long)(int32_t)(uint32_t)v;
                uv = (unsigned long long)(uint32_t)v;
            }
            n = is_signed ? snprintf(tmp, sizeof tmp, spec, sv) : snprintf(tmp, sizeof tmp, spec, uv);
        }
        if (n < 0) return -EINVAL;
        put(&o, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
        p = q;
    }
    if (strict && used != nargs) return -EINVAL;
    if (out_size) out[o.len < out_size ? o.len : out_size - 1] = 0;
    return (long)o.len;
}

long lbc_format(const lbc_runtime *rt, const char *fmt, size_t fmt_size, const uint64_t *args,
                unsigned nargs, char *out, size_t out_size)
{
    return format(rt, fmt, fmt_size, args, nargs, 0, out, out_size);
}

static uint64_t printk(lbc_exec *ex, uint64_t fmt, uint64_t fmt_size, const uint64_t *args,
                       unsigned nargs, int strict)
{
    const lbc_runtime *rt = (const lbc_runtime *)ex->runtime;
    char line[LBC_PRINTK_MAX];
    const long n = format(rt, (const char *)(uintptr_t)fmt, (size_t)fmt_size, args, nargs, strict,
                          line, sizeof line);
    if (n < 0) return (uint64_t)(int64_t)n;
    size_t len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    while (len && line[len - 1] == '\n') len--; /* the pipe ends each line */
    lbc_trace_pipe *pipe = rt && rt->trace ? rt->trace : lbc_trace_pipe_get_default();
    if (pipe) lbc_trace_pipe_write(pipe, line, len);
    return (uint64_t)n;
}

/* Linux: bpf_trace_printk(fmt, fmt_size, a1, a2, a3) -- at most 3 values. */
HELPER(trace_printk)
{
    UNUSED_ARGS();
    const uint64_t args[3] = {r3, r4, r5};
    return printk(ex, r1, r2, args, 3, 0);
}

/* eBPF for Windows: one helper per argument count, counts must match. */
HELPER(trace_printk2) { UNUSED_ARGS(); return printk(ex, r1, r2, NULL, 0, 1); }
HELPER(trace_printk3)
{
    UNUSED_ARGS();
    const uint64_t args[1] = {r3};
    return printk(ex, r1, r2, args, 1, 1);
}
HELPER(trace_printk4)
{
    UNUSED_ARGS();
    const uint64_t args[2] = {r3, r4};
    return printk(ex, r1, r2, args, 2, 1);
}
HELPER(trace_printk5)
{
    UNUSED_ARGS();
    const uint64_t args[3] = {r3, r4, r5};
    return printk(ex, r1, r2, args, 3, 1);
}

/* Linux: bpf_snprintf(str, str_size, fmt, data, data_len): data holds
 * data_len / 8 u64 values (at most 12); returns the length of the full
 * result including its NUL, writing at most str_size bytes. */
HELPER(snprintf)
{
    UNUSED_ARGS();
    if (r5 % 8 || r5 / 8 > LBC_SNPRINTF_MAX_ARGS || (r5 && !r4)) return ERR(EINVAL);
    uint64_t args[LBC_SNPRINTF_MAX_ARGS];
    if (r5) memcpy(args, (const void *)(uintptr_t)r4, (size_t)r5);
    const char *fmt = (const char *)(uintptr_t)r3;
    const long n = format((const lbc_runtime *)ex->runtime, fmt, strlen(fmt) + 1, args,
                          (unsigned)(r5 / 8), 0, (char *)(uintptr_t)r1, (size_t)r2);
    return n < 0 ? (uint64_t)(int64_t)n : (uint64_t)n + 1;
}
