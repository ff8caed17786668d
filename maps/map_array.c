/* ARRAY and PERCPU_ARRAY: max_entries values (per-CPU: one per slot), each
 * rounded up to 8 bytes, right after the region header. Every element always
 * exists: elements cannot be deleted and are zero until written. */
#include "map_internal.h"

#define ARRAY_FLAGS (LBC_F_NUMA_NODE | LBC_F_MMAPABLE | LBC_F_ACCESS_MASK | \
                     LBC_F_PRESERVE_ELEMS | LBC_F_INNER_MAP)

static uint64_t values_off(void) { return lbc_array_values_off(); }

static int array_check(const lbc_map_attr *a)
{
    if (a->max_entries == 0 || a->key_size != 4 || a->value_size == 0 ||
        (a->map_flags & ~ARRAY_FLAGS))
        return -EINVAL;
    if (a->map_type != LBC_MAP_ARRAY && (a->map_flags & (LBC_F_MMAPABLE | LBC_F_INNER_MAP)))
        return -EINVAL;
    if (a->map_flags & LBC_F_PRESERVE_ELEMS) /* perf event arrays only */
        return -EINVAL;
    if (a->value_size > 0x7fffffffu)
        return -E2BIG;
    if (a->map_type == LBC_MAP_PERCPU_ARRAY && lbc_round8(a->value_size) > LBC_PERCPU_MAX_VALUE)
        return -E2BIG;
    return 0;
}

static int array_size(const lbc_map_attr *a, uint32_t ncpus, uint64_t *size)
{
    uint64_t stride = ((uint64_t)a->value_size + 7u) & ~(uint64_t)7u;
    uint64_t per_elem = stride * ncpus;              /* < 2^31 * 2^12 */
    if (a->max_entries > (UINT64_MAX - values_off()) / per_elem)
        return -ENOMEM;
    *size = values_off() + per_elem * a->max_entries;
    return 0;
}

static void array_init(lbc_map *m) { (void)m; }

static inline unsigned char *elem(const lbc_map *m, uint32_t idx)
{
    return m->base + values_off() + (uint64_t)idx * m->value_stride * m->ncpus;
}


static void *array_lookup(lbc_map *m, const void *key)
{
    uint32_t idx = lbc_array_index(key);
    if (LBC_UNLIKELY(idx >= m->max_entries))
        return NULL;
    unsigned char *v = elem(m, idx);
    return m->percpu ? v + (uint64_t)lbc_cpu_slot() * m->value_stride : v;
}

static int array_update(lbc_map *m, const void *key, const void *value, uint64_t flags,
                        int all_slots)
{
    if ((flags & ~(uint64_t)LBC_F_LOCK) > LBC_EXIST)
        return -EINVAL;
    uint32_t idx = lbc_array_index(key);
    if (idx >= m->max_entries)
        return -E2BIG;
    if (flags & LBC_NOEXIST)
        return -EEXIST;
    unsigned char *v = elem(m, idx);
    if (m->percpu) {
        if (flags & LBC_F_LOCK)
            return -EINVAL;
        if (all_slots)
            lbc_percpu_from_user(m, v, value);
        else
            memcpy(v + (uint64_t)lbc_cpu_slot() * m->value_stride, value, m->value_size);
    } else if (flags & LBC_F_LOCK) {
        lbc_copy_value_locked(m, v, value, v);
    } else {
        lbc_copy_value(m, v, value);
    }
    return 0;
}

static int array_delete(lbc_map *m, const void *key)
{
    (void)m;
    (void)key;
    return -EINVAL;
}

int lbc_array_get_next_key(lbc_map *m, const void *key, void *next)
{
    uint32_t n = 0;
    if (key) {
        uint32_t idx = lbc_array_index(key);
        if (idx < m->max_entries) {
            if (idx == m->max_entries - 1)
                return -ENOENT;
            n = idx + 1;
        }
    }
    memcpy(next, &n, 4);
    return 0;
}

static int array_lookup_copy(lbc_map *m, const void *key, void *value, uint64_t flags)
{
    uint32_t idx = lbc_array_index(key);
    if (idx >= m->max_entries)
        return -ENOENT;
    unsigned char *v = elem(m, idx);
    if (m->percpu)
        lbc_percpu_to_user(m, value, v);
    else if (flags & LBC_F_LOCK)
        lbc_copy_value_locked(m, value, v, v);
    else
        lbc_copy_value(m, value, v);
    lbc_clear_lock_field(m, value);
    return 0;
}

/* Linux's mmap of a BPF_F_MMAPABLE array: the value area, max_entries values
 * each rounded up to 8 bytes. -EINVAL for any other map; for a writable
 * mapping -EPERM when the map is frozen and -EACCES when programs may only
 * read it (BPF_F_RDONLY_PROG), as bpf_map_mmap. */
int lbc_map_mmap_area(lbc_map *m, int writable, void **out, uint64_t *size)
{
    *out = NULL;
    *size = 0;
    if (m->map_type != LBC_MAP_ARRAY || !(m->map_flags & LBC_F_MMAPABLE))
        return -EINVAL;
    if (writable && lbc_aload_u32(&m->r->frozen))
        return -EPERM;
    if (writable && (m->map_flags & LBC_F_RDONLY_PROG))
        return -EACCES;
    *out = elem(m, 0);
    *size = (uint64_t)m->value_stride * m->max_entries;
    return 0;
}

const lbc_map_ops lbc_array_ops = {
    .check = array_check,
    .size = array_size,
    .init = array_init,
    .lookup = array_lookup,
    .update = array_update,
    .delete_elem = array_delete,
    .get_next_key = lbc_array_get_next_key,
    .lookup_copy = array_lookup_copy,
    .lookup_and_delete = NULL,
    .lookup_batch = NULL, /* the generic batch, driven by get_next_key */
    .batch_token_size = 0,
};
