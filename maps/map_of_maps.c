/* ARRAY_OF_MAPS and HASH_OF_MAPS: maps whose values are maps.
 *
 * The outer map remembers the inner map it was created with (its type,
 * key and value sizes, max_entries and flags: lbc_map_of_maps_set_inner)
 * and accepts only compatible maps as values, as Linux's
 * bpf_map_meta_equal: same type, sizes and flags, and for arrays the same
 * max_entries unless the template has BPF_F_INNER_MAP. A program's lookup
 * returns the inner lbc_map itself (so its r0 can be passed to the map
 * helpers); a user-space lookup gives the inner map's id (u32).
 *
 * ARRAY_OF_MAPS is an fd array (map_prog_array.c). HASH_OF_MAPS is a hash
 * map (map_hash.c) whose stored values are {u64 inner map, u32 id, u32 pad}
 * while the map's value_size, as user space sees it, stays 4; the inner
 * map template sits in the last 64 bytes of its region. */
#include <stdlib.h>

#include "map_internal.h"

#define HOM_VALUE 16u /* the stored value: inner map, id, pad */

typedef struct hom_value {
    uint64_t inner;
    uint32_t id;
    uint32_t pad;
} hom_value;

static lbc_fd_map_ctrl *hom_ctrl(const lbc_map *m)
{
    return (lbc_fd_map_ctrl *)(void *)(m->base + m->r->region_size - 64u);
}

static int hom_check(const lbc_map_attr *a)
{
    if (a->value_size != 4)
        return -EINVAL;
    return lbc_hash_ops.check(a);
}

static int hom_size(const lbc_map_attr *a, uint32_t ncpus, uint64_t *size)
{
    lbc_map_attr h = *a;
    h.value_size = HOM_VALUE;
    int err = lbc_hash_ops.size(&h, ncpus, size);
    if (!err)
        *size = ((*size + 63u) & ~(uint64_t)63u) + 64u;
    return err;
}

static void hom_init(lbc_map *m)
{
    /* the hash map's layout is for 16-byte values; the header keeps 4 */
    m->value_size = HOM_VALUE;
    m->value_stride = HOM_VALUE;
    lbc_hash_ops.init(m);
}

static void *hom_lookup(lbc_map *m, const void *key)
{
    hom_value *v = lbc_hash_ops.lookup(m, key);
    return v ? (void *)(uintptr_t)lbc_aload_u64(&v->inner) : NULL;
}

static int hom_update(lbc_map *m, const void *key, const void *value, uint64_t flags,
                      int all_slots)
{
    (void)m, (void)key, (void)value, (void)flags;
    return all_slots ? -EINVAL : -EOPNOTSUPP; /* see lbc_map_of_maps_update */
}

static int hom_lookup_copy(lbc_map *m, const void *key, void *value, uint64_t flags)
{
    hom_value v;
    int err = lbc_hash_ops.lookup_copy(m, key, &v, flags);
    if (!err)
        memcpy(value, &v.id, 4);
    return err;
}

static int hom_delete(lbc_map *m, const void *key) { return lbc_hash_ops.delete_elem(m, key); }

static int hom_get_next_key(lbc_map *m, const void *key, void *next)
{
    return lbc_hash_ops.get_next_key(m, key, next);
}

/* Linux's hash batch, with the ids as values. */
static int hom_lookup_batch(lbc_map *m, const void *in_token, void *out_token, void *keys,
                            void *values, uint32_t *count, uint64_t elem_flags, int del)
{
    hom_value *tmp = malloc(((size_t)*count + 1u) * sizeof *tmp);
    if (!tmp)
        return -ENOMEM;
    int err = lbc_hash_ops.lookup_batch(m, in_token, out_token, keys, tmp, count, elem_flags,
                                        del);
    for (uint32_t i = 0; i < *count; i++)
        memcpy((unsigned char *)values + (size_t)i * 4u, &tmp[i].id, 4);
    free(tmp);
    return err;
}

const lbc_map_ops lbc_hash_of_maps_ops = {
    .check = hom_check,
    .size = hom_size,
    .init = hom_init,
    .lookup = hom_lookup,
    .update = hom_update,
    .delete_elem = hom_delete,
    .get_next_key = hom_get_next_key,
    .lookup_copy = hom_lookup_copy,
    .lookup_and_delete = NULL,
    .lookup_batch = hom_lookup_batch,
    .batch_token_size = 4,
};

/* ---- the host's side ---- */

static lbc_fd_map_ctrl *template_of(const lbc_map *m)
{
    if (m->map_type == LBC_MAP_ARRAY_OF_MAPS)
        return lbc_fd_array_ctrl(m);
    if (m->map_type == LBC_MAP_HASH_OF_MAPS)
        return hom_ctrl(m);
    return NULL;
}

static int is_map_of_maps(uint32_t t)
{
    return t == LBC_MAP_ARRAY_OF_MAPS || t == LBC_MAP_HASH_OF_MAPS;
}

int lbc_map_of_maps_set_inner(lbc_map *outer, const lbc_map *inner)
{
    lbc_fd_map_ctrl *c = template_of(outer);
    if (!c || !inner || is_map_of_maps(inner->map_type))
        return -EINVAL;
    c->inner_type = inner->map_type;
    c->inner_key_size = inner->key_size;
    c->inner_value_size = inner->r->value_size;
    c->inner_max_entries = inner->max_entries;
    c->inner_flags = inner->map_flags;
    c->has_inner = 1;
    return 0;
}

static int compatible(const lbc_fd_map_ctrl *c, const lbc_map *inner)
{
    if (!c->has_inner || inner->map_type != c->inner_type ||
        inner->key_size != c->inner_key_size || inner->r->value_size != c->inner_value_size ||
        inner->map_flags != c->inner_flags)
        return 0;
    if ((inner->map_type == LBC_MAP_ARRAY || inner->map_type == LBC_MAP_PERCPU_ARRAY) &&
        !(c->inner_flags & LBC_F_INNER_MAP))
        return inner->max_entries == c->inner_max_entries;
    return 1;
}

int lbc_fd_map_update_check(lbc_map *m, const void *key, uint64_t flags)
{
    if ((m->map_flags & LBC_F_RDONLY) || lbc_aload_u32(&m->r->frozen))
        return -EPERM;
    if (m->map_type == LBC_MAP_PROG_ARRAY || m->map_type == LBC_MAP_ARRAY_OF_MAPS ||
        m->map_type == LBC_MAP_PERF_EVENT_ARRAY) {
        uint32_t idx;
        memcpy(&idx, key, 4);
        if (flags != LBC_ANY)
            return -EINVAL;
        if (idx >= m->max_entries)
            return -E2BIG;
        return 0;
    }
    if (m->map_type != LBC_MAP_HASH_OF_MAPS || (flags & LBC_F_LOCK))
        return -EINVAL; /* BPF_F_LOCK needs a spin lock in the value */
    return 0;
}

int lbc_map_of_maps_update(lbc_map *outer, const void *key, lbc_map *inner, uint32_t id,
                           uint64_t flags)
{
    lbc_fd_map_ctrl *c = template_of(outer);
    if (!c || !inner || !compatible(c, inner))
        return -EINVAL;
    if (outer->map_type == LBC_MAP_ARRAY_OF_MAPS) {
        uint32_t idx;
        memcpy(&idx, key, 4);
        return lbc_fd_array_store(outer, idx, (uint64_t)(uintptr_t)inner, id);
    }
    hom_value v = {(uint64_t)(uintptr_t)inner, id, 0};
    return lbc_hash_ops.update(outer, key, &v, flags, 1);
}
