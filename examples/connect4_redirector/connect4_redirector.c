/* connect4 redirector: connections to a service address (IP and port, a
 * key of the services map) are rewritten to one of the service's backends,
 * taken round robin from the backends array; other connections go through
 * untouched. Counts what it did in the stats array.
 *
 * One source, two ABIs: build.sh builds it against Linux's struct
 * bpf_sock_addr (connect4_redirector.linux.o) and, with -DLBC_ABI_WINDOWS,
 * against eBPF-for-Windows' bpf_sock_addr_t (connect4_redirector.windows.o). */
#include "bpf/bpf_helpers.h"

#if defined(LBC_ABI_WINDOWS)
typedef bpf_sock_addr_t sock_addr_ctx;
#define VERDICT_ALLOW BPF_SOCK_ADDR_VERDICT_PROCEED_SOFT
#define VERDICT_REJECT BPF_SOCK_ADDR_VERDICT_REJECT
#else
#include <linux/bpf.h>
typedef struct bpf_sock_addr sock_addr_ctx;
#define VERDICT_ALLOW 1
#define VERDICT_REJECT 0
#endif

#define MAX_BACKENDS 256

enum stat { STAT_PASSED = 0, STAT_REDIRECTED = 1, STAT_REJECTED = 2, STAT_MAX = 3 };

struct service_key {
    __u32 ip4;   /* network order, as in the context */
    __u16 port;  /* network order */
    __u16 pad;
};

struct service {
    __u32 first;    /* index of its first backend in the backends array */
    __u32 count;    /* how many backends; 0 rejects the connection */
    __u64 next;     /* round-robin position, advanced atomically */
};

struct backend {
    __u32 ip4;   /* network order */
    __u16 port;  /* network order */
    __u16 pad;
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __type(key, struct service_key);
    __type(value, struct service);
    __uint(max_entries, 64);
} services SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __type(key, __u32);
    __type(value, struct backend);
    __uint(max_entries, MAX_BACKENDS);
} backends SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __type(key, __u32);
    __type(value, __u64);
    __uint(max_entries, STAT_MAX);
} stats SEC(".maps");

static __always_inline int count(__u32 stat, int verdict)
{
    __u64 *n = bpf_map_lookup_elem(&stats, &stat);
    if (n)
        __sync_fetch_and_add(n, 1);
    return verdict;
}

SEC("cgroup/connect4")
int redirect_connect4(sock_addr_ctx *ctx)
{
    struct service_key key = {};
    key.ip4 = ctx->user_ip4;
    key.port = (__u16)ctx->user_port;
    struct service *svc = bpf_map_lookup_elem(&services, &key);
    if (!svc)
        return count(STAT_PASSED, VERDICT_ALLOW);
    if (svc->count == 0 || svc->count > MAX_BACKENDS)
        return count(STAT_REJECTED, VERDICT_REJECT);
    __u64 turn = __sync_fetch_and_add(&svc->next, 1);
    __u32 index = svc->first + (__u32)(turn % svc->count);
    struct backend *be = bpf_map_lookup_elem(&backends, &index);
    if (!be)
        return count(STAT_REJECTED, VERDICT_REJECT);
    ctx->user_ip4 = be->ip4;
    ctx->user_port = be->port;
    return count(STAT_REDIRECTED, VERDICT_ALLOW);
}

char LICENSE[] SEC("license") = "GPL";
