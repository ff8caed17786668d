/* LRU lists of LRU_HASH and LRU_PERCPU_HASH: one list per map, or one per
 * CPU slot with BPF_F_NO_COMMON_LRU, each a doubly-linked list of element
 * indexes under a spinlock. New and updated elements go to the head;
 * lookups only set a reference bit (no lock on the lookup path), and
 * eviction gives referenced elements a second chance (moved to the head,
 * bit cleared) before taking the least recently used one from the tail.
 * Like Linux's LRU this is an approximation of strict LRU order.
 *
 * Ownership: whoever takes an element off its list (a delete, or an evictor)
 * is the one that frees or reuses it; lru_list is 0 once it is off. */
#include "map_internal.h"

static lbc_lru_list *list_no(const lbc_map *m, uint32_t i) { return lbc_lru_lists(m) + i; }

static uint32_t list_count(const lbc_map *m) { return m->percpu_lru ? m->ncpus : 1u; }

static uint32_t own_list(const lbc_map *m)
{
    return m->percpu_lru ? (uint32_t)lbc_cpu_slot() % m->ncpus : 0u;
}

/* List operations; the caller holds L->lock. */
static void push_head(const lbc_map *m, lbc_lru_list *L, lbc_hash_elem *e, uint32_t link)
{
    e->lru_prev = 0;
    e->lru_next = L->head;
    if (L->head)
        lbc_hash_elem_at(m, L->head - 1u)->lru_prev = link;
    else
        L->tail = link;
    L->head = link;
    L->len++;
}

static void unlink_node(const lbc_map *m, lbc_lru_list *L, lbc_hash_elem *e)
{
    if (e->lru_prev)
        lbc_hash_elem_at(m, e->lru_prev - 1u)->lru_next = e->lru_next;
    else
        L->head = e->lru_next;
    if (e->lru_next)
        lbc_hash_elem_at(m, e->lru_next - 1u)->lru_prev = e->lru_prev;
    else
        L->tail = e->lru_prev;
    e->lru_prev = e->lru_next = 0;
    L->len--;
}

void lbc_lru_add(lbc_map *m, lbc_hash_elem *e)
{
    uint32_t i = own_list(m);
    lbc_lru_list *L = list_no(m, i);
    lbc_spin_lock(&L->lock);
    push_head(m, L, e, lbc_hash_elem_index(m, e) + 1u);
    lbc_astore_u32(&e->lru_list, i + 1u);
    lbc_spin_unlock(&L->lock);
}

int lbc_lru_remove(lbc_map *m, lbc_hash_elem *e)
{
    uint32_t i = lbc_aload_u32(&e->lru_list);
    if (!i)
        return 0;
    lbc_lru_list *L = list_no(m, i - 1u);
    lbc_spin_lock(&L->lock);
    int on = e->lru_list == i;  /* an element never changes lists while on one */
    if (on) {
        unlink_node(m, L, e);
        lbc_astore_u32(&e->lru_list, 0);
    }
    lbc_spin_unlock(&L->lock);
    return on;
}

void lbc_lru_touch(lbc_map *m, lbc_hash_elem *e)
{
    uint32_t i = lbc_aload_u32(&e->lru_list);
    if (!i)
        return;
    lbc_lru_list *L = list_no(m, i - 1u);
    lbc_spin_lock(&L->lock);
    if (e->lru_list == i) {
        unlink_node(m, L, e);
        push_head(m, L, e, lbc_hash_elem_index(m, e) + 1u);
        e->lru_ref = 0;
    }
    lbc_spin_unlock(&L->lock);
}

static lbc_hash_elem *evict_from(lbc_map *m, lbc_lru_list *L)
{
    lbc_spin_lock(&L->lock);
    lbc_hash_elem *victim = NULL;
    /* every element gets at most one second chance */
    for (uint32_t steps = 0, limit = L->len * 2u + 1u; L->tail && steps < limit; steps++) {
        uint32_t link = L->tail;
        lbc_hash_elem *e = lbc_hash_elem_at(m, link - 1u);
        unlink_node(m, L, e);
        if (lbc_aload_u32(&e->lru_ref)) {
            lbc_astore_u32(&e->lru_ref, 0);
            push_head(m, L, e, link);
            continue;
        }
        lbc_astore_u32(&e->lru_list, 0);
        victim = e;
        break;
    }
    lbc_spin_unlock(&L->lock);
    return victim;
}

lbc_hash_elem *lbc_lru_evict(lbc_map *m)
{
    /* the caller's own list first; with per-slot lists, then the others */
    uint32_t n = list_count(m), start = own_list(m);
    for (uint32_t k = 0; k < n; k++) {
        lbc_hash_elem *e = evict_from(m, list_no(m, (start + k) % n));
        if (e)
            return e;
    }
    return NULL;
}
