/* Program-side map benchmark (benchmarks/map_programs.py): XDP programs
 * that each do OPS map operations per run, the same object run by this
 * project's store (bpf_prog_test_run_opts) and by the kernel
 * (BPF_PROG_TEST_RUN). Rebuild with build_map_programs.sh.
 *
 * The packet carries the state so that runs are deterministic and comparable:
 *   bytes 0..3   LCG seed, read at the start and written back at the end, so
 *                with repeat=N every run touches new pseudo-random keys
 *                (the packet is not reset between repeats, here or in Linux)
 *   bytes 4..7   hits: operations that found their entry (or updates that
 *                returned 0) in the last run; OPS when the maps are full
 *   bytes 8..15  the sum of the values read in the last run
 *
 * Maps are filled by the Python side: key k (0..65535) has value
 * value_of(k) = k * 3 + 1; LPM routes i have prefix ROUTE(i)/24 and value i.
 * Updates write the value already there, so no program changes any map.
 */
#include <linux/bpf.h>
#include "bpf/bpf_helpers.h"

#define OPS 256
#define ENTRIES 65536
#define HOT 256
#define ROUTES_SMALL 1024
#define ROUTES_BIG 65536
#define ROUTE_MUL 2654435761u
/* the /24 route of index i, as the u32 whose little-endian bytes are the key's
 * data: the prefix is the low three bytes */
#define ROUTE(i) (((__u32)(i) * ROUTE_MUL) & 0x00ffffffu)

#define LCG(x) ((x) * 1103515245u + 12345u)

struct lpm_key {
    __u32 prefixlen;
    __u32 addr;
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __type(key, __u32);
    __type(value, __u64);
    __uint(max_entries, ENTRIES);
} hash64k SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __type(key, __u32);
    __type(value, __u64);
    __uint(max_entries, ENTRIES);
} array64k SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __type(key, __u32);
    __type(value, __u64);
    __uint(max_entries, ENTRIES);
} percpu64k SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __type(key, __u32);
    __type(value, __u64);
    __uint(max_entries, ENTRIES);
} lru64k SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LPM_TRIE);
    __type(key, struct lpm_key);
    __type(value, __u64);
    __uint(max_entries, ROUTES_SMALL);
    __uint(map_flags, BPF_F_NO_PREALLOC);
} lpm1k SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LPM_TRIE);
    __type(key, struct lpm_key);
    __type(value, __u64);
    __uint(max_entries, ROUTES_BIG);
    __uint(map_flags, BPF_F_NO_PREALLOC);
} lpm64k SEC(".maps");

/* The loop around one operation: `key` is the next pseudo-random key
 * (KEYMASK applied to the high half of the LCG state), the rest the operation,
 * which sets `v` (a value pointer or NULL) or adds to `hits` itself (variadic
 * so that it may hold commas). */
#define BENCH(KEYMASK, ...)                                                  \
    void *data = (void *)(long)ctx->data;                                     \
    void *end = (void *)(long)ctx->data_end;                                  \
    if (data + 16 > end)                                                      \
        return XDP_ABORTED;                                                   \
    __u32 x = *(__u32 *)data;                                                 \
    __u32 hits = 0;                                                           \
    __u64 sum = 0;                                                            \
    _Pragma("clang loop unroll(disable)")                                       \
    for (int i = 0; i < OPS; i++) {                                           \
        x = LCG(x);                                                           \
        __u32 key = (x >> 16) & (KEYMASK);                                    \
        __u64 *v = 0;                                                         \
        __VA_ARGS__                                                           \
        if (v) {                                                              \
            hits++;                                                           \
            sum += *v;                                                        \
        }                                                                     \
    }                                                                         \
    *(__u32 *)data = x;                                                       \
    *(__u32 *)(data + 4) = hits;                                              \
    *(__u64 *)(data + 8) = sum;                                               \
    return XDP_PASS;

SEC("xdp")
int empty(struct xdp_md *ctx)
{
    return XDP_PASS;
}

/* the loop and key generation alone: what every other program also pays */
SEC("xdp")
int loop_only(struct xdp_md *ctx)
{
    BENCH(ENTRIES - 1, { hits++; sum += key; })
}

SEC("xdp")
int hash_lookup_random(struct xdp_md *ctx)
{
    BENCH(ENTRIES - 1, { v = bpf_map_lookup_elem(&hash64k, &key); })
}

SEC("xdp")
int hash_lookup_hot(struct xdp_md *ctx)
{
    BENCH(HOT - 1, { v = bpf_map_lookup_elem(&hash64k, &key); })
}

SEC("xdp")
int hash_update_existing(struct xdp_md *ctx)
{
    BENCH(ENTRIES - 1, {
        __u64 val = (__u64)key * 3 + 1;
        if (bpf_map_update_elem(&hash64k, &key, &val, BPF_EXIST) == 0) {
            hits++;
            sum += val;
        }
    })
}

SEC("xdp")
int array_lookup(struct xdp_md *ctx)
{
    BENCH(ENTRIES - 1, { v = bpf_map_lookup_elem(&array64k, &key); })
}

SEC("xdp")
int percpu_array_lookup(struct xdp_md *ctx)
{
    BENCH(ENTRIES - 1, { v = bpf_map_lookup_elem(&percpu64k, &key); })
}

/* updates of existing entries with the value already there (BPF_EXIST) */
#define UPDATE_EXISTING(MAP, KEYMASK)                                        \
    BENCH(KEYMASK, {                                                          \
        __u64 val = (__u64)key * 3 + 1;                                       \
        if (bpf_map_update_elem(&MAP, &key, &val, BPF_EXIST) == 0) {          \
            hits++;                                                           \
            sum += val;                                                       \
        }                                                                     \
    })

SEC("xdp")
int array_update(struct xdp_md *ctx)
{
    UPDATE_EXISTING(array64k, ENTRIES - 1)
}

SEC("xdp")
int percpu_array_update(struct xdp_md *ctx)
{
    UPDATE_EXISTING(percpu64k, ENTRIES - 1)
}

SEC("xdp")
int lru_hash_update(struct xdp_md *ctx)
{
    UPDATE_EXISTING(lru64k, ENTRIES - 1)
}

SEC("xdp")
int lpm_update_1k(struct xdp_md *ctx)
{
    BENCH(ROUTES_SMALL - 1, {
        struct lpm_key k = { .prefixlen = 24, .addr = ROUTE(key) };
        __u64 val = key;
        if (bpf_map_update_elem(&lpm1k, &k, &val, BPF_EXIST) == 0) {
            hits++;
            sum += val;
        }
    })
}

SEC("xdp")
int lru_hash_lookup(struct xdp_md *ctx)
{
    BENCH(ENTRIES - 1, { v = bpf_map_lookup_elem(&lru64k, &key); })
}

SEC("xdp")
int lpm_lookup_1k(struct xdp_md *ctx)
{
    BENCH(ROUTES_SMALL - 1, {
        struct lpm_key k = { .prefixlen = 32, .addr = ROUTE(key) | (x << 24) };
        v = bpf_map_lookup_elem(&lpm1k, &k);
    })
}

SEC("xdp")
int lpm_lookup_64k(struct xdp_md *ctx)
{
    BENCH(ROUTES_BIG - 1, {
        struct lpm_key k = { .prefixlen = 32, .addr = ROUTE(key) | (x << 24) };
        v = bpf_map_lookup_elem(&lpm64k, &k);
    })
}

char LICENSE[] SEC("license") = "GPL";
