/* BLOOM_FILTER: keyless; push (update with no key, BPF_ANY only) sets
 * nr_hash_funcs bits for a value, peek (lookup with the value as input)
 * says "maybe present" (0) or "certainly absent" (-ENOENT). nr_hash_funcs
 * is the low 4 bits of map_extra (0: 5), and the bitset is sized as Linux
 * sizes it: max_entries * nr_hash_funcs / ln 2 bits, rounded up to a power
 * of two. Bits are set with atomic or, so pushes need no lock. Values cannot
 * be popped, deleted or iterated (-EOPNOTSUPP). */
#include "map_internal.h"

#define BLOOM_FLAGS (LBC_F_NUMA_NODE | LBC_F_ZERO_SEED | LBC_F_ACCESS_MASK)

typedef struct bloom_ctrl {
    uint32_t nr_hash;
    uint32_t seed;
    uint64_t bit_mask; /* bits - 1 */
} bloom_ctrl;

static uint64_t ctrl_off(void) { return (sizeof(lbc_region_hdr) + 63u) & ~(uint64_t)63u; }
static uint64_t bits_off(void) { return ctrl_off() + 64u; }
static bloom_ctrl *ctrl(const lbc_map *m) { return (bloom_ctrl *)(void *)(m->base + ctrl_off()); }

static uint64_t bit_count(const lbc_map_attr *a)
{
    uint64_t k = (a->map_extra & 0xfu) ? (a->map_extra & 0xfu) : 5u;
    uint64_t n = (uint64_t)a->max_entries * k / 5u * 7u; /* 7/5 ~ 1/ln 2, as Linux */
    if (n > (1ull << 31))
        n = 1ull << 31;
    uint64_t p = 64;
    while (p < n)
        p <<= 1;
    return p;
}

static int bloom_check(const lbc_map_attr *a)
{
    if (a->key_size != 0 || a->value_size == 0 || a->max_entries == 0 ||
        (a->map_flags & ~BLOOM_FLAGS) || (a->map_extra & ~(uint64_t)0xf))
        return -EINVAL;
    if (a->value_size > LBC_MAX_VALUE_SIZE)
        return -E2BIG;
    return 0;
}

static int bloom_size(const lbc_map_attr *a, uint32_t ncpus, uint64_t *size)
{
    (void)ncpus;
    *size = bits_off() + bit_count(a) / 8u;
    return 0;
}

static uint64_t hash_value(const void *v, uint32_t len, uint64_t seed)
{
    const unsigned char *p = v;
    uint64_t h = 0xcbf29ce484222325ull ^ (seed * 0x9e3779b97f4a7c15ull);
    for (uint32_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

static void bloom_init(lbc_map *m)
{
    bloom_ctrl *c = ctrl(m);
    lbc_map_attr a = {m->map_type, m->key_size, m->value_size, m->max_entries, m->map_flags,
                      m->spin_lock_off, m->r->map_extra};
    c->nr_hash = (m->r->map_extra & 0xfu) ? (uint32_t)(m->r->map_extra & 0xfu) : 5u;
    c->bit_mask = bit_count(&a) - 1u;
    if (!(m->map_flags & LBC_F_ZERO_SEED)) {
        uint64_t x = lbc_monotonic_ns() ^ (uint64_t)(uintptr_t)m->base;
        c->seed = (uint32_t)(hash_value(&x, sizeof x, 0) >> 16);
    }
}

static uint64_t *word_of(const lbc_map *m, uint64_t bit)
{
    return (uint64_t *)(void *)(m->base + bits_off()) + (bit >> 6);
}

static void *bloom_lookup(lbc_map *m, const void *key)
{
    (void)m;
    (void)key;
    return NULL;
}

static int bloom_push(lbc_map *m, const void *key, const void *value, uint64_t flags, int all)
{
    (void)key;
    (void)all;
    if (flags != LBC_ANY)
        return -EINVAL;
    bloom_ctrl *c = ctrl(m);
    for (uint32_t i = 0; i < c->nr_hash; i++) {
        uint64_t bit = hash_value(value, m->value_size, (uint64_t)c->seed + i) & c->bit_mask;
        uint64_t *w = word_of(m, bit);
        uint64_t mask = (uint64_t)1 << (bit & 63u);
        if (!(lbc_aload_u64(w) & mask))
            lbc_afetch_or_u64((uint64_t)(uintptr_t)w, mask);
    }
    return 0;
}

/* The value is the input here: is it maybe in the set? */
static int bloom_peek(lbc_map *m, const void *key, void *value, uint64_t flags)
{
    (void)key;
    (void)flags;
    bloom_ctrl *c = ctrl(m);
    for (uint32_t i = 0; i < c->nr_hash; i++) {
        uint64_t bit = hash_value(value, m->value_size, (uint64_t)c->seed + i) & c->bit_mask;
        if (!(lbc_aload_u64(word_of(m, bit)) & ((uint64_t)1 << (bit & 63u))))
            return -ENOENT;
    }
    return 0;
}

static int bloom_delete(lbc_map *m, const void *key)
{
    (void)m;
    (void)key;
    return -EOPNOTSUPP;
}

static int bloom_get_next_key(lbc_map *m, const void *key, void *next)
{
    (void)m;
    (void)key;
    (void)next;
    return -EOPNOTSUPP;
}

const lbc_map_ops lbc_bloom_ops = {
    .check = bloom_check,
    .size = bloom_size,
    .init = bloom_init,
    .lookup = bloom_lookup,
    .update = bloom_push,
    .delete_elem = bloom_delete,
    .get_next_key = bloom_get_next_key,
    .lookup_copy = bloom_peek,
    .lookup_and_delete = NULL, /* ENOTSUPP from the syscall layer, as Linux */
    .lookup_batch = NULL,
    .batch_token_size = 0,
};
