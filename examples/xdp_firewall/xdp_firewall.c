/* XDP firewall: drops packets whose source address falls in a blocklist of
 * CIDR prefixes (one LPM trie for both families: its keys start with the
 * family, so ::/0 does not cover IPv4), drops packets too short for the headers
 * they announce, counts packets and bytes per verdict in a per-CPU array and
 * reports each drop (source, destination port, reason) on a ring buffer.
 *
 * One source, two ABIs: build.sh builds it against Linux's UAPI headers
 * (xdp_firewall.linux.o) and, with -DLBC_ABI_WINDOWS, against
 * eBPF-for-Windows numbering and xdp_md_t (xdp_firewall.windows.o). */
#include "bpf/bpf_helpers.h"
#include "bpf/bpf_endian.h"

#if defined(LBC_ABI_WINDOWS)
typedef xdp_md_t xdp_ctx;
#define CTX_DATA(ctx) ((void *)(ctx)->data)
#define CTX_END(ctx) ((void *)(ctx)->data_end)
/* eBPF for Windows has no preallocation flag: its LPM tries grow on demand. */
#define LPM_FLAGS 0
#else
#include <linux/bpf.h>
#define LPM_FLAGS BPF_F_NO_PREALLOC /* Linux requires it for LPM tries */
typedef struct xdp_md xdp_ctx;
#define CTX_DATA(ctx) ((void *)(long)(ctx)->data)
#define CTX_END(ctx) ((void *)(long)(ctx)->data_end)
#endif

#define ETH_P_IPV4 0x0800
#define ETH_P_IPV6 0x86dd
#define PROTO_TCP 6
#define PROTO_UDP 17

enum stat { STAT_PASS = 0, STAT_DROP = 1, STAT_MAX = 2 };
enum reason { REASON_BLOCKLIST = 1, REASON_MALFORMED = 2 };

struct lpm_key {
    __u32 prefixlen;  /* bits that count: 8 (the family) + the prefix's length */
    __u8 family;      /* 4 or 6 */
    __u8 addr[16];    /* IPv6, or IPv4 in the first four bytes */
};

struct counter {
    __u64 packets;
    __u64 bytes;
};

struct drop_event {
    __u8 saddr[16];   /* IPv6, or IPv4 in the first four bytes */
    __u16 dport;      /* host order; 0 when not TCP/UDP */
    __u8 family;      /* 4 or 6; 0 when the packet ends inside its IP header */
    __u8 reason;      /* enum reason */
    __u8 protocol;
    __u8 pad[3];
    __u32 length;     /* the packet's length */
};

struct {
    __uint(type, BPF_MAP_TYPE_LPM_TRIE);
    __type(key, struct lpm_key);
    __type(value, __u32); /* the rule's number, for the front end */
    __uint(max_entries, 4096);
    __uint(map_flags, LPM_FLAGS);
} blocklist SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __type(key, __u32);
    __type(value, struct counter);
    __uint(max_entries, STAT_MAX);
} stats SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 256 * 1024);
} drops SEC(".maps");

static __always_inline int finish(__u32 stat, __u32 length)
{
    struct counter *c = bpf_map_lookup_elem(&stats, &stat);
    if (c) {
        c->packets += 1;
        c->bytes += length;
    }
    return stat == STAT_DROP ? XDP_DROP : XDP_PASS;
}

static __always_inline int drop(struct drop_event *ev, __u8 reason, __u32 length)
{
    ev->reason = reason;
    ev->length = length;
    bpf_ringbuf_output(&drops, ev, sizeof(*ev), 0);
    return finish(STAT_DROP, length);
}

static __always_inline __u16 dest_port(void *l4, void *end, __u8 protocol)
{
    if (protocol != PROTO_TCP && protocol != PROTO_UDP)
        return 0;
    if (l4 + 4 > end)
        return 0;
    return bpf_ntohs(*(__u16 *)(l4 + 2));
}

SEC("xdp")
int xdp_firewall(xdp_ctx *ctx)
{
    void *data = CTX_DATA(ctx);
    void *end = CTX_END(ctx);
    __u32 length = end - data;
    struct drop_event ev = {};
    struct lpm_key key = {};
    void *l4;

    if (data + 14 > end)
        return finish(STAT_PASS, length);
    __u16 ethertype = bpf_ntohs(*(__u16 *)(data + 12));
    void *ip = data + 14;

    if (ethertype == ETH_P_IPV4) {
        if (ip + 20 > end)
            return drop(&ev, REASON_MALFORMED, length);
        ev.family = 4;
        __u8 ihl = (*(__u8 *)ip & 0x0f) * 4;
        ev.protocol = *(__u8 *)(ip + 9);
        __builtin_memcpy(ev.saddr, ip + 12, 4);
        if (ihl < 20 || ip + ihl > end)
            return drop(&ev, REASON_MALFORMED, length);
        l4 = ip + ihl;
        key.prefixlen = 8 + 32;
    } else if (ethertype == ETH_P_IPV6) {
        if (ip + 40 > end)
            return drop(&ev, REASON_MALFORMED, length);
        ev.family = 6;
        ev.protocol = *(__u8 *)(ip + 6);
        __builtin_memcpy(ev.saddr, ip + 8, 16);
        l4 = ip + 40;
        key.prefixlen = 8 + 128;
    } else {
        return finish(STAT_PASS, length); /* ARP and the like */
    }
    ev.dport = dest_port(l4, end, ev.protocol);
    key.family = ev.family;
    __builtin_memcpy(key.addr, ev.saddr, 16);
    if (bpf_map_lookup_elem(&blocklist, &key))
        return drop(&ev, REASON_BLOCKLIST, length);
    return finish(STAT_PASS, length);
}

char LICENSE[] SEC("license") = "GPL";
