/* Private to the map store: the region header every map starts with, the
 * process-local handle, and the per-family operations table. */
#ifndef LBC_MAP_INTERNAL_H
#define LBC_MAP_INTERNAL_H

#include <errno.h>
#include <string.h>

#include "lbc_maps.h"
#include "lbc_platform.h"
#include "lbc_vm.h" /* lbc_monotonic_ns */

#ifndef ENOTSUPP
#define ENOTSUPP 524 /* Linux-internal "operation not supported", seen by user space */
#endif

#define LBC_MAP_MAGIC 0x4d43424cu /* "LBCM" */
#define LBC_MAP_VERSION 1u

/* Linux numbers (uapi/linux/bpf.h) used by the store. */
#define LBC_MAP_HASH 1u
#define LBC_MAP_ARRAY 2u
#define LBC_MAP_PERCPU_HASH 5u
#define LBC_MAP_PERCPU_ARRAY 6u
#define LBC_MAP_LRU_HASH 9u
#define LBC_MAP_LRU_PERCPU_HASH 10u
#define LBC_MAP_RINGBUF 27u
#define LBC_MAP_QUEUE 22u
#define LBC_MAP_STACK 23u
#define LBC_MAP_BLOOM_FILTER 30u
#define LBC_MAP_PROG_ARRAY 3u
#define LBC_MAP_PERF_EVENT_ARRAY 4u
#define LBC_MAP_LPM_TRIE 11u
#define LBC_MAP_ARRAY_OF_MAPS 12u
#define LBC_MAP_HASH_OF_MAPS 13u
#define LBC_MAP_DEVMAP 14u
#define LBC_MAP_DEVMAP_HASH 25u

#define LBC_ANY 0u
#define LBC_NOEXIST 1u
#define LBC_EXIST 2u
#define LBC_F_LOCK 4u

#define LBC_F_NO_PREALLOC (1u << 0)
#define LBC_F_NO_COMMON_LRU (1u << 1)
#define LBC_F_NUMA_NODE (1u << 2)
#define LBC_F_RDONLY (1u << 3)
#define LBC_F_WRONLY (1u << 4)
#define LBC_F_ZERO_SEED (1u << 6)
#define LBC_F_RDONLY_PROG (1u << 7)
#define LBC_F_WRONLY_PROG (1u << 8)
#define LBC_F_MMAPABLE (1u << 10)
#define LBC_F_PRESERVE_ELEMS (1u << 11)
#define LBC_F_INNER_MAP (1u << 12)
#define LBC_F_ACCESS_MASK (LBC_F_RDONLY | LBC_F_WRONLY | LBC_F_RDONLY_PROG | LBC_F_WRONLY_PROG)

#define LBC_MAX_KEY_SIZE 512u           /* MAX_BPF_STACK */
#define LBC_MAX_VALUE_SIZE (1u << 22)   /* KMALLOC_MAX_SIZE on x86-64 */
#define LBC_PERCPU_MAX_VALUE (32u << 10) /* PCPU_MIN_UNIT_SIZE */

/* The header at offset 0 of every region. Fields after the common part are
 * the families' own (offsets, counters, lock words), never pointers. */
typedef struct lbc_region_hdr {
    uint32_t magic;
    uint32_t version;
    uint32_t map_type;
    uint32_t key_size;
    uint32_t value_size;
    uint32_t max_entries;
    uint32_t map_flags;
    int32_t spin_lock_off;
    uint32_t ncpus;         /* per-CPU slots the values were laid out for */
    uint32_t frozen;
    uint64_t map_extra;
    uint64_t region_size;
    /* hash family */
    uint32_t nbuckets;      /* a power of two */
    uint32_t hash_seed;
    uint32_t elem_size;     /* bytes per element, a multiple of 8 */
    uint32_t bump;          /* elements never used yet start at this index */
    uint64_t free_head;     /* lock-free stack: (tag << 32) | (index + 1) */
    uint64_t buckets_off;
    uint64_t elems_off;
    uint64_t lru_off;       /* LRU lists (one, or one per slot) */
    uint32_t count;         /* elements in use (LRU) */
    uint32_t pad;
} lbc_region_hdr;

typedef struct lbc_map_ops lbc_map_ops;

/* How a program's lookup reaches a map (lbc_map.fast): arrays inline, the
 * rest through their family's lookup. */
#define LBC_FAST_OTHER 0u
#define LBC_FAST_ARRAY 1u
#define LBC_FAST_PERCPU_ARRAY 2u

