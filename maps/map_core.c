/* The map store's common layer: creation (dispatch by map type), the
 * program-side entry points, and the checks the bpf() syscall applies to
 * user-space calls (access flags, frozen maps, flag validation). */
#include <stdlib.h>

#include "map_internal.h"

static const lbc_map_ops *ops_for(uint32_t map_type)
{
    switch (map_type) {
    case LBC_MAP_HASH:
    case LBC_MAP_PERCPU_HASH:
    case LBC_MAP_LRU_HASH:
    case LBC_MAP_LRU_PERCPU_HASH:
        return &lbc_hash_ops;
    case LBC_MAP_ARRAY:
    case LBC_MAP_PERCPU_ARRAY:
        return &lbc_array_ops;
    case LBC_MAP_DEVMAP:
        return &lbc_devmap_ops;
    case LBC_MAP_DEVMAP_HASH:
        return &lbc_hash_ops;
    case LBC_MAP_QUEUE:
    case LBC_MAP_STACK:
        return &lbc_queue_stack_ops;
    case LBC_MAP_BLOOM_FILTER:
        return &lbc_bloom_ops;
    case LBC_MAP_RINGBUF:
        return &lbc_ringbuf_ops;
    case LBC_MAP_LPM_TRIE:
        return &lbc_lpm_ops;
    case LBC_MAP_PROG_ARRAY:
    case LBC_MAP_ARRAY_OF_MAPS:
    case LBC_MAP_PERF_EVENT_ARRAY:
        return &lbc_fd_array_ops;
    case LBC_MAP_HASH_OF_MAPS:
        return &lbc_hash_of_maps_ops;
    default:
        return NULL;
    }
}

static int is_percpu(uint32_t map_type)
{
    return map_type == LBC_MAP_PERCPU_HASH || map_type == LBC_MAP_PERCPU_ARRAY ||
           map_type == LBC_MAP_LRU_PERCPU_HASH;
}

static int is_hash_family(uint32_t map_type)
{
    return map_type == LBC_MAP_HASH || map_type == LBC_MAP_PERCPU_HASH ||
           map_type == LBC_MAP_LRU_HASH || map_type == LBC_MAP_LRU_PERCPU_HASH;
}

/* Checks bpf(BPF_MAP_CREATE) makes before the map type's own. */
static int check_common(const lbc_map_attr *attr)
{
    uint32_t f = attr->map_flags;
    if ((f & LBC_F_RDONLY) && (f & LBC_F_WRONLY))
        return -EINVAL;
    if ((f & LBC_F_RDONLY_PROG) && (f & LBC_F_WRONLY_PROG))
        return -EINVAL;
    if (attr->map_extra != 0 && attr->map_type != LBC_MAP_BLOOM_FILTER)
        return -EINVAL;
    if ((attr->map_type == LBC_MAP_DEVMAP || attr->map_type == LBC_MAP_DEVMAP_HASH) &&
        lbc_devmap_check(attr))
        return -EINVAL;
    if (attr->spin_lock_off >= 0) {
        uint64_t off = (uint64_t)attr->spin_lock_off;
        if (is_percpu(attr->map_type) || (off & 3u) || off + 4u > attr->value_size)
            return -EINVAL;
    } else if (attr->spin_lock_off != -1) {
        return -EINVAL;
    }
    return 0;
}

void lbc_map_init_handle(lbc_map *m, unsigned char *base, const lbc_map_ops *ops)
{
    lbc_region_hdr *r = (lbc_region_hdr *)(void *)base;
    m->base = base;
    m->r = r;
    m->ops = ops;
    m->map_type = r->map_type;
    m->key_size = r->key_size;
    m->value_size = r->value_size;
    m->max_entries = r->max_entries;
    m->map_flags = r->map_flags;
    m->value_stride = lbc_round8(r->value_size);
    m->ncpus = r->ncpus;
    m->spin_lock_off = r->spin_lock_off;
    m->percpu = is_percpu(r->map_type);
    m->fast = LBC_FAST_OTHER;
    if (r->map_type == LBC_MAP_ARRAY || r->map_type == LBC_MAP_PERCPU_ARRAY) {
        m->fast = m->percpu ? LBC_FAST_PERCPU_ARRAY : LBC_FAST_ARRAY;
        m->array_values = base + lbc_array_values_off();
        m->array_elem_bytes = (uint64_t)m->value_stride * m->ncpus;
    }
}

