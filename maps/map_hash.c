/* HASH, PERCPU_HASH, LRU_HASH and LRU_PERCPU_HASH.
 *
 * Layout after the region header: nbuckets buckets (a power of two, as
 * Linux), then a pool of max_entries elements (preallocated, as Linux by
 * default), then for LRU maps the LRU lists. Links are element indexes + 1.
 *
 * Each bucket has one 32-bit word that is both its lock and a sequence
 * count: odd while a writer holds it. Writers (update, delete) take the
 * bucket's lock; lookups take no lock at all: they read the sequence, walk
 * the chain, and walk again if the sequence moved meanwhile. Elements are
 * never unmapped, so a walk racing with a writer reads stale but valid
 * memory and is then retried; the walk is bounded by max_entries steps.
 * Free elements form a lock-free stack with a tag against ABA; elements not
 * used yet are taken from a bump index so creation touches no element. */
#include "map_internal.h"

#define HASH_FLAGS (LBC_F_NO_PREALLOC | LBC_F_NO_COMMON_LRU | LBC_F_NUMA_NODE | \
                    LBC_F_ACCESS_MASK | LBC_F_ZERO_SEED)
#define MAX_HASH_ENTRIES (1u << 27) /* n_buckets * sizeof(struct bucket) must fit in u32 */

typedef struct bucket {
    uint32_t seq;   /* lock (odd = held) and sequence count */
    uint32_t head;
} bucket;

static int is_lru(uint32_t t) { return t == LBC_MAP_LRU_HASH || t == LBC_MAP_LRU_PERCPU_HASH; }
static int is_percpu(uint32_t t) { return t == LBC_MAP_PERCPU_HASH || t == LBC_MAP_LRU_PERCPU_HASH; }

static uint64_t align64(uint64_t n) { return (n + 63u) & ~(uint64_t)63u; }

static uint32_t pow2_at_least(uint32_t n)
{
    uint32_t p = 1;
    while (p < n)
        p <<= 1;
    return p;
}

static int hash_check(const lbc_map_attr *a)
{
    int lru = is_lru(a->map_type), percpu = is_percpu(a->map_type);
    if (a->map_flags & ~HASH_FLAGS)
        return -EINVAL;
    if (!lru && (a->map_flags & LBC_F_NO_COMMON_LRU))
        return -EINVAL;
    if (lru && (a->map_flags & LBC_F_NO_PREALLOC))
        return -ENOTSUPP;
    if (a->max_entries == 0 || a->key_size == 0 || a->value_size == 0)
        return -EINVAL;
    if ((uint64_t)a->key_size + a->value_size >= LBC_MAX_VALUE_SIZE - 64u)
        return -E2BIG;
    if (percpu && lbc_round8(a->value_size) > LBC_PERCPU_MAX_VALUE)
        return -E2BIG;
    if (a->max_entries > MAX_HASH_ENTRIES)
        return -E2BIG;
    return 0;
}

static uint64_t elem_bytes(const lbc_map_attr *a, uint32_t ncpus)
{
    return sizeof(lbc_hash_elem) + lbc_round8(a->key_size) +
           (uint64_t)lbc_round8(a->value_size) * ncpus;
}

static uint32_t lru_list_count(const lbc_map_attr *a, uint32_t ncpus)
{
    if (!is_lru(a->map_type))
        return 0;
    return (a->map_flags & LBC_F_NO_COMMON_LRU) ? ncpus : 1u;
}

static int hash_size(const lbc_map_attr *a, uint32_t ncpus, uint64_t *size)
{
    uint64_t nb = pow2_at_least(a->max_entries);
    uint64_t es = elem_bytes(a, ncpus); /* < 2^23 + 2^15 * 2^12 */
    uint64_t s = align64(sizeof(lbc_region_hdr)) + align64(nb * sizeof(bucket));
    if (a->max_entries > (UINT64_MAX / 2 - s) / es)
        return -ENOMEM;
    s += align64(es * a->max_entries);
    s += (uint64_t)lru_list_count(a, ncpus) * sizeof(lbc_lru_list);
    *size = s;
    return 0;
}