/* Where an ARRAY / PERCPU_ARRAY region's values start. */
static inline uint64_t lbc_array_values_off(void)
{
    return (sizeof(lbc_region_hdr) + 63u) & ~(uint64_t)63u;
}

struct lbc_map {
    unsigned char *base;     /* the region */
    lbc_region_hdr *r;
    const lbc_map_ops *ops;
    uint32_t map_type, key_size, value_size, max_entries, map_flags;
    uint32_t value_stride;   /* value_size rounded up to 8 */
    uint32_t ncpus;
    int32_t spin_lock_off;
    int percpu;
    /* program-side fast path (map_fast.h): LBC_FAST_* and, for arrays, the
     * first value and the bytes from one element to the next */
    uint32_t fast;
    uint64_t array_elem_bytes;
    unsigned char *array_values;
    /* hash family, cached from the region header */
    int lru, percpu_lru;
    uint32_t bucket_mask, elem_size, key_stride, seed;
    uint64_t buckets_off, elems_off;
    /* pinning (map_pin.c): the platform handle of the file backing the
     * region, plus one; 0 while the region is process memory; and the
     * region's size when it was mapped (the header is shared: not trusted
     * for unmapping) */
    intptr_t region_file;
    uint64_t region_file_size;
};

struct lbc_map_ops {
    /* Linux's map_alloc_check: sizes and flags. */
    int (*check)(const lbc_map_attr *attr);
    /* Region size for attr with ncpus slots; -E2BIG/-ENOMEM on overflow. */
    int (*size)(const lbc_map_attr *attr, uint32_t ncpus, uint64_t *size);
    void (*init)(lbc_map *m);
    void *(*lookup)(lbc_map *m, const void *key);
    /* all_slots: value holds every slot (user side) rather than the caller's one. */
    int (*update)(lbc_map *m, const void *key, const void *value, uint64_t flags, int all_slots);
    int (*delete_elem)(lbc_map *m, const void *key);
    int (*get_next_key)(lbc_map *m, const void *key, void *next);
    /* copy the user form of the value (all slots for per-CPU maps) */
    int (*lookup_copy)(lbc_map *m, const void *key, void *value, uint64_t flags);
    int (*lookup_and_delete)(lbc_map *m, const void *key, void *value, uint64_t flags);
    int (*lookup_batch)(lbc_map *m, const void *in_token, void *out_token, void *keys,
                        void *values, uint32_t *count, uint64_t elem_flags, int del);
    uint32_t batch_token_size; /* 0: the key is the token (generic batch) */
    /* Pinning: build the process-local handle state (the fields cached from
     * the region) for a region another process made, checking the family's
     * layout fields; -EINVAL when they are inconsistent. Families whose
     * handle caches nothing beyond the common fields may leave it NULL and
     * be listed in map_pin.c; others cannot be pinned until they set it. */
    int (*attach)(lbc_map *m);
};

extern const lbc_map_ops lbc_array_ops;
extern const lbc_map_ops lbc_devmap_ops;
extern const lbc_map_ops lbc_hash_ops;
extern const lbc_map_ops lbc_ringbuf_ops;
extern const lbc_map_ops lbc_queue_stack_ops;
extern const lbc_map_ops lbc_bloom_ops;
extern const lbc_map_ops lbc_lpm_ops;
extern const lbc_map_ops lbc_fd_array_ops;
extern const lbc_map_ops lbc_hash_of_maps_ops;

/* Maps of references (map_prog_array.c, map_of_maps.c): the slots' lock
 * and, for maps of maps, the inner map template. */
typedef struct lbc_fd_map_ctrl {
    uint32_t lock;
    uint32_t has_inner;
    uint32_t inner_type, inner_key_size, inner_value_size, inner_max_entries, inner_flags;
    uint32_t pad;
} lbc_fd_map_ctrl;
lbc_fd_map_ctrl *lbc_fd_array_ctrl(const lbc_map *m);
/* Put ref/id in an fd array's slot (ref 0 empties it): -E2BIG past the end. */
int lbc_fd_array_store(lbc_map *m, uint32_t index, uint64_t ref, uint32_t id);
/* The reference in an fd array's slot, 0 when empty or past the end. */
uint64_t lbc_fd_array_ref(const lbc_map *m, uint32_t index);

/* Hash family internals shared by map_hash.c and map_lru.c. */
typedef struct lbc_hash_elem {
    uint32_t next;      /* next element in the bucket (index + 1), or free-list link */
    uint32_t hash;
    uint32_t lru_prev;  /* LRU list links (index + 1, 0 = none) */
    uint32_t lru_next;
    uint32_t lru_ref;   /* referenced since last considered for eviction */
    uint32_t lru_list;  /* LRU list holding it (number + 1), 0 when on none */
    /* key (rounded up to 8), then the value (per-CPU: one per slot) */
} lbc_hash_elem;

