/* The socket buffer helpers (tc, socket filter, cgroup_skb), with Linux's
 * checks and results: bpf_skb_load_bytes / bpf_skb_store_bytes, the L3 / L4
 * checksum fix-ups, bpf_skb_change_tail / _head / _proto / _type and tc's
 * bpf_redirect. The packet lies in a buffer the hook allocates with room to
 * grow (lbc_skb_ctx.buf_start .. buf_end); a helper that resizes it moves the
 * bytes inside that buffer when one end runs out of room and updates
 * data / data_end, __sk_buff.len and the legacy LD_ABS packet, as Linux
 * recomputes the packet pointers. They act only on the skb context the run
 * was started on (any other r1 gets -EINVAL). The skb's checksum state is
 * CHECKSUM_NONE (as in BPF_PROG_TEST_RUN), so checksum fix-ups change the
 * packet bytes only. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "lbc_runtime.h"

#define HELPER(name) \
    uint64_t lbc_helper_##name(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, \
                               uint64_t r3, uint64_t r4, uint64_t r5)
#define ERR(e) ((uint64_t)(int64_t)-(e))
#define LBC_ENOTSUPP 524 /* the kernel's ENOTSUPP */
#define LBC_INT_MAX 0x7fffffffu

/* Linux's flag values (uapi/linux/bpf.h). */
enum {
    F_RECOMPUTE_CSUM = 1, F_INVALIDATE_HASH = 2,
    F_HDR_FIELD_MASK = 0xf, F_PSEUDO_HDR = 0x10, F_MARK_MANGLED_0 = 0x20,
    F_MARK_ENFORCE = 0x40, F_IPV6 = 0x80, F_INGRESS = 1,
};
enum { TC_ACT_SHOT = 2, TC_ACT_REDIRECT = 7 };
enum { SKB_LEN_AT = 0, SKB_PKT_TYPE_AT = 4, SKB_PROTOCOL_AT = 16, SKB_HASH_AT = 68 };
enum { PACKET_OTHERHOST = 3, IP_TO_IPV6_GROWTH = 20 };
#define ETH_P_IP_BE 0x0008u   /* htons(ETH_P_IP) as a little-endian u16 */
#define ETH_P_IPV6_BE 0xdd86u /* htons(ETH_P_IPV6) */

static lbc_skb_ctx *skb_ctx(const lbc_exec *ex, uint64_t ctx)
{
    if (!ctx || ctx != ex->mem_start || ex->mem_size < sizeof(lbc_skb_ctx)) return NULL;
    lbc_skb_ctx *s = (lbc_skb_ctx *)(uintptr_t)ctx;
    return s->magic == LBC_SKB_CTX_MAGIC ? s : NULL;
}

static uint32_t field32(const lbc_skb_ctx *s, size_t at)
{
    uint32_t v;
    memcpy(&v, s->sk_buff + at, sizeof v);
    return v;
}

static void set_field32(lbc_skb_ctx *s, size_t at, uint32_t v)
{
    memcpy(s->sk_buff + at, &v, sizeof v);
}

static uint64_t skb_len(const lbc_skb_ctx *s)
{
    return s->data_end - s->data;
}

static uint8_t *pkt(const lbc_skb_ctx *s)
{
    return (uint8_t *)(uintptr_t)s->data;
}

/* The packet is now [data, data + len): update the context and LD_ABS. */
static void set_packet(lbc_exec *ex, lbc_skb_ctx *s, uint64_t data, uint64_t len)
{
    s->data = data;
    s->data_meta = data;
    s->data_end = data + len;
    set_field32(s, SKB_LEN_AT, (uint32_t)len);
    ex->pkt = (const uint8_t *)(uintptr_t)data;
    ex->pkt_len = len;
}

/* Make room for `head` more bytes before the packet and `tail` after it
 * inside the buffer, moving the packet when one side lacks room; 0 or
 * -ENOMEM when the buffer cannot hold them all. */
