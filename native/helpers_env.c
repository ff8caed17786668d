/* Helpers that tell a program about its environment: clocks, random
 * numbers, the CPU slot and the task of the current event. */
#if !defined(_WIN32) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif
#include <errno.h>
#include <string.h>

#include "lbc_maps.h"
#include "lbc_platform.h"
#include "lbc_runtime.h"

#define HELPER(name) \
    uint64_t lbc_helper_##name(lbc_exec *ex, void *data, uint64_t r1, uint64_t r2, \
                               uint64_t r3, uint64_t r4, uint64_t r5)
#define UNUSED_ARGS() do { (void)ex; (void)data; (void)r1; (void)r2; (void)r3; (void)r4; \
        (void)r5; } while (0)

static const lbc_runtime *rt_of(const lbc_exec *ex) { return (const lbc_runtime *)ex->runtime; }

HELPER(ktime_get_ns) { UNUSED_ARGS(); return lbc_monotonic_ns(); }
HELPER(ktime_get_coarse_ns) { UNUSED_ARGS(); return lbc_monotonic_ns(); }
HELPER(ktime_get_boot_ns) { UNUSED_ARGS(); return lbc_boottime_ns(); }
HELPER(ktime_get_ms) { UNUSED_ARGS(); return lbc_monotonic_ns() / 1000000u; }
HELPER(ktime_get_boot_ms) { UNUSED_ARGS(); return lbc_boottime_ns() / 1000000u; }

/* splitmix64 over a shared counter: lock-free and distinct across threads. */
static uint64_t prandom_counter = 0x9e3779b97f4a7c15ull;

HELPER(get_prandom_u32)
{
    UNUSED_ARGS();
    uint64_t z = lbc_afetch_add_u64((uint64_t)(uintptr_t)&prandom_counter,
                                    0x9e3779b97f4a7c15ull) + 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (uint32_t)((z ^ (z >> 31)) >> 32);
}

/* The CPU slot this run holds: the one per-CPU maps use. */
HELPER(get_smp_processor_id) { UNUSED_ARGS(); return (uint64_t)lbc_cpu_slot(); }

#define TASK_FIELD(name, field) \
    HELPER(name) { UNUSED_ARGS(); return rt_of(ex) ? (uint64_t)rt_of(ex)->task.field : 0; }
TASK_FIELD(get_current_pid_tgid, pid_tgid)
TASK_FIELD(get_current_uid_gid, uid_gid)
TASK_FIELD(get_current_logon_id, logon_id)
TASK_FIELD(is_current_admin, is_admin)
TASK_FIELD(get_current_process_start_key, process_start_key)
TASK_FIELD(get_current_thread_create_time, thread_create_time)

/* bpf_get_current_comm(buf, size): the task's name, NUL-terminated and
 * zero-padded to size; -EINVAL for size 0 (Linux zeroes nothing then). */
HELPER(get_current_comm)
{
    UNUSED_ARGS();
    char *buf = (char *)(uintptr_t)r1;
    const size_t size = (size_t)r2;
    if (size == 0) return (uint64_t)-EINVAL;
    const lbc_runtime *rt = rt_of(ex);
    const char *comm = rt ? rt->task.comm : "";
    size_t n = strnlen(comm, sizeof rt->task.comm);
    if (n > size - 1) n = size - 1;
    memcpy(buf, comm, n);
    memset(buf + n, 0, size - n);
    return 0;
}
