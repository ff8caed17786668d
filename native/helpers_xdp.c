/* The XDP packet helpers, with Linux's bounds: the packet sits in a buffer
 * (lbc_xdp_ctx.hard_start .. frame_end) whose first LBC_XDP_FRAME_OVERHEAD
 * bytes are reserved, metadata lies right before data, and at least
 * ETH_HLEN bytes of packet remain. bpf_redirect / bpf_redirect_map record
 * the target interface in the context for the hook to read. They act only
 * on the native XDP context the run was started on (any other r1 gets
 * -EINVAL), so a stray pointer cannot make them write elsewhere. */
#include <errno.h>
#include <string.h>

#include "lbc_maps.h"
#include "lbc_runtime.h"

#define HELPER(name) \
    uint64_t lbc_helper_##name(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, \
                               uint64_t r3, uint64_t r4, uint64_t r5)
#define ERR(e) ((uint64_t)(int64_t)-(e))
#define ETH_HLEN 14u

enum { XDP_ABORTED = 0, XDP_REDIRECT = 4, XDP_ACTION_MASK = 3 };

/* The run's XDP context, if `ctx` is it. */
static lbc_xdp_ctx *xdp_ctx(const lbc_exec *ex, uint64_t ctx)
{
    if (!ctx || ctx != ex->mem_start || ex->mem_size < sizeof(lbc_xdp_ctx)) return NULL;
    lbc_xdp_ctx *x = (lbc_xdp_ctx *)(uintptr_t)ctx;
    return x->magic == LBC_XDP_CTX_MAGIC ? x : NULL;
}

/* bpf_xdp_adjust_head(ctx, delta): move data by delta (negative grows the
 * packet into the headroom), the metadata moving with it. */
HELPER(xdp_adjust_head)
{
    (void)data, (void)r3, (void)r4, (void)r5;
    lbc_xdp_ctx *x = xdp_ctx(ex, r1);
    if (!x) return ERR(EINVAL);
    const int64_t delta = (int32_t)(uint32_t)r2;
    const uint64_t metalen = x->data - x->data_meta;
    const uint64_t lowest = x->hard_start + LBC_XDP_FRAME_OVERHEAD + metalen;
    const uint64_t moved = x->data + (uint64_t)delta;
    if (moved < lowest || moved > x->data_end - ETH_HLEN) return ERR(EINVAL);
    if (metalen)
        memmove((void *)(uintptr_t)(x->data_meta + (uint64_t)delta),
                (const void *)(uintptr_t)x->data_meta, (size_t)metalen);
    x->data_meta += (uint64_t)delta;
    x->data = moved;
    return 0;
}

/* bpf_xdp_adjust_tail(ctx, delta): move data_end by delta, growing (zeroed)
 * into the tailroom or shrinking down to ETH_HLEN bytes. */
HELPER(xdp_adjust_tail)
{
    (void)data, (void)r3, (void)r4, (void)r5;
    lbc_xdp_ctx *x = xdp_ctx(ex, r1);
    if (!x) return ERR(EINVAL);
    const int64_t delta = (int32_t)(uint32_t)r2;
    const uint64_t end = x->data_end + (uint64_t)delta;
    if (end > x->frame_end || end < x->data + ETH_HLEN) return ERR(EINVAL);
    if (delta > 0) memset((void *)(uintptr_t)x->data_end, 0, (size_t)delta);
    x->data_end = end;
    return 0;
}

/* bpf_xdp_adjust_meta(ctx, delta): move data_meta by delta; the metadata
 * must stay between the reserved frame and data (-EINVAL), a multiple of 4
 * bytes and at most LBC_XDP_META_MAX (-EACCES). */
HELPER(xdp_adjust_meta)
{
    (void)data, (void)r3, (void)r4, (void)r5;
    lbc_xdp_ctx *x = xdp_ctx(ex, r1);
    if (!x) return ERR(EINVAL);
    const int64_t delta = (int32_t)(uint32_t)r2;
    const uint64_t meta = x->data_meta + (uint64_t)delta;
    if (meta < x->hard_start + LBC_XDP_FRAME_OVERHEAD || meta > x->data) return ERR(EINVAL);
    const uint64_t metalen = x->data - meta;
    if ((metalen & 3u) || metalen > LBC_XDP_META_MAX) return ERR(EACCES);
    x->data_meta = meta;
    return 0;
}

static uint64_t redirect_to(lbc_exec *ex, uint32_t ifindex)
{
    lbc_xdp_ctx *x = xdp_ctx(ex, ex->mem_start);
    if (!x) {
        lbc_exec_fail(ex, -EOPNOTSUPP, "bpf_redirect / bpf_redirect_map outside an XDP or tc run");
        return 0;
    }
    x->redirect_ifindex = ifindex;
    x->redirected = 1;
    return XDP_REDIRECT;
}

/* bpf_redirect(ifindex, flags), XDP form: XDP_REDIRECT to ifindex; any
 * flag makes it XDP_ABORTED, as Linux. In an skb (tc) run it is tc's
 * (helpers_skb.c). */
HELPER(redirect)
{
    (void)data, (void)r3, (void)r4, (void)r5;
    uint64_t verdict = 0;
    if (lbc_skb_redirect(ex, (uint32_t)r1, r2, &verdict)) return verdict;
    if (r2) return XDP_ABORTED;
    return redirect_to(ex, (uint32_t)r1);
}

/* bpf_redirect_map(map, key, flags): XDP_REDIRECT to the interface a device
 * map holds at key; when there is none, the flags' low two bits (an XDP
 * action) are the result. Other flags (BPF_F_BROADCAST and
 * BPF_F_EXCLUDE_INGRESS, which this hook does not do) give XDP_ABORTED. */
HELPER(redirect_map)
{
    (void)data, (void)r4, (void)r5;
    if (r3 & ~(uint64_t)XDP_ACTION_MASK) return XDP_ABORTED;
    uint32_t ifindex = 0;
    if (lbc_devmap_target((lbc_map *)(uintptr_t)r1, (uint32_t)r2, &ifindex))
        return r3 & XDP_ACTION_MASK;
    return redirect_to(ex, ifindex);
}