int lbc_map_create(const lbc_map_attr *attr, lbc_map **out)
{
    if (!attr || !out)
        return -EINVAL;
    *out = NULL;
    const lbc_map_ops *ops = ops_for(attr->map_type);
    if (!ops)
        return -EINVAL;
    int err = check_common(attr);
    if (!err)
        err = ops->check(attr);
    if (err)
        return err;
    uint32_t ncpus = is_percpu(attr->map_type) ? (uint32_t)lbc_num_possible_cpus() : 1u;
    lbc_map_attr a = *attr;
    if (a.map_flags & LBC_F_NO_COMMON_LRU) {
        /* one LRU list per slot, each as long: Linux rounds max_entries to
         * a multiple of the CPU count (down when up would overflow) */
        uint32_t c = (uint32_t)lbc_num_possible_cpus();
        uint64_t up = ((uint64_t)a.max_entries + c - 1u) / c * c;
        a.max_entries = up <= UINT32_MAX ? (uint32_t)up : a.max_entries / c * c;
        if (a.max_entries > (1u << 27))
            return -E2BIG;
    }
    attr = &a;
    uint64_t size = 0;
    err = ops->size(attr, ncpus, &size);
    if (err)
        return err;
    lbc_map *m = calloc(1, sizeof *m);
    if (!m)
        return -ENOMEM;
    void *base = NULL;
    err = lbc_region_alloc(size, &base);
    if (err) {
        free(m);
        return err;
    }
    lbc_region_hdr *r = base;
    r->magic = LBC_MAP_MAGIC;
    r->version = LBC_MAP_VERSION;
    r->map_type = attr->map_type;
    r->key_size = attr->key_size;
    r->value_size = attr->value_size;
    r->max_entries = attr->max_entries;
    r->map_flags = attr->map_flags;
    r->spin_lock_off = attr->spin_lock_off;
    r->ncpus = ncpus;
    r->map_extra = attr->map_extra;
    r->region_size = size;
    lbc_map_init_handle(m, base, ops);
    ops->init(m);
    *out = m;
    return 0;
}

void lbc_map_free(lbc_map *m)
{
    if (!m)
        return;
    if (m->region_file) /* pinned or opened from a pin (map_pin.c) */
        lbc_region_file_unmap(m->base, m->region_file_size, m->region_file);
    else
        lbc_region_free(m->base, m->r->region_size);
    free(m);
}

const lbc_map_ops *lbc_map_ops_for(uint32_t map_type) { return ops_for(map_type); }

int lbc_map_type_is_percpu(uint32_t map_type) { return is_percpu(map_type); }

void *lbc_map_region(const lbc_map *m, uint64_t *size)
{
    if (size)
        *size = m->r->region_size;
    return m->base;
}

/* ---- program side ---- */

void *lbc_map_lookup(lbc_map *m, const void *key) { return m->ops->lookup(m, key); }

int lbc_map_update(lbc_map *m, const void *key, const void *value, uint64_t flags)
{
    return m->ops->update(m, key, value, flags, 0);
}

int lbc_map_delete(lbc_map *m, const void *key) { return m->ops->delete_elem(m, key); }

int lbc_map_get_next_key(lbc_map *m, const void *key, void *next)
{
    return m->ops->get_next_key(m, key, next);
}

int lbc_map_push(lbc_map *m, const void *value, uint64_t flags)
{
    return m->key_size == 0 ? m->ops->update(m, NULL, value, flags, 0) : -EINVAL;
}