static void cache_layout(lbc_map *m)
{
    lbc_region_hdr *r = m->r;
    m->lru = is_lru(m->map_type);
    m->percpu_lru = m->lru && (m->map_flags & LBC_F_NO_COMMON_LRU);
    m->bucket_mask = r->nbuckets - 1;
    m->elem_size = r->elem_size;
    m->key_stride = lbc_round8(m->key_size);
    m->seed = r->hash_seed;
    m->buckets_off = r->buckets_off;
    m->elems_off = r->elems_off;
}

static void hash_init(lbc_map *m)
{
    lbc_region_hdr *r = m->r;
    lbc_map_attr a = {m->map_type, m->key_size, m->value_size, m->max_entries, m->map_flags,
                      m->spin_lock_off, 0};
    r->nbuckets = pow2_at_least(m->max_entries);
    r->elem_size = (uint32_t)elem_bytes(&a, m->ncpus);
    r->buckets_off = align64(sizeof(lbc_region_hdr));
    r->elems_off = r->buckets_off + align64((uint64_t)r->nbuckets * sizeof(bucket));
    r->lru_off = r->elems_off + align64((uint64_t)r->elem_size * m->max_entries);
    if (m->map_flags & LBC_F_ZERO_SEED) {
        r->hash_seed = 0;
    } else {
        uint64_t x = lbc_monotonic_ns() ^ (uint64_t)(uintptr_t)m->base;
        x ^= x >> 33;
        x *= 0xff51afd7ed558ccdull;
        r->hash_seed = (uint32_t)(x ^ (x >> 29));
    }
    cache_layout(m);
}

/* ---- hashing, elements, buckets ---- */

static inline uint32_t hash_key(const void *key, uint32_t len, uint32_t seed)
{
    const unsigned char *p = key;
    uint64_t h = seed ^ ((uint64_t)len * 0x9e3779b97f4a7c15ull);
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xbf58476d1ce4e5b9ull;
        h ^= h >> 31;
        p += 8;
        len -= 8;
    }
    if (len) {
        /* the last 1..7 bytes, as a memcpy into a zeroed u64 gives them,
         * with fixed-size loads on little-endian hosts */
        uint64_t w = 0;
#if LBC_BIG_ENDIAN
        memcpy(&w, p, len);
#else
        uint32_t w4 = 0;
        uint16_t w2 = 0;
        switch (len) {
        case 1: w = p[0]; break;
        case 2: memcpy(&w2, p, 2); w = w2; break;
        case 3: memcpy(&w2, p, 2); w = w2 | (uint64_t)p[2] << 16; break;
        case 4: memcpy(&w4, p, 4); w = w4; break;
        case 5: memcpy(&w4, p, 4); w = w4 | (uint64_t)p[4] << 32; break;
        case 6: memcpy(&w4, p, 4); memcpy(&w2, p + 4, 2); w = w4 | (uint64_t)w2 << 32; break;
        default:
            memcpy(&w4, p, 4);
            memcpy(&w2, p + 4, 2);
            w = w4 | (uint64_t)w2 << 32 | (uint64_t)p[6] << 48;
            break;
        }
#endif
        h = (h ^ w) * 0x94d049bb133111ebull;
        h ^= h >> 29;
    }
    h *= 0xd6e8feb86659fd93ull;
    h ^= h >> 32;
    return (uint32_t)h;
}

static inline bucket *bucket_for(const lbc_map *m, uint32_t h)
{
    return (bucket *)(void *)(m->base + m->buckets_off) + (h & m->bucket_mask);
}
static inline unsigned char *elem_key(lbc_hash_elem *e) { return (unsigned char *)(e + 1); }
static inline unsigned char *elem_value(const lbc_map *m, lbc_hash_elem *e)
{
    return elem_key(e) + m->key_stride;
}

static void bucket_lock(bucket *b)
{
    for (;;) {
        uint32_t s = lbc_aload_u32(&b->seq);
        if (!(s & 1u) && lbc_cas_u32(&b->seq, s, s + 1u))
            return;
        lbc_cpu_relax();
    }
}
static void bucket_unlock(bucket *b) { lbc_astore_u32(&b->seq, b->seq + 1u); }

