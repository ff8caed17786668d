/* XDP packets through a program in one C call each (lbc_vm.h): the hook's
 * receive and receive_batch, without per-packet work in Python. */
#include <errno.h>
#include <string.h>

#include "lbc_maps.h"
#include "lbc_vm.h"

/* Set up buf and the context for one packet and run; the packet's span in
 * buf afterwards goes to *off / *out_len. */
static int run_one(const lbc_xdp_io *io, const char *pkt, uint32_t len, uint32_t ifindex,
                   uint32_t rx_queue, uint32_t *off, uint32_t *out_len)
{
    lbc_exec *ex = io->ex;
    const uint64_t total = (uint64_t)io->headroom + len;
    if (total > io->buf_size)
        return -EINVAL;
    memset(io->buf, 0, io->headroom);
    memcpy(io->buf + io->headroom, pkt, len);
    const uint64_t start = (uint64_t)(uintptr_t)io->buf;
    lbc_xdp_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.data = ctx.data_meta = start + io->headroom;
    ctx.data_end = ctx.data + len;
    ctx.ingress_ifindex = ifindex;
    ctx.rx_queue_index = rx_queue;
    lbc_region *pkt_region = &io->regions[io->nregions];
    pkt_region->start = start;
    pkt_region->size = total;
    pkt_region->writable = 1;
    ex->regions = io->regions;
    ex->nregions = io->nregions + 1;
    const int rc = lbc_run_mem(io->prog, ex, &ctx, sizeof ctx);
    if (rc)
        return rc;
    /* the packet the program left: data..data_end, clamped to the buffer */
    uint64_t lo = ctx.data - start, hi = ctx.data_end - start;
    if (ctx.data < start) lo = 0;
    if (lo > total) lo = total;
    if (ctx.data_end < start) hi = 0;
    if (hi > total) hi = total;
    if (hi < lo) hi = lo;
    *off = (uint32_t)lo;
    *out_len = (uint32_t)(hi - lo);
    return 0;
}

int64_t lbc_xdp_run(const lbc_xdp_io *io, const char *pkt, uint32_t len, uint32_t ifindex,
                    uint32_t rx_queue)
{
    uint32_t off = 0, out_len = 0;
    if (io->buf_size > LBC_XDP_FIELD_MASK)
        return -EINVAL;
    const int rc = run_one(io, pkt, len, ifindex, rx_queue, &off, &out_len);
    if (rc)
        return rc;
    const uint64_t same = off == io->headroom && out_len == len &&
                          memcmp(io->buf + off, pkt, len) == 0;
    return (int64_t)((uint64_t)(uint32_t)io->ex->retval | (uint64_t)out_len << LBC_XDP_LEN_SHIFT |
                     (uint64_t)off << LBC_XDP_OFF_SHIFT | same << LBC_XDP_SAME_SHIFT);
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
        if ((uint64_t)io->headroom + len > b->out_cap - b->out_pos) {
            /* room for the largest packet the run can leave, before it runs */
            rc = -ENOSPC;
            break;
        }
        uint32_t off = 0, out_len = 0;
        rc = run_one(io, b->pkts + b->in_pos, len, b->ifindex, b->rx_queue, &off, &out_len);
        if (rc)
            break;
        memcpy(b->out + b->out_pos, io->buf + off, out_len);
        const uint32_t r = (uint32_t)io->ex->retval;
        b->out_pos += out_len;
        b->out_lens[b->done] = out_len;
        b->retvals[b->done] = r;
        b->verdicts[b->done] = r < 8 ? io->verdicts[r] : io->unknown_verdict;
        b->in_pos += len;
    }
    lbc_cpu_slot_release();
    return rc;
}