int lbc_map_pop(lbc_map *m, void *value)
{
    if (m->key_size != 0)
        return -EINVAL;
    return m->ops->lookup_and_delete ? m->ops->lookup_and_delete(m, NULL, value, 0)
                                     : -EOPNOTSUPP;
}

int lbc_map_peek(lbc_map *m, void *value)
{
    return m->key_size == 0 ? m->ops->lookup_copy(m, NULL, value, 0) : -EINVAL;
}

/* ---- user side: the syscall's checks, then the family ---- */

static int can_read(const lbc_map *m) { return !(m->map_flags & LBC_F_WRONLY); }

static int can_write(const lbc_map *m)
{
    return !(m->map_flags & LBC_F_RDONLY) && !lbc_aload_u32(&m->r->frozen);
}

static int check_lock_flag(const lbc_map *m, uint64_t flags)
{
    return (flags & LBC_F_LOCK) && m->spin_lock_off < 0 ? -EINVAL : 0;
}

uint32_t lbc_map_user_value_size(const lbc_map *m)
{
    return m->percpu ? m->value_stride * m->ncpus : m->value_size;
}

int lbc_map_lookup_copy(lbc_map *m, const void *key, void *value, uint64_t flags)
{
    if (!can_read(m))
        return -EPERM;
    if (flags & ~(uint64_t)LBC_F_LOCK)
        return -EINVAL;
    int err = check_lock_flag(m, flags);
    return err ? err : m->ops->lookup_copy(m, key, value, flags);
}

int lbc_map_update_user(lbc_map *m, const void *key, const void *value, uint64_t flags)
{
    if (!can_write(m))
        return -EPERM;
    int err = check_lock_flag(m, flags);
    return err ? err : m->ops->update(m, key, value, flags, 1);
}

int lbc_map_delete_user(lbc_map *m, const void *key)
{
    if (!can_write(m))
        return -EPERM;
    return m->ops->delete_elem(m, key);
}

int lbc_map_get_next_key_user(lbc_map *m, const void *key, void *next)
{
    if (!can_read(m))
        return -EPERM;
    return m->ops->get_next_key(m, key, next);
}

int lbc_map_lookup_and_delete(lbc_map *m, const void *key, void *value, uint64_t flags)
{
    if (!can_read(m) || !can_write(m))
        return -EPERM;
    if (flags & ~(uint64_t)LBC_F_LOCK)
        return -EINVAL;
    int err = check_lock_flag(m, flags);
    if (err)
        return err;
    if (!m->ops->lookup_and_delete)
        return -ENOTSUPP;
    return m->ops->lookup_and_delete(m, key, value, flags);
}

int lbc_map_freeze(lbc_map *m)
{
    if (!can_write(m))
        return -EPERM;
    if (!lbc_cas_u32(&m->r->frozen, 0, 1))
        return -EBUSY;
    return 0;
}

/* ---- batches ---- */

uint32_t lbc_map_batch_token_size(const lbc_map *m)
{
    return m->ops->batch_token_size ? m->ops->batch_token_size : m->key_size;
}

static int check_elem_flags(const lbc_map *m, uint64_t elem_flags)
{
    if (elem_flags & ~(uint64_t)LBC_F_LOCK)
        return -EINVAL;
    return check_lock_flag(m, elem_flags);
}

/* Linux's generic batch (arrays): walk with get_next_key from the token (the
 * last key returned), copy each value; the new token is the last key copied. */
static int generic_lookup_batch(lbc_map *m, const void *in_token, void *out_token, void *keys,
                                void *values, uint32_t *count, uint64_t elem_flags)
{
    uint32_t max = *count, cp = 0;
    uint32_t vsize = lbc_map_user_value_size(m);
    unsigned char *k = keys, *v = values;
    const void *prev = in_token;
    int err = 0;
    while (cp < max) {
        unsigned char *kout = k + (size_t)cp * m->key_size;
        err = m->ops->get_next_key(m, prev, kout);
        if (err)
            break;
        err = m->ops->lookup_copy(m, kout, v + (size_t)cp * vsize, elem_flags);
        if (err)
            break;
        prev = kout;
        cp++;
    }
    *count = cp;
    if (cp)
        memcpy(out_token, k + (size_t)(cp - 1) * m->key_size, m->key_size);
    return err;
}