/* Does an element's key equal key? Fixed-size compares for the usual sizes. */
static inline int key_eq(const lbc_map *m, const unsigned char *a, const void *key)
{
    if (m->key_size == 4) {
        uint32_t x, y;
        memcpy(&x, a, 4);
        memcpy(&y, key, 4);
        return x == y;
    }
    if (m->key_size == 8) {
        uint64_t x, y;
        memcpy(&x, a, 8);
        memcpy(&y, key, 8);
        return x == y;
    }
    return memcmp(a, key, m->key_size) == 0;
}

/* Walk a chain (caller holds the lock or validates the sequence after). */
static inline lbc_hash_elem *chain_find(const lbc_map *m, const bucket *b, const void *key,
                                        uint32_t h)
{
    /* read once: the loop's acquire loads would make the compiler reload them */
    const uint32_t max_steps = m->max_entries;
    uint32_t link = lbc_aload_u32(&b->head);
    for (uint32_t steps = 0; link && steps <= max_steps; steps++) {
        lbc_hash_elem *e = lbc_hash_elem_at(m, link - 1u);
        if (lbc_aload_u32(&e->hash) == h && key_eq(m, elem_key(e), key))
            return e;
        link = lbc_aload_u32(&e->next);
    }
    return NULL;
}

/* Lock-free lookup: retried while a writer held or changed the bucket. */
static lbc_hash_elem *find_lockless(const lbc_map *m, const void *key)
{
    uint32_t h = hash_key(key, m->key_size, m->seed);
    bucket *b = bucket_for(m, h);
    for (;;) {
        uint32_t s = lbc_aload_u32(&b->seq);
        if (s & 1u) {
            lbc_cpu_relax();
            continue;
        }
        lbc_hash_elem *e = chain_find(m, b, key, h);
        lbc_fence_acquire();
        if (lbc_aload_u32(&b->seq) == s)
            return e;
    }
}

/* ---- the element pool ---- */

static lbc_hash_elem *pool_pop(lbc_map *m)
{
    lbc_region_hdr *r = m->r;
    for (;;) {
        uint64_t head = lbc_aload_u64(&r->free_head);
        uint32_t link = (uint32_t)head;
        if (!link)
            break;
        lbc_hash_elem *e = lbc_hash_elem_at(m, link - 1u);
        uint64_t next = ((head >> 32) + 1u) << 32 | lbc_aload_u32(&e->next);
        if (lbc_cas_u64(&r->free_head, head, next))
            return e;
    }
    for (;;) {
        uint32_t i = lbc_aload_u32(&r->bump);
        if (i >= m->max_entries)
            return NULL;
        if (lbc_cas_u32(&r->bump, i, i + 1u))
            return lbc_hash_elem_at(m, i);
    }
}

static void pool_push(lbc_map *m, lbc_hash_elem *e)
{
    lbc_region_hdr *r = m->r;
    uint32_t link = lbc_hash_elem_index(m, e) + 1u;
    for (;;) {
        uint64_t head = lbc_aload_u64(&r->free_head);
        lbc_astore_u32(&e->next, (uint32_t)head);
        if (lbc_cas_u64(&r->free_head, head, ((head >> 32) + 1u) << 32 | link))
            return;
    }
}

/* Unlink e from its bucket if it is there (caller holds no lock). */
static void unlink_elem(lbc_map *m, lbc_hash_elem *e)
{
    bucket *b = bucket_for(m, e->hash);
    uint32_t want = lbc_hash_elem_index(m, e) + 1u;
    bucket_lock(b);
    uint32_t *link = &b->head;
    for (uint32_t steps = 0; *link && steps <= m->max_entries; steps++) {
        if (*link == want) {
            lbc_astore_u32(link, e->next);
            break;
        }
        link = &lbc_hash_elem_at(m, *link - 1u)->next;
    }
    bucket_unlock(b);
}

