/* BPF_MAP_TYPE_RINGBUF with Linux's protocol: a consumer position page, a
 * producer position page and a power-of-two data area of 8-byte-aligned
 * records, each behind an 8-byte header (length with BUSY and DISCARD bits,
 * page offset). Producers reserve under a spinlock and commit by clearing
 * BUSY; the consumer skips discarded records. Where Linux maps the data area
 * twice so a record may wrap around its end, this store never lets one
 * wrap: a reservation that would is preceded by a discarded filler record
 * reaching to the end, which every consumer of the protocol skips. */
#include "map_internal.h"

#define RB_PAGE 4096u
#define RB_BUSY (1u << 31)
#define RB_DISCARD (1u << 30)
#define RB_HDR 8u
#define RB_MAX_RECORD (UINT32_MAX / 4)
#define RB_NO_WAKEUP 1u
#define RB_FORCE_WAKEUP 2u

/* Region layout: page 0 the region header and this control block, page 1
 * the consumer position, page 2 the producer position, then the data. */
#define RB_CTRL_OFF 512u
#define RB_CONS_OFF (1u * RB_PAGE)
#define RB_PROD_OFF (2u * RB_PAGE)
#define RB_DATA_OFF (3u * RB_PAGE)

typedef struct rb_ctrl {
    uint32_t lock;
    uint32_t pad;
    uint64_t mask;
} rb_ctrl;

static rb_ctrl *ctrl(const lbc_map *m) { return (rb_ctrl *)(void *)(m->base + RB_CTRL_OFF); }
static uint64_t *cons_pos(const lbc_map *m) { return (uint64_t *)(void *)(m->base + RB_CONS_OFF); }
static uint64_t *prod_pos(const lbc_map *m) { return (uint64_t *)(void *)(m->base + RB_PROD_OFF); }
static unsigned char *data(const lbc_map *m) { return m->base + RB_DATA_OFF; }

static uint64_t load_acquire(const uint64_t *p) { return lbc_afetch_or_u64((uint64_t)(uintptr_t)p, 0); }
static void store_release(uint64_t *p, uint64_t v) { (void)lbc_axchg_u64((uint64_t)(uintptr_t)p, v); }
static uint32_t load_len(const uint32_t *p) { return lbc_afetch_or_u32((uint64_t)(uintptr_t)p, 0); }

static int rb_check(const lbc_map_attr *a)
{
    if (a->key_size || a->value_size || (a->map_flags & ~LBC_F_NUMA_NODE) || a->spin_lock_off >= 0)
        return -EINVAL;
    if (a->max_entries < RB_PAGE || (a->max_entries & (a->max_entries - 1)) ||
        (a->max_entries % RB_PAGE))
        return -EINVAL;
    return 0;
}

static int rb_size(const lbc_map_attr *a, uint32_t ncpus, uint64_t *size)
{
    (void)ncpus;
    *size = (uint64_t)RB_DATA_OFF + a->max_entries;
    return 0;
}

static void rb_init(lbc_map *m) { ctrl(m)->mask = (uint64_t)m->max_entries - 1; }

static void *rb_lookup(lbc_map *m, const void *key) { (void)m; (void)key; return NULL; }
static int rb_update(lbc_map *m, const void *k, const void *v, uint64_t f, int all)
{
    (void)m; (void)k; (void)v; (void)f; (void)all;
    return -ENOTSUPP;
}
static int rb_delete(lbc_map *m, const void *k) { (void)m; (void)k; return -ENOTSUPP; }
static int rb_next(lbc_map *m, const void *k, void *n) { (void)m; (void)k; (void)n; return -ENOTSUPP; }
static int rb_copy(lbc_map *m, const void *k, void *v, uint64_t f)
{
    (void)m; (void)k; (void)v; (void)f;
    return -ENOTSUPP;
}
static int rb_batch(lbc_map *m, const void *in, void *out, void *keys, void *values,
                    uint32_t *count, uint64_t flags, int del)
{
    (void)m; (void)in; (void)out; (void)keys; (void)values; (void)flags; (void)del;
    *count = 0;
    return -ENOTSUPP;
}

const lbc_map_ops lbc_ringbuf_ops = {
    .check = rb_check,
    .size = rb_size,
    .init = rb_init,
    .lookup = rb_lookup,
    .update = rb_update,
    .delete_elem = rb_delete,
    .get_next_key = rb_next,
    .lookup_copy = rb_copy,
    .lookup_and_delete = rb_copy,
    .lookup_batch = rb_batch,
    .batch_token_size = 0,
};

static void spin_lock(uint32_t *w)
{
    while (lbc_axchg_u32((uint64_t)(uintptr_t)w, 1)) {
    }
}
static void spin_unlock(uint32_t *w) { (void)lbc_axchg_u32((uint64_t)(uintptr_t)w, 0); }

