/* bpf_tail_call(ctx, prog_array, index): continue the run in the program
 * at index of a PROG_ARRAY (r2 is the map, resolved by the loader), with
 * the same r1 and stack frame. As Linux, a failed tail call is not an
 * error of the run: the helper returns and the program goes on, here with
 * a negative errno in r0: -E2BIG for an index past the end (or after 33
 * tail calls in the run), -ENOENT for an empty slot. */
#include <errno.h>

#include "lbc_maps.h"
#include "lbc_runtime.h"

uint64_t lbc_helper_tail_call(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, uint64_t r3,
                              uint64_t r4, uint64_t r5)
{
    (void)data, (void)r1, (void)r4, (void)r5;
    lbc_map *m = (lbc_map *)(uintptr_t)r2;
    uint32_t index = (uint32_t)r3;
    uint64_t handle = lbc_prog_array_get(m, index);
    if (!handle) {
        /* an array's get_next_key restarts at 0 only from an index past the end */
        uint32_t next = 1;
        int past = lbc_map_get_next_key(m, &index, &next) == 0 && next == 0;
        return (uint64_t)(int64_t)(past ? -E2BIG : -ENOENT);
    }
    return (uint64_t)(int64_t)lbc_exec_tail_call(ex, (const struct lbc_prog *)(uintptr_t)handle);
}
