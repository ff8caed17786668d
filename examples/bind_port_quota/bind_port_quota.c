/* Port-quota monitor in eBPF-for-Windows style: a BIND program that counts
 * the sockets each process has bound and denies a bind past the quota (the
 * quota map's only entry; 0 means no limit). An unbind gives the slot back.
 * Counts what it decided in the stats array.
 *
 * Windows only (bind_md_t, the BIND hook); build.sh builds it with
 * -DLBC_ABI_WINDOWS against libbpf_compat/include. */
#include "bpf/bpf_helpers.h"

enum stat { STAT_PERMITTED = 0, STAT_DENIED = 1, STAT_RELEASED = 2, STAT_MAX = 3 };

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __type(key, __u32);
    __type(value, __u32);
    __uint(max_entries, 1);
} quota SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __type(key, __u64);   /* process id */
    __type(value, __u32); /* sockets it has bound */
    __uint(max_entries, 4096);
} bound SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __type(key, __u32);
    __type(value, __u64);
    __uint(max_entries, STAT_MAX);
} stats SEC(".maps");

static __always_inline void count(__u32 stat)
{
    __u64 *n = bpf_map_lookup_elem(&stats, &stat);
    if (n)
        __sync_fetch_and_add(n, 1);
}

SEC("bind")
int limit_binds(bind_md_t *ctx)
{
    __u64 pid = ctx->process_id;
    __u32 *n = bpf_map_lookup_elem(&bound, &pid);

    if (ctx->operation == BIND_OPERATION_UNBIND) {
        if (n && *n > 0) {
            *n -= 1;
            count(STAT_RELEASED);
        }
        return BIND_PERMIT_SOFT;
    }
    if (ctx->operation != BIND_OPERATION_BIND)
        return BIND_PERMIT_SOFT;

    __u32 zero = 0;
    __u32 *limit = bpf_map_lookup_elem(&quota, &zero);
    __u32 have = n ? *n : 0;
    if (limit && *limit && have >= *limit) {
        count(STAT_DENIED);
        return BIND_DENY;
    }
    if (n) {
        *n = have + 1;
    } else {
        __u32 one = 1;
        if (bpf_map_update_elem(&bound, &pid, &one, BPF_NOEXIST)) {
            count(STAT_DENIED); /* the table is full: fail closed */
            return BIND_DENY;
        }
    }
    count(STAT_PERMITTED);
    return BIND_PERMIT_SOFT;
}

char LICENSE[] SEC("license") = "GPL";