/* A free element, evicting the least recently used one from an LRU map. */
static lbc_hash_elem *alloc_elem(lbc_map *m)
{
    lbc_hash_elem *e = pool_pop(m);
    if (e || !m->lru)
        return e;
    e = lbc_lru_evict(m);
    if (e)
        unlink_elem(m, e);
    return e;
}

static void free_elem(lbc_map *m, lbc_hash_elem *e)
{
    if (m->lru && !lbc_lru_remove(m, e))
        return; /* an evictor took it off its list: the evictor reuses it */
    pool_push(m, e);
}

/* ---- values ---- */

static void store_new_value(lbc_map *m, lbc_hash_elem *e, const void *value, int all_slots)
{
    unsigned char *v = elem_value(m, e);
    if (!m->percpu) {
        if (m->spin_lock_off >= 0)
            memset(v + m->spin_lock_off, 0, 4);
        lbc_copy_value(m, v, value);
    } else if (all_slots) {
        lbc_percpu_from_user(m, v, value);
    } else {
        /* a program's update: its slot gets the value, the others zero */
        memset(v, 0, (size_t)m->value_stride * m->ncpus);
        memcpy(v + (uint64_t)lbc_cpu_slot() * m->value_stride, value, m->value_size);
    }
}

static void store_existing_value(lbc_map *m, lbc_hash_elem *e, const void *value, uint64_t flags,
                                 int all_slots)
{
    unsigned char *v = elem_value(m, e);
    if (!m->percpu) {
        if (flags & LBC_F_LOCK)
            lbc_copy_value_locked(m, v, value, v);
        else
            lbc_copy_value(m, v, value);
    } else if (all_slots) {
        lbc_percpu_from_user(m, v, value);
    } else {
        memcpy(v + (uint64_t)lbc_cpu_slot() * m->value_stride, value, m->value_size);
    }
}

static void copy_out(lbc_map *m, lbc_hash_elem *e, void *value, uint64_t flags)
{
    unsigned char *v = elem_value(m, e);
    if (m->percpu)
        lbc_percpu_to_user(m, value, v);
    else if (flags & LBC_F_LOCK)
        lbc_copy_value_locked(m, value, v, v);
    else
        lbc_copy_value(m, value, v);
    lbc_clear_lock_field(m, value);
}

/* ---- operations ---- */

static void *hash_lookup(lbc_map *m, const void *key)
{
    lbc_hash_elem *e = find_lockless(m, key);
    if (!e)
        return NULL;
    if (m->lru && !e->lru_ref)
        lbc_astore_u32(&e->lru_ref, 1u);
    unsigned char *v = elem_value(m, e);
    return m->percpu ? v + (uint64_t)lbc_cpu_slot() * m->value_stride : v;
}

static int hash_update(lbc_map *m, const void *key, const void *value, uint64_t flags,
                       int all_slots)
{
    uint64_t mode = flags & ~(uint64_t)LBC_F_LOCK;
    if (mode > LBC_EXIST || (m->percpu && (flags & LBC_F_LOCK)))
        return -EINVAL;
    if (flags & LBC_F_LOCK) {
        /* in place under the value's lock, without the bucket lock */
        lbc_hash_elem *e = find_lockless(m, key);
        if (e) {
            if (mode == LBC_NOEXIST)
                return -EEXIST;
            unsigned char *v = elem_value(m, e);
            lbc_copy_value_locked(m, v, value, v);
            return 0;
        }
    }
    uint32_t h = hash_key(key, m->key_size, m->seed);
    bucket *b = bucket_for(m, h);
    lbc_hash_elem *spare = NULL;
retry:
    if (m->lru && !spare && !find_lockless(m, key)) {
        /* An LRU map evicts before taking the bucket lock (the victim's
         * bucket lock is needed to unlink it), and only when the key is
         * absent, so an update of a present key never evicts. */
        if (mode == LBC_EXIST)
            return -ENOENT;
        spare = alloc_elem(m);
        if (!spare)
            return -ENOMEM;
    }
    bucket_lock(b);
    lbc_hash_elem *e = chain_find(m, b, key, h);
    int err = 0;
    if (e && mode == LBC_NOEXIST) {
        err = -EEXIST;
    } else if (!e && mode == LBC_EXIST) {
        err = -ENOENT;
    } else if (e) {
        store_existing_value(m, e, value, flags, all_slots);
        if (m->lru)
            lbc_lru_touch(m, e);
    } else if (m->lru && !spare) {
        bucket_unlock(b); /* deleted since we looked: get an element first */
        goto retry;
    } else {
        lbc_hash_elem *n = m->lru ? spare : alloc_elem(m);
        spare = NULL;
        if (!n) {
            err = -E2BIG;
        } else {
            memcpy(elem_key(n), key, m->key_size);
            store_new_value(m, n, value, all_slots);
            n->hash = h;
            n->lru_ref = 0;
            if (m->lru)
                lbc_lru_add(m, n);
            n->next = b->head;
            lbc_astore_u32(&b->head, lbc_hash_elem_index(m, n) + 1u);
        }
    }
    bucket_unlock(b);
    if (spare)
        pool_push(m, spare);
    return err;
}

