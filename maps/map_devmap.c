/* Device maps (BPF_MAP_TYPE_DEVMAP, _DEVMAP_HASH): an array or a hash of
 * interface indexes that bpf_redirect_map sends packets to. The value is a
 * __u32 ifindex or a struct bpf_devmap_val (ifindex, then a program fd this
 * store does not run); ifindex 0 is an empty slot. Storage is the array
 * and hash families'; this file holds what is devmap-specific: DEVMAP's
 * operations, the array's except that an empty slot is not there (lookups
 * give NULL / -ENOENT, as Linux's, whose slots hold no device) and that
 * delete empties a slot. */
#include <string.h>

#include "map_internal.h"

int lbc_devmap_check(const lbc_map_attr *a)
{
    if (a->key_size != 4 || (a->value_size != 4 && a->value_size != 8))
        return -EINVAL;
    if (a->map_flags & ~(LBC_F_NUMA_NODE | LBC_F_RDONLY | LBC_F_WRONLY))
        return -EINVAL;
    return 0;
}

int lbc_devmap_target(lbc_map *m, uint32_t key, uint32_t *ifindex)
{
    if (m->map_type != LBC_MAP_DEVMAP && m->map_type != LBC_MAP_DEVMAP_HASH)
        return -EINVAL;
    const void *v = lbc_map_lookup(m, &key);
    uint32_t target = 0;
    if (v)
        memcpy(&target, v, sizeof target);
    if (!target)
        return -ENOENT;
    *ifindex = target;
    return 0;
}

/* ---- DEVMAP: the array's storage, Linux's element semantics ---- */

static uint32_t slot_ifindex(const void *v)
{
    return lbc_aload_u32((const uint32_t *)v);
}

static int devmap_check(const lbc_map_attr *a) { return lbc_array_ops.check(a); }

static int devmap_size(const lbc_map_attr *a, uint32_t ncpus, uint64_t *size)
{
    return lbc_array_ops.size(a, ncpus, size);
}

static void devmap_init(lbc_map *m) { lbc_array_ops.init(m); }

static void *devmap_lookup(lbc_map *m, const void *key)
{
    void *v = lbc_array_ops.lookup(m, key);
    return v && slot_ifindex(v) ? v : NULL;
}

static int devmap_update(lbc_map *m, const void *key, const void *value, uint64_t flags,
                         int all_slots)
{
    return lbc_array_ops.update(m, key, value, flags, all_slots);
}

/* Empty the slot (Linux: -EINVAL past max_entries, else 0, empty or not). */
static int devmap_delete(lbc_map *m, const void *key)
{
    void *v = lbc_array_ops.lookup(m, key);
    if (!v)
        return -EINVAL;
    lbc_astore_u32((uint32_t *)v, 0);
    if (m->value_size > sizeof(uint32_t))
        lbc_astore_u32((uint32_t *)v + 1, 0);
    return 0;
}

static int devmap_lookup_copy(lbc_map *m, const void *key, void *value, uint64_t flags)
{
    if (!devmap_lookup(m, key))
        return -ENOENT;
    int err = lbc_array_ops.lookup_copy(m, key, value, flags);
    if (!err && !slot_ifindex(value)) /* emptied meanwhile */
        return -ENOENT;
    return err;
}

const lbc_map_ops lbc_devmap_ops = {
    .check = devmap_check,
    .size = devmap_size,
    .init = devmap_init,
    .lookup = devmap_lookup,
    .update = devmap_update,
    .delete_elem = devmap_delete,
    .get_next_key = lbc_array_get_next_key,
    .lookup_copy = devmap_lookup_copy,
    .lookup_and_delete = NULL,
    .lookup_batch = NULL,
    .batch_token_size = 0,
};