int lbc_map_lookup_batch(lbc_map *m, const void *in_token, void *out_token, void *keys,
                         void *values, uint32_t *count, uint64_t elem_flags, int del)
{
    if (!can_read(m) || (del && !can_write(m)))
        return -EPERM;
    if ((del && !m->ops->lookup_batch) || m->key_size == 0)
        return -ENOTSUPP;
    int err = check_elem_flags(m, elem_flags);
    if (err)
        return err;
    if (*count == 0)
        return 0;
    if (m->ops->lookup_batch)
        return m->ops->lookup_batch(m, in_token, out_token, keys, values, count, elem_flags,
                                    del);
    return generic_lookup_batch(m, in_token, out_token, keys, values, count, elem_flags);
}

int lbc_map_update_batch(lbc_map *m, const void *keys, const void *values, uint32_t *count,
                         uint64_t elem_flags)
{
    /* argument errors leave *count as it was, as Linux */
    if (!can_write(m))
        return -EPERM;
    if (m->key_size == 0)
        return -ENOTSUPP;
    int err = check_elem_flags(m, elem_flags);
    if (err)
        return err;
    uint32_t n = *count;
    *count = 0;
    const unsigned char *k = keys;
    const unsigned char *v = values;
    uint32_t vsize = lbc_map_user_value_size(m);
    for (uint32_t i = 0; i < n; i++) {
        int err = lbc_map_update_user(m, k + (size_t)i * m->key_size, v + (size_t)i * vsize,
                                      elem_flags);
        if (err)
            return err;
        *count = i + 1;
    }
    return 0;
}

int lbc_map_delete_batch(lbc_map *m, const void *keys, uint32_t *count, uint64_t elem_flags)
{
    if (!can_write(m))
        return -EPERM;
    if (!is_hash_family(m->map_type))
        return -ENOTSUPP;
    if (elem_flags & ~(uint64_t)LBC_F_LOCK)
        return -EINVAL;
    uint32_t n = *count;
    *count = 0;
    const unsigned char *k = keys;
    for (uint32_t i = 0; i < n; i++) {
        int err = m->ops->delete_elem(m, k + (size_t)i * m->key_size);
        if (err)
            return err;
        *count = i + 1;
    }
    return 0;
}

/* ---- value copies ---- */

void lbc_copy_value(const lbc_map *m, void *dst, const void *src)
{
    if (m->spin_lock_off < 0) {
        memcpy(dst, src, m->value_size);
        return;
    }
    size_t off = (size_t)m->spin_lock_off;
    memcpy(dst, src, off);
    memcpy((unsigned char *)dst + off + 4, (const unsigned char *)src + off + 4,
           m->value_size - off - 4);
}

void lbc_copy_value_locked(const lbc_map *m, void *dst, const void *src, void *lock_owner)
{
    uint32_t *lock = (uint32_t *)(void *)((unsigned char *)lock_owner + m->spin_lock_off);
    lbc_spin_lock(lock);
    lbc_copy_value(m, dst, src);
    lbc_spin_unlock(lock);
}

void lbc_clear_lock_field(const lbc_map *m, void *value)
{
    if (m->spin_lock_off >= 0)
        memset((unsigned char *)value + m->spin_lock_off, 0, 4);
}

void lbc_percpu_to_user(const lbc_map *m, void *user, const unsigned char *slots)
{
    memcpy(user, slots, (size_t)m->value_stride * m->ncpus);
}

void lbc_percpu_from_user(const lbc_map *m, unsigned char *slots, const void *user)
{
    memcpy(slots, user, (size_t)m->value_stride * m->ncpus);
}