static int make_room(lbc_exec *ex, lbc_skb_ctx *s, uint64_t head, uint64_t tail)
{
    const uint64_t len = skb_len(s);
    const uint64_t cap = s->buf_end - s->buf_start;
    if (head > cap || tail > cap || len > cap - head - tail) return -ENOMEM;
    if (s->data - s->buf_start >= head && s->buf_end - s->data_end >= tail) return 0;
    /* centre the packet in the spare room, keeping the asked room on each side */
    const uint64_t spare = cap - head - tail - len;
    const uint64_t to = s->buf_start + head + spare / 2;
    memmove((void *)(uintptr_t)to, pkt(s), (size_t)len);
    set_packet(ex, s, to, len);
    return 0;
}

/* bpf_skb_load_bytes(skb, offset, to, len): copy len bytes at offset of the
 * packet into to; -EFAULT (to zeroed) when they are not all in the packet. */
HELPER(skb_load_bytes)
{
    (void)data, (void)r5;
    lbc_skb_ctx *s = skb_ctx(ex, r1);
    const uint32_t off = (uint32_t)r2, len = (uint32_t)r4;
    void *to = (void *)(uintptr_t)r3;
    if (!s) return ERR(EINVAL);
    if (off > LBC_INT_MAX || (uint64_t)off + len > skb_len(s)) {
        memset(to, 0, len);
        return ERR(EFAULT);
    }
    memcpy(to, pkt(s) + off, len);
    return 0;
}

/* bpf_skb_store_bytes(skb, offset, from, len, flags): write len bytes at
 * offset; BPF_F_RECOMPUTE_CSUM (skb->csum only: nothing to do here) and
 * BPF_F_INVALIDATE_HASH (clears the hash) are the flags allowed. */
HELPER(skb_store_bytes)
{
    (void)data;
    lbc_skb_ctx *s = skb_ctx(ex, r1);
    const uint32_t off = (uint32_t)r2, len = (uint32_t)r4;
    if (!s) return ERR(EINVAL);
    if (r5 & ~(uint64_t)(F_RECOMPUTE_CSUM | F_INVALIDATE_HASH)) return ERR(EINVAL);
    if (off > LBC_INT_MAX || !s->writable || (uint64_t)off + len > skb_len(s))
        return ERR(EFAULT);
    memmove(pkt(s) + off, (const void *)(uintptr_t)r3, len);
    if (r5 & F_INVALIDATE_HASH) set_field32(s, SKB_HASH_AT, 0);
    return 0;
}

/* Ones' complement arithmetic as the kernel's csum_add / csum_fold. */
static uint32_t csum_add(uint32_t a, uint32_t b)
{
    const uint32_t r = a + b;
    return r + (r < b);
}

static uint16_t csum_fold(uint32_t sum)
{
    sum = (sum & 0xffffu) + (sum >> 16);
    sum = (sum & 0xffffu) + (sum >> 16);
    return (uint16_t)~sum;
}

static uint16_t csum16_add(uint16_t csum, uint16_t addend)
{
    const uint16_t r = (uint16_t)(csum + addend);
    return (uint16_t)(r + (r < addend));
}

/* The checksum word at offset, or NULL with *err set (Linux's checks). */
static uint8_t *csum_word(lbc_skb_ctx *s, uint32_t off, uint64_t *err)
{
    if (off > 0xffffu || (off & 1u) || !s->writable || (uint64_t)off + 2 > skb_len(s)) {
        *err = ERR(EFAULT);
        return NULL;
    }
    return pkt(s) + off;
}

static uint16_t load16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

static void store16(uint8_t *p, uint16_t v)
{
    memcpy(p, &v, 2);
}

/* sum replaced as if the 32-bit words `from` became `to` (csum_replace4),
 * or by a checksum difference (csum_replace_by_diff, from = ~0 unused). */
static uint16_t replace4(uint16_t sum, uint32_t from, uint32_t to)
{
    return csum_fold(csum_add(csum_add(~(uint32_t)sum, ~from), to));
}

static uint16_t replace_by_diff(uint16_t sum, uint32_t diff)
{
    return csum_fold(csum_add(diff, ~(uint32_t)sum));
}

