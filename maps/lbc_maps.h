/* libbpf-compat map store: public C API.
 *
 * Every map lives in one contiguous region it owns (so that a later step can
 * place it in shared memory); nothing inside the region is a pointer, only
 * offsets and indexes, and its locks are spinlocks on atomic words.
 * lbc_map is the process-local handle on a region.
 *
 * Program-side calls (what helpers use): lbc_map_lookup, lbc_map_update,
 * lbc_map_delete, lbc_map_get_next_key. For per-CPU maps they act on the slot
 * of the calling thread (lbc_cpu_slot).
 * User-side calls (what the bpf() syscall does on Linux): the _copy / _user /
 * lookup_and_delete / batch / freeze functions, which also apply the syscall's
 * checks (access flags, frozen maps, flag validation).
 * All functions return 0 or a negative errno, as the kernel does. */
#ifndef LBC_MAPS_H
#define LBC_MAPS_H

#include <stddef.h>
#include <stdint.h>

typedef struct lbc_map lbc_map;

typedef struct lbc_map_attr {
    uint32_t map_type;      /* Linux BPF_MAP_TYPE_* number */
    uint32_t key_size;
    uint32_t value_size;
    uint32_t max_entries;
    uint32_t map_flags;     /* BPF_F_* map flags */
    int32_t spin_lock_off;  /* offset of a struct bpf_spin_lock in the value, -1 when none */
    uint64_t map_extra;
} lbc_map_attr;

/* Create a map; *out receives it. Errors: -EINVAL (bad type, sizes, flags),
 * -E2BIG (sizes over Linux's limits), -ENOMEM (region cannot be allocated). */
int lbc_map_create(const lbc_map_attr *attr, lbc_map **out);
void lbc_map_free(lbc_map *m);

/* Program side. lookup returns the value in the region (for per-CPU maps the
 * calling slot's value) or NULL when absent. */
void *lbc_map_lookup(lbc_map *m, const void *key);

/* Device maps: the ifindex at `key` of a DEVMAP or DEVMAP_HASH; -ENOENT for
 * an absent key or an empty slot (ifindex 0), -EINVAL for another map type. */
int lbc_devmap_target(lbc_map *m, uint32_t key, uint32_t *ifindex);
int lbc_map_update(lbc_map *m, const void *key, const void *value, uint64_t flags);
int lbc_map_delete(lbc_map *m, const void *key);
/* key NULL (or absent) gives the first key; -ENOENT after the last. */
int lbc_map_get_next_key(lbc_map *m, const void *key, void *next);

/* Program side, keyless maps (QUEUE, STACK, BLOOM_FILTER): push (BPF_EXIST
 * overwrites the oldest value of a full queue or stack), pop and peek; for a
 * bloom filter peek takes the value to test as input (0: maybe present,
 * -ENOENT: absent) and pop is -EOPNOTSUPP. -EINVAL on maps with keys. */
int lbc_map_push(lbc_map *m, const void *value, uint64_t flags);
int lbc_map_pop(lbc_map *m, void *value);
int lbc_map_peek(lbc_map *m, void *value);

/* User side. Keyless maps take key NULL: update pushes, lookup_copy peeks
 * (bloom filter: value is the input to test), lookup_and_delete pops.
 * Per-CPU values are lbc_num_possible_cpus() slots, each rounded up to 8
 * bytes (lbc_map_user_value_size bytes in all), as libbpf. */
uint32_t lbc_map_user_value_size(const lbc_map *m);
int lbc_map_lookup_copy(lbc_map *m, const void *key, void *value, uint64_t flags);
int lbc_map_update_user(lbc_map *m, const void *key, const void *value, uint64_t flags);
int lbc_map_delete_user(lbc_map *m, const void *key);
int lbc_map_get_next_key_user(lbc_map *m, const void *key, void *next);
int lbc_map_lookup_and_delete(lbc_map *m, const void *key, void *value, uint64_t flags);
int lbc_map_freeze(lbc_map *m);
/* The address of the region (for diagnostics and pinning). */
void *lbc_map_region(const lbc_map *m, uint64_t *size);

