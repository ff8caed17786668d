/* Hook benchmark programs (benchmarks/hooks.py), run by this project and by
 * the kernel. Rebuild with build_hook_programs.sh.
 *   xdp_pass   the trivial program: PASS
 *   xdp_count  one ARRAY lookup and an atomic add, then PASS (the shape of
 *              issue 5's test_run target: a packet counter)
 *   xdp_swap   swaps the Ethernet source and destination addresses and
 *              sends the packet back (TX): a program that writes the packet */
#include <linux/bpf.h>
#include "bpf/bpf_helpers.h"

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __type(key, __u32);
    __type(value, __u64);
    __uint(max_entries, 1);
} packets SEC(".maps");

SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
    return XDP_PASS;
}

SEC("xdp")
int xdp_count(struct xdp_md *ctx)
{
    __u32 key = 0;
    __u64 *n = bpf_map_lookup_elem(&packets, &key);
    if (n)
        __sync_fetch_and_add(n, 1);
    return XDP_PASS;
}

SEC("xdp")
int xdp_swap(struct xdp_md *ctx)
{
    unsigned char *data = (void *)(long)ctx->data;
    unsigned char *end = (void *)(long)ctx->data_end;
    if (data + 12 > end)
        return XDP_ABORTED;
    for (int i = 0; i < 6; i++) {
        unsigned char t = data[i];
        data[i] = data[i + 6];
        data[i + 6] = t;
    }
    return XDP_TX;
}

char LICENSE[] SEC("license") = "GPL";
