/* eBPF for Windows' PROCESS program type helper bpf_process_get_image_path
 * (program-type-specific ID 0x10000). The process hook places, after the
 * native process context, a trailer with the image path the host gave for
 * a creation (lbc_process_trailer); a context without one (a deletion, a
 * test run) has no image path. */
#include <errno.h>
#include <string.h>

#include "lbc_runtime.h"

#define HELPER(name) \
    uint64_t lbc_helper_##name(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, \
                               uint64_t r3, uint64_t r4, uint64_t r5)
#define ERR(e) ((uint64_t)(int64_t)-(e))

/* bpf_process_get_image_path(ctx, path, path_length): copy the image path
 * into path; returns its length in bytes (0 when the event has none), or
 * -EINVAL when it does not fit, as Windows'. */
HELPER(process_get_image_path)
{
    (void)data, (void)r4, (void)r5;
    if (!r1 || r1 != ex->mem_start ||
        ex->mem_size < LBC_PROCESS_TRAILER_OFFSET + sizeof(lbc_process_trailer))
        return 0;
    const lbc_process_trailer *t =
        (const lbc_process_trailer *)(uintptr_t)(r1 + LBC_PROCESS_TRAILER_OFFSET);
    if (t->magic != LBC_PROCESS_CTX_MAGIC || !t->image_len) return 0;
    if (t->image_len > (uint32_t)r3) return ERR(EINVAL);
    memcpy((void *)(uintptr_t)r2, (const void *)(uintptr_t)t->image, t->image_len);
    return t->image_len;
}
