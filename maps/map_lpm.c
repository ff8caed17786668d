/* LPM_TRIE: longest-prefix-match maps with Linux's layout and behaviour.
 *
 * The key is struct bpf_lpm_trie_key: a u32 prefixlen followed by
 * key_size - 4 data bytes, compared bit by bit from the most significant
 * bit of data[0] (network order). The trie is Linux's: a binary tree in
 * which each node holds a prefix, its children extend it with a 0 or a 1
 * bit, and "intermediate" nodes (no value) exist only where two branches
 * split, so each of them has exactly two children.
 *
 * Layout after the region header: a control block (lock/sequence word,
 * root link, entry count, free list, bump index), then a pool of
 * 2 * max_entries nodes (max_entries prefixes plus at most max_entries - 1
 * intermediate nodes). Links are node indexes + 1, 0 = none.
 *
 * Writers (update, delete) take the map's lock, whose word is also a
 * sequence count (odd while held). Lookups take no lock: they walk at most
 * max_prefixlen + 1 nodes and walk again if the sequence moved meanwhile;
 * user-space copies are made inside that validated walk. Nothing in the
 * region is a pointer, so a pinned trie is shared by processes; a torn
 * read of a corrupted region stays inside it (links and prefix lengths are
 * bounded before use). */
#include "map_internal.h"

#define LPM_FLAGS (LBC_F_NO_PREALLOC | LBC_F_NUMA_NODE | LBC_F_ACCESS_MASK)
#define LPM_DATA_MIN 1u
#define LPM_DATA_MAX 256u
#define LPM_NODE_IM 1u /* intermediate: no value, not a key of the map */

typedef struct lpm_ctrl {
    uint32_t seq;       /* lock (odd = held) and sequence count */
    uint32_t root;
    uint32_t n_entries; /* prefixes stored (intermediate nodes not counted) */
    uint32_t free_head; /* free nodes, linked through child[0] */
    uint32_t bump;      /* nodes never used start here */
    uint32_t data_size;
    uint32_t max_prefixlen;
    uint32_t node_size;
} lpm_ctrl;

typedef struct lpm_node {
    uint32_t child[2];
    uint32_t prefixlen;
    uint32_t flags;
    /* data (data_size rounded up to 8), then the value */
} lpm_node;

static uint64_t ctrl_off(void) { return (sizeof(lbc_region_hdr) + 63u) & ~(uint64_t)63u; }
static uint64_t nodes_off(void) { return ctrl_off() + 64u; }

static inline lpm_ctrl *ctrl(const lbc_map *m) { return (lpm_ctrl *)(void *)(m->base + ctrl_off()); }

static uint64_t node_bytes(uint32_t key_size, uint32_t value_size)
{
    return sizeof(lpm_node) + lbc_round8(key_size - 4u) + (uint64_t)lbc_round8(value_size);
}

static inline lpm_node *node_at(const lbc_map *m, uint32_t link)
{
    return (lpm_node *)(void *)(m->base + nodes_off() +
                                (uint64_t)(link - 1u) * ctrl(m)->node_size);
}
static inline unsigned char *node_data(lpm_node *n) { return (unsigned char *)(n + 1); }
static inline unsigned char *node_value(const lbc_map *m, lpm_node *n)
{
    return node_data(n) + lbc_round8(m->key_size - 4u);
}
static inline uint32_t node_link(const lbc_map *m, const lpm_node *n)
{
    uint64_t off = (uint64_t)((const unsigned char *)n - m->base) - nodes_off();
    return (uint32_t)(off / ctrl(m)->node_size) + 1u;
}

static int lpm_check(const lbc_map_attr *a)
{
    if (a->max_entries == 0 || !(a->map_flags & LBC_F_NO_PREALLOC) ||
        (a->map_flags & ~LPM_FLAGS) || a->key_size < 4u + LPM_DATA_MIN ||
        a->key_size > 4u + LPM_DATA_MAX || a->value_size == 0 ||
        a->value_size > LBC_MAX_VALUE_SIZE - LPM_DATA_MAX - 24u)
        return -EINVAL;
    return 0;
}

