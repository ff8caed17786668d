/* Socket helpers over the trailer the sock_addr and sock_ops hooks place
 * after their context (lbc_sock_trailer): the socket's cookie, and the
 * redirect context of an eBPF-for-Windows connect redirection. They act
 * only on the context the run was started on. */
#include <errno.h>
#include <string.h>

#include "lbc_runtime.h"

#define HELPER(name) \
    uint64_t lbc_helper_##name(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, \
                               uint64_t r3, uint64_t r4, uint64_t r5)
#define ERR(e) ((uint64_t)(int64_t)-(e))

static lbc_sock_trailer *trailer(const lbc_exec *ex, uint64_t ctx)
{
    if (!ctx || ctx != ex->mem_start ||
        ex->mem_size < LBC_SOCK_TRAILER_OFFSET + sizeof(lbc_sock_trailer))
        return NULL;
    lbc_sock_trailer *t = (lbc_sock_trailer *)(uintptr_t)(ctx + LBC_SOCK_TRAILER_OFFSET);
    return t->magic == LBC_SOCK_CTX_MAGIC ? t : NULL;
}

/* bpf_get_socket_cookie(ctx): the socket's cookie, 0 without a socket. */
HELPER(get_socket_cookie)
{
    (void)data, (void)r2, (void)r3, (void)r4, (void)r5;
    const lbc_sock_trailer *t = trailer(ex, r1);
    return t ? t->cookie : 0;
}

/* bpf_sock_addr_set_redirect_context(ctx, data, size): keep `size` bytes
 * for the host of a connect redirection (replacing any earlier ones);
 * -EINVAL for another request or no data, -E2BIG past the room. */
HELPER(sock_addr_set_redirect_context)
{
    (void)data, (void)r4, (void)r5;
    lbc_sock_trailer *t = trailer(ex, r1);
    if (!t || !t->redirect_room || !r2 || !r3) return ERR(EINVAL);
    if (r3 > t->redirect_room || r3 > LBC_REDIRECT_CONTEXT_MAX) return ERR(E2BIG);
    memcpy(t->redirect_context, (const void *)(uintptr_t)r2, (size_t)r3);
    t->redirect_size = (uint32_t)r3;
    return 0;
}

/* bpf_sock_addr_get_network_context(ctx, data, size) (eBPF for Windows):
 * fill `data` with the request's network context, version 1 (interface
 * type, tunnel type, next-hop interface LUID, sub-interface index; fields
 * the layer lacks hold all ones), zeroing bytes past the 32 it knows.
 * Returns 0, or -1 (Windows' generic error, with `data` zeroed) where the
 * request has no network context or `size` is below version 1's. */
HELPER(sock_addr_get_network_context)
{
    (void)data, (void)r4, (void)r5;
    const lbc_sock_trailer *t = trailer(ex, r1);
    uint8_t *out = (uint8_t *)(uintptr_t)r2;
    if (!out) return ERR(1);
    if (!t || !t->net_ctx_valid || r3 < LBC_NETWORK_CONTEXT_SIZE) {
        memset(out, 0, (size_t)r3);
        return ERR(1);
    }
    uint8_t v1[LBC_NETWORK_CONTEXT_SIZE] = {0};
    uint32_t words[3] = {LBC_NETWORK_CONTEXT_VERSION, t->net_interface_type,
                         t->net_tunnel_type};
    memcpy(v1, words, sizeof words);
    memcpy(v1 + 16, &t->net_next_hop_interface_luid, sizeof(uint64_t));
    memcpy(v1 + 24, &t->net_sub_interface_index, sizeof(uint32_t));
    memcpy(out, v1, sizeof v1);
    memset(out + sizeof v1, 0, (size_t)(r3 - sizeof v1));
    return 0;
}

/* bpf_sock_ops_get_flow_id(ctx) (eBPF for Windows): the connection's flow
 * id, 0 when it has none (or the context is not the run's sock_ops one). */
HELPER(sock_ops_get_flow_id)
{
    (void)data, (void)r2, (void)r3, (void)r4, (void)r5;
    const lbc_sock_trailer *t = trailer(ex, r1);
    return t ? t->flow_id : 0;
}

/* bpf_sock_ops_cb_flags_set(bpf_sock, argval) (Linux): set the connection's
 * callback flags (BPF_SOCK_OPS_*_CB_FLAG bits Linux knows) in the run's
 * sock_ops context, where the hook reads them back for the connection's
 * later events. Returns, as Linux, the bits of argval it could not set (0
 * when all are known), or -EINVAL when the socket is not a full one (or the
 * context is not the run's sock_ops one). */
HELPER(sock_ops_cb_flags_set)
{
    (void)data, (void)r3, (void)r4, (void)r5;
    if (!trailer(ex, r1)) return ERR(EINVAL);
    uint8_t *ctx = (uint8_t *)(uintptr_t)r1;
    uint32_t fullsock;
    memcpy(&fullsock, ctx + LBC_SOCK_OPS_IS_FULLSOCK_OFFSET, sizeof fullsock);
    if (!fullsock) return ERR(EINVAL);
    uint32_t argval = (uint32_t)r2;
    uint32_t flags = argval & LBC_SOCK_OPS_ALL_CB_FLAGS;
    memcpy(ctx + LBC_SOCK_OPS_CB_FLAGS_OFFSET, &flags, sizeof flags);
    /* an int in Linux: the unknown bits, sign-extended */
    return (uint64_t)(int64_t)(int32_t)(argval & ~(uint32_t)LBC_SOCK_OPS_ALL_CB_FLAGS);
}
