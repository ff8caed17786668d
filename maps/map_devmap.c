/* Device maps (BPF_MAP_TYPE_DEVMAP, _DEVMAP_HASH): an array or a hash of
 * interface indexes that bpf_redirect_map sends packets to. The value is a
 * __u32 ifindex or a struct bpf_devmap_val (ifindex, then a program fd this
 * store does not run); ifindex 0 is an empty slot. Storage is the array
 * and hash families'; this file holds what is devmap-specific. */
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