static int lpm_size(const lbc_map_attr *a, uint32_t ncpus, uint64_t *size)
{
    (void)ncpus;
    uint64_t nodes = 2u * (uint64_t)a->max_entries;
    uint64_t nb = node_bytes(a->key_size, a->value_size);
    if (nodes > (UINT64_MAX / 4 - nodes_off()) / nb)
        return -ENOMEM;
    *size = nodes_off() + nodes * nb;
    return 0;
}

static void lpm_init(lbc_map *m)
{
    lpm_ctrl *c = ctrl(m);
    c->data_size = m->key_size - 4u;
    c->max_prefixlen = c->data_size * 8u;
    c->node_size = (uint32_t)node_bytes(m->key_size, m->value_size);
}

/* ---- bits ---- */

static inline uint32_t key_prefixlen(const void *key)
{
    uint32_t p;
    memcpy(&p, key, 4);
    return p;
}
static inline const unsigned char *key_data(const void *key)
{
    return (const unsigned char *)key + 4;
}

static inline int extract_bit(const unsigned char *data, uint32_t index)
{
    return (data[index / 8u] >> (7u - index % 8u)) & 1;
}

/* n (8, 4 or 1) bytes at p as a big-endian number in the top bits of a u64. */
static inline uint64_t be_bits(const unsigned char *p, uint32_t n)
{
    if (n == 8)
        return (uint64_t)p[0] << 56 | (uint64_t)p[1] << 48 | (uint64_t)p[2] << 40 |
               (uint64_t)p[3] << 32 | (uint64_t)p[4] << 24 | (uint64_t)p[5] << 16 |
               (uint64_t)p[6] << 8 | (uint64_t)p[7];
    if (n == 4)
        return ((uint64_t)p[0] << 24 | (uint64_t)p[1] << 16 | (uint64_t)p[2] << 8 |
                (uint64_t)p[3]) << 32;
    return (uint64_t)p[0] << 56;
}

/* Leading zero bits of a non-zero u64. */
static inline uint32_t leading_zeros64(uint64_t x)
{
#if defined(__GNUC__) || defined(__clang__)
    return (uint32_t)__builtin_clzll(x);
#else
    uint32_t n = 0;
    while (!(x & ((uint64_t)1 << 63))) {
        x <<= 1;
        n++;
    }
    return n;
#endif
}

/* Leading bits node and key share, at most the shorter of their prefixes;
 * compared 8, 4 or 1 bytes at a time, as the kernel's longest_prefix_match. */
static inline uint32_t prefix_match_len(const lbc_map *m, lpm_node *n, uint32_t np,
                                        const unsigned char *data, uint32_t prefixlen)
{
    const uint32_t limit = np < prefixlen ? np : prefixlen;
    const uint32_t size = m->key_size - 4u;
    const unsigned char *nd = node_data(n);
    uint32_t bits = 0;
    for (uint32_t i = 0; bits < limit && i < size;) {
        const uint32_t chunk = size - i >= 8u ? 8u : size - i >= 4u ? 4u : 1u;
        const uint64_t diff = be_bits(nd + i, chunk) ^ be_bits(data + i, chunk);
        if (diff) {
            bits += leading_zeros64(diff);
            break;
        }
        bits += 8u * chunk;
        i += chunk;
    }
    return bits < limit ? bits : limit;
}

static inline uint32_t prefix_match(const lbc_map *m, lpm_node *n, const unsigned char *data,
                                    uint32_t prefixlen)
{
    return prefix_match_len(m, n, n->prefixlen, data, prefixlen);
}

/* ---- the lock and the node pool ---- */

static void lpm_lock(lpm_ctrl *c)
{
    for (;;) {
        uint32_t s = lbc_aload_u32(&c->seq);
        if (!(s & 1u) && lbc_cas_u32(&c->seq, s, s + 1u))
            return;
        lbc_cpu_relax();
    }
}
static void lpm_unlock(lpm_ctrl *c) { lbc_astore_u32(&c->seq, c->seq + 1u); }