/* Unlink the element holding key; returns it (caller frees) or NULL. */
static lbc_hash_elem *remove_key(lbc_map *m, const void *key, void *value_out, uint64_t flags)
{
    uint32_t h = hash_key(key, m->key_size, m->seed);
    bucket *b = bucket_for(m, h);
    bucket_lock(b);
    uint32_t *link = &b->head;
    lbc_hash_elem *found = NULL;
    for (uint32_t steps = 0; *link && steps <= m->max_entries; steps++) {
        lbc_hash_elem *e = lbc_hash_elem_at(m, *link - 1u);
        if (e->hash == h && key_eq(m, elem_key(e), key)) {
            if (value_out)
                copy_out(m, e, value_out, flags);
            lbc_astore_u32(link, e->next);
            found = e;
            break;
        }
        link = &e->next;
    }
    bucket_unlock(b);
    return found;
}

static int hash_delete(lbc_map *m, const void *key)
{
    lbc_hash_elem *e = remove_key(m, key, NULL, 0);
    if (!e)
        return -ENOENT;
    free_elem(m, e);
    return 0;
}

static int hash_lookup_and_delete(lbc_map *m, const void *key, void *value, uint64_t flags)
{
    lbc_hash_elem *e = remove_key(m, key, value, flags);
    if (!e)
        return -ENOENT;
    free_elem(m, e);
    return 0;
}

static int hash_lookup_copy(lbc_map *m, const void *key, void *value, uint64_t flags)
{
    /* copy inside the validated walk: a user lookup never sees a half update */
    uint32_t h = hash_key(key, m->key_size, m->seed);
    bucket *b = bucket_for(m, h);
    for (;;) {
        uint32_t s = lbc_aload_u32(&b->seq);
        if (s & 1u) {
            lbc_cpu_relax();
            continue;
        }
        lbc_hash_elem *e = chain_find(m, b, key, h);
        if (e)
            copy_out(m, e, value, flags);
        lbc_fence_acquire();
        if (lbc_aload_u32(&b->seq) == s)
            return e ? 0 : -ENOENT;
    }
}

/* First key of the first non-empty bucket from index i on. */
static int first_from(lbc_map *m, uint64_t i, void *next)
{
    bucket *buckets = (bucket *)(void *)(m->base + m->buckets_off);
    for (; i <= m->bucket_mask; i++) {
        bucket *b = &buckets[i];
        if (!lbc_aload_u32(&b->head))
            continue;
        bucket_lock(b);
        uint32_t link = b->head;
        if (link)
            memcpy(next, elem_key(lbc_hash_elem_at(m, link - 1u)), m->key_size);
        bucket_unlock(b);
        if (link)
            return 0;
    }
    return -ENOENT;
}

