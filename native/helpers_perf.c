/* bpf_perf_event_output(ctx, map, flags, data, size): one sample into the
 * perf buffer of the map's slot (flags: an index or BPF_F_CURRENT_CPU);
 * 0 or a negative errno (see lbc_perf_event_output). */
#include "lbc_maps.h"
#include "lbc_runtime.h"

uint64_t lbc_helper_perf_event_output(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2,
                                      uint64_t r3, uint64_t r4, uint64_t r5)
{
    (void)ex, (void)data, (void)r1;
    return (uint64_t)(int64_t)lbc_perf_event_output((lbc_map *)(uintptr_t)r2, r3,
                                                    (const void *)(uintptr_t)r4, r5);
}
