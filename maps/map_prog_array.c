/* PROG_ARRAY, ARRAY_OF_MAPS and PERF_EVENT_ARRAY: Linux's "fd arrays",
 * arrays whose values
 * are references. User space writes a file descriptor (u32); only the host
 * can resolve it, so the host checks the update (lbc_fd_map_update_check),
 * resolves the fd and stores the reference with its id: for a PROG_ARRAY
 * an opaque 64-bit program handle (lbc_prog_array_set; the tail-call
 * helper reads it with lbc_prog_array_get), for an ARRAY_OF_MAPS the inner
 * lbc_map (lbc_map_of_maps_update, map_of_maps.c). User-space lookups give
 * the id (the program's or the inner map's), as Linux; a program's lookup
 * in an ARRAY_OF_MAPS gives the inner map itself, in a PROG_ARRAY NULL.
 * A PERF_EVENT_ARRAY holds perf buffers (map_perf.c): user-space lookups
 * are -ENOTSUPP there, as Linux.
 *
 * Layout after the region header: a control block (the slots' lock and,
 * for maps of maps, the inner map template), then max_entries slots of
 * {u64 reference, u32 id}. A handle is process-local (a pointer in the
 * host), so a pinned fd array is only meaningful to the process that
 * filled it. */
#include "map_internal.h"

#define FD_ARRAY_FLAGS (LBC_F_NUMA_NODE | LBC_F_RDONLY | LBC_F_WRONLY)

typedef struct fd_slot {
    uint64_t ref; /* 0: empty */
    uint32_t id;
    uint32_t pad;
} fd_slot;

static uint64_t ctrl_off(void) { return (sizeof(lbc_region_hdr) + 63u) & ~(uint64_t)63u; }
static uint64_t slots_off(void) { return ctrl_off() + 64u; }

static inline lbc_fd_map_ctrl *ctrl(const lbc_map *m)
{
    return (lbc_fd_map_ctrl *)(void *)(m->base + ctrl_off());
}
static inline fd_slot *slot_at(const lbc_map *m, uint32_t idx)
{
    return (fd_slot *)(void *)(m->base + slots_off()) + idx;
}

lbc_fd_map_ctrl *lbc_fd_array_ctrl(const lbc_map *m) { return ctrl(m); }

static int fd_array_check(const lbc_map_attr *a)
{
    uint32_t allowed = FD_ARRAY_FLAGS;
    if (a->map_type == LBC_MAP_PERF_EVENT_ARRAY)
        allowed |= LBC_F_PRESERVE_ELEMS;
    if (a->value_size != 4 || a->key_size != 4 || a->max_entries == 0 ||
        (a->map_flags & ~allowed))
        return -EINVAL;
    return 0;
}

static int fd_array_size(const lbc_map_attr *a, uint32_t ncpus, uint64_t *size)
{
    (void)ncpus;
    *size = slots_off() + (uint64_t)a->max_entries * sizeof(fd_slot);
    return 0;
}

static void fd_array_init(lbc_map *m) { (void)m; }


static void *fd_array_lookup(lbc_map *m, const void *key)
{
    uint32_t idx = lbc_array_index(key);
    if (m->map_type != LBC_MAP_ARRAY_OF_MAPS || idx >= m->max_entries)
        return NULL;
    return (void *)(uintptr_t)lbc_aload_u64(&slot_at(m, idx)->ref);
}

static int fd_array_update(lbc_map *m, const void *key, const void *value, uint64_t flags,
                           int all_slots)
{
    (void)m, (void)key, (void)value, (void)flags;
    /* programs may not write references; user space goes through the host */
    return all_slots ? -EINVAL : -EOPNOTSUPP;
}

/* Store ref/id in slot idx (ref 0 empties it); returns whether it was set. */
static int exchange(lbc_map *m, uint32_t idx, uint64_t ref, uint32_t id)
{
    fd_slot *s = slot_at(m, idx);
    lbc_spin_lock(&ctrl(m)->lock);
    int was = s->ref != 0;
    lbc_astore_u64(&s->ref, ref);
    s->id = id;
    lbc_spin_unlock(&ctrl(m)->lock);
    return was;
}

