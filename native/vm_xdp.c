/* XDP packets through a program in one C call each (lbc_runtime.h): the
 * hook's receive and receive_batch, without per-packet work in Python, on
 * the same frame and context run_xdp_frame (hooks/xdp_frame.py) builds. */
#include <errno.h>
#include <string.h>

#include "lbc_maps.h"
#include "lbc_runtime.h"

/* The frame size a packet of len bytes needs. */
static uint64_t frame_size(const lbc_xdp_io *io, uint32_t len)
{
    const uint32_t room = len > io->room ? len : io->room;
    return (uint64_t)io->headroom + room + io->tailroom;
}

/* Lay out the frame for one packet in buf and run on a full XDP context;
 * the packet's span in buf afterwards goes to *off / *out_len and the
 * redirect target, when one was set, to *redirect (returns 1 then). */
static int run_one(const lbc_xdp_io *io, const char *pkt, uint32_t len, uint32_t ifindex,
                   uint32_t rx_queue, uint32_t *off, uint32_t *out_len, uint32_t *redirect,
                   int *redirected)
{
    lbc_exec *ex = io->ex;
    const uint64_t total = frame_size(io, len);
    if (total > io->buf_size)
        return -EINVAL;
    const uint32_t room = len > io->room ? len : io->room;
    /* head- and tailroom zeroed, as the kernel's test run gives them */
    memset(io->buf, 0, io->headroom);
    memcpy(io->buf + io->headroom, pkt, len);
    memset(io->buf + io->headroom + len, 0, (size_t)(total - io->headroom - len));
    const uint64_t start = (uint64_t)(uintptr_t)io->buf;
    lbc_xdp_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.data = ctx.data_meta = start + io->headroom;
    ctx.data_end = ctx.data + len;
    ctx.ingress_ifindex = ifindex;
    ctx.rx_queue_index = rx_queue;
    ctx.hard_start = start;
    ctx.frame_end = ctx.data + room;
    ctx.magic = LBC_XDP_CTX_MAGIC;
    lbc_region *frame = &io->regions[io->nregions];
    frame->start = start;
    frame->size = total;
    frame->writable = 1;
    ex->regions = io->regions;
    ex->nregions = io->nregions + 1;
    const int rc = lbc_run_mem(io->prog, ex, &ctx, sizeof ctx);
    if (rc)
        return rc;
    /* the packet the program left: data..data_end, clamped to the frame */
    uint64_t lo = ctx.data - start, hi = ctx.data_end - start;
    if (ctx.data < start) lo = 0;
    if (lo > total) lo = total;
    if (ctx.data_end < start) hi = 0;
    if (hi > total) hi = total;
    if (hi < lo) hi = lo;
    *off = (uint32_t)lo;
    *out_len = (uint32_t)(hi - lo);
    *redirected = ctx.redirected != 0;
    *redirect = ctx.redirected ? ctx.redirect_ifindex : 0;
    return 0;
}

int64_t lbc_xdp_run(const lbc_xdp_io *io, const char *pkt, uint32_t len, uint32_t ifindex,
                    uint32_t rx_queue, uint32_t *redirect)
{
    uint32_t off = 0, out_len = 0;
    int redirected = 0;
    if (io->buf_size > LBC_XDP_FIELD_MASK)
        return -EINVAL;
    const int rc = run_one(io, pkt, len, ifindex, rx_queue, &off, &out_len, redirect,
                           &redirected);
    if (rc)
        return rc;
    const uint64_t same = off == io->headroom && out_len == len &&
                          memcmp(io->buf + off, pkt, len) == 0;
    return (int64_t)((uint64_t)(uint32_t)io->ex->retval | (uint64_t)out_len << LBC_XDP_LEN_SHIFT |
                     (uint64_t)off << LBC_XDP_OFF_SHIFT | same << LBC_XDP_SAME_SHIFT |
                     (uint64_t)redirected << LBC_XDP_REDIRECTED_SHIFT);
}

/* Whether the batch's hook has interface ifindex. */
static int has_interface(const lbc_xdp_batch *b, uint32_t ifindex)
{
    if (ifindex == 0 || ifindex > LBC_XDP_MAX_IFINDEX)
        return 0;
    if (!b->ifaces)
        return 1;
    uint32_t lo = 0, hi = b->nifaces;
    while (lo < hi) {
        const uint32_t mid = lo + (hi - lo) / 2;
        if (b->ifaces[mid] == ifindex)
            return 1;
        if (b->ifaces[mid] < ifindex)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

int lbc_xdp_run_batch(const lbc_xdp_io *io, lbc_xdp_batch *b)
{
    int rc = 0;
    if (b->done == 0) {
        /* every packet fits, or none runs */
        for (uint32_t i = 0; i < b->n; i++) {
            if (b->lens[i] < b->min_len || b->lens[i] > b->max_len) {
                b->done = i;
                return -EMSGSIZE;
            }
        }
    }
    lbc_cpu_slot_claim(); /* one claim for the batch: the runs nest inside it */
    for (; b->done < b->n; b->done++) {
        const uint32_t len = b->lens[b->done];
        if (frame_size(io, len) > b->out_cap - b->out_pos) {
            /* room for the largest packet the run can leave, before it runs */
            rc = -ENOSPC;
            break;
        }
        uint32_t off = 0, out_len = 0, target = 0;
        int redirected = 0;
        rc = run_one(io, b->pkts + b->in_pos, len, b->ifindex, b->rx_queue, &off, &out_len,
                     &target, &redirected);
        if (rc)
            break;
        memcpy(b->out + b->out_pos, io->buf + off, out_len);
        const uint32_t r = (uint32_t)io->ex->retval;
        uint8_t verdict = r < 8 ? io->verdicts[r] : io->unknown_verdict;
        if (verdict != LBC_XDP_VERDICT_REDIRECT)
            target = 0;
        else if (!redirected || !has_interface(b, target)) /* Linux drops a failed redirect */
            verdict = LBC_XDP_VERDICT_ABORTED, target = 0;
        b->out_pos += out_len;
        b->out_lens[b->done] = out_len;
        b->retvals[b->done] = r;
        b->verdicts[b->done] = verdict;
        b->redirects[b->done] = target;
        b->in_pos += len;
    }
    lbc_cpu_slot_release();
    return rc;
}