/* bpf_l3_csum_replace(skb, offset, from, to, flags): fix the checksum at
 * offset for a field changed from `from` to `to`; flags give the field's
 * size (2 or 4) or 0 for `to` being a checksum difference (from must be 0). */
HELPER(l3_csum_replace)
{
    (void)data;
    lbc_skb_ctx *s = skb_ctx(ex, r1);
    if (!s) return ERR(EINVAL);
    if (r5 & ~(uint64_t)F_HDR_FIELD_MASK) return ERR(EINVAL);
    uint64_t err = 0;
    uint8_t *p = csum_word(s, (uint32_t)r2, &err);
    if (!p) return err;
    const uint16_t sum = load16(p);
    switch (r5 & F_HDR_FIELD_MASK) {
    case 0:
        if (r3) return ERR(EINVAL);
        store16(p, replace_by_diff(sum, (uint32_t)r4));
        break;
    case 2: {
        const uint16_t mid = csum16_add((uint16_t)~sum, (uint16_t)~(uint16_t)r3);
        store16(p, (uint16_t)~csum16_add(mid, (uint16_t)r4));
        break;
    }
    case 4:
        store16(p, replace4(sum, (uint32_t)r3, (uint32_t)r4));
        break;
    default:
        return ERR(EINVAL);
    }
    return 0;
}

/* bpf_l4_csum_replace(skb, offset, from, to, flags): the same for a TCP /
 * UDP checksum; BPF_F_MARK_MANGLED_0 leaves a zero (UDP: no checksum)
 * checksum alone and turns a result of zero into 0xffff, unless
 * BPF_F_MARK_ENFORCE; BPF_F_PSEUDO_HDR and BPF_F_IPV6 concern skb->csum
 * only. */
HELPER(l4_csum_replace)
{
    (void)data;
    lbc_skb_ctx *s = skb_ctx(ex, r1);
    if (!s) return ERR(EINVAL);
    const uint64_t allowed = F_HDR_FIELD_MASK | F_PSEUDO_HDR | F_MARK_MANGLED_0
                             | F_MARK_ENFORCE | F_IPV6;
    if (r5 & ~allowed) return ERR(EINVAL);
    uint64_t err = 0;
    uint8_t *p = csum_word(s, (uint32_t)r2, &err);
    if (!p) return err;
    const int mmzero = (r5 & F_MARK_MANGLED_0) != 0, mforce = (r5 & F_MARK_ENFORCE) != 0;
    const uint16_t sum = load16(p);
    if (mmzero && !mforce && !sum) return 0;
    switch (r5 & F_HDR_FIELD_MASK) {
    case 0:
        if (r3) return ERR(EINVAL);
        store16(p, replace_by_diff(sum, (uint32_t)r4));
        break;
    case 2:
        store16(p, replace4(sum, (uint16_t)r3, (uint16_t)r4));
        break;
    case 4:
        store16(p, replace4(sum, (uint32_t)r3, (uint32_t)r4));
        break;
    default:
        return ERR(EINVAL);
    }
    if (mmzero && !load16(p)) store16(p, 0xffffu);
    return 0;
}

/* bpf_skb_change_tail(skb, len, flags): trim or grow (zero-filled) the
 * packet to len bytes, between the network header's offset and the
 * largest packet; flags must be 0. */
HELPER(skb_change_tail)
{
    (void)data, (void)r4, (void)r5;
    lbc_skb_ctx *s = skb_ctx(ex, r1);
    if (!s) return ERR(EINVAL);
    const uint32_t new_len = (uint32_t)r2;
    if (r3 || new_len > s->max_len || new_len < s->net_off) return ERR(EINVAL);
    if (!s->writable) return ERR(EFAULT);
    const uint64_t len = skb_len(s);
    if (new_len > len) {
        if (make_room(ex, s, 0, new_len - len)) return ERR(ENOMEM);
        memset(pkt(s) + len, 0, (size_t)(new_len - len));
    }
    set_packet(ex, s, s->data, new_len);
    return 0;
}

