/* The ring buffer helpers: r1 of output/reserve/query is the map (the
 * loader resolves the map reference to the store's lbc_map). */
#include <errno.h>

#include "lbc_maps.h"
#include "lbc_runtime.h"

#define HELPER(name) \
    uint64_t lbc_helper_##name(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, \
                               uint64_t r3, uint64_t r4, uint64_t r5)
#define UNUSED_ARGS() do { (void)ex; (void)data; (void)r1; (void)r2; (void)r3; (void)r4; \
        (void)r5; } while (0)

HELPER(ringbuf_output)
{
    UNUSED_ARGS();
    return (uint64_t)(int64_t)lbc_ringbuf_output((lbc_map *)(uintptr_t)r1,
                                                 (const void *)(uintptr_t)r2, r3, r4);
}

HELPER(ringbuf_reserve)
{
    UNUSED_ARGS();
    return (uint64_t)(uintptr_t)lbc_ringbuf_reserve((lbc_map *)(uintptr_t)r1, r2, r3);
}

HELPER(ringbuf_submit)
{
    UNUSED_ARGS();
    lbc_ringbuf_submit((void *)(uintptr_t)r1, r2);
    return 0;
}

HELPER(ringbuf_discard)
{
    UNUSED_ARGS();
    lbc_ringbuf_discard((void *)(uintptr_t)r1, r2);
    return 0;
}

HELPER(ringbuf_query)
{
    UNUSED_ARGS();
    return lbc_ringbuf_query((lbc_map *)(uintptr_t)r1, r2);
}
