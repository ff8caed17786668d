/* bpf_for_each_map_elem: call a program function for each element of a
 * hash or array map (per-CPU and LRU kinds included), through
 * lbc_exec_callback as bpf_loop does.
 *
 * The callback gets (map, key, value, callback_ctx): value points into the
 * map (the calling CPU slot's value for per-CPU maps); the key is a copy in
 * the run's helper scratch (lbc_exec.helper_scratch), which the program may
 * read but not write. A walk started from a callback reuses that copy, so
 * the outer callback must read its key before it starts one. Hash maps are
 * walked with get_next_key from the current key: a callback that deletes
 * its element makes the walk go on from the map's first key (as
 * get_next_key does for a missing key); a walk makes at most max_entries
 * calls. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "lbc_maps.h"
#include "lbc_runtime.h"

#define HELPER(name) \
    uint64_t lbc_helper_##name(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, \
                               uint64_t r3, uint64_t r4, uint64_t r5)
#define ERR(e) ((uint64_t)(int64_t)-(e))
#define IS_ARRAY (1ull << 63)

enum { MAP_HASH = 1, MAP_ARRAY = 2, MAP_PERCPU_HASH = 5, MAP_PERCPU_ARRAY = 6,
       MAP_LRU_HASH = 9, MAP_LRU_PERCPU_HASH = 10 };

/* state: [0] the map, [1] callback_ctx, [2] the key's place on the stack,
 * [3] max_entries | key_size << 32 | IS_ARRAY */
static int foreach_step(uint64_t *state, uint64_t index, uint64_t *args)
{
    lbc_map *m = (lbc_map *)(uintptr_t)state[0];
    uint8_t *key = (uint8_t *)(uintptr_t)state[2];
    const uint32_t max_entries = (uint32_t)state[3];
    const uint32_t key_size = (uint32_t)(state[3] >> 32) & 0x7fffffffu;
    void *value = NULL;
    if (index >= max_entries) return 0;
    if (state[3] & IS_ARRAY) {
        const uint32_t i = (uint32_t)index;
        memcpy(key, &i, sizeof i);
        value = lbc_map_lookup(m, key);
    } else {
        uint8_t next[LBC_HELPER_SCRATCH];
        /* the element after the current key; one deleted meanwhile is skipped */
        for (uint32_t tries = 0; !value && tries < max_entries; tries++) {
            if (lbc_map_get_next_key(m, index || tries ? key : NULL, next)) return 0;
            memcpy(key, next, key_size);
            value = lbc_map_lookup(m, key);
        }
    }
    if (!value) return 0;
    args[0] = state[0];
    args[1] = state[2];
    args[2] = (uint64_t)(uintptr_t)value;
    args[3] = state[1];
    return 1;
}

/* bpf_for_each_map_elem(map, callback_fn, callback_ctx, flags): the number
 * of elements the callback was called for (it stops the walk by returning
 * 1); -EINVAL for non-zero flags, -EOPNOTSUPP for other map types (Linux's
 * verifier refuses those programs). */
HELPER(for_each_map_elem)
{
    (void)data, (void)r5;
    lbc_map *m = (lbc_map *)(uintptr_t)r1;
    lbc_map_attr attr;
    if (r4) return ERR(EINVAL);
    if (!m || lbc_map_get_attr(m, &attr)) return ERR(EINVAL);
    const int array = attr.map_type == MAP_ARRAY || attr.map_type == MAP_PERCPU_ARRAY;
    const int hash = attr.map_type == MAP_HASH || attr.map_type == MAP_PERCPU_HASH
                     || attr.map_type == MAP_LRU_HASH || attr.map_type == MAP_LRU_PERCPU_HASH;
    if (!array && !hash) return ERR(EOPNOTSUPP);
    if (attr.key_size > LBC_HELPER_SCRATCH) return ERR(E2BIG);
    ex->helper_scratch_len = attr.key_size;
    const uint64_t state[4] = {r1, r3, (uint64_t)(uintptr_t)ex->helper_scratch,
                               attr.max_entries | (uint64_t)attr.key_size << 32
                               | (array ? IS_ARRAY : 0)};
    return (uint64_t)(int64_t)lbc_exec_callback(ex, r2, foreach_step, state);
}