/* Caller holds the lock; the pool always has room (see the layout). */
static lpm_node *node_alloc(lbc_map *m)
{
    lpm_ctrl *c = ctrl(m);
    uint32_t link = c->free_head;
    if (link) {
        c->free_head = node_at(m, link)->child[0];
    } else {
        if (c->bump >= 2u * (uint64_t)m->max_entries)
            return NULL;
        link = ++c->bump;
    }
    lpm_node *n = node_at(m, link);
    lbc_astore_u32(&n->child[0], 0);
    lbc_astore_u32(&n->child[1], 0);
    n->flags = 0;
    return n;
}

static void node_free(lbc_map *m, lpm_node *n)
{
    lpm_ctrl *c = ctrl(m);
    lbc_astore_u32(&n->child[1], 0);
    lbc_astore_u32(&n->child[0], c->free_head);
    c->free_head = node_link(m, n);
}

static void fill_node(lbc_map *m, lpm_node *n, const void *key, const void *value)
{
    n->prefixlen = key_prefixlen(key);
    memcpy(node_data(n), key_data(key), ctrl(m)->data_size);
    memcpy(node_value(m, n), value, m->value_size);
}

/* ---- lookup ---- */

/* Lookups compare 64 bits at a time: the key's data is read once into
 * big-endian words (bit i of the prefix is bit 63 - i % 64 of word i / 64,
 * the last word zero-padded), and each node's data, whose slot is padded to
 * 8 bytes, is read a word at a time. Bits past the data never take part:
 * prefix lengths are bounded by max_prefixlen before use. Specialised for
 * data of up to 8 bytes (IPv4 and the like) and up to 16 (IPv6). */
#define LPM_WORDS_MAX (LPM_DATA_MAX / 8u)

#if defined(__GNUC__) || defined(__clang__)
#define LPM_ALWAYS_INLINE static inline __attribute__((always_inline))
#elif defined(_MSC_VER)
#define LPM_ALWAYS_INLINE static __forceinline
#else
#define LPM_ALWAYS_INLINE static inline
#endif

static inline uint64_t load_be64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
#if LBC_BIG_ENDIAN
    return v;
#else
    return lbc_bswap64(v);
#endif
}

/* n (1..8) bytes at p as a big-endian word, zero-padded. */
static inline uint64_t key_word(const unsigned char *p, uint32_t n)
{
    if (n == 8)
        return load_be64(p);
    if (n == 4) {
        uint32_t v;
        memcpy(&v, p, 4);
#if !LBC_BIG_ENDIAN
        v = lbc_bswap32(v);
#endif
        return (uint64_t)v << 32;
    }
    unsigned char buf[8] = {0};
    memcpy(buf, p, n);
    return load_be64(buf);
}

/* The top n (0..64) bits of a word set. */
static inline uint64_t top_bits(uint32_t n) { return n ? ~(uint64_t)0 << (64u - n) : 0; }

/* Does the node's data equal the key's words in the first np bits
 * (np <= 64 * the words the key has)? words: 1, 2, or 0 for any count. */
LPM_ALWAYS_INLINE int words_match(const unsigned char *nd, const uint64_t *kw, uint32_t np,
                                  uint32_t words)
{
    if (words == 1)
        return !((load_be64(nd) ^ kw[0]) & top_bits(np));
    if (words == 2)
        return !(((load_be64(nd) ^ kw[0]) & top_bits(np < 64u ? np : 64u)) |
                 ((load_be64(nd + 8) ^ kw[1]) & top_bits(np > 64u ? np - 64u : 0u)));
    uint32_t i = 0;
    for (; np > 64u; np -= 64u, i++)
        if (load_be64(nd + 8u * i) != kw[i])
            return 0;
    return !((load_be64(nd + 8u * i) ^ kw[i]) & top_bits(np));
}

/* Bit b (< 64 * the key's words) of the key. */
LPM_ALWAYS_INLINE uint32_t key_bit(const uint64_t *kw, uint32_t b, uint32_t words)
{
    const uint64_t w = words == 1 ? kw[0] : words == 2 ? (b < 64u ? kw[0] : kw[1]) : kw[b / 64u];
    return (uint32_t)(w >> (63u - b % 64u)) & 1u;
}