static int fd_array_delete(lbc_map *m, const void *key)
{
    uint32_t idx = lbc_array_index(key);
    if (idx >= m->max_entries)
        return -E2BIG;
    return exchange(m, idx, 0, 0) ? 0 : -ENOENT;
}

static int fd_array_lookup_copy(lbc_map *m, const void *key, void *value, uint64_t flags)
{
    (void)flags;
    uint32_t idx = lbc_array_index(key);
    if (m->map_type == LBC_MAP_PERF_EVENT_ARRAY)
        return -ENOTSUPP;
    if (idx >= m->max_entries)
        return -ENOENT;
    fd_slot *s = slot_at(m, idx);
    lbc_spin_lock(&ctrl(m)->lock);
    uint32_t id = s->id;
    int present = s->ref != 0;
    lbc_spin_unlock(&ctrl(m)->lock);
    if (!present)
        return -ENOENT;
    memcpy(value, &id, 4);
    return 0;
}

/* PROG_ARRAY has no batch operations; ARRAY_OF_MAPS has Linux's generic
 * lookup batch, which skips empty slots and whose token is the last index
 * visited (an empty one included). */
static int fd_array_lookup_batch(lbc_map *m, const void *in_token, void *out_token, void *keys,
                                 void *values, uint32_t *count, uint64_t elem_flags, int del)
{
    if (m->map_type != LBC_MAP_ARRAY_OF_MAPS || del)
        return -ENOTSUPP;
    uint32_t max = *count, cp = 0, prev = 0, cur;
    int have_prev = in_token != NULL, err = 0;
    if (have_prev)
        memcpy(&prev, in_token, 4);
    while (cp < max) {
        err = lbc_array_get_next_key(m, have_prev ? &prev : NULL, &cur);
        if (err)
            break;
        err = fd_array_lookup_copy(m, &cur, (unsigned char *)values + (size_t)cp * 4u,
                                   elem_flags);
        if (!err)
            memcpy((unsigned char *)keys + (size_t)cp++ * 4u, &cur, 4);
        else if (err != -ENOENT)
            break;
        prev = cur;
        have_prev = 1;
    }
    *count = cp;
    if (cp)
        memcpy(out_token, &prev, 4);
    return err;
}

const lbc_map_ops lbc_fd_array_ops = {
    .check = fd_array_check,
    .size = fd_array_size,
    .init = fd_array_init,
    .lookup = fd_array_lookup,
    .update = fd_array_update,
    .delete_elem = fd_array_delete,
    .get_next_key = lbc_array_get_next_key,
    .lookup_copy = fd_array_lookup_copy,
    .lookup_and_delete = NULL,
    .lookup_batch = fd_array_lookup_batch,
    .batch_token_size = 0,
};

/* ---- the host's side ---- */

static int is_fd_array(const lbc_map *m)
{
    return m->map_type == LBC_MAP_PROG_ARRAY || m->map_type == LBC_MAP_ARRAY_OF_MAPS ||
           m->map_type == LBC_MAP_PERF_EVENT_ARRAY;
}

uint64_t lbc_fd_array_ref(const lbc_map *m, uint32_t index)
{
    if (index >= m->max_entries)
        return 0;
    return lbc_aload_u64(&slot_at(m, index)->ref);
}

int lbc_fd_array_store(lbc_map *m, uint32_t index, uint64_t ref, uint32_t id)
{
    if (!is_fd_array(m))
        return -EINVAL;
    if (index >= m->max_entries)
        return -E2BIG;
    exchange(m, index, ref, id);
    return 0;
}

int lbc_prog_array_set(lbc_map *m, uint32_t index, uint64_t handle, uint32_t id)
{
    if (m->map_type != LBC_MAP_PROG_ARRAY)
        return -EINVAL;
    return lbc_fd_array_store(m, index, handle, id);
}

uint64_t lbc_prog_array_get(lbc_map *m, uint32_t index)
{
    if (m->map_type != LBC_MAP_PROG_ARRAY || index >= m->max_entries)
        return 0;
    return lbc_aload_u64(&slot_at(m, index)->ref);
}