static int hash_get_next_key(lbc_map *m, const void *key, void *next)
{
    if (!key)
        return first_from(m, 0, next);
    uint32_t h = hash_key(key, m->key_size, m->seed);
    bucket *b = bucket_for(m, h);
    bucket_lock(b);
    lbc_hash_elem *e = chain_find(m, b, key, h);
    if (!e) {
        bucket_unlock(b);
        return first_from(m, 0, next); /* a missing key restarts, as Linux */
    }
    uint32_t link = e->next;
    if (link)
        memcpy(next, elem_key(lbc_hash_elem_at(m, link - 1u)), m->key_size);
    bucket_unlock(b);
    return link ? 0 : first_from(m, (uint64_t)(h & m->bucket_mask) + 1u, next);
}

/* Linux's htab batch: whole buckets from the token (a bucket index). */
static int hash_lookup_batch(lbc_map *m, const void *in_token, void *out_token, void *keys,
                             void *values, uint32_t *count, uint64_t elem_flags, int del)
{
    uint32_t max = *count, total = 0, batch = 0;
    uint32_t vsize = lbc_map_user_value_size(m);
    unsigned char *kout = keys, *vout = values;
    bucket *buckets = (bucket *)(void *)(m->base + m->buckets_off);
    *count = 0;
    if (in_token)
        memcpy(&batch, in_token, 4);
    if ((uint64_t)batch > m->bucket_mask)
        return -ENOENT;
    int ret = 0;
    for (;;) {
        bucket *b = &buckets[batch];
        uint32_t n = 0;
        if (lbc_aload_u32(&b->head)) {
            bucket_lock(b);
            for (uint32_t l = b->head; l && n <= m->max_entries; l = lbc_hash_elem_at(m, l - 1u)->next)
                n++;
            if (n > max - total) {
                bucket_unlock(b);
                if (total == 0)
                    ret = -ENOSPC;
                break;
            }
            uint32_t l0 = b->head, l = l0;
            for (uint32_t i = 0; i < n; i++) {
                lbc_hash_elem *e = lbc_hash_elem_at(m, l - 1u);
                memcpy(kout + (size_t)(total + i) * m->key_size, elem_key(e), m->key_size);
                copy_out(m, e, vout + (size_t)(total + i) * vsize, elem_flags);
                l = e->next;
            }
            if (del) {
                /* unlink the whole chain, then free it, still under the lock */
                lbc_astore_u32(&b->head, 0);
                for (uint32_t i = 0, l2 = l0; i < n; i++) {
                    lbc_hash_elem *e = lbc_hash_elem_at(m, l2 - 1u);
                    l2 = e->next;
                    free_elem(m, e);
                }
            }
            bucket_unlock(b);
        }
        total += n;
        batch++;
        if ((uint64_t)batch > m->bucket_mask) {
            ret = -ENOENT;
            break;
        }
    }
    memcpy(out_token, &batch, 4);
    *count = total;
    return ret;
}

/* Pinning: a region another process made; its layout fields must be the
 * ones hash_init would write. */
static int hash_attach(lbc_map *m)
{
    lbc_region_hdr *r = m->r;
    lbc_map_attr a = {m->map_type, m->key_size, m->value_size, m->max_entries, m->map_flags,
                      m->spin_lock_off, 0};
    uint64_t buckets_off = align64(sizeof(lbc_region_hdr));
    uint64_t elems_off = buckets_off + align64((uint64_t)r->nbuckets * sizeof(bucket));
    if (r->nbuckets != pow2_at_least(m->max_entries) || r->elem_size != elem_bytes(&a, m->ncpus) ||
        r->buckets_off != buckets_off || r->elems_off != elems_off ||
        r->lru_off != elems_off + align64((uint64_t)r->elem_size * m->max_entries))
        return -EINVAL;
    cache_layout(m);
    return 0;
}

const lbc_map_ops lbc_hash_ops = {
    .attach = hash_attach,
    .check = hash_check,
    .size = hash_size,
    .init = hash_init,
    .lookup = hash_lookup,
    .update = hash_update,
    .delete_elem = hash_delete,
    .get_next_key = hash_get_next_key,
    .lookup_copy = hash_lookup_copy,
    .lookup_and_delete = hash_lookup_and_delete,
    .lookup_batch = hash_lookup_batch,
    .batch_token_size = 4,
};
