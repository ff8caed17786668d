/* The helpers eBPF for Windows' sample extension gives its SAMPLE program
 * type (program-type-specific IDs 0x10000..0x10002): a helper taking the
 * context, a bounded substring search and an in-place string overwrite.
 * Strings end at their first NUL or at the size given, whichever is first. */
#include <stdint.h>
#include <string.h>

#include "lbc_runtime.h"

#define HELPER(name) \
    uint64_t lbc_helper_##name(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, \
                               uint64_t r3, uint64_t r4, uint64_t r5)
#define NOT_FOUND ((uint64_t)(int64_t)-1)

static size_t bounded_len(const char *s, uint32_t size)
{
    const char *nul = memchr(s, 0, size);
    return nul ? (size_t)(nul - s) : size;
}

/* sample_ebpf_extension_helper_function1(ctx): 0, as the extension's. */
HELPER(sample_ebpf_extension_helper_function1)
{
    (void)ex, (void)data, (void)r1, (void)r2, (void)r3, (void)r4, (void)r5;
    return 0;
}

/* sample_ebpf_extension_find(buffer, size, find, find_size): the offset of
 * the first occurrence of the string `find` in the string `buffer`, or -1
 * when it does not occur. An empty `find` is found at offset 0. */
HELPER(sample_ebpf_extension_find)
{
    (void)ex, (void)data, (void)r5;
    const char *hay = (const char *)(uintptr_t)r1, *needle = (const char *)(uintptr_t)r3;
    const size_t n = bounded_len(hay, (uint32_t)r2), k = bounded_len(needle, (uint32_t)r4);
    if (k > n) return NOT_FOUND;
    for (size_t i = 0; i + k <= n; i++)
        if (!memcmp(hay + i, needle, k)) return i;
    return NOT_FOUND;
}

/* sample_ebpf_extension_replace(buffer, size, position, replace,
 * replace_size): overwrite buffer from `position` with the string
 * `replace` (without its NUL), never touching the buffer's last byte;
 * -1 when position is not inside the buffer, else 0. */
HELPER(sample_ebpf_extension_replace)
{
    (void)ex, (void)data;
    char *buf = (char *)(uintptr_t)r1;
    const uint32_t size = (uint32_t)r2;
    const int64_t position = (int64_t)r3;
    if (position < 0 || (uint64_t)position >= size) return NOT_FOUND;
    const size_t room = size - 1 - (size_t)position;
    size_t len = bounded_len((const char *)(uintptr_t)r4, (uint32_t)r5);
    if (len > room) len = room;
    memmove(buf + position, (const void *)(uintptr_t)r4, len);
    return 0;
}