/* The value area of a BPF_F_MMAPABLE ARRAY (map_array.c), what Linux's mmap
 * of the map shows: max_entries values, each rounded up to 8 bytes. -EINVAL
 * for other maps; writable: -EPERM when frozen, -EACCES for
 * BPF_F_RDONLY_PROG maps. The area lives as long as the map. */
int lbc_map_mmap_area(lbc_map *m, int writable, void **out, uint64_t *size);

/* Pinning (map_pin.c). lbc_map_pin gives the map's region the file name
 * path: the first pin moves the region into a new file created at tmp_path
 * (same directory, must not exist; removed again) and mapped shared over the
 * region's addresses; later pins add names to that file. -EEXIST when path
 * exists, -EOPNOTSUPP for map types that cannot be shared.
 * lbc_map_open_pinned maps a pinned file shared and builds a handle on it
 * (free it with lbc_map_free): -EINVAL for a file that is not a map region
 * of this format version or whose header is inconsistent, -ENOENT, -EACCES.
 * lbc_map_get_attr reads a handle's shape (for opened maps). */
int lbc_map_pin(lbc_map *m, const char *path, const char *tmp_path);
int lbc_map_open_pinned(const char *path, lbc_map **out);
int lbc_map_get_attr(const lbc_map *m, lbc_map_attr *attr);

/* Batch lookup (and delete when del != 0), Linux's BPF_MAP_LOOKUP_BATCH.
 * in_token NULL starts at the beginning; out_token receives the resume
 * token (lbc_map_batch_token_size bytes). *count is the room in keys/values
 * on entry and the number copied on return. Returns 0, or -ENOENT when the
 * end was reached (with *count possibly > 0), -ENOSPC when the first unit
 * (a hash bucket) does not fit, or another negative errno. */
uint32_t lbc_map_batch_token_size(const lbc_map *m);
int lbc_map_lookup_batch(lbc_map *m, const void *in_token, void *out_token, void *keys,
                         void *values, uint32_t *count, uint64_t elem_flags, int del);
/* Batch update / delete: *count in, number done out; stops at the first
 * error. Argument errors (flags, access) leave *count as it was, as Linux. */
int lbc_map_update_batch(lbc_map *m, const void *keys, const void *values, uint32_t *count,
                         uint64_t elem_flags);
int lbc_map_delete_batch(lbc_map *m, const void *keys, uint32_t *count, uint64_t elem_flags);

/* CPU slots. lbc_num_possible_cpus() is the host's possible CPU count, fixed
 * for the life of the process: per-CPU maps have that many slots.
 * A thread running programs claims a slot for the run
 * (lbc_cpu_slot_claim, nestable; waits while every slot is taken) and
 * releases it after (lbc_cpu_slot_release), so two threads running at the
 * same moment never share a slot. lbc_cpu_slot() is the calling thread's
 * claimed slot, or 0 when it holds none (user-space calls). */
int lbc_num_possible_cpus(void);
int lbc_cpu_slot(void);
int lbc_cpu_slot_claim(void);
void lbc_cpu_slot_release(void);


/* Ring buffers (BPF_MAP_TYPE_RINGBUF, map_ringbuf.c). Program side: reserve
 * returns a record to fill (NULL when full or flags are set), submit or
 * discard commits it, output copies one in (-EAGAIN when full), query reads
 * BPF_RB_AVAIL_DATA 0 / RING_SIZE 1 / CONS_POS 2 / PROD_POS 3. Consumer
 * side: consume calls cb for each committed record in order, up to limit,
 * stopping at a negative return (which it returns); else the count. */
typedef int (*lbc_ringbuf_sample_fn)(void *ctx, void *data, uint32_t size);
void *lbc_ringbuf_reserve(lbc_map *m, uint64_t size, uint64_t flags);
void lbc_ringbuf_submit(void *sample, uint64_t flags);
void lbc_ringbuf_discard(void *sample, uint64_t flags);
int lbc_ringbuf_output(lbc_map *m, const void *data, uint64_t size, uint64_t flags);
uint64_t lbc_ringbuf_query(lbc_map *m, uint64_t flags);
int64_t lbc_ringbuf_consume(lbc_map *m, lbc_ringbuf_sample_fn cb, void *ctx, uint64_t limit);

