/* Program-side map lookups the VM makes without the generic helper call
 * (vm_loop.inc's MAP_LOOKUP): ARRAY and PERCPU_ARRAY inline, as Linux's
 * JIT inlines them (map_gen_lookup), every other map through its family's
 * lookup directly. The result is exactly lbc_map_lookup's. Not part of the
 * store's public API: only the VM includes it. */
#ifndef LBC_MAP_FAST_H
#define LBC_MAP_FAST_H

#include "map_internal.h"

/* *slot caches the caller's CPU slot (-1: not read yet), which a run keeps
 * from start to end. */
static inline void *lbc_map_lookup_fast(lbc_map *m, const void *key, int *slot)
{
    const uint32_t fast = m->fast;
    if (fast != LBC_FAST_OTHER) {
        const uint32_t idx = lbc_array_index(key);
        if (LBC_UNLIKELY(idx >= m->max_entries))
            return NULL;
        unsigned char *v = m->array_values + (uint64_t)idx * m->array_elem_bytes;
        if (fast == LBC_FAST_ARRAY)
            return v;
        if (*slot < 0)
            *slot = lbc_cpu_slot();
        return v + (uint64_t)(uint32_t)*slot * m->value_stride;
    }
    return m->ops->lookup(m, key);
}

/* ARRAY / PERCPU_ARRAY updates without a spin lock inline, with
 * array_update's checks in its order; the rest through the family. */
static inline int lbc_map_update_fast(lbc_map *m, const void *key, const void *value,
                                      uint64_t flags, int *slot)
{
    if (m->fast != LBC_FAST_OTHER && m->spin_lock_off < 0 && flags <= LBC_EXIST) {
        const uint32_t idx = lbc_array_index(key);
        if (idx >= m->max_entries)
            return -E2BIG;
        if (flags == LBC_NOEXIST)
            return -EEXIST;
        unsigned char *v = m->array_values + (uint64_t)idx * m->array_elem_bytes;
        if (m->fast == LBC_FAST_PERCPU_ARRAY) {
            if (*slot < 0)
                *slot = lbc_cpu_slot();
            v += (uint64_t)(uint32_t)*slot * m->value_stride;
        }
        memcpy(v, value, m->value_size);
        return 0;
    }
    return m->ops->update(m, key, value, flags, 0);
}

static inline int lbc_map_delete_fast(lbc_map *m, const void *key)
{
    return m->ops->delete_elem(m, key);
}

#endif
