/* PERF_EVENT_ARRAY: an fd array (map_prog_array.c) whose values are perf
 * event buffers, one per CPU slot, and bpf_perf_event_output writing to
 * them.
 *
 * A buffer (lbc_perf_ring) is what a perf event fd stands for on Linux:
 * the consumer (perf_buffer__new) makes one per CPU slot and stores it in
 * the map. Records have Linux's layout: a struct perf_event_header
 * {u32 type, u16 misc, u16 size}, then for PERF_RECORD_SAMPLE a u32 raw
 * size and the data, the raw size rounded so that the record is a multiple
 * of 8 bytes (the consumer sees that rounded size, as with libbpf); when
 * samples were lost for want of room, a PERF_RECORD_LOST {u64 id, u64 lost}
 * goes before the next sample that fits. Records may wrap around the end of
 * the buffer. Producers take the buffer's spinlock; there is one consumer.
 * A buffer is one allocation with no pointers inside. */
#include <stdlib.h>

#include "map_internal.h"

#define PERF_RECORD_LOST 2u
#define PERF_RECORD_SAMPLE 9u
#define F_INDEX_MASK 0xffffffffull
#define F_CURRENT_CPU 0xffffffffull

struct lbc_perf_ring {
    uint32_t lock;
    uint32_t size;   /* data bytes, a power of two */
    uint32_t cpu;
    uint32_t pad;
    uint64_t head;   /* producer position (bytes ever written) */
    uint64_t tail;   /* consumer position */
    uint64_t lost;   /* samples lost and not yet reported */
    unsigned char data[];
};

lbc_perf_ring *lbc_perf_ring_new(uint32_t size, uint32_t cpu)
{
    if (size < 64u || (size & (size - 1u)) || size > (1u << 30))
        return NULL;
    lbc_perf_ring *r = calloc(1, sizeof *r + size);
    if (!r)
        return NULL;
    r->size = size;
    r->cpu = cpu;
    return r;
}

void lbc_perf_ring_free(lbc_perf_ring *r) { free(r); }

static void put(lbc_perf_ring *r, uint64_t pos, const void *src, uint32_t len)
{
    uint32_t off = (uint32_t)(pos & (r->size - 1u));
    uint32_t first = r->size - off < len ? r->size - off : len;
    memcpy(r->data + off, src, first);
    memcpy(r->data, (const unsigned char *)src + first, len - first);
}

static void get(const lbc_perf_ring *r, uint64_t pos, void *dst, uint32_t len)
{
    uint32_t off = (uint32_t)(pos & (r->size - 1u));
    uint32_t first = r->size - off < len ? r->size - off : len;
    memcpy(dst, r->data + off, first);
    memcpy((unsigned char *)dst + first, r->data, len - first);
}

static void put_header(lbc_perf_ring *r, uint64_t pos, uint32_t type, uint32_t size)
{
    unsigned char h[8];
    uint16_t misc = 0, sz = (uint16_t)size;
    memcpy(h, &type, 4);
    memcpy(h + 4, &misc, 2);
    memcpy(h + 6, &sz, 2);
    put(r, pos, h, 8);
}

int lbc_perf_ring_output(lbc_perf_ring *r, const void *data, uint64_t size)
{
    if (size > 0xffffu)
        return -E2BIG;
    uint32_t raw = (uint32_t)(((size + 4u + 7u) & ~7ull) - 4u);
    uint32_t rec = 8u + 4u + raw;
    if (rec > 0xffffu || rec > r->size)
        return -E2BIG;
    lbc_spin_lock(&r->lock);
    uint64_t head = r->head;
    uint64_t used = head - lbc_aload_u64(&r->tail);
    uint32_t need = rec + (r->lost ? 24u : 0u);
    if (used + need > r->size) {
        r->lost++;
        lbc_spin_unlock(&r->lock);
        return -ENOSPC;
    }
    if (r->lost) {
        uint64_t id = 0;
        put_header(r, head, PERF_RECORD_LOST, 24u);
        put(r, head + 8u, &id, 8);
        put(r, head + 16u, &r->lost, 8);
        head += 24u;
        r->lost = 0;
    }
    put_header(r, head, PERF_RECORD_SAMPLE, rec);
    put(r, head + 8u, &raw, 4);
    put(r, head + 12u, data, (uint32_t)size);
    static const unsigned char zeros[8];
    put(r, head + 12u + size, zeros, raw - (uint32_t)size);
    lbc_astore_u64(&r->head, head + rec);
    lbc_spin_unlock(&r->lock);
    return 0;
}

int lbc_perf_ring_read(lbc_perf_ring *r, void *out, uint32_t out_size, uint32_t *type,
                       uint64_t *value)
{
    uint64_t tail = r->tail;
    if (lbc_aload_u64(&r->head) == tail)
        return 0;
    unsigned char h[8];
    get(r, tail, h, 8);
    uint32_t t;
    uint16_t sz;
    memcpy(&t, h, 4);
    memcpy(&sz, h + 6, 2);
    *type = t;
    if (t == PERF_RECORD_LOST) {
        get(r, tail + 16u, value, 8);
    } else {
        uint32_t raw;
        get(r, tail + 8u, &raw, 4);
        if (raw > out_size)
            return -ENOSPC;
        get(r, tail + 12u, out, raw);
        *value = raw;
    }
    lbc_astore_u64(&r->tail, tail + sz);
    return 1;
}

uint64_t lbc_perf_ring_pending(const lbc_perf_ring *r)
{
    return lbc_aload_u64(&r->head) - lbc_aload_u64(&r->tail);
}

int lbc_perf_event_array_set(lbc_map *m, uint32_t index, lbc_perf_ring *ring)
{
    if (m->map_type != LBC_MAP_PERF_EVENT_ARRAY)
        return -EINVAL;
    return lbc_fd_array_store(m, index, (uint64_t)(uintptr_t)ring, 0);
}

int lbc_perf_event_output(lbc_map *m, uint64_t flags, const void *data, uint64_t size)
{
    if (m->map_type != LBC_MAP_PERF_EVENT_ARRAY || (flags & ~F_INDEX_MASK))
        return -EINVAL;
    uint32_t cpu = (uint32_t)lbc_cpu_slot();
    uint64_t index = flags & F_INDEX_MASK;
    if (index == F_CURRENT_CPU)
        index = cpu;
    if (index >= m->max_entries)
        return -E2BIG;
    lbc_perf_ring *r = (lbc_perf_ring *)(uintptr_t)lbc_fd_array_ref(m, (uint32_t)index);
    if (!r)
        return -ENOENT;
    if (r->cpu != cpu) /* Linux: the event must be on the current CPU */
        return -EOPNOTSUPP;
    return lbc_perf_ring_output(r, data, size);
}