/* Maps whose values are references: PROG_ARRAY (map_prog_array.c),
 * ARRAY_OF_MAPS and HASH_OF_MAPS (map_of_maps.c). User space writes file
 * descriptors, which only the host can resolve, so an update from user
 * space is: lbc_fd_map_update_check (Linux's checks made before the fd is
 * looked at: -EPERM for a read-only or frozen map; for arrays -EINVAL
 * unless flags is BPF_ANY, -E2BIG past the end), then the host resolves
 * the fd (-EBADF, -EINVAL), then stores the reference with its id.
 * (For HASH_OF_MAPS the check is access and BPF_F_LOCK only.)
 * lbc_map_update_user on these maps is -EINVAL, and from a program
 * -EOPNOTSUPP. User-space lookups give the id (u32); delete empties.
 * PROG_ARRAY: the reference is an opaque 64-bit program handle of the host
 * (for the VM, the lbc_prog *); lbc_prog_array_get returns it, 0 when the
 * slot is empty or index out of range.
 * Maps of maps: lbc_map_of_maps_set_inner records the inner map template
 * at creation (-EINVAL for a map of maps as inner map); update stores an
 * inner map after Linux's compatibility check (-EINVAL when it differs;
 * for HASH_OF_MAPS flags as a hash update). A program's lookup in the outer
 * map returns the inner lbc_map itself. The caller keeps referenced maps
 * and programs alive. */
int lbc_fd_map_update_check(lbc_map *m, const void *key, uint64_t flags);
int lbc_prog_array_set(lbc_map *m, uint32_t index, uint64_t handle, uint32_t id);
uint64_t lbc_prog_array_get(lbc_map *m, uint32_t index);
int lbc_map_of_maps_set_inner(lbc_map *outer, const lbc_map *inner);
int lbc_map_of_maps_update(lbc_map *outer, const void *key, lbc_map *inner, uint32_t id,
                           uint64_t flags);

/* PERF_EVENT_ARRAY (map_perf.c): an fd array of perf buffers, one per CPU
 * slot, made by the consumer. ring_new: size a power of two >= 64 bytes
 * (NULL otherwise or without memory), for CPU slot cpu. output: one
 * PERF_RECORD_SAMPLE (Linux's layout), -ENOSPC when it does not fit (the
 * loss is reported by a PERF_RECORD_LOST before the next sample), -E2BIG
 * for a record over 64 KiB or the buffer. read (one consumer): 0 when
 * empty, else 1 with *type PERF_RECORD_SAMPLE (9; raw data in out, its
 * size in *value) or PERF_RECORD_LOST (2; the count in *value); -ENOSPC
 * when out is too small. lbc_perf_event_output is bpf_perf_event_output:
 * flags is an index or BPF_F_CURRENT_CPU (other bits -EINVAL), -E2BIG past
 * the end, -ENOENT for an empty slot, -EOPNOTSUPP when the slot's buffer
 * is another CPU slot's. */
typedef struct lbc_perf_ring lbc_perf_ring;
lbc_perf_ring *lbc_perf_ring_new(uint32_t size, uint32_t cpu);
void lbc_perf_ring_free(lbc_perf_ring *r);
int lbc_perf_ring_output(lbc_perf_ring *r, const void *data, uint64_t size);
int lbc_perf_ring_read(lbc_perf_ring *r, void *out, uint32_t out_size, uint32_t *type,
                       uint64_t *value);
uint64_t lbc_perf_ring_pending(const lbc_perf_ring *r);
int lbc_perf_event_array_set(lbc_map *m, uint32_t index, lbc_perf_ring *ring);
int lbc_perf_event_output(lbc_map *m, uint64_t flags, const void *data, uint64_t size);

#endif