/* The longest stored prefix matching the key (only prefixes no longer than
 * its prefixlen plen <= max_prefixlen take part), or NULL: Linux's walk.
 * A node takes part when its prefix is no longer than plen and its first
 * prefixlen bits are the key's; the walk stops at the first that does not,
 * or at a full-length one, and goes on to the child the key's next bit
 * names. No lock: the sequence word is read before and after the walk,
 * which is made again if a writer held or moved it meanwhile (copy, when
 * set, receives the value inside the walk so validated). The bounds on
 * links, prefix lengths and steps keep a torn read inside the region.
 * Everything the walk needs but the nodes is read before it. */
LPM_ALWAYS_INLINE lpm_node *walk(lbc_map *m, const uint64_t *kw, uint32_t plen, uint32_t words,
                                 void *copy)
{
    const uint32_t max_plen = (m->key_size - 4u) * 8u;
    const uint64_t node_size = node_bytes(m->key_size, m->value_size);
    const uint64_t max_link = 2u * (uint64_t)m->max_entries;
    /* node `link` is at base + off0 + link * node_size (links start at 1;
     * unsigned arithmetic: off0 may wrap, the sum does not) */
    unsigned char *const base = m->base;
    const uint64_t off0 = nodes_off() - node_size;
    lpm_ctrl *const c = ctrl(m);
    for (;;) {
        const uint32_t s = lbc_aload_u32(&c->seq);
        if (s & 1u) {
            lbc_cpu_relax();
            continue;
        }
        lpm_node *found = NULL;
        uint32_t link = lbc_aload_u32(&c->root);
        for (uint32_t steps = 0; link && steps <= max_plen; steps++) {
            if (LBC_UNLIKELY(link > max_link))
                break; /* a torn read during a concurrent write: retried */
            lpm_node *n = (lpm_node *)(void *)(base + (off0 + link * node_size));
            const uint32_t np = lbc_aload_u32(&n->prefixlen);
            const uint32_t c0 = lbc_aload_u32(&n->child[0]);
            const uint32_t c1 = lbc_aload_u32(&n->child[1]);
            if (np > plen || !words_match(node_data(n), kw, np, words))
                break;
            if (!(lbc_aload_u32(&n->flags) & LPM_NODE_IM))
                found = n;
            if (np == max_plen)
                break;
            link = key_bit(kw, np, words) ? c1 : c0;
        }
        if (found && copy)
            memcpy(copy, node_value(m, found), m->value_size);
        lbc_fence_acquire();
        if (lbc_aload_u32(&c->seq) == s)
            return found;
    }
}

/* Read the key's data into words; 0 words when its prefixlen is above the
 * maximum (no prefix matches it, as Linux). */
static inline uint32_t lpm_key_words(const lbc_map *m, const void *key, uint64_t *kw)
{
    const uint32_t size = m->key_size - 4u;
    const unsigned char *data = key_data(key);
    if (key_prefixlen(key) > size * 8u)
        return 0;
    uint32_t i = 0;
    for (; size - 8u * i > 8u; i++)
        kw[i] = load_be64(data + 8u * i);
    kw[i] = key_word(data + 8u * i, size - 8u * i);
    return i + 1u;
}

/* The node of the longest prefix matching key; when copy is set, its
 * value is copied out inside the validated walk. */
LPM_ALWAYS_INLINE lpm_node *find_longest(lbc_map *m, const void *key, void *copy)
{
    uint64_t kw[LPM_WORDS_MAX];
    const uint32_t words = lpm_key_words(m, key, kw);
    const uint32_t plen = key_prefixlen(key);
    if (words == 1)
        return walk(m, kw, plen, 1, copy);
    if (words == 2)
        return walk(m, kw, plen, 2, copy);
    return words ? walk(m, kw, plen, 0, copy) : NULL;
}

static void *lpm_lookup(lbc_map *m, const void *key)
{
    lpm_node *n = find_longest(m, key, NULL);
    return n ? node_value(m, n) : NULL;
}

static int lpm_lookup_copy(lbc_map *m, const void *key, void *value, uint64_t flags)
{
    (void)flags;
    return find_longest(m, key, value) ? 0 : -ENOENT;
}

/* ---- update and delete (under the lock) ---- */

/* Linux's trie_check_add_elem: may a new prefix be added? */
static int check_add(lpm_ctrl *c, uint64_t flags, uint32_t max_entries)
{
    if (flags == LBC_EXIST)
        return -ENOENT;
    if (c->n_entries == max_entries)
        return -ENOSPC;
    c->n_entries++;
    return 0;
}