typedef struct lbc_lru_list {
    uint32_t lock;
    uint32_t head;      /* most recently used */
    uint32_t tail;      /* least recently used */
    uint32_t len;
} lbc_lru_list;

static inline lbc_hash_elem *lbc_hash_elem_at(const lbc_map *m, uint32_t idx)
{
    return (lbc_hash_elem *)(void *)(m->base + m->elems_off + (uint64_t)idx * m->elem_size);
}
static inline uint32_t lbc_hash_elem_index(const lbc_map *m, const lbc_hash_elem *e)
{
    return (uint32_t)(((uint64_t)((const unsigned char *)e - m->base) - m->elems_off) / m->elem_size);
}
static inline lbc_lru_list *lbc_lru_lists(const lbc_map *m)
{
    return (lbc_lru_list *)(void *)(m->base + m->r->lru_off);
}
/* map_lru.c: the lists (one, or one per slot with BPF_F_NO_COMMON_LRU).
 * lbc_lru_add puts e at the head of the caller's list; lbc_lru_remove takes
 * it off and returns 1 if it was on a list (the caller then owns freeing it);
 * lbc_lru_evict takes the least recently used unreferenced element off a
 * list and returns it (the caller unlinks it from its bucket), or NULL. */
void lbc_lru_add(lbc_map *m, lbc_hash_elem *e);
int lbc_lru_remove(lbc_map *m, lbc_hash_elem *e);
lbc_hash_elem *lbc_lru_evict(lbc_map *m);
void lbc_lru_touch(lbc_map *m, lbc_hash_elem *e);

/* Region memory (map_memory.c). */
int lbc_region_alloc(uint64_t size, void **out);
void lbc_region_free(void *p, uint64_t size);
/* File-backed regions (map_memory.c, the platform half of pinning). Handles
 * are the platform's file handle plus one (never 0).
 * to_file: create tmp_path (must not exist), copy the region into it and map
 * the file shared over the region's own addresses, so pointers into the map
 * stay valid. link: give the file another name (from: an existing name of it,
 * or NULL to name it through the handle). open: map an existing file shared
 * (the whole file; *size its length). unmap: the counterpart of open and
 * to_file. unlink: remove a name. */
int lbc_region_to_file(void *p, uint64_t size, const char *tmp_path, intptr_t *file);
int lbc_region_file_link(intptr_t file, const char *from, const char *to);
int lbc_region_file_open(const char *path, void **out, uint64_t *size, intptr_t *file);
void lbc_region_file_unmap(void *p, uint64_t size, intptr_t file);
int lbc_region_file_unlink(const char *path);

/* Array-shaped families (map_array.c, map_prog_array.c): the u32 index a
 * key holds, and Linux's array key order (a missing or out-of-range key
 * starts at index 0; the last index ends with -ENOENT). */
static inline uint32_t lbc_array_index(const void *key)
{
    uint32_t idx;
    memcpy(&idx, key, 4);
    return idx;
}
int lbc_array_get_next_key(lbc_map *m, const void *key, void *next);

/* Shared helpers (map_core.c). */
/* Fill a process-local handle from the region header at base. */
void lbc_map_init_handle(lbc_map *m, unsigned char *base, const lbc_map_ops *ops);
/* The operations of a map type (NULL when unknown) and whether it is per-CPU. */
const lbc_map_ops *lbc_map_ops_for(uint32_t map_type);
int lbc_map_type_is_percpu(uint32_t map_type);
static inline uint32_t lbc_round8(uint32_t n) { return (n + 7u) & ~7u; }
/* Device maps (map_devmap.c): BPF_MAP_CREATE's devmap checks. */
int lbc_devmap_check(const lbc_map_attr *a);

/* Copy a value, leaving a spin lock field in dst untouched. */
void lbc_copy_value(const lbc_map *m, void *dst, const void *src);
/* Copy a value under the value's spin lock (BPF_F_LOCK). */
void lbc_copy_value_locked(const lbc_map *m, void *dst, const void *src, void *lock_owner);
/* Zero a spin lock field in a copy handed to user space. */
void lbc_clear_lock_field(const lbc_map *m, void *value);
/* Copy every slot of a per-CPU value to the user form, and back. */
void lbc_percpu_to_user(const lbc_map *m, void *user, const unsigned char *slots);
void lbc_percpu_from_user(const lbc_map *m, unsigned char *slots, const void *user);

#endif
