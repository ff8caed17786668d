/* The keyless map helpers (QUEUE, STACK, BLOOM_FILTER): push, pop, peek.
 * r1 is the map (resolved by the loader), values point into the program's
 * memory; results are 0 or a negative errno, as the map store gives them. */
#include "lbc_maps.h"
#include "lbc_runtime.h"

#define HELPER(name) \
    uint64_t lbc_helper_##name(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, \
                               uint64_t r3, uint64_t r4, uint64_t r5)
#define MAP(r) ((lbc_map *)(uintptr_t)(r))
#define PTR(r) ((void *)(uintptr_t)(r))

/* bpf_map_push_elem(map, value, flags): BPF_EXIST overwrites the oldest
 * value of a full queue or stack, else a full map is -E2BIG. */
HELPER(map_push_elem)
{
    (void)ex, (void)data, (void)r4, (void)r5;
    return (uint64_t)(int64_t)lbc_map_push(MAP(r1), PTR(r2), r3);
}

/* bpf_map_pop_elem(map, value): take the next value out (-ENOENT when empty). */
HELPER(map_pop_elem)
{
    (void)ex, (void)data, (void)r3, (void)r4, (void)r5;
    return (uint64_t)(int64_t)lbc_map_pop(MAP(r1), PTR(r2));
}

/* bpf_map_peek_elem(map, value): copy the next value (a bloom filter tests
 * value instead: 0 maybe present, -ENOENT absent). */
HELPER(map_peek_elem)
{
    (void)ex, (void)data, (void)r3, (void)r4, (void)r5;
    return (uint64_t)(int64_t)lbc_map_peek(MAP(r1), PTR(r2));
}
