/* The map helpers: r1 is the map (the loader resolves a program's map
 * reference to the store's lbc_map), keys and values point into the
 * program's memory. */
#include <errno.h>

#include "lbc_maps.h"
#include "lbc_runtime.h"

#define HELPER(name) \
    uint64_t lbc_helper_##name(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, \
                               uint64_t r3, uint64_t r4, uint64_t r5)
#define UNUSED_ARGS() do { (void)ex; (void)data; (void)r1; (void)r2; (void)r3; (void)r4; \
        (void)r5; } while (0)
#define MAP(r) ((lbc_map *)(uintptr_t)(r))
#define PTR(r) ((void *)(uintptr_t)(r))

/* bpf_map_lookup_elem(map, key): the value in the map, or NULL. */
HELPER(map_lookup_elem)
{
    UNUSED_ARGS();
    return (uint64_t)(uintptr_t)lbc_map_lookup(MAP(r1), PTR(r2));
}

/* bpf_map_update_elem(map, key, value, flags): 0 or a negative errno. */
HELPER(map_update_elem)
{
    UNUSED_ARGS();
    return (uint64_t)(int64_t)lbc_map_update(MAP(r1), PTR(r2), PTR(r3), r4);
}

/* bpf_map_delete_elem(map, key): 0 or a negative errno. */
HELPER(map_delete_elem)
{
    UNUSED_ARGS();
    return (uint64_t)(int64_t)lbc_map_delete(MAP(r1), PTR(r2));
}

lbc_helper_fn lbc_map_helper(int which)
{
    switch (which) {
    case 0: return lbc_helper_map_lookup_elem;
    case 1: return lbc_helper_map_update_elem;
    case 2: return lbc_helper_map_delete_elem;
    default: return NULL;
    }
}

/* eBPF for Windows' bpf_map_lookup_and_delete_elem(map, key): the value,
 * deleted from the map, or NULL when the key is absent or the map cannot
 * delete it (arrays: Windows refuses those as well). The pointer is the
 * element's own memory, which the store never unmaps: it stays readable
 * for the rest of the run, until the map reuses the element, as Windows'
 * epoch keeps a deleted value for the program that took it. */
HELPER(map_lookup_and_delete_elem)
{
    UNUSED_ARGS();
    void *value = lbc_map_lookup(MAP(r1), PTR(r2));
    if (!value || lbc_map_delete(MAP(r1), PTR(r2))) return 0;
    return (uint64_t)(uintptr_t)value;
}