static int update_locked(lbc_map *m, const void *key, const void *value, uint64_t flags)
{
    lpm_ctrl *c = ctrl(m);
    const unsigned char *data = key_data(key);
    uint32_t plen = key_prefixlen(key);
    uint32_t *slot = &c->root;
    lpm_node *n = NULL;
    uint32_t match = 0;
    while (*slot) {
        n = node_at(m, *slot);
        match = prefix_match(m, n, data, plen);
        if (n->prefixlen != match || n->prefixlen == plen)
            break;
        slot = &n->child[extract_bit(data, n->prefixlen)];
        n = NULL;
    }
    int err;
    if (!n) { /* an empty slot: the new prefix goes there */
        err = check_add(c, flags, m->max_entries);
        if (err)
            return err;
        lpm_node *nn = node_alloc(m);
        fill_node(m, nn, key, value);
        lbc_astore_u32(slot, node_link(m, nn));
        return 0;
    }
    if (n->prefixlen == match) { /* the same prefix: replace in place */
        if (!(n->flags & LPM_NODE_IM)) {
            if (flags == LBC_NOEXIST)
                return -EEXIST;
        } else {
            err = check_add(c, flags, m->max_entries);
            if (err)
                return err;
        }
        fill_node(m, n, key, value);
        n->flags = 0;
        return 0;
    }
    err = check_add(c, flags, m->max_entries);
    if (err)
        return err;
    lpm_node *nn = node_alloc(m);
    fill_node(m, nn, key, value);
    if (match == plen) { /* the new prefix is an ancestor of n */
        nn->child[extract_bit(node_data(n), match)] = node_link(m, n);
        lbc_astore_u32(slot, node_link(m, nn));
        return 0;
    }
    /* the two part after match bits: an intermediate node joins them */
    lpm_node *im = node_alloc(m);
    im->prefixlen = match;
    im->flags = LPM_NODE_IM;
    memcpy(node_data(im), node_data(n), c->data_size);
    memset(node_value(m, im), 0, m->value_size);
    int bit = extract_bit(data, match);
    im->child[bit] = node_link(m, nn);
    im->child[!bit] = node_link(m, n);
    lbc_astore_u32(slot, node_link(m, im));
    return 0;
}

static int lpm_update(lbc_map *m, const void *key, const void *value, uint64_t flags,
                      int all_slots)
{
    (void)all_slots;
    lpm_ctrl *c = ctrl(m);
    if (flags > LBC_EXIST)
        return -EINVAL;
    if (key_prefixlen(key) > c->max_prefixlen)
        return -EINVAL;
    lpm_lock(c);
    int err = update_locked(m, key, value, flags);
    lpm_unlock(c);
    return err;
}

static int delete_locked(lbc_map *m, const void *key)
{
    lpm_ctrl *c = ctrl(m);
    const unsigned char *data = key_data(key);
    uint32_t plen = key_prefixlen(key);
    uint32_t *trim = &c->root, *trim2 = trim;
    lpm_node *n = NULL, *parent = NULL;
    uint32_t match = 0;
    while (*trim) {
        n = node_at(m, *trim);
        match = prefix_match(m, n, data, plen);
        if (n->prefixlen != match || n->prefixlen == plen)
            break;
        parent = n;
        trim2 = trim;
        trim = &n->child[extract_bit(data, n->prefixlen)];
        n = NULL;
    }
    if (!n || n->prefixlen != plen || n->prefixlen != match || (n->flags & LPM_NODE_IM))
        return -ENOENT;
    c->n_entries--;
    if (n->child[0] && n->child[1]) { /* keep it as an intermediate node */
        n->flags |= LPM_NODE_IM;
        return 0;
    }
    if (parent && (parent->flags & LPM_NODE_IM) && !n->child[0] && !n->child[1]) {
        /* the intermediate parent goes too; its other child moves up */
        uint32_t other = parent->child[0] == node_link(m, n) ? parent->child[1]
                                                             : parent->child[0];
        lbc_astore_u32(trim2, other);
        node_free(m, parent);
        node_free(m, n);
        return 0;
    }
    lbc_astore_u32(trim, n->child[0] ? n->child[0] : n->child[1]);
    node_free(m, n);
    return 0;
}

