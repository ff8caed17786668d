/* QUEUE and STACK: keyless maps of max_entries values in a ring of
 * max_entries + 1 slots (one stays empty to tell full from empty), as
 * Linux. Push is an update with no key (BPF_EXIST overwrites the oldest
 * value when full, otherwise a full map is E2BIG); pop is lookup-and-delete
 * and peek is lookup, both with no key. A queue pops the oldest value, a
 * stack the newest. One spinlock per map guards the ring. */
#include "map_internal.h"

#define QS_FLAGS (LBC_F_NUMA_NODE | LBC_F_ACCESS_MASK)

typedef struct qs_ctrl {
    uint32_t lock;
    uint32_t head;  /* next slot to write */
    uint32_t tail;  /* oldest value */
    uint32_t size;  /* slots: max_entries + 1 */
} qs_ctrl;

static uint64_t ctrl_off(void) { return (sizeof(lbc_region_hdr) + 63u) & ~(uint64_t)63u; }
static uint64_t slots_off(void) { return ctrl_off() + 64u; }

static inline qs_ctrl *ctrl(const lbc_map *m) { return (qs_ctrl *)(void *)(m->base + ctrl_off()); }
static inline unsigned char *slot(const lbc_map *m, uint32_t i)
{
    return m->base + slots_off() + (uint64_t)i * m->value_stride;
}

static int qs_check(const lbc_map_attr *a)
{
    if (a->max_entries == 0 || a->key_size != 0 || a->value_size == 0 ||
        (a->map_flags & ~QS_FLAGS))
        return -EINVAL;
    if (a->value_size > LBC_MAX_VALUE_SIZE)
        return -E2BIG;
    return 0;
}

static int qs_size(const lbc_map_attr *a, uint32_t ncpus, uint64_t *size)
{
    (void)ncpus;
    uint64_t slots = (uint64_t)a->max_entries + 1u;
    uint64_t stride = lbc_round8(a->value_size);
    if (slots > (UINT64_MAX / 2 - slots_off()) / stride)
        return -ENOMEM;
    *size = slots_off() + slots * stride;
    return 0;
}

static void qs_init(lbc_map *m) { ctrl(m)->size = m->max_entries + 1u; }

static int is_stack(const lbc_map *m) { return m->map_type == 23u; }

static void *qs_lookup(lbc_map *m, const void *key)
{
    (void)m;
    (void)key;
    return NULL; /* programs use push / pop / peek */
}

static int qs_push(lbc_map *m, const void *key, const void *value, uint64_t flags, int all)
{
    (void)key;
    (void)all;
    if ((flags & LBC_NOEXIST) || flags > LBC_EXIST)
        return -EINVAL;
    qs_ctrl *c = ctrl(m);
    int err = 0;
    lbc_spin_lock(&c->lock);
    uint32_t next = c->head + 1u == c->size ? 0u : c->head + 1u;
    if (next == c->tail) { /* full */
        if (flags & LBC_EXIST)
            c->tail = c->tail + 1u == c->size ? 0u : c->tail + 1u;
        else
            err = -E2BIG;
    }
    if (!err) {
        memcpy(slot(m, c->head), value, m->value_size);
        c->head = next;
    }
    lbc_spin_unlock(&c->lock);
    return err;
}

/* Copy the value pop or peek would return; take it off when del. */
static int qs_take(lbc_map *m, void *value, int del)
{
    qs_ctrl *c = ctrl(m);
    int err = 0;
    lbc_spin_lock(&c->lock);
    if (c->head == c->tail) {
        err = -ENOENT;
    } else if (is_stack(m)) {
        uint32_t top = c->head == 0 ? c->size - 1u : c->head - 1u;
        memcpy(value, slot(m, top), m->value_size);
        if (del)
            c->head = top;
    } else {
        memcpy(value, slot(m, c->tail), m->value_size);
        if (del)
            c->tail = c->tail + 1u == c->size ? 0u : c->tail + 1u;
    }
    lbc_spin_unlock(&c->lock);
    return err;
}

static int qs_delete(lbc_map *m, const void *key)
{
    (void)m;
    (void)key;
    return -EINVAL;
}

static int qs_get_next_key(lbc_map *m, const void *key, void *next)
{
    (void)m;
    (void)key;
    (void)next;
    return -EINVAL;
}

static int qs_peek(lbc_map *m, const void *key, void *value, uint64_t flags)
{
    (void)key;
    (void)flags;
    return qs_take(m, value, 0);
}

static int qs_pop(lbc_map *m, const void *key, void *value, uint64_t flags)
{
    (void)key;
    if (flags)
        return -EINVAL;
    return qs_take(m, value, 1);
}

const lbc_map_ops lbc_queue_stack_ops = {
    .check = qs_check,
    .size = qs_size,
    .init = qs_init,
    .lookup = qs_lookup,
    .update = qs_push,
    .delete_elem = qs_delete,
    .get_next_key = qs_get_next_key,
    .lookup_copy = qs_peek,
    .lookup_and_delete = qs_pop,
    .lookup_batch = NULL,
    .batch_token_size = 0,
};
