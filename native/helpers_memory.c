/* Helpers that copy, compare or checksum memory: probe_read over the
 * memory the host registered, eBPF-for-Windows' bounded string and memory
 * functions, and csum_diff. */
#include <errno.h>
#include <string.h>

#include "lbc_runtime.h"

#define HELPER(name) \
    uint64_t lbc_helper_##name(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, \
                               uint64_t r3, uint64_t r4, uint64_t r5)
#define UNUSED_ARGS() do { (void)ex; (void)data; (void)r1; (void)r2; (void)r3; (void)r4; \
        (void)r5; } while (0)
#define ERR(e) ((uint64_t)(int64_t)-(e))

static inline int in_region(uint64_t a, uint64_t n, uint64_t start, uint64_t size)
{
    const uint64_t off = a - start;
    return off <= size && size - off >= n;
}

int lbc_probe_ok(const lbc_runtime *rt, uint64_t addr, uint64_t size)
{
    if (!rt) return 0;
    for (uint32_t i = 0; i < rt->nprobe_regions; i++)
        if (in_region(addr, size, rt->probe_regions[i].start, rt->probe_regions[i].size))
            return 1;
    return 0;
}

/* bpf_probe_read*(dst, size, unsafe): copy, or zero dst and fail with -EFAULT. */
static uint64_t probe_read(lbc_exec *ex, uint64_t dst, uint64_t size, uint64_t src)
{
    if (size == 0) return 0;
    if (!lbc_probe_ok((const lbc_runtime *)ex->runtime, src, size)) {
        memset((void *)(uintptr_t)dst, 0, (size_t)size);
        return ERR(EFAULT);
    }
    memmove((void *)(uintptr_t)dst, (const void *)(uintptr_t)src, (size_t)size);
    return 0;
}

/* bpf_probe_read*_str(dst, size, unsafe): copy a NUL-terminated string of at
 * most size-1 bytes plus its NUL; returns the length including the NUL. */
static uint64_t probe_read_str(lbc_exec *ex, uint64_t dst, uint64_t size, uint64_t src)
{
    char *out = (char *)(uintptr_t)dst;
    const lbc_runtime *rt = (const lbc_runtime *)ex->runtime;
    if (size == 0) return 0;
    for (uint64_t i = 0; i + 1 < size; i++) {
        if (!lbc_probe_ok(rt, src + i, 1)) {
            memset(out, 0, (size_t)size);
            return ERR(EFAULT);
        }
        out[i] = *(const char *)(uintptr_t)(src + i);
        if (out[i] == 0) return i + 1;
    }
    out[size - 1] = 0;
    return size;
}

HELPER(probe_read) { UNUSED_ARGS(); return probe_read(ex, r1, r2, r3); }
HELPER(probe_read_user) { UNUSED_ARGS(); return probe_read(ex, r1, r2, r3); }
HELPER(probe_read_kernel) { UNUSED_ARGS(); return probe_read(ex, r1, r2, r3); }
HELPER(probe_read_str) { UNUSED_ARGS(); return probe_read_str(ex, r1, r2, r3); }
HELPER(probe_read_user_str) { UNUSED_ARGS(); return probe_read_str(ex, r1, r2, r3); }
HELPER(probe_read_kernel_str) { UNUSED_ARGS(); return probe_read_str(ex, r1, r2, r3); }

/* memcpy_s / memmove_s(dst, dst_size, src, src_size): -EINVAL when the
 * source does not fit, else copy and return 0 (eBPF for Windows). */
HELPER(memcpy_s)
{
    UNUSED_ARGS();
    if (r4 > r2) return ERR(EINVAL);
    if (r4) memcpy((void *)(uintptr_t)r1, (const void *)(uintptr_t)r3, (size_t)r4);
    return 0;
}

HELPER(memmove_s)
{
    UNUSED_ARGS();
    if (r4 > r2) return ERR(EINVAL);
    if (r4) memmove((void *)(uintptr_t)r1, (const void *)(uintptr_t)r3, (size_t)r4);
    return 0;
}