/* bpf_skb_change_head(skb, head_room, flags): head_room zero bytes in
 * front of the packet (the MAC header starts there); flags must be 0. */
HELPER(skb_change_head)
{
    (void)data, (void)r4, (void)r5;
    lbc_skb_ctx *s = skb_ctx(ex, r1);
    if (!s) return ERR(EINVAL);
    const uint32_t room = (uint32_t)r2;
    const uint64_t len = skb_len(s);
    const uint32_t new_len = (uint32_t)(len + room);
    if (r3 || new_len > s->max_len || new_len < len) return ERR(EINVAL);
    if (!s->writable) return ERR(EFAULT);
    if (make_room(ex, s, room, 0)) return ERR(ENOMEM);
    const uint64_t start = s->data - room;
    memset((void *)(uintptr_t)start, 0, room);
    set_packet(ex, s, start, new_len);
    s->net_off += room;
    return 0;
}

/* bpf_skb_change_proto(skb, proto, flags): IPv4 <-> IPv6, making (zeroed)
 * or removing the 20 bytes the headers differ by at the network header
 * (the program rewrites the header itself); any other change is
 * -ENOTSUPP, non-zero flags -EINVAL. */
HELPER(skb_change_proto)
{
    (void)data, (void)r4, (void)r5;
    lbc_skb_ctx *s = skb_ctx(ex, r1);
    if (!s) return ERR(EINVAL);
    if (r3) return ERR(EINVAL);
    if (!s->writable) return ERR(EFAULT);
    const uint16_t from = (uint16_t)field32(s, SKB_PROTOCOL_AT), to = (uint16_t)r2;
    const uint32_t off = s->net_off, diff = IP_TO_IPV6_GROWTH;
    const uint64_t len = skb_len(s);
    if (from == ETH_P_IP_BE && to == ETH_P_IPV6_BE) {
        if (make_room(ex, s, diff, 0)) return ERR(ENOMEM);
        uint8_t *start = pkt(s) - diff;
        memmove(start, pkt(s), off);
        memset(start + off, 0, diff);
        set_packet(ex, s, (uint64_t)(uintptr_t)start, len + diff);
    } else if (from == ETH_P_IPV6_BE && to == ETH_P_IP_BE) {
        if (len < (uint64_t)off + diff) return ERR(ENOMEM);
        uint8_t *start = pkt(s);
        memmove(start + diff, start, off);
        set_packet(ex, s, (uint64_t)(uintptr_t)(start + diff), len - diff);
    } else {
        return ERR(LBC_ENOTSUPP);
    }
    set_field32(s, SKB_PROTOCOL_AT, to);
    set_field32(s, SKB_HASH_AT, 0);
    return 0;
}

/* bpf_skb_change_type(skb, type): set pkt_type; both the old and the new
 * type must be PACKET_HOST .. PACKET_OTHERHOST. */
HELPER(skb_change_type)
{
    (void)data, (void)r3, (void)r4, (void)r5;
    lbc_skb_ctx *s = skb_ctx(ex, r1);
    if (!s) return ERR(EINVAL);
    if (field32(s, SKB_PKT_TYPE_AT) > PACKET_OTHERHOST || (uint32_t)r2 > PACKET_OTHERHOST)
        return ERR(EINVAL);
    set_field32(s, SKB_PKT_TYPE_AT, (uint32_t)r2);
    return 0;
}

int lbc_skb_redirect(lbc_exec *ex, uint32_t ifindex, uint64_t flags, uint64_t *verdict)
{
    lbc_skb_ctx *s = skb_ctx(ex, ex->mem_start);
    if (!s) return 0;
    if (flags & ~(uint64_t)F_INGRESS) {
        *verdict = TC_ACT_SHOT;
        return 1;
    }
    s->redirect_ifindex = ifindex;
    s->redirect_flags = (uint32_t)flags;
    s->redirected = 1;
    *verdict = TC_ACT_REDIRECT;
    return 1;
}