static void write_header(const lbc_map *m, unsigned char *hdr, uint32_t len)
{
    const uint32_t pg_off = (uint32_t)((uint64_t)(hdr - m->base) / RB_PAGE);
    memcpy(hdr + 4, &pg_off, 4);
    (void)lbc_axchg_u32((uint64_t)(uintptr_t)hdr, len);
}

void *lbc_ringbuf_reserve(lbc_map *m, uint64_t size, uint64_t flags)
{
    if (m->ops != &lbc_ringbuf_ops || flags || size > RB_MAX_RECORD) return NULL;
    const uint64_t ring = (uint64_t)m->max_entries;
    const uint64_t len = (size + RB_HDR + 7u) & ~(uint64_t)7u;
    if (len > ring) return NULL;
    rb_ctrl *c = ctrl(m);
    spin_lock(&c->lock);
    const uint64_t cons = load_acquire(cons_pos(m));
    const uint64_t pos = *prod_pos(m);
    const uint64_t off = pos & c->mask;
    const uint64_t pad = off + len > ring ? ring - off : 0;
    const uint64_t new_prod = pos + pad + len;
    if (new_prod - cons > c->mask) {
        spin_unlock(&c->lock);
        return NULL;
    }
    if (pad) write_header(m, data(m) + off, (uint32_t)(pad - RB_HDR) | RB_DISCARD);
    unsigned char *hdr = data(m) + ((pos + pad) & c->mask);
    write_header(m, hdr, (uint32_t)size | RB_BUSY);
    store_release(prod_pos(m), new_prod);
    spin_unlock(&c->lock);
    return hdr + RB_HDR;
}

static void commit(void *sample, int discard)
{
    unsigned char *hdr = (unsigned char *)sample - RB_HDR;
    uint32_t len;
    memcpy(&len, hdr, 4);
    len &= ~RB_BUSY;
    if (discard) len |= RB_DISCARD;
    (void)lbc_axchg_u32((uint64_t)(uintptr_t)hdr, len);
}

void lbc_ringbuf_submit(void *sample, uint64_t flags)
{
    (void)flags; /* wakeups: consumers poll */
    if (sample) commit(sample, 0);
}

void lbc_ringbuf_discard(void *sample, uint64_t flags)
{
    (void)flags;
    if (sample) commit(sample, 1);
}

int lbc_ringbuf_output(lbc_map *m, const void *src, uint64_t size, uint64_t flags)
{
    if (flags & ~(uint64_t)(RB_NO_WAKEUP | RB_FORCE_WAKEUP)) return -EINVAL;
    void *rec = lbc_ringbuf_reserve(m, size, 0);
    if (!rec) return -EAGAIN;
    if (size) memcpy(rec, src, (size_t)size);
    commit(rec, 0);
    return 0;
}

uint64_t lbc_ringbuf_query(lbc_map *m, uint64_t flags)
{
    if (m->ops != &lbc_ringbuf_ops) return 0;
    const uint64_t cons = load_acquire(cons_pos(m)), prod = load_acquire(prod_pos(m));
    switch (flags) {
    case 0: return prod - cons;              /* BPF_RB_AVAIL_DATA */
    case 1: return (uint64_t)m->max_entries; /* BPF_RB_RING_SIZE */
    case 2: return cons;                     /* BPF_RB_CONS_POS */
    case 3: return prod;                     /* BPF_RB_PROD_POS */
    default: return 0;
    }
}

int64_t lbc_ringbuf_consume(lbc_map *m, lbc_ringbuf_sample_fn cb, void *ctx, uint64_t limit)
{
    if (m->ops != &lbc_ringbuf_ops) return -EINVAL;
    const uint64_t mask = ctrl(m)->mask;
    uint64_t cons = load_acquire(cons_pos(m));
    int64_t count = 0;
    while ((uint64_t)count < limit) {
        const uint64_t prod = load_acquire(prod_pos(m));
        if (cons >= prod) break;
        unsigned char *hdr = data(m) + (cons & mask);
        const uint32_t len = load_len((const uint32_t *)(void *)hdr);
        if (len & RB_BUSY) break;
        const uint32_t size = len & ~(RB_BUSY | RB_DISCARD);
        cons += ((uint64_t)size + RB_HDR + 7u) & ~(uint64_t)7u;
        if (!(len & RB_DISCARD)) {
            const int err = cb ? cb(ctx, hdr + RB_HDR, size) : 0;
            if (err < 0) {
                store_release(cons_pos(m), cons);
                return err;
            }
            count++;
        }
        store_release(cons_pos(m), cons);
    }
    return count;
}