/* memcmp_s(a, a_size, b, b_size): -1, 0 or 1; on a common prefix the
 * shorter buffer is the smaller. */
HELPER(memcmp_s)
{
    UNUSED_ARGS();
    const uint64_t n = r2 < r4 ? r2 : r4;
    int c = n ? memcmp((const void *)(uintptr_t)r1, (const void *)(uintptr_t)r3, (size_t)n) : 0;
    if (c == 0) c = r2 < r4 ? -1 : r2 > r4 ? 1 : 0;
    return (uint64_t)(int64_t)(c < 0 ? -1 : c > 0 ? 1 : 0);
}

/* memset(buf, size, value): returns buf. */
HELPER(memset)
{
    UNUSED_ARGS();
    if (r2) memset((void *)(uintptr_t)r1, (int)(uint8_t)r3, (size_t)r2);
    return r1;
}

/* strncpy_s(dst, dst_size, src, count): copy at most count bytes of src (up
 * to its NUL), NUL-terminate and zero the rest of dst. -EINVAL for an empty
 * dst; -ENOSPC when the string had to be truncated to fit. */
HELPER(strncpy_s)
{
    UNUSED_ARGS();
    char *dst = (char *)(uintptr_t)r1;
    const char *src = (const char *)(uintptr_t)r3;
    if (r2 == 0) return ERR(EINVAL);
    size_t n = 0;
    while (n < r4 && src[n]) n++;
    const int truncated = n > r2 - 1;
    if (truncated) n = (size_t)(r2 - 1);
    memmove(dst, src, n);
    memset(dst + n, 0, (size_t)(r2 - n));
    return truncated ? ERR(ENOSPC) : 0;
}

/* strncat_s(dst, dst_size, src, count): append at most count bytes of src
 * to the string in dst; -EINVAL when dst holds no NUL, -ENOSPC when the
 * result had to be truncated. */
HELPER(strncat_s)
{
    UNUSED_ARGS();
    char *dst = (char *)(uintptr_t)r1;
    const char *src = (const char *)(uintptr_t)r3;
    const char *end = memchr(dst, 0, (size_t)r2);
    if (r2 == 0 || !end) return ERR(EINVAL);
    const size_t used = (size_t)(end - dst);
    size_t n = 0;
    while (n < r4 && src[n]) n++;
    const int truncated = n > r2 - 1 - used;
    if (truncated) n = (size_t)(r2 - 1 - used);
    memmove(dst + used, src, n);
    memset(dst + used + n, 0, (size_t)(r2 - used - n));
    return truncated ? ERR(ENOSPC) : 0;
}

/* strnlen_s(str, size): the length up to the first NUL, or size without one. */
HELPER(strnlen_s)
{
    UNUSED_ARGS();
    if (!r1) return 0;
    const char *end = memchr((const void *)(uintptr_t)r1, 0, (size_t)r2);
    return end ? (uint64_t)(end - (const char *)(uintptr_t)r1) : r2;
}

/* Linux's bpf_csum_diff(from, from_size, to, to_size, seed): the one's-
 * complement sum of seed, the words of `to` and the complemented words of
 * `from`, folded to 16 bits (end-around carry, not complemented) as Linux
 * 6.x returns it; sizes multiples of 4, at most 512 bytes each. */
HELPER(csum_diff)
{
    UNUSED_ARGS();
    if ((r2 % 4) || (r4 % 4) || r2 > 512 || r4 > 512 || (!r1 && r2) || (!r3 && r4))
        return ERR(EINVAL);
    uint64_t sum = (uint32_t)r5;
    for (uint64_t i = 0; i < r2; i += 4) {
        uint32_t w;
        memcpy(&w, (const void *)(uintptr_t)(r1 + i), 4);
        sum += (uint32_t)~w;
    }
    for (uint64_t i = 0; i < r4; i += 4) {
        uint32_t w;
        memcpy(&w, (const void *)(uintptr_t)(r3 + i), 4);
        sum += w;
    }
    while (sum >> 16) sum = (sum & 0xffffu) + (sum >> 16);
    return sum;
}