static int lpm_delete(lbc_map *m, const void *key)
{
    lpm_ctrl *c = ctrl(m);
    if (key_prefixlen(key) > c->max_prefixlen)
        return -EINVAL;
    lpm_lock(c);
    int err = delete_locked(m, key);
    lpm_unlock(c);
    return err;
}

/* ---- get_next_key: Linux's post-order walk ---- */

static lpm_node *leftmost(lbc_map *m, uint32_t link)
{
    lpm_node *next = NULL;
    while (link) {
        lpm_node *n = node_at(m, link);
        if (n->flags & LPM_NODE_IM) {
            link = n->child[0];
        } else {
            next = n;
            link = n->child[0] ? n->child[0] : n->child[1];
        }
    }
    return next;
}

static int next_locked(lbc_map *m, const void *key, void *next)
{
    lpm_ctrl *c = ctrl(m);
    lpm_node *found = NULL;
    if (!c->root)
        return -ENOENT;
    uint32_t search_root = c->root;
    if (key && key_prefixlen(key) <= c->max_prefixlen) {
        const unsigned char *data = key_data(key);
        uint32_t plen = key_prefixlen(key);
        uint32_t stack[LPM_DATA_MAX * 8u + 1u];
        int sp = -1;
        uint32_t link = c->root, match = 0;
        lpm_node *n = NULL;
        while (link) {
            n = node_at(m, link);
            stack[++sp] = link;
            match = prefix_match(m, n, data, plen);
            if (n->prefixlen != match || n->prefixlen == plen)
                break;
            link = n->child[extract_bit(data, n->prefixlen)];
            n = NULL;
        }
        if (n && n->prefixlen == match && !(n->flags & LPM_NODE_IM)) {
            /* the exact key: the next node in post-order */
            uint32_t cur = stack[sp];
            search_root = 0;
            while (sp > 0) {
                lpm_node *parent = node_at(m, stack[sp - 1]);
                if (parent->child[0] == cur && parent->child[1]) {
                    search_root = parent->child[1];
                    break;
                }
                if (!(parent->flags & LPM_NODE_IM)) {
                    found = parent;
                    break;
                }
                cur = stack[sp - 1];
                sp--;
            }
            if (!found && !search_root)
                return -ENOENT;
        }
    }
    if (!found)
        found = leftmost(m, search_root);
    if (!found)
        return -ENOENT;
    uint32_t p = found->prefixlen;
    memcpy(next, &p, 4);
    memcpy((unsigned char *)next + 4, node_data(found), c->data_size);
    return 0;
}

static int lpm_get_next_key(lbc_map *m, const void *key, void *next)
{
    lpm_ctrl *c = ctrl(m);
    lpm_lock(c);
    int err = next_locked(m, key, next);
    lpm_unlock(c);
    return err;
}

/* Pinning: a region made by another process. The handle caches nothing,
 * but every link and size in the control block must fit this region. */
static int lpm_attach(lbc_map *m)
{
    lpm_ctrl *c = ctrl(m);
    uint64_t nodes = 2u * (uint64_t)m->max_entries;
    if (c->data_size != m->key_size - 4u || c->max_prefixlen != c->data_size * 8u ||
        c->node_size != node_bytes(m->key_size, m->value_size) ||
        nodes_off() + nodes * c->node_size > m->r->region_size || c->bump > nodes ||
        c->root > nodes || c->free_head > nodes || c->n_entries > m->max_entries)
        return -EINVAL;
    return 0;
}

const lbc_map_ops lbc_lpm_ops = {
    .check = lpm_check,
    .size = lpm_size,
    .init = lpm_init,
    .lookup = lpm_lookup,
    .update = lpm_update,
    .delete_elem = lpm_delete,
    .get_next_key = lpm_get_next_key,
    .lookup_copy = lpm_lookup_copy,
    .lookup_and_delete = NULL,
    .lookup_batch = NULL, /* the generic batch, driven by get_next_key */
    .batch_token_size = 0,
    .attach = lpm_attach,
};
